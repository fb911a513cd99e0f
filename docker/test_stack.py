"""`make test-docker`: the Docker deployment, tested end to end.

Builds the images (the official bases where an image registry answers, else
docker/build-offline.sh), brings up docker/compose.yaml's web server,
PostgreSQL, Redis and a CPU worker (not the GPU worker) under a project name of
its own, then does what a lab does: creates a staff user, ingests a real clip
from ../shared/faces (mounted read-only by docker/compose.test.yaml), builds a
small database through the worker, creates a study, completes a participant
session in Chromium (Playwright) against the stack's web port on 127.0.0.1,
exports the dataset from the export page as staff (a job on the worker) and
checks the zip. Everything is torn down (`down -v`: containers, network,
volumes) at the end, failed or not. Each step is printed with its time; the exit
status is non-zero on any failure, with the reason and the services' last logs.

Settings (environment): FACEQA_DOCKER_OFFLINE=1 or 0 (offline build or the
official images; default: offline when `docker pull` fails), FACEQA_COMPOSE
(the compose command, default `docker compose` when present, else
`docker-compose`), FACEQA_TEST_CLIP (a clip, default the first of
../shared/faces), FACEQA_TEST_KEEP=1 (leave the stack up for a look).
"""
import contextlib
import csv
import io
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parent
REPO_DIR = DOCKER_DIR.parent
FACES_DIR = REPO_DIR.parent / "shared" / "faces"
PROJECT = "faceqa-e2e"
STUDY = "docker-e2e"
STAFF_USER = "staff"
FRAMES = 25  # 1 s at 25 fps: cheap to code and quick to watch
# One cheap anchor at two rate points: two PVSs (the study needs finished PVSs; training spreads over them).
CODECS = "x264"
RATES = '{"x264": [{"qp": 45}, {"qp": 30}]}'
# Metrics of both stages: libvmaf's VMAF (the FFmpeg of imageio-ffmpeg) on the cpu stage; the gpu
# stage (vmaf-torch, model inside its package) runs on the CPU worker.
JOB_METRICS = "psnr_y,ssim,vmaf,vmaf_torch"
CHROMIUM = "/usr/bin/chromium"
RATING_TIMEOUT_MS = 30_000
OFFICIAL_IMAGES = ("python:3.11-slim-bookworm", "postgres:16", "redis:7")
OFFLINE_IMAGES = {
    "FACEQA_BASE_IMAGE": "faceqa-base:bookworm",
    "FACEQA_IMAGE": "faceqa:latest",
    "FACEQA_POSTGRES_IMAGE": "faceqa-postgres:bookworm",
    "FACEQA_REDIS_IMAGE": "faceqa-redis:bookworm",
}
STARTED = time.monotonic()


class StackError(Exception):
    """A step failed; the message says which and why."""


def say(message: str) -> None:
    print(f"[test-docker {time.monotonic() - STARTED:7.1f} s] {message}", flush=True)


@contextlib.contextmanager
def step(name: str):
    say(f"{name} ...")
    began = time.monotonic()
    try:
        yield
    except Exception as error:
        say(f"FAILED: {name} ({time.monotonic() - began:.1f} s)")
        if isinstance(error, StackError):
            raise
        raise StackError(f"{name}: {type(error).__name__}: {error}") from error
    say(f"ok: {name} ({time.monotonic() - began:.1f} s)")


def run(args: list[str], *, env: dict | None = None, timeout: float = 3600, check: bool = True,
        capture: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess:
    """Run a command; on failure raise StackError with its output."""
    done = subprocess.run(args, env=env, timeout=timeout, text=True, input=input_text,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)
    if check and done.returncode != 0:
        output = (done.stdout or "").strip()[-4000:]
        raise StackError(f"`{shlex.join(args)}` exited {done.returncode}" + (f":\n{output}" if output else ""))
    return done


def compose_command() -> list[str]:
    if os.environ.get("FACEQA_COMPOSE"):
        return shlex.split(os.environ["FACEQA_COMPOSE"])
    if run(["docker", "compose", "version"], check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise StackError("neither `docker compose` nor `docker-compose` is installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def registry_reachable() -> bool:
    """The official images are there or can be pulled."""
    for image in OFFICIAL_IMAGES:
        if run(["docker", "image", "inspect", image], check=False).returncode == 0:
            continue
        pulled = run(["docker", "pull", "-q", image], check=False, timeout=600)
        if pulled.returncode != 0:
            say(f"no image registry: `docker pull {image}`: {pulled.stdout.strip().splitlines()[-1:]}")
            return False
    return True


class Stack:
    """The compose project under test: its env file, its commands."""

    def __init__(self, workdir: Path, images: dict[str, str]):
        self.port = free_port()
        self.staff_password = secrets.token_urlsafe(16)
        self.env_file = workdir / "faceqa-e2e.env"
        settings = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            "FACEQA_WEB_PORT": str(self.port),
            "FACEQA_WEB_WORKERS": "2",
            "FACEQA_CPU_WORKER_QUEUES": "cpu,gpu",
            "FACEQA_CPU_WORKER_CONCURRENCY": "1",
            "FACEQA_JOB_METRICS": JOB_METRICS,
        }
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        # The shell's variables would win over the env file's: leave out those the file sets.
        self.env = {**{k: v for k, v in os.environ.items() if k not in settings},
                    **images, "FACEQA_TEST_FACES": str(FACES_DIR)}
        self.base = [*compose_command(), "--project-name", PROJECT, "--env-file", str(self.env_file),
                     "-f", str(DOCKER_DIR / "compose.yaml"), "-f", str(DOCKER_DIR / "compose.test.yaml")]
        self.url = f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess:
        return run([*self.base, *args], env=self.env, timeout=timeout, check=check)

    def manage(self, *args: str, timeout: float = 600, env: dict | None = None) -> str:
        """`python manage.py ARGS` in the web container; its output."""
        extra = [item for key, value in (env or {}).items() for item in ("-e", f"{key}={value}")]
        return self.compose("exec", "-T", *extra, "web", "python", "manage.py", *args, timeout=timeout).stdout

    def command(self, *args: str, timeout: float = 600, env: dict | None = None) -> str:
        """A management command without Django's system checks (the stack was checked once)."""
        return self.manage(*args, "--skip-checks", timeout=timeout, env=env)

    def shell(self, code: str) -> object:
        """Run Python in the web container's Django shell; it prints one JSON value, returned here."""
        output = self.manage("shell", "-c", code)
        return json.loads(output.strip().splitlines()[-1])


def build_images() -> dict[str, str]:
    """Build the images; the FACEQA_*_IMAGE variables that select them in compose."""
    choice = os.environ.get("FACEQA_DOCKER_OFFLINE")
    offline = choice == "1" or (choice != "0" and not registry_reachable())
    if offline:
        images = {key: os.environ.get(key, default) for key, default in OFFLINE_IMAGES.items()}
        run(["bash", str(DOCKER_DIR / "build-offline.sh")], env={**os.environ, **images}, capture=False)
        return images
    images = {"FACEQA_IMAGE": os.environ.get("FACEQA_IMAGE", "faceqa:latest"),
              "FACEQA_CODE_VERSION": os.environ.get("FACEQA_CODE_VERSION") or run(
                  ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"], check=False).stdout.strip()}
    # The official bases; compose builds the app image once (the other app services share it).
    env = {**os.environ, **images, "DJANGO_SECRET_KEY": "x" * 50, "POSTGRES_PASSWORD": "build-only"}
    run([*compose_command(), "-f", str(DOCKER_DIR / "compose.yaml"), "build", "web"], env=env, capture=False)
    return images


def wait_for_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(1)
    raise StackError(f"{url} did not answer 200 within {timeout:.0f} s (last: {last})")


def choose_clip() -> Path:
    if os.environ.get("FACEQA_TEST_CLIP"):
        clip = Path(os.environ["FACEQA_TEST_CLIP"]).resolve()
        if clip.parent != FACES_DIR.resolve():
            raise StackError(f"FACEQA_TEST_CLIP must be a file of {FACES_DIR} (the folder mounted in the stack)")
        return clip
    clips = sorted(FACES_DIR.glob("*.mp4"))
    if not clips:
        raise StackError(f"no clip in {FACES_DIR}: the end-to-end test needs a real face clip there")
    return clips[0]


def trial_roles(stack: Stack, token: str) -> dict[int, str]:
    roles = stack.shell(
        "import json; from studies.models import Participant; "
        f"p = Participant.objects.get(token='{token}'); "
        "print(json.dumps({t.position: t.stimulus.role for t in p.trials.select_related('stimulus')}))")
    return {int(position): role for position, role in roles.items()}


def participant_session(stack: Stack, browser, completion_code: str) -> dict:
    """One lab participant rates every trial in Chromium; returns what the driver saw."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{stack.url}/study/{STUDY}/")
        page.click("#consent")
        page.locator(".trial-head").wait_for(timeout=RATING_TIMEOUT_MS)  # the viewing check passed
        token = page.url.rstrip("/").split("/session/")[1].split("/")[0]
        roles = trial_roles(stack, token)
        votes = {}
        while "/done/" not in page.url:
            position = page.evaluate("JSON.parse(document.getElementById('trial-config').textContent).position")
            page.locator("#play:enabled").click(timeout=RATING_TIMEOUT_MS)
            page.locator("button.rate:enabled").first.wait_for(timeout=RATING_TIMEOUT_MS)
            played = page.locator("#stimulus").evaluate("v => [v.videoWidth, v.ended]")
            if played != [256, True]:
                raise StackError(f"trial {position}: the video was not played to its end at 256 px: {played}")
            label = "Poor" if roles[position] == "trap" else "Good"  # the trap asks for Poor
            with page.expect_navigation():
                page.get_by_role("button", name=label, exact=True).click()
            votes[position] = label
            if len(votes) > len(roles):
                raise StackError(f"more trials shown ({len(votes)}) than the participant has ({len(roles)})")
        shown = page.inner_text("#completion-code")
        if shown != completion_code:
            raise StackError(f"the done page shows completion code {shown!r}, the study has {completion_code!r}")
        if set(votes) != set(roles):
            raise StackError(f"voted on trials {sorted(votes)}, the participant has {sorted(roles)}")
        return {"token": token, "roles": roles, "votes": votes}
    finally:
        context.close()


def export_as_staff(stack: Stack, browser, workdir: Path) -> Path:
    """Log in as staff, queue the export on the export page, wait for the worker, download the zip."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{stack.url}/admin/login/?next=/studies/{STUDY}/export/")
        page.fill("#id_username", STAFF_USER)
        page.fill("#id_password", stack.staff_password)
        with page.expect_navigation():
            page.click("input[type=submit]")
        if "/export/" not in page.url:
            raise StackError(f"the staff login did not reach the export page: at {page.url}")
        with page.expect_navigation():
            page.click("#export-form button[type=submit]")
        deadline = time.monotonic() + 300
        while not page.locator("#download").count():
            state = page.inner_text("#export-state")
            if "failed" in state:
                raise StackError(f"the export job failed: {state}")
            if time.monotonic() > deadline:
                raise StackError(f"no export after 300 s: {state}")
            time.sleep(1)
            page.reload()
        with page.expect_download() as download:
            page.click("#download")
        path = workdir / "export.zip"
        download.value.save_as(path)
        return path
    finally:
        context.close()


def check_export(path: Path, session: dict, pvs_ids: list[int], code_version: str) -> str:
    """The zip holds the session's test votes (hidden references and PVSs, not training or trap), and
    its dataset card the code version the image recorded."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()

        def table(name: str) -> list[dict]:
            (member,) = [n for n in names if n.endswith("/" + name)]
            return list(csv.DictReader(io.StringIO(archive.read(member).decode())))

        for wanted in ("votes.csv", "pvs.csv", "src.csv", "hrc.csv", "participants.csv", "README.md"):
            if not any(n.endswith("/" + wanted) for n in names):
                raise StackError(f"the export has no {wanted}: {names}")
        votes, pvs, participants = table("votes.csv"), table("pvs.csv"), table("participants.csv")
        (card,) = [archive.read(n).decode() for n in names if n.endswith("/README.md")]
    if code_version and code_version not in card:
        raise StackError(f"the dataset card does not name the image's code version {code_version}")
    tested = [p for p, role in session["roles"].items() if role == "test"]
    if len(votes) != len(tested):
        raise StackError(f"votes.csv has {len(votes)} votes, the session gave {len(tested)} test votes")
    if {v["vote"] for v in votes} != {"4"}:
        raise StackError(f"votes.csv: every test vote was Good (4), found {sorted({v['vote'] for v in votes})}")
    if len(participants) != 1 or any(v["simulated"] not in ("False", "false", "0") for v in votes):
        raise StackError(f"the export should hold one real participant: {participants}")
    exported_pvs = {int(float(v["pvs_id"])) for v in votes if v["pvs_id"]}
    if exported_pvs != set(pvs_ids):
        raise StackError(f"votes.csv rates PVSs {sorted(exported_pvs)}, the database has {sorted(pvs_ids)}")
    if len(pvs) < len(pvs_ids):
        raise StackError(f"pvs.csv has {len(pvs)} rows for {len(pvs_ids)} PVSs")
    return f"{len(names)} files, {len(votes)} votes of {len(participants)} participant, {len(pvs)} rows in pvs.csv"


def main() -> int:
    if not FACES_DIR.is_dir():
        raise StackError(f"{FACES_DIR} is absent: the end-to-end test needs real face clips")
    if not Path(CHROMIUM).is_file():
        raise StackError(f"{CHROMIUM} is absent (Debian: apt-get install chromium)")
    if run(["docker", "info"], check=False).returncode != 0:
        raise StackError("the Docker daemon does not answer (`docker info`)")
    clip = choose_clip()
    with step("build the images"):
        images = build_images()
    workdir = Path(tempfile.mkdtemp(prefix="faceqa-e2e-"))
    stack = Stack(workdir, images)
    up = False
    try:
        with step("clear what an earlier run left"):
            stack.compose("down", "-v", "--remove-orphans", check=False)
        with step(f"start PostgreSQL, Redis, migrate, the web server and a CPU worker on {stack.url}"):
            up = True
            stack.compose("up", "-d", "web", "worker-cpu", timeout=600)
            wait_for_http(f"{stack.url}/admin/login/", timeout=180)
            migrate = stack.compose("ps", "-a", "migrate").stdout
            if "Exit 0" not in migrate and "Exited (0)" not in migrate:
                raise StackError(f"the migrate service did not end with 0:\n{migrate}")
        with step("Django's checks in the web container (manage.py check --deploy)"):
            # Errors fail; the warnings are a deployment's to read (TLS settings, codecs without
            # their programs, weights that cannot be fetched offline). Later commands skip the checks.
            report = stack.manage("check", "--deploy", "--fail-level", "ERROR")
            ids = re.findall(r"\(([a-z_]+\.[WE]\d+)\)", report)
            say(f"{len(ids)} warnings: " + ", ".join(f"{i} x{ids.count(i)}" for i in sorted(set(ids))))
        with step("create a staff user"):
            stack.command("createsuperuser", "--noinput", "--username", STAFF_USER, "--email", "staff@example.org",
                         env={"DJANGO_SUPERUSER_PASSWORD": stack.staff_password})
        with step(f"ingest {clip.name} ({FRAMES} frames)"):
            say(stack.command("ingest_sources", f"/faces/{clip.name}", "--frames", str(FRAMES)).strip())
        with step(f"build the database through the worker: {CODECS} {RATES}, metrics {JOB_METRICS}"):
            output = stack.command("build_database", "--codecs", CODECS, "--rates", RATES, "--timeout", "900",
                                  timeout=1000)
            lines = [line for line in output.splitlines() if line.strip()]
            progress = [line for line in lines if line.startswith("PVS jobs:")]
            print("\n".join([line for line in lines if not line.startswith("PVS jobs:")] + progress[-1:]), flush=True)
            jobs = stack.shell(
                "import json; from qa_platform.core.models import Pvs; from metrics.models import MetricResult; "
                "print(json.dumps({'pvs': [[p.pk, p.status, p.kbps, p.message] for p in Pvs.objects.order_by('pk')], "
                "'metrics': sorted({(r.metric, r.status) for r in MetricResult.objects.all()})}))")
            pvs_ids = [pk for pk, *_ in jobs["pvs"]]
            if len(jobs["pvs"]) != 2 or any(status != "done" for _, status, *_ in jobs["pvs"]):
                raise StackError(f"expected 2 finished PVSs, found {jobs['pvs']}")
            wanted = {(name, "ok") for name in JOB_METRICS.split(",")}
            if not wanted <= {tuple(m) for m in jobs["metrics"]}:
                raise StackError(f"expected the metrics {sorted(wanted)}, found {jobs['metrics']}")
            say(f"PVSs (id, status, kbit/s, message): {jobs['pvs']}")
        with step(f"create the study {STUDY}"):
            output = stack.command("create_study", STUDY, "--votes-per-pvs", "1", "--base-url", stack.url)
            say(output.strip())
            code = next(line.split(":", 1)[1].strip() for line in output.splitlines()
                        if line.startswith("Completion code:"))
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
            try:
                with step("complete a participant session in Chromium"):
                    session = participant_session(stack, browser, code)
                    say(f"rated {len(session['votes'])} trials: {sorted(session['roles'].values())}")
                    stored = stack.shell(
                        "import json; from studies.models import Vote; "
                        f"print(json.dumps(Vote.objects.filter(trial__participant__token='{session['token']}').count()))")
                    if stored != len(session["votes"]):
                        raise StackError(f"{stored} votes stored for {len(session['votes'])} given")
                with step("export the dataset as staff (export page, job on the worker) and check the zip"):
                    zipped = export_as_staff(stack, browser, workdir)
                    say(check_export(zipped, session, pvs_ids, image_code_version(images)))
            finally:
                browser.close()
    except BaseException:
        if up:
            say("the services' last log lines:")
            logs = stack.compose("logs", "--no-color", "--tail", "40", check=False).stdout
            print(logs, flush=True)
        raise
    finally:
        if up and os.environ.get("FACEQA_TEST_KEEP") == "1":
            say(f"left running (FACEQA_TEST_KEEP=1): {shlex.join(stack.base)} down -v")
        else:
            with step("tear down (containers, network, volumes)"):
                stack.compose("down", "-v", "--remove-orphans", timeout=300)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def image_code_version(images: dict[str, str]) -> str:
    """FACEQA_CODE_VERSION as the app image recorded it (empty when it was built without git)."""
    env = run(["docker", "image", "inspect", "-f", "{{json .Config.Env}}",
               images.get("FACEQA_IMAGE", "faceqa:latest")]).stdout
    return next((item.split("=", 1)[1] for item in json.loads(env) if item.startswith("FACEQA_CODE_VERSION=")), "")


def chromium_args() -> list[str]:
    """The repository's Chromium flags (conftest.py), without importing the test fixtures."""
    sys.path.insert(0, str(REPO_DIR))
    try:
        from conftest import CHROMIUM_ARGS
    finally:
        sys.path.pop(0)
    return CHROMIUM_ARGS


if __name__ == "__main__":
    try:
        status = main()
    except StackError as error:
        say(f"FAILED after {time.monotonic() - STARTED:.0f} s: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    say(f"passed: the Docker deployment works end to end ({time.monotonic() - STARTED:.0f} s in all)")
    sys.exit(status)
