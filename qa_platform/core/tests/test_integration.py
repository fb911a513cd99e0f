"""End to end through a real Redis and a real Celery worker process, on real clips.

Every step runs as the user would run it: ``manage.py`` commands in
subprocesses against a data directory of the test's own, jobs sent through
redis-server to a separate ``celery worker`` process.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg.types.string import TextLoader

from conftest import TEST_DATABASE
from qa_platform import runtime
from qa_platform.codec import video

pytestmark = pytest.mark.integration

BASE_DIR = Path(__file__).resolve().parents[3]
CLIPS = ["fomm_demo_08.mp4", "lp_d18.mp4"]
RATES = {"x265": [{"qp": 42}], "landmark-warp": [{"q": 1.0, "key_qp": 37}]}


class Stack:
    """A data directory, a database, a Redis and a way to run commands and workers against them.

    ``database``: the ``stack_database`` fixture's environment (PostgreSQL), or
    ``{}`` for SQLite in the data directory.
    """

    def __init__(self, data_dir: Path, broker_url: str, env: dict, database: dict):
        self.data_dir = data_dir
        self.database = database
        self.env = {**os.environ, **env, **database, "FACEQA_DATA_DIR": str(data_dir),
                    "CELERY_BROKER_URL": broker_url, "OMP_NUM_THREADS": "1"}
        self.broker_url = broker_url

    def manage(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def worker(self, concurrency: int = 2, **options):
        """A worker on this stack (``options``: ``runtime.celery_worker``'s ``hostname`` and ``cwd``)."""
        return runtime.celery_worker(
            self.broker_url, concurrency=concurrency, env=self.env,
            log_path=self.data_dir / "worker.log", **options,
        )

    def rows(self, sql: str, *params) -> list[tuple]:
        """The rows of ``sql`` (``%s`` placeholders; JSON columns come back as text on both databases)."""
        if not self.database:
            with sqlite3.connect(self.data_dir / "db.sqlite3") as db:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
        with psycopg.connect(host=self.database["POSTGRES_HOST"], port=self.database["POSTGRES_PORT"],
                             dbname=self.database["POSTGRES_DB"], user=self.database["POSTGRES_USER"],
                             password=self.database["POSTGRES_PASSWORD"], autocommit=True) as db:
            db.adapters.register_loader("jsonb", TextLoader)
            cursor = db.execute(sql, params)
            return cursor.fetchall() if cursor.description else []


# Unacknowledged messages come back after 5 s, so long jobs are redelivered while they run; a
# worker silent for 3 s counts as dead.
FAST_REDELIVERY = {"FACEQA_VISIBILITY_TIMEOUT": "5", "FACEQA_JOB_HEARTBEAT_SECONDS": "1", "FACEQA_JOB_STALE_BEATS": "3"}


@pytest.fixture
def stack(tmp_path, faces_dir, stack_database):
    with runtime.redis_server() as url:
        stack = Stack(tmp_path / "data", url, FAST_REDELIVERY, stack_database)
        stack.manage("migrate", "--noinput")
        yield stack


@pytest.mark.sqlite_too
def test_two_real_clips_go_through_redis_and_a_worker(stack, faces_dir):
    stack.manage("ingest_sources", *(str(faces_dir / c) for c in CLIPS), "--frames", "50")
    with stack.worker():
        out = stack.manage("build_database", "--codecs", "x265,landmark-warp", "--rates", json.dumps(RATES),
                           "--timeout", "500").stdout
    assert "4 PVSs" in out
    rows = stack.rows(
        "select p.status, p.kbps, p.bitstream_path, p.worker, p.encode_seconds, p.decode_seconds, "
        "s.frame_count, s.fps_num, s.fps_den, p.id from qa_platform_pvs p join qa_platform_source s on s.id = p.source_id"
    )
    assert len(rows) == 4
    for status, kbps, bitstream, worker, enc, dec, frames, fps_num, fps_den, pvs_id in rows:
        assert status == "done", stack.rows("select message from qa_platform_pvs where id=%s", pvs_id)
        n_bytes = sum(p.stat().st_size for p in (stack.data_dir / bitstream).iterdir())
        assert kbps == pytest.approx(8 * n_bytes / (frames * fps_den / fps_num) / 1000)
        assert worker and enc > 0 and dec > 0
        decoded, _ = video.read_frames(stack.data_dir / "pvs" / str(pvs_id) / "decoded.mkv")
        assert decoded.shape == (frames, 256, 256, 3)
    # Later stages outrank first stages in Redis, so PVSs finish one by one: with
    # plain FIFO queues every metrics stage would wait behind every coding stage.
    (first_finished,), = stack.rows("select min(finished_at) from qa_platform_pvs")
    (last_started,), = stack.rows("select max(started_at) from qa_platform_pvs")
    assert first_finished < last_started
    metrics = stack.rows("select metric, status, value from metrics_metricresult")
    psnr = [value for metric, status, value in metrics if metric == "psnr_rgb" and status == "ok"]
    assert len(psnr) == 4 and all(15 < v < 60 for v in psnr)
    finished = stack.rows("select id, finished_at from qa_platform_pvs order by id")
    with stack.worker():
        stack.manage("build_database", "--codecs", "x265,landmark-warp", "--rates", json.dumps(RATES),
                     "--timeout", "60")
    assert stack.rows("select id, finished_at from qa_platform_pvs order by id") == finished


def test_a_second_worker_in_another_folder_shares_the_data_directory_and_both_run_jobs(stack, faces_dir, tmp_path):
    """Scaling out (DESIGN.md): a worker as on another machine, its working directory elsewhere and the
    code on PYTHONPATH, finds the data directory, the database and Redis by its settings alone."""
    stack.env["FACEQA_JOB_METRICS"] = "psnr_y"
    stack.manage("ingest_sources", str(faces_dir / CLIPS[1]), "--frames", "25")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rates = {"x265": [{"qp": 30}, {"qp": 42}], "landmark-warp": [{"q": 1.0, "key_qp": 37}, {"q": 4.0, "key_qp": 42}]}
    with stack.worker(concurrency=1) as first, \
            stack.worker(concurrency=1, hostname="second@%h", cwd=elsewhere) as second:
        stack.manage("build_database", "--codecs", ",".join(rates), "--rates", json.dumps(rates), "--no-wait")
        claimants = _claimants_until_ended(stack, timeout=300)
        worker_of_claimant = {pid: os.getpgid(pid) for pid in claimants}  # a pool process is in its worker's group
    assert set(worker_of_claimant.values()) == {first.pid, second.pid}
    rows = stack.rows("select p.id, p.status, p.message, p.bitstream_path, p.bitstream_bytes from qa_platform_pvs p")
    assert len(rows) == 4
    for pvs_id, status, message, bitstream, bitstream_bytes in rows:
        assert status == "done", message
        files = list((stack.data_dir / bitstream).iterdir())
        assert files and bitstream_bytes == sum(p.stat().st_size for p in files)
        assert video.read_frames(stack.data_dir / "pvs" / str(pvs_id) / "decoded.mkv")[0].shape[0] == 25
    assert list(elsewhere.iterdir()) == []  # nothing written relative to the working directory


def _claimants_until_ended(stack: Stack, timeout: float) -> set[int]:
    """Wait until every PVS is done or failed; return the process ids of the workers seen claiming them."""
    claimants = set()

    def ended(statuses: list[str]) -> bool:
        claimants.update(_claimant_pid(worker) for worker, in stack.rows("select worker from qa_platform_pvs "
                                                                         "where worker != ''"))
        return bool(statuses) and all(status in ("done", "failed") for status in statuses)

    _wait_until(stack, ended, timeout)
    return claimants


def _wait_for_status(stack: Stack, status: str, timeout: float) -> None:
    _wait_until(stack, lambda statuses: statuses == [status], timeout)


def test_a_worker_killed_mid_job_leaves_no_half_pvs_and_the_job_runs_again(stack, faces_dir):
    stack.manage("ingest_sources", str(faces_dir / CLIPS[1]))
    rates = json.dumps({"landmark-warp": [{"q": 1.0, "key_qp": 37}]})
    with stack.worker(concurrency=1) as worker:
        stack.manage("build_database", "--codecs", "landmark-warp", "--rates", rates, "--no-wait")
        _wait_for_status(stack, "running", timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    (status, kbps), = stack.rows("select status, kbps from qa_platform_pvs")
    assert status == "running"
    folder = stack.data_dir / "pvs" / "1"
    visible = [p.name for p in folder.glob("*")] if folder.exists() else []
    if "decoded.mkv" in visible:  # killed after coding: the file must be whole
        assert video.read_frames(folder / "decoded.mkv")[0].shape[0] == 125
    else:
        assert kbps is None
    with stack.worker(concurrency=1):
        _wait_for_status(stack, "done", timeout=240)
    assert video.read_frames(folder / "decoded.mkv")[0].shape[0] == 125


def _claimant_pid(worker: str) -> int:
    """The process id in a PVS's ``worker`` field (``lifecycle.worker_name``: "host pid N")."""
    return int(worker.rsplit(" pid ", 1)[1])


def _wait_for_attempt(stack: Stack, attempt: int, timeout: float) -> int:
    """Wait until the PVS runs its ``attempt``-th attempt; return the process id of the worker running it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (status, attempts, worker, heartbeat), = stack.rows("select status, attempts, worker, heartbeat_at "
                                                            "from qa_platform_pvs")
        if status == "running" and attempts == attempt and heartbeat:
            return _claimant_pid(worker)
        time.sleep(0.05)
    raise AssertionError(f"attempt {attempt} never ran: {stack.rows('select status, attempts, message from qa_platform_pvs')}")


def test_a_pvs_job_whose_worker_process_is_killed_three_times_ends_failed_with_its_reason(stack, faces_dir):
    """A pool process killed mid-job (as the OOM killer does) is retried once its heartbeat is stale,
    counting an attempt; the delivery after the third kill finds the cap and ends the job failed."""
    stack.manage("ingest_sources", str(faces_dir / CLIPS[1]))
    rates = json.dumps({"landmark-warp": [{"q": 1.0, "key_qp": 37}]})
    with stack.worker(concurrency=1):
        stack.manage("build_database", "--codecs", "landmark-warp", "--rates", rates, "--no-wait")
        for attempt in (1, 2, 3):
            os.kill(_wait_for_attempt(stack, attempt, timeout=60), signal.SIGKILL)
        _wait_for_status(stack, "failed", timeout=60)
    (attempts, message), = stack.rows("select attempts, message from qa_platform_pvs")
    assert attempts == 3
    assert message.startswith("gave up after 3 attempts, the cap (FACEQA_JOB_MAX_ATTEMPTS = 3); last error: attempt 3: ")
    assert "stopped beating" in message and "(killed, or cut off from the database)" in message


def test_the_same_pvs_message_delivered_to_two_workers_at_once_gives_one_encode_and_loses_no_file(stack, faces_dir):
    stack.env["FACEQA_JOB_METRICS"] = "psnr_y"
    stack.manage("ingest_sources", str(faces_dir / CLIPS[1]), "--frames", "25")
    send_twice = ("from qa_platform.core.jobs import pvs_enqueue; from qa_platform.core.models import Pvs; "
                  "from qa_platform.core.services import database_build; "
                  "database_build(codec_names=['x265'], rate_points={'x265': [{'qp': 42}]}); "
                  "pvs = Pvs.objects.get(); pvs_enqueue(pvs, pvs.task_ids)")
    with stack.worker(concurrency=2):
        stack.manage("shell", "-c", send_twice)
        _wait_for_status(stack, "done", timeout=120)
    (task_ids,), = stack.rows("select task_ids from qa_platform_pvs")
    coding_id = json.loads(task_ids)[0]
    log = (stack.data_dir / "worker.log").read_text()
    drops = [line for line in log.splitlines() if f"message {coding_id} dropped" in line]
    assert drops, log  # the second delivery of the coding message was refused...
    (attempts, kbps, bitstream_bytes, frames), = stack.rows(
        "select p.attempts, p.kbps, p.bitstream_bytes, s.frame_count from qa_platform_pvs p "
        "join qa_platform_source s on s.id = p.source_id")
    folder = stack.data_dir / "pvs" / "1"
    # ...and the coding step was claimed once (each claim of it counts an attempt): one encode.
    assert attempts == 1 and bitstream_bytes == sum(p.stat().st_size for p in (folder / "bitstream").iterdir())
    assert video.read_frames(folder / "decoded.mkv")[0].shape[0] == frames == 25
    assert (folder / "browser.mp4").is_file()


def test_matched_bitrates_through_a_worker_report_what_cannot_be_reached(stack, faces_dir):
    stack.env["FACEQA_JOB_METRICS"] = "psnr_y"
    stack.manage("ingest_sources", str(faces_dir / CLIPS[1]), "--frames", "25")
    with stack.worker():
        out = stack.manage("build_database", "--codecs", "x265", "--target-kbps", "20,1", "--timeout", "300").stdout
    assert "x265 @ 20 kbit/s" in out and "x265 @ 1 kbit/s" in out
    assert "RateNotReached: x265 cannot code lp_d18 at 1 kbit/s: its lowest rate is" in out
    (kbps, params), = stack.rows("select p.kbps, p.params from qa_platform_pvs p join qa_platform_hrc h "
                                 "on h.id = p.hrc_id where h.label = 'x265 @ 20 kbit/s' and p.status = 'done'")
    assert abs(kbps - 20) <= 2 and "qp" in json.loads(params)
    (probes,), = stack.rows("select count(*) from qa_platform_rateprobe")
    assert 2 <= probes < 52  # a bisection, not a sweep of the 52 QPs


def test_redis_killed_and_restarted_during_build_database_duplicates_and_half_writes_no_pvs(
        tmp_path, faces_dir, stack_database):
    """Redis with append-only persistence (as in the compose file) dies with SIGKILL while PVSs are
    being coded and comes back on the same port: the build finishes, each PVS once and whole."""
    qps = [30, 38, 46]
    with runtime.running_redis(appendonly=True) as redis_server:
        stack = Stack(tmp_path / "data", redis_server.url, {**FAST_REDELIVERY, "FACEQA_JOB_METRICS": "psnr_y"},
                      stack_database)
        stack.manage("migrate", "--noinput")
        stack.manage("ingest_sources", str(faces_dir / CLIPS[1]), "--frames", "25")
        with stack.worker():
            build = subprocess.Popen(
                [sys.executable, "manage.py", "build_database", "--codecs", "x265", "--timeout", "400",
                 "--rates", json.dumps({"x265": [{"qp": qp} for qp in qps]})],
                cwd=BASE_DIR, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            _wait_until(stack, lambda statuses: "running" in statuses, timeout=120)
            redis_server.kill()
            time.sleep(3)
            redis_server.start()
            out, err = build.communicate(timeout=450)
    assert build.returncode == 0, f"build_database failed after the Redis restart:\n{out}\n{err}"
    rows = stack.rows("select p.id, p.status, p.bitstream_bytes, p.source_id, p.hrc_id, s.frame_count "
                      "from qa_platform_pvs p join qa_platform_source s on s.id = p.source_id")
    assert len(rows) == len({(source, hrc) for _, _, _, source, hrc, _ in rows}) == len(qps)
    for pvs_id, status, bitstream_bytes, _, _, frames in rows:
        assert status == "done"
        folder = stack.data_dir / "pvs" / str(pvs_id)
        assert bitstream_bytes == sum(p.stat().st_size for p in (folder / "bitstream").iterdir())
        assert video.read_frames(folder / "decoded.mkv")[0].shape[0] == frames == 25
    (metrics,), = stack.rows("select count(*) from metrics_metricresult where status = 'ok'")
    assert metrics == len(qps)


def _wait_until(stack: Stack, condition, timeout: float) -> None:
    """Wait until ``condition`` holds for the list of PVS statuses."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition([status for status, in stack.rows("select status from qa_platform_pvs")]):
            return
        time.sleep(0.05)
    raise AssertionError(f"the PVSs never got there: {stack.rows('select status, message from qa_platform_pvs')}")


@pytest.mark.django_db
@pytest.mark.sqlite_too
def test_the_session_runs_on_the_database_it_was_asked_for():
    """make test runs this layer twice: FACEQA_TEST_DATABASE picks SQLite or the PostgreSQL server."""
    assert connection.vendor == TEST_DATABASE
