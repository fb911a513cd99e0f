"""`make demo`: a real compressed face-video database built and measured, end to end.

Starts redis-server and one Celery worker on loopback, ingests the sample
clips, builds the database with the three codecs at their default rate points
(metrics run as the last stage of every PVS job), prints the summary per codec
and rate point (every metric in DATA_DIR/exports/demo-summary.csv), creates an
ACR-HR rating study over every PVS and lets SIMULATED observers rate it (the apps' own commands: the project shell may
import every app), then serves the web pages until interrupted. It stops what
it started.
"""
import contextlib
import os
import socket
import textwrap
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from metrics.management.commands import rd_summary
from metrics.registry import SLOW_ON_CPU
from metrics.summary import TABLE_WIDTH
from metrics.timing import job_seconds
from qa_platform import runtime
from qa_platform.celery import app as celery_app
from qa_platform.core.jobs import pvs_wait
from qa_platform.core.optional_parts import format_messages, optional_part_messages
from qa_platform.core.services import database_build, source_ingest
from qa_platform.samples import sample_clips
from studies.management.commands import (
    create_study,
    recompute_analyses,
    simulate_ratings,
)

# The VVC anchor (the GFVC literature's reference), HEVC, and a generative codec.
DEMO_CODECS = ["vvc", "x265", "landmark-warp"]
DEMO_STUDY = "demo"
# Frames per SRC: the first 2 s at 25 fps. The demo's jobs cost about 9 s of a
# core per PVS at 75 frames (VVC encoding a fifth, the metrics 70 %): 2 s SRCs keep
# `make demo` within 12 minutes on 2 cores, install included (839 s at 75 frames).
# `python manage.py ingest_sources --frames 250` (or `run_demo --frames`) takes longer clips.
DEMO_FRAMES = 50
# The full summary (every metric of every HRC and PVS), under DATA_DIR/exports.
DEMO_SUMMARY_CSV = "demo-summary.csv"
# 40 PVSs and the 10 hidden references make a session a person can sit through
# (about 12 minutes); 45 observers give each of the 120 PVSs 15 votes (45 x 40 = 120 x 15).
DEMO_STUDY_ARGS = ["--trials-per-participant", "40", "--votes-per-pvs", "15", "--seed", "1"]
DEMO_RATERS_ARGS = ["--participants", "45", "--careless", "2", "--seed", "1"]
# The slowest metrics on a CPU core (FSIMc, VIF; vmaf_torch is VMAF's GPU path, the
# vmaf metric being libvmaf) are left out of the demo's jobs; `compute_metrics
# --metrics fsim,vif,vmaf_torch` adds them.
DEMO_LEFT_OUT = SLOW_ON_CPU


def run_demo(*, out, serve: bool, started_at: float, concurrency: int | None = None,
             frames: int = DEMO_FRAMES, port: int = 8000) -> None:
    """Run the demo, writing progress to ``out`` (a text stream).

    ``started_at`` (``time.time()``) is when ``make demo`` began, so the
    printed duration includes the install. ``concurrency``: Celery worker
    processes (default: one per core). ``frames``: frames per SRC (at 25 fps).
    Raises ``SamplesUnavailable`` or ``runtime.ServiceError`` with what to do.
    """
    concurrency = concurrency or os.cpu_count() or 1
    data_dir = Path(settings.DATA_DIR)
    phases = {"install and start-up (make setup, migrate)": time.time() - started_at}
    clips = sample_clips(download_dir=data_dir / "samples")
    with runtime.redis_server() as broker_url:
        celery_app.conf.broker_url = broker_url
        worker_env = {"FACEQA_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1",
                      "FACEQA_JOB_SKIP_METRICS": ",".join(DEMO_LEFT_OUT)}
        log_path = data_dir / "logs" / "worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with runtime.celery_worker(broker_url, concurrency=concurrency, env=worker_env, log_path=log_path):
            out.write(f"Redis at {broker_url}; Celery worker (queues cpu,gpu, concurrency {concurrency}), log {log_path}\n"
                      f"Metrics: all but {', '.join(DEMO_LEFT_OUT)} (slow on a CPU; add them later with "
                      f"`python manage.py compute_metrics --metrics {','.join(DEMO_LEFT_OUT)}`)\n")
            out.write(_optional_parts_text())
            with _phase(phases, "ingest and queue (the workers start on the first SRC)"):
                all_pvs = _ingest_and_queue(clips, frames, out)
            with _phase(phases, f"PVS jobs after the last SRC was queued ({concurrency} worker processes)"):
                pvs_wait([pvs.pk for pvs in all_pvs])
            call_command(rd_summary.Command(), "--csv", str(data_dir / "exports" / DEMO_SUMMARY_CSV), stdout=out)
            with _phase(phases, "rating study (create, simulate, analyse)"):
                _rating_study(out)
            out.write(_time_report(phases, [pvs.pk for pvs in all_pvs], time.time() - started_at))
            if serve:
                _serve(out, port)
            else:
                out.write(_urls(f"http://127.0.0.1:{port}"))


@contextlib.contextmanager
def _phase(phases: dict[str, float], name: str):
    start = time.time()
    try:
        yield
    finally:
        phases[name] = time.time() - start


def _time_report(phases: dict[str, float], pvs_ids: list[int], total: float) -> str:
    """Where the time went: the demo's phases (wall seconds), then the PVS jobs' parts (worker seconds)."""
    lines = ["", f"Demo database built in {total:.0f} s (install included). Where the time went:"]
    lines += [f"  {name:<66}{seconds:>7.0f} s" for name, seconds in phases.items()]
    parts = job_seconds(pvs_ids)
    lines.append(f"  inside the PVS jobs, summed over the worker processes ({sum(p.seconds for p in parts):.0f} s):")
    lines += [f"    {part.name:<64}{part.seconds:>7.0f} s" for part in parts]
    return "\n".join(lines) + "\n"


def _optional_parts_text() -> str:
    """The optional parts missing here (codec programs, metric weights), a line of at most
    ``TABLE_WIDTH`` characters each; "" when none is."""
    lines = format_messages(optional_part_messages(), hints=False).splitlines()
    if not lines:
        return ""
    return "".join([f"Not installed here ({len(lines)}; the hints: `python manage.py check`):\n"]
                   + [f"  {textwrap.shorten(line, TABLE_WIDTH - 2, placeholder=' …')}\n" for line in lines])


def _ingest_and_queue(clips: list[Path], frames: int, out) -> list:
    """Ingest each clip as a SRC and queue its PVSs at once, so the workers code one SRC while the next is ingested."""
    all_pvs, sources = [], 0
    for path in clips:
        outcome = source_ingest(path=path, max_frames=frames)
        if outcome.status == "error":
            out.write(f"{path.name}: skipped, {outcome.reason}\n")
            continue
        out.write(f"{path.name}: {outcome.status} as SRC {outcome.source.name} ({outcome.source.frame_count} frames)\n")
        all_pvs += database_build(codec_names=DEMO_CODECS, sources=[outcome.source])
        sources += 1
    out.write(f"{len(all_pvs)} PVSs: {sources} SRCs x {len(all_pvs) // max(sources, 1)} HRCs\n")
    return all_pvs


def _rating_study(out) -> None:
    """Create the demo study and let simulated observers rate it; a re-run keeps the study as it is."""
    out.write("\n")
    try:
        call_command(create_study.Command(), DEMO_STUDY, *DEMO_STUDY_ARGS, stdout=out)
    except CommandError as error:
        out.write(f"Rating study: {error}; kept with its votes.\n")
        return
    call_command(simulate_ratings.Command(), DEMO_STUDY, *DEMO_RATERS_ARGS, stdout=out)
    # The study pages read stored analyses: store them now rather than wait for the debounced job.
    call_command(recompute_analyses.Command(), DEMO_STUDY, stdout=out)


def _urls(base: str) -> str:
    return (
        f"\nDatabase page:             {base}/\n"
        f"Rate-distortion dashboard: {base}/metrics/rd/\n"
        f"Participant URL (rate it): {base}/study/{DEMO_STUDY}/\n"
        f"Metric-MOS dashboard:      {base}/studies/{DEMO_STUDY}/ (SIMULATED ratings)\n"
        f"Admin:                     {base}/admin/ (python manage.py createsuperuser first)\n"
    )


def _serve(out, port: int) -> None:
    port = port if _port_is_free(port) else runtime.free_port()
    out.write(_urls(f"http://127.0.0.1:{port}") + "Ctrl-C stops the server, the worker and Redis.\n")
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
