"""Crowd participants over real HTTP against a running server (``manage.py loadtest_study``).

``drive`` runs ``Plan.participants`` simulated browsers at once, each a thread
with its own cookies, through the whole participant flow of one study: the
landing page and the consent form (half of them with a Prolific id in the
link, half as lab participants), the viewing check, then trial after trial
the trial page, its static files (once per participant), the whole video,
a pause while the participant "watches and rates" (``Plan.think`` seconds on
average, drawn from 0.5x to 1.5x; by default 8 s, as a SRC of the common test
conditions, 125 to 250 frames at 25 fps, is played once before the scale
unlocks, then rated; the scratch study's clips are shorter only to keep its
set-up quick), the vote, and at the end the completion
page. A participant who finishes is replaced by a new one, so the server
sees ``participants`` people at once for ``seconds``; when the time is up
each finishes the vote it is on (retries included) and stops.

Votes are posted as a browser with a flaky network or an impatient user
would: ``double_share`` of them twice (half at once on two connections, half
one after the other), ``retry_share`` once more after a simulated timeout
(the request is sent and the connection dropped before the answer). A vote
answered 5xx, or lost on the way, is retried up to ``VOTE_ATTEMPTS`` times,
as ``trial.js`` does; every such answer counts as an error.

``vote_counts`` then compares what the server acknowledged with the votes
stored (``stored_votes``, read through the ORM from the database this
process is configured for):

- acknowledged A: trials (participant, position) with a 2xx answer;
- stored S: vote rows of this run's participants;
- duplicated D: stored rows beyond one per trial, plus trials the server
  answered "created" (201) more than once;
- lost L: acknowledged trials with no stored vote, or a stored score other
  than the acknowledged one.

Only loopback targets are accepted (``check_target``), and the count and
time are capped (``MAX_PARTICIPANTS``, ``MAX_SECONDS``).

``scratch_study_build`` makes the study a self-contained run uses: a few
real clips, cut short, coded with x264 at a few QPs in this process through
the PVS job's lifecycle (no worker needed), and an ACR-HR study over them.
"""
import http.client
import json
import math
import random
import re
import secrets
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import numpy as np

from qa_platform.core import lifecycle
from qa_platform.core import services as core_services
from qa_platform.core.models import Pvs
from studies import services
from studies.models import Participant, Study, Vote

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_PARTICIPANTS = 500
MAX_SECONDS = 600.0
# How often one vote is posted before the participant gives up (trial.js: 5).
VOTE_ATTEMPTS = 5
REQUEST_TIMEOUT = 30.0
# The categories of the summary table, in its order.
CATEGORIES = ("vote POST", "page GET", "video GET", "static GET", "join POST", "viewing POST")
# What a large, unzoomed desktop browser reports to the viewing check.
VIEWING = {"screen_width": 1920, "screen_height": 1080, "window_width": 1600, "window_height": 900,
           "device_pixel_ratio": 1, "zoom_estimate": 1.0, "user_agent": "faceqa-loadtest"}
USER_AGENT = "faceqa-loadtest (python http.client)"

_TRIAL_CONFIG = re.compile(r'<script id="trial-config" type="application/json">(.*?)</script>', re.DOTALL)
_STATIC = re.compile(r'(?:src|href)="(/static/[^"]+)"')
_SESSION = re.compile(r"/session/([0-9a-f-]{36})/$")


class LoadTestError(ValueError):
    """The load test cannot run as asked; the message says why."""


def check_target(url: str) -> tuple[str, int]:
    """(host, port) of ``url``; raises ``LoadTestError`` unless it is plain HTTP on a loopback address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise LoadTestError(f"{url!r}: the load test runs against this machine only, over plain HTTP "
                            f"(http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT)")
    return parts.hostname, parts.port or 80


@dataclass(frozen=True)
class Plan:
    """What ``drive`` does: ``participants`` at once for ``seconds``; see the module docstring."""

    participants: int
    seconds: float
    think: float = 8.0
    double_share: float = 0.10
    retry_share: float = 0.05
    crowd_share: float = 0.5
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.participants <= MAX_PARTICIPANTS:
            raise LoadTestError(f"--participants must be 1..{MAX_PARTICIPANTS}, not {self.participants}")
        if not 1 <= self.seconds <= MAX_SECONDS:
            raise LoadTestError(f"--seconds must be 1..{MAX_SECONDS:g}, not {self.seconds:g}")
        if not 0 <= self.think <= 60:
            raise LoadTestError(f"--think must be 0..60 s, not {self.think:g}")
        shares = (self.double_share, self.retry_share, self.crowd_share)
        if not all(0 <= share <= 1 for share in shares) or self.double_share + self.retry_share > 1:
            raise LoadTestError("the double-post and retry shares must be 0..1 and add up to 1 at most")

    @property
    def ramp_seconds(self) -> float:
        """The first participants arrive spread over this long, not all in the same instant."""
        return min(10.0, self.seconds / 4)


@dataclass(frozen=True)
class Timing:
    """Wall-clock times of one kind of request as the client saw them (connect to last byte), ms."""

    name: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def timing(name: str, milliseconds: Iterable[float]) -> Timing:
    """The count and the 50th, 95th and 99th percentiles (linear interpolation) of ``milliseconds``; NaN when empty."""
    values = np.asarray(list(milliseconds), dtype=float)
    if values.size == 0:
        return Timing(name, 0, math.nan, math.nan, math.nan)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return Timing(name, int(values.size), float(p50), float(p95), float(p99))


@dataclass(frozen=True)
class VoteCounts:
    acknowledged: int
    stored: int
    duplicated: int
    lost: int

    def line(self) -> str:
        return (f"votes: acknowledged {self.acknowledged}, stored {self.stored}, "
                f"duplicated {self.duplicated}, lost {self.lost}")


def vote_counts(acknowledged: dict[tuple[str, int], int], created_twice: int,
                stored: Iterable[tuple[str, int, int]]) -> VoteCounts:
    """Compare the acknowledged votes ((token, position) -> score) with the ``stored`` rows
    (token, position, score); ``created_twice``: trials answered 201 more than once."""
    rows = list(stored)
    by_trial: dict[tuple[str, int], list[int]] = {}
    for token, position, score in rows:
        by_trial.setdefault((str(token), position), []).append(score)
    duplicated = len(rows) - len(by_trial) + created_twice
    lost = sum(1 for key, score in acknowledged.items() if score not in by_trial.get(key, []))
    return VoteCounts(acknowledged=len(acknowledged), stored=len(rows), duplicated=duplicated, lost=lost)


@dataclass
class DriveResult:
    """What the participants saw: times per category (ms), errors by kind, the acknowledged votes."""

    plan: Plan
    wall_seconds: float = 0.0
    times: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in CATEGORIES})
    errors: Counter = field(default_factory=Counter)
    acknowledged: dict[tuple[str, int], int] = field(default_factory=dict)
    created: Counter = field(default_factory=Counter)
    tokens: list[str] = field(default_factory=list)
    started: int = 0
    completed: int = 0

    @property
    def created_twice(self) -> int:
        return sum(1 for count in self.created.values() if count > 1)

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.times.values())


class _Recorder:
    """``DriveResult`` filled from many threads."""

    def __init__(self, plan: Plan):
        self.result = DriveResult(plan)
        self.lock = threading.Lock()

    def time(self, category: str, milliseconds: float) -> None:
        with self.lock:
            self.result.times[category].append(milliseconds)

    def error(self, label: str) -> None:
        with self.lock:
            self.result.errors[label] += 1

    def joined(self, token: str) -> None:
        with self.lock:
            self.result.tokens.append(token)

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self.result, what, getattr(self.result, what) + 1)

    def acknowledge(self, token: str, position: int, score: int, created: bool) -> None:
        with self.lock:
            first = self.result.acknowledged.setdefault((token, position), score)
            if first != score:
                self.result.errors["vote POST answered two different scores"] += 1
            if created:
                self.result.created[(token, position)] += 1


class _Abort(Exception):
    """This participant cannot go on (an error was recorded); ``status``: the HTTP status, None for a network error."""

    def __init__(self, status: int | None = None):
        super().__init__(status)
        self.status = status


@dataclass
class _Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _Browser:
    """One participant's browser: its cookies, one new connection per request (as gunicorn's sync
    workers close every connection), redirects not followed."""

    def __init__(self, host: str, port: int, recorder: _Recorder):
        self.host, self.port, self.recorder = host, port, recorder
        self.origin = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        self.cookies: dict[str, str] = {}
        self.cookie_lock = threading.Lock()

    def _headers(self, extra: dict) -> dict:
        with self.cookie_lock:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"User-Agent": USER_AGENT, **({"Cookie": cookie} if cookie else {}), **extra}

    def _keep_cookies(self, headers: http.client.HTTPMessage) -> None:
        for value in headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(value)
            with self.cookie_lock:
                self.cookies.update({name: morsel.value for name, morsel in jar.items()})

    def request(self, category: str, method: str, path: str, *, body: bytes | None = None,
                headers: dict | None = None, expect: tuple[int, ...] = (200,)) -> _Response:
        """Send one request and read the whole answer; time it under ``category``. An answer
        outside ``expect`` or a network error is recorded as an error and raises ``_Abort``."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        start = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=self._headers(headers or {}))
            answer = connection.getresponse()
            response = _Response(answer.status, answer.headers, answer.read())
        except (OSError, http.client.HTTPException) as error:
            self.recorder.error(f"{category} {type(error).__name__}")
            raise _Abort(None) from error
        finally:
            connection.close()
        self.recorder.time(category, (time.perf_counter() - start) * 1000)
        self._keep_cookies(response.headers)
        if response.status not in expect:
            self.recorder.error(f"{category} HTTP {response.status}")
            raise _Abort(response.status)
        return response

    def send_and_drop(self, path: str, body: bytes, headers: dict) -> None:
        """Send a request and close the connection before the answer: a client that timed out."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("POST", path, body=body, headers=self._headers(headers))
        except OSError:
            pass
        finally:
            connection.close()


def _find(pattern: re.Pattern, text: str, what: str, recorder: _Recorder) -> str:
    found = pattern.search(text)
    if found is None:
        recorder.error(f"page without {what}")
        raise _Abort
    return found.group(1)


class _Participant:
    """One simulated person from the landing page to the completion page (or the deadline)."""

    def __init__(self, driver: "_Driver", name: str, rng: random.Random):
        self.driver, self.name, self.rng = driver, name, rng
        self.recorder = driver.recorder
        self.browser = _Browser(driver.host, driver.port, driver.recorder)
        self.token = ""

    def run(self) -> None:
        self.recorder.count("started")
        self._join()
        self._viewing_check()
        static_fetched = False
        while time.monotonic() < self.driver.deadline:
            page = self.browser.request("page GET", "GET", self.session_url, expect=(200, 302))
            if page.status == 302:
                self.browser.request("page GET", "GET", page.headers["Location"])
                self.recorder.count("completed")
                return
            config = json.loads(_find(_TRIAL_CONFIG, page.text, "trial config", self.recorder))
            if not static_fetched:
                for path in dict.fromkeys(_STATIC.findall(page.text)):
                    self.browser.request("static GET", "GET", path)
                static_fetched = True
            video = self.browser.request("video GET", "GET", config["media_urls"][0])
            if b"ftyp" not in video.body[:64]:
                self.recorder.error("video GET not an MP4")
                raise _Abort
            think = self.driver.plan.think * self.rng.uniform(0.5, 1.5)
            time.sleep(think)
            self._vote(config["vote_url"], config["position"], self.rng.randint(1, 5), think)

    @property
    def session_url(self) -> str:
        return f"/session/{self.token}/"

    def _join(self) -> None:
        landing = f"/study/{self.driver.study}/"
        crowd = {}
        if self.rng.random() < self.driver.plan.crowd_share:
            crowd = {"PROLIFIC_PID": f"loadtest-{self.driver.run_id}-{self.name}",
                     "STUDY_ID": f"loadtest-{self.driver.run_id}", "SESSION_ID": self.name}
            landing += "?" + urllib.parse.urlencode(crowd)
        page = self.browser.request("page GET", "GET", landing)
        if 'id="consent"' not in page.text:
            self.recorder.error("landing page without the consent form")
            raise _Abort
        joined = self.browser.request(
            "join POST", "POST", landing, body=urllib.parse.urlencode(crowd).encode(), expect=(302,),
            headers={**self._origin_headers, "Content-Type": "application/x-www-form-urlencoded"})
        self.token = _find(_SESSION, joined.headers.get("Location", ""), "session redirect", self.recorder)
        self.recorder.joined(self.token)

    def _viewing_check(self) -> None:
        self.browser.request("page GET", "GET", self.session_url)
        answer = self.browser.request("viewing POST", "POST", f"{self.session_url}viewing/",
                                      body=json.dumps(VIEWING).encode(), headers=self._json_headers)
        if not json.loads(answer.body).get("passed"):
            self.recorder.error("viewing check not passed")
            raise _Abort

    @property
    def _origin_headers(self) -> dict:
        """What a browser sends with a POST from the study's own pages (studies.views.framing checks it)."""
        return {"Origin": self.browser.origin, "Sec-Fetch-Site": "same-origin"}

    @property
    def _json_headers(self) -> dict:
        return {**self._origin_headers, "Content-Type": "application/json"}

    def _vote(self, url: str, position: int, score: int, watched: float) -> None:
        body = json.dumps({"position": position, "score": score, "watch_seconds": round(watched, 3),
                           "stall_count": 0, "stall_seconds": 0.0, "replays": 0}).encode()
        headers = self._json_headers
        plan, draw = self.driver.plan, self.rng.random()
        if draw < plan.retry_share:
            self.browser.send_and_drop(url, body, headers)
            time.sleep(self.rng.uniform(0.1, 0.5))
        elif draw < plan.retry_share + plan.double_share / 2:
            twin = threading.Thread(target=self._post_twin, args=(url, position, body, headers), daemon=True)
            twin.start()
            self._post_vote(url, position, body, headers)
            twin.join()
            return
        self._post_vote(url, position, body, headers)
        if plan.retry_share + plan.double_share / 2 <= draw < plan.retry_share + plan.double_share:
            self._post_vote(url, position, body, headers)

    def _post_twin(self, url: str, position: int, body: bytes, headers: dict) -> None:
        """The second of two posts at once (a double click): its errors are recorded, not raised."""
        try:
            self._post_vote(url, position, body, headers)
        except (_Abort, ValueError, KeyError):
            pass

    def _post_vote(self, url: str, position: int, body: bytes, headers: dict) -> None:
        """POST one vote, again after a 5xx answer or a network error as trial.js does; record the acknowledgement."""
        for attempt in range(1, VOTE_ATTEMPTS + 1):
            try:
                answer = self.browser.request("vote POST", "POST", url, body=body, headers=headers,
                                              expect=(200, 201))
            except _Abort as refused:
                if attempt == VOTE_ATTEMPTS or (refused.status is not None and refused.status < 500):
                    raise
                time.sleep(0.5 * attempt)
                continue
            stored = json.loads(answer.body)
            if stored.get("position") != position:
                self.recorder.error("vote POST answered for another trial")
                raise _Abort
            self.recorder.acknowledge(self.token, position, stored["score"], answer.status == 201)
            return


class _Driver:
    def __init__(self, host: str, port: int, study: str, plan: Plan):
        self.host, self.port, self.study, self.plan = host, port, study, plan
        self.recorder = _Recorder(plan)
        self.run_id = secrets.token_hex(3)
        self.deadline = math.inf

    def _slot(self, index: int, start_at: float) -> None:
        rng = random.Random(self.plan.seed * 1_000_003 + index)
        time.sleep(max(0.0, start_at - time.monotonic()))
        number = 0
        while time.monotonic() < self.deadline:
            try:
                _Participant(self, f"{index}-{number}", rng).run()
            except _Abort:
                time.sleep(min(1.0, max(0.0, self.deadline - time.monotonic())))
            except (ValueError, KeyError, TypeError) as error:  # an answer the client did not expect
                self.recorder.error(f"client {type(error).__name__}: {error}")
                time.sleep(1.0)
            number += 1

    def run(self) -> DriveResult:
        start = time.monotonic()
        self.deadline = start + self.plan.seconds
        step = self.plan.ramp_seconds / self.plan.participants
        slots = [threading.Thread(target=self._slot, args=(i, start + i * step), daemon=True,
                                  name=f"participant-{i}") for i in range(self.plan.participants)]
        for thread in slots:
            thread.start()
        for thread in slots:  # each finishes the vote it is on: a think time and a few retries
            thread.join(timeout=max(0.0, self.deadline + self.plan.think * 1.5 + 120 - time.monotonic()))
        stuck = sum(thread.is_alive() for thread in slots)
        if stuck:
            self.recorder.error(f"participants still waiting at the end: {stuck}")
        self.recorder.result.wall_seconds = time.monotonic() - start
        return self.recorder.result


def drive(url: str, study: str, plan: Plan) -> DriveResult:
    """Run ``plan`` against the server at ``url`` (loopback only) on study ``study``."""
    host, port = check_target(url)
    return _Driver(host, port, study, plan).run()


def _notes(result: DriveResult) -> list[str]:
    """What the errors probably mean, for the person reading the report."""
    notes = []
    if result.errors["join POST HTTP 429"]:
        notes.append("joins were throttled (HTTP 429): the server allows FACEQA_JOINS_PER_MINUTE joins a minute "
                     "from one address (default 30) and every participant here comes from 127.0.0.1; raise it "
                     "on the server for a load test")
    if result.errors["join POST HTTP 409"]:
        notes.append("joins were refused (HTTP 409): the study is closed or full (Study.max_participants)")
    return notes


@dataclass(frozen=True)
class LoadReport:
    """A finished run: what the participants saw, the vote counts, and notes on how it ran."""

    target: str
    result: DriveResult
    votes: VoteCounts
    notes: tuple[str, ...] = ()

    @property
    def timings(self) -> list[Timing]:
        return [timing(name, self.result.times[name]) for name in CATEGORIES]

    @property
    def error_count(self) -> int:
        return sum(self.result.errors.values())

    @property
    def ok(self) -> bool:
        """No error, no duplicated and no lost vote."""
        return self.error_count == 0 and self.votes.duplicated == 0 and self.votes.lost == 0


def report_text(report: LoadReport) -> str:
    """The report as plain text: the run, a table of times per request kind (ms), the errors by kind,
    the notes, and last the line ``votes: acknowledged A, stored S, duplicated D, lost L``."""
    result, plan = report.result, report.result.plan
    rate = result.requests / result.wall_seconds if result.wall_seconds else 0.0
    lines = [f"{report.target}",
             (f"{plan.participants} participants at once for {plan.seconds:g} s (think {plan.think:g} s a trial, "
             f"{plan.double_share:.0%} of votes posted twice, {plan.retry_share:.0%} retried after a dropped "
             f"connection): {result.started} sessions started, {result.completed} completed, "
             f"{result.requests} requests in {result.wall_seconds:.1f} s ({rate:.0f}/s)"),
             f"{'request':<13} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"]
    lines += [f"{t.name:<13} {t.count:>7} {t.p50_ms:>8.1f} {t.p95_ms:>8.1f} {t.p99_ms:>8.1f}" for t in report.timings]
    errors = ", ".join(f"{label}: {count}" for label, count in sorted(result.errors.items()))
    lines.append(f"errors: {report.error_count}" + (f" ({errors})" if errors else ""))
    lines += [f"note: {note}" for note in report.notes]
    lines.append(report.votes.line())
    return "\n".join(lines)


def run_against(url: str, study: str, plan: Plan, notes: Iterable[str] = ()) -> LoadReport:
    """Drive ``plan`` against the server at ``url`` on ``study``, then count the stored votes in the
    database this process is configured for, which must be the server's: raises ``LoadTestError``
    when the study, or the participants the server created, are not there."""
    check_target(url)
    if not Study.objects.filter(name=study).exists():
        raise LoadTestError(f"no study {study!r} in the database this command reads: run it with the server's "
                            "settings (the same POSTGRES_* environment), so that the stored votes can be counted")
    result = drive(url, study, plan)
    if result.tokens and participants_found(result.tokens) == 0:
        raise LoadTestError(f"none of the {len(result.tokens)} participants the server created is in the database "
                            "this command reads: run it with the server's settings (POSTGRES_*)")
    votes = vote_counts(result.acknowledged, result.created_twice, stored_votes(result.tokens))
    return LoadReport(target=f"{url}/study/{study}/", result=result, votes=votes,
                      notes=(*notes, *_notes(result)))


def stored_votes(tokens: Iterable[str]) -> list[tuple[str, int, int]]:
    """(participant token, trial position, score) of every vote stored for the participants ``tokens``."""
    rows = Vote.objects.filter(trial__participant__token__in=list(tokens)).values_list(
        "trial__participant__token", "trial__position", "score")
    return [(str(token), position, score) for token, position, score in rows]


def participants_found(tokens: list[str]) -> int:
    """How many of the participants ``tokens`` the database this process reads holds."""
    return Participant.objects.filter(token__in=tokens).count()


# The self-contained run's study: short real clips (two SRCs) x x264 at three QPs, so that a
# participant has 12 trials (3 training, 6 PVSs, 2 hidden references, the trap).
SCRATCH_CLIPS = ("fomm_demo_08.mp4", "fomm_demo_10.mp4")
SCRATCH_FRAMES = 25
SCRATCH_QPS = (27, 37, 47)


def _code_in_process(pvs: Pvs) -> None:
    """Run the PVS's coding as a one-step job of the lifecycle here, as a worker would (no metrics stage)."""
    (task_id,) = lifecycle.job_queue(pvs)
    lifecycle.run_step(Pvs, pvs.pk, task_id=task_id, work=lambda: core_services.pvs_code(pvs=pvs))


def scratch_study_build(*, name: str, clips: list[Path], frames: int = SCRATCH_FRAMES,
                        qps: Iterable[int] = SCRATCH_QPS, seed: int = 0,
                        progress: Callable[[str], None] = lambda line: None) -> Study:
    """Ingest ``clips`` (their first ``frames`` frames), code them with x264 at ``qps`` in this process,
    and create the ACR-HR study ``name`` over the PVSs. Raises ``LoadTestError`` when a clip cannot be
    ingested."""
    sources = []
    for path in clips:
        outcome = core_services.source_ingest(path=path, max_frames=frames)
        if outcome.status == "error":
            raise LoadTestError(f"{path}: {outcome.reason}")
        sources.append(outcome.source)
    hrcs = core_services.hrcs_for_codec(codec_name="x264", rate_points=[{"qp": qp} for qp in qps])
    for source in sources:
        for hrc in hrcs:
            pvs, _ = Pvs.objects.select_related("source", "hrc").get_or_create(source=source, hrc=hrc)
            _code_in_process(pvs)
    rated = Pvs.objects.filter(source__in=sources, hrc__in=hrcs).select_related("source")
    progress(f"{len(sources)} SRCs ({frames} frames) x {len(hrcs)} x264 HRCs coded")
    study = services.study_create(name=name, pvs=rated, votes_per_pvs=15, seed=seed)
    # The load is the rating traffic: its crowd participants skip the one-off qualification stage.
    study.qualification_required = False
    study.save(update_fields=["qualification_required"])
    return study
