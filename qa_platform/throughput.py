"""``manage.py benchmark_build``: PVSs per minute of a real database build, with 1, 2, ... worker processes.

Each measured build runs on a scratch stack of its own, so that nothing an
earlier run made (a PVS, a rate search, a worker's reference-feature cache)
is reused: a fresh data directory with a SQLite database of its own, a fresh
``redis-server`` and one Celery worker whose pool has N processes. The SRCs
(the first sample clips, trimmed) are ingested once, not timed, into a
migrated database; each build starts from a copy of that database and of the
SRC files, and nothing else. Then ``manage.py build_database`` runs every
PVS job through the worker (coding, then the metrics stages), and the wall
time is read from the PVS rows: from the first PVS queued to the last one
finished. Every step is a ``manage.py`` child process, as a user would run
it; this process's own database and data directory are never opened.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings

from qa_platform import runtime
from qa_platform.core.arguments import comma_list
from qa_platform.core.models import Pvs
from qa_platform.samples import SHARED_FACES, sample_clips

# An anchor and a generative codec, at the two middle rate points of their defaults.
RATE_POINTS = {
    "x265": [{"qp": 43}, {"qp": 35}],
    "landmark-warp": [{"key_qp": 42, "q": 4.0}, {"key_qp": 37, "q": 2.0}],
}
# The metrics each PVS job computes: full-reference ones and face ones (dlib landmarks), without the
# slow ones on a CPU core (FSIMc, VIF, VMAF's torch path), which would dominate the jobs.
DEFAULT_METRICS = ("psnr_y", "ssim", "ms_ssim", "vmaf", "face_psnr", "akd")
LOG_TAIL_CHARS = 2000


class BenchmarkError(RuntimeError):
    """A measured build could not run or did not finish; the message says why and what to check."""


@dataclass(frozen=True)
class Plan:
    """What each measured build builds: ``srcs`` clips of at most ``frames`` frames through the HRCs of
    ``RATE_POINTS``, each PVS job computing ``metrics``; a build still running after ``timeout``
    seconds fails."""

    srcs: int = 3
    frames: int = 50
    metrics: tuple[str, ...] = DEFAULT_METRICS
    timeout: float = 3600.0

    def check(self) -> None:
        """Raise ``ValueError`` naming the size that cannot be built."""
        if self.srcs < 1 or self.frames < 1:
            raise ValueError(f"the build needs at least one SRC and one frame (srcs={self.srcs}, frames={self.frames})")
        if self.timeout <= 0:
            raise ValueError(f"the timeout must be positive seconds, got {self.timeout:g}")


@dataclass(frozen=True)
class Run:
    """One measured build: ``workers`` pool processes coded ``pvs`` PVSs in ``seconds`` of wall time."""

    workers: int
    pvs: int
    seconds: float

    @property
    def pvs_per_minute(self) -> float:
        """PVSs built per minute of wall time."""
        return 60.0 * self.pvs / self.seconds


def speedup(run: Run, baseline: Run) -> float:
    """Throughput (PVSs per minute) of ``run`` over that of ``baseline``; 1.0 is no gain."""
    return run.pvs_per_minute / baseline.pvs_per_minute


def efficiency(run: Run, baseline: Run) -> float:
    """Scaling efficiency: the speed-up per worker added, relative to ``baseline``'s worker count.

    1.0 is linear scaling (twice the workers, twice the PVSs per minute); 0.5
    with twice the workers is no gain at all.
    """
    return speedup(run, baseline) * baseline.workers / run.workers


def results_table(runs: list[Run]) -> str:
    """The runs as a text table; speed-up and efficiency are relative to the run with the fewest workers."""
    if not runs:
        raise ValueError("no measured build to show")
    baseline = min(runs, key=lambda run: run.workers)
    header = f"{'workers':>7}  {'PVSs':>5}  {'wall s':>8}  {'PVSs/min':>8}  {'speed-up':>8}  {'efficiency':>10}"
    lines = [header, "-" * len(header)]
    for run in sorted(runs, key=lambda run: run.workers):
        lines.append(f"{run.workers:>7}  {run.pvs:>5}  {run.seconds:>8.1f}  {run.pvs_per_minute:>8.2f}  "
                     f"{speedup(run, baseline):>7.2f}x  {efficiency(run, baseline):>9.0%}")
    return "\n".join(lines)


def cores_note(worker_counts: list[int], cores: int | None) -> str:
    """One line on the machine's cores, and on the counts past them (where no gain is expected)."""
    cores_text = f"{cores} CPU cores" if cores else "an unknown number of CPU cores"
    beyond = [count for count in worker_counts if cores and count > cores]
    note = f"This machine has {cores_text}"
    if beyond:
        note += f"; {', '.join(map(str, beyond))} workers is more than that, so no scaling is expected there"
    return note + ". Other programs running at the same time slow the builds down."


def parse_worker_counts(text: str) -> list[int]:
    """``"1,2,4"`` as ``[1, 2, 4]``; raise ``ValueError`` unless every count is a whole number >= 1."""
    try:
        counts = [int(part) for part in comma_list(text)]
    except ValueError:
        raise ValueError(f"--workers takes comma-separated whole numbers, e.g. 1,2,4; got {text!r}") from None
    if not counts or min(counts) < 1:
        raise ValueError(f"--workers needs counts of at least 1, e.g. 1,2,4; got {text!r}")
    return sorted(set(counts))


def benchmark(plan: Plan, worker_counts: list[int], progress: Callable[[str], None] = lambda line: None) -> list[Run]:
    """Build ``plan`` once per worker count, each on a scratch stack of its own; return the runs.

    Raises ``SamplesUnavailable`` (no clips), ``runtime.ServiceError`` (Redis
    or the worker would not start) or ``BenchmarkError`` (a step failed, or a
    PVS did not end done).
    """
    plan.check()
    clips = sample_clips(download_dir=Path(settings.DATA_DIR) / "samples")[:plan.srcs]
    if len(clips) < plan.srcs:
        raise BenchmarkError(f"{plan.srcs} SRCs asked for, but there are {len(clips)} sample clips: give "
                             f"--srcs {len(clips)} or fewer, or put more face clips (MP4) in {SHARED_FACES}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="faceqa-benchmark-") as scratch:
        srcs_dir = Path(scratch) / "srcs"
        progress(f"Ingesting {len(clips)} SRCs of at most {plan.frames} frames (not timed) ...")
        with runtime.redis_server() as broker_url:
            env = _stack_env(srcs_dir, broker_url, plan)
            _manage(env, "migrate", "--noinput")
            _manage(env, "ingest_sources", *map(str, clips), "--frames", str(plan.frames))
        for workers in worker_counts:
            progress(f"Worker processes {workers}: building {len(clips)} SRCs x "
                     f"{sum(map(len, RATE_POINTS.values()))} HRCs on a fresh stack ...")
            runs.append(_measured_build(plan, srcs_dir, Path(scratch) / f"workers-{workers}", workers))
            progress(f"  {runs[-1].pvs} PVSs in {runs[-1].seconds:.1f} s")
    return runs


def _measured_build(plan: Plan, srcs_dir: Path, folder: Path, workers: int) -> Run:
    """Build on a copy of ``srcs_dir`` (the migrated database and the ingested SRCs, nothing else) in ``folder``."""
    data_dir = folder / "data"
    shutil.copytree(srcs_dir, data_dir)
    with runtime.redis_server() as broker_url:
        env = _stack_env(data_dir, broker_url, plan)
        log_path = folder / "worker.log"
        with runtime.celery_worker(broker_url, concurrency=workers, env=env, log_path=log_path):
            _manage(env, "build_database", "--codecs", ",".join(RATE_POINTS), "--rates", json.dumps(RATE_POINTS),
                    "--timeout", str(plan.timeout), log_path=log_path)
    return Run(workers=workers, **build_span(data_dir / "db.sqlite3"))


def _stack_env(data_dir: Path, broker_url: str, plan: Plan) -> dict[str, str]:
    """The environment of a scratch stack's processes: its own data directory, SQLite database and broker.

    The model weights are read where this process reads them (``TORCH_HOME``), not fetched again.
    """
    return {**os.environ, "FACEQA_DATA_DIR": str(data_dir), "POSTGRES_HOST": "", "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0", "TORCH_HOME": str(settings.TORCH_HOME), "OMP_NUM_THREADS": "1",
            "FACEQA_JOB_METRICS": ",".join(plan.metrics), "FACEQA_JOB_SKIP_METRICS": ""}


def _manage(env: dict[str, str], *args: str, log_path: Path | None = None) -> None:
    """Run ``manage.py args`` in a child process; raise ``BenchmarkError`` with its output if it fails."""
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=runtime.BASE_DIR, env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        worker_log = log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:] if log_path else ""
        raise BenchmarkError(f"manage.py {args[0]} failed (exit code {result.returncode}):\n"
                             f"{(result.stdout + result.stderr)[-LOG_TAIL_CHARS:]}"
                             + (f"\nworker log:\n{worker_log}" if worker_log else ""))


def build_span(database: Path) -> dict:
    """PVS count and wall seconds, from the first PVS queued to the last finished, in a scratch SQLite database.

    Raises ``BenchmarkError`` naming the PVSs that did not end done.
    """
    with sqlite3.connect(database) as db:
        rows = db.execute(f"select id, status, message, queued_at, finished_at from {Pvs._meta.db_table}").fetchall()
    not_done = [f"PVS {pvs_id}: {status} {message}".strip() for pvs_id, status, message, _, _ in rows
                if status != "done"]
    if not rows or not_done:
        raise BenchmarkError("the build did not end with every PVS done: " + ("; ".join(not_done) or "no PVS"))
    queued = min(datetime.fromisoformat(row[3]) for row in rows)
    finished = max(datetime.fromisoformat(row[4]) for row in rows)
    return {"pvs": len(rows), "seconds": (finished - queued).total_seconds()}
