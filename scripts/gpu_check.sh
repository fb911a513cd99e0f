#!/usr/bin/env bash
# GPU check: measures FaceQA's GPU path on a machine with CUDA, in under about
# 8 minutes on one H200, and prints one table (step, metric, value):
#   1. benchmark  `manage.py benchmark_metrics` (it picks CUDA when present):
#                 frames/s per metric and of the whole set, GPU peak memory (MiB);
#   2. train      keypoint-anim (FOMM) trained for FACEQA_GPU_CHECK_TRAIN_S
#                 seconds in this process: steps/s, GPU peak memory (MiB);
#   3. gpu queue  a private redis-server and one Celery worker (-Q cpu,gpu):
#                 SRCs ingested, a one-epoch keypoint-anim run on the gpu queue
#                 (its checkpoint is the codec's model), then keypoint-anim PVSs
#                 built at the codec's default rate points, metrics included.
# Everything goes to a temporary FACEQA_DATA_DIR (SQLite), removed at the end;
# the weights are read from TORCH_HOME (default: that of the usual data folder).
# Nothing is downloaded: HTTP(S) goes to a dead proxy; a weight that is not
# installed makes its rows say "unavailable". Face clips come from
# FACEQA_FACES (default ../shared/faces); without them step 1 uses a synthetic
# clip (no face: the face metrics fail), step 2 synthetic frames, and step 3
# is skipped.
#
# Knobs (environment): FACEQA_GPU_CHECK_TRAIN_S (default 120), _SIZE (FOMM
# frame side, default 256 px), _FRAMES (frames per clip, default 50), _SRCS
# (SRCs for step 3, default 2), _ALLOW_CPU=1 (run the steps on the CPU anyway:
# a smoke test of this script, its numbers mean nothing; e.g. with
# FACEQA_GPU_CHECK_SIZE=64 FACEQA_GPU_CHECK_TRAIN_S=15 FACEQA_GPU_CHECK_FRAMES=10
# FACEQA_GPU_CHECK_SRCS=1 FACEQA_JOB_SKIP_METRICS=fsim,vif,vmaf_torch,vmaf).
# Usage: scripts/gpu_check.sh   (exit status 0 when every step ran)
set -euo pipefail
cd "$(dirname "$0")/.."

no_cuda() {
  echo "no CUDA device: this script measures the GPU path; run it on a GPU machine" >&2
  exit 2
}
allow_cpu=${FACEQA_GPU_CHECK_ALLOW_CPU:-0}
# Fail before a long install when the machine has no NVIDIA GPU at all.
if [ ! -x .venv/bin/python ]; then
  [ "$allow_cpu" = 1 ] || nvidia-smi -L >/dev/null 2>&1 || no_cuda
  make setup
fi
PY=.venv/bin/python
if [ "$allow_cpu" != 1 ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  no_cuda
fi

# The weights stay where they are installed (settings: TORCH_HOME, default <data dir>/torch).
export TORCH_HOME="${TORCH_HOME:-$(realpath -m "${FACEQA_DATA_DIR:-data}/torch")}"
work=$(mktemp -d -t faceqa-gpu-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
export FACEQA_GPU_CHECK_WORK="$work"
export FACEQA_DATA_DIR="$work/data"
unset POSTGRES_HOST  # SQLite inside the temporary data folder
# Never download: every HTTP(S) request fails at once (Redis is not HTTP; loopback is exempt).
export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
  HTTPS_PROXY=http://127.0.0.1:9 no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost HF_HUB_OFFLINE=1
export DJANGO_SETTINGS_MODULE=qa_platform.settings
"$PY" manage.py migrate --noinput -v 0 --skip-checks

"$PY" - <<'PY'
"""The three steps; every number goes to ROWS, printed as one table at the end."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import django

django.setup()

import torch  # noqa: E402

from metrics import benchmark as metric_benchmark  # noqa: E402
from metrics import weights  # noqa: E402
from qa_platform import runtime  # noqa: E402
from qa_platform.celery import app as celery_app  # noqa: E402
from qa_platform.codec.fomm import FommConfig  # noqa: E402
from qa_platform.codec.storage import sha256_file  # noqa: E402
from qa_platform.core import ingest  # noqa: E402
from qa_platform.core.jobs import pvs_wait  # noqa: E402
from qa_platform.core.models import JobStatus, Pvs  # noqa: E402
from qa_platform.core.services import database_build, source_ingest  # noqa: E402
from training import services as training_services  # noqa: E402
from training.fomm_losses import perceptual_backbone  # noqa: E402
from training.fomm_training import TrainingClip, TrainingOptions, train_fomm  # noqa: E402
from training.jobs import training_run_wait  # noqa: E402

WORK = Path(os.environ["FACEQA_GPU_CHECK_WORK"])
TRAIN_S = float(os.environ.get("FACEQA_GPU_CHECK_TRAIN_S", "120"))  # seconds of training in step 2
SIZE = int(os.environ.get("FACEQA_GPU_CHECK_SIZE", "256"))  # FOMM frame side, pixels (64, 128 or 256)
FRAMES = int(os.environ.get("FACEQA_GPU_CHECK_FRAMES", "50"))  # frames per clip
SRCS = int(os.environ.get("FACEQA_GPU_CHECK_SRCS", "2"))  # SRCs of step 3
BATCH = 8  # training pairs per step (train_codec's default)
FACES = Path(os.environ.get("FACEQA_FACES", "../shared/faces"))
CUDA = torch.cuda.is_available()
ROWS, FAILED = [], []


def row(step: str, metric: str, value) -> None:
    ROWS.append((step, metric, str(value)))


def failed(step: str, what: str) -> None:
    FAILED.append(step)
    row(step, "FAILED", what)


def peak_mib() -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if CUDA else "n/a (CPU)"


clips = sorted(FACES.glob("*.mp4")) if FACES.is_dir() else []
row("setup", "device", torch.cuda.get_device_name(0) if CUDA else "CPU (FACEQA_GPU_CHECK_ALLOW_CPU=1: smoke test)")
row("setup", "face clips", f"{len(clips)} in {FACES}" if clips else f"none ({FACES} absent): synthetic frames")
for weight in weights.WEIGHTS.values():
    row("setup", f"weight {weight.name}", "installed" if weight.is_installed()
        else f"unavailable (not installed; not downloaded here: {weights.FETCH_COMMAND})")

# 1. The metrics benchmark, on the device it picks (CUDA when present).
print(f"== 1. benchmark_metrics ({FRAMES} frames)", flush=True)
command = [sys.executable, "manage.py", "benchmark_metrics", "--frames", str(FRAMES),
           *(["--clip", str(clips[0])] if clips else [])]
done = subprocess.run(command, capture_output=True, text=True, check=False)
print(done.stdout, flush=True)
if done.returncode:
    failed("benchmark", done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
else:
    section, ok, not_ok = "", 0, []
    for line in done.stdout.splitlines():
        if line.startswith(("each metric alone", "whole set")):
            section = line.split("  ")[0]
        elif section == "each metric alone" and (m := re.match(r"(\S+)\s+([\d.]+)\s+([\d.]+)\s+(.+)$", line)):
            name, fps, status = m.group(1), m.group(2), m.group(4)
            ok += status == "ok"
            if status != "ok":
                not_ok.append(name)
            if status != "ok" or name.startswith(("lpips", "dists", "vmaf")):
                row("benchmark", f"{name} alone, frames/s", fps if status == "ok" else status)
        elif section == "whole set" and (m := re.match(r"(.+?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", line)):
            row("benchmark", f"whole set, {m.group(1)}, frames/s", m.group(2))
        elif m := re.match(r"GPU peak memory: (\d+) MiB", line):
            row("benchmark", "GPU peak memory, MiB", m.group(1))
    row("benchmark", "metrics ok alone", f"{ok} of {ok + len(not_ok)}")

# 2. keypoint-anim (FOMM) training steps per second, in this process.
print(f"== 2. keypoint-anim training for {TRAIN_S:g} s", flush=True)


class Budget(Exception):
    """The training time of step 2 is used up."""


config = FommConfig(size=SIZE)
if clips:
    training_clips = [TrainingClip(p.stem, sha256_file(p), ingest.prepare_clip(p, size=config.size).frames)
                      for p in clips[:2]]
else:
    training_clips = [TrainingClip("synthetic", "0" * 64, metric_benchmark.synthetic_clip(125, config.size))]
ends = []  # monotonic time at the end of each step


def progress(report) -> None:
    ends.append(time.monotonic())
    if ends[-1] - ends[0] >= TRAIN_S:
        raise Budget


if CUDA:
    torch.cuda.reset_peak_memory_stats()
try:
    train_fomm(clips=training_clips, config=config, folder=WORK / "training", progress=progress,
               options=TrainingOptions(epochs=10**6, batch_size=BATCH))
except Budget:
    pass
except Exception as exc:  # noqa: BLE001 - reported in the table, the other steps still run
    failed("train", f"{type(exc).__name__}: {exc}")
if len(ends) >= 2:
    # Timed from the end of the first step: CUDA start-up and cuDNN tuning are left out.
    row("train", "steps/s (end-of-epoch checkpoints included)", f"{(len(ends) - 1) / (ends[-1] - ends[0]):.2f}")
    row("train", "steps", f"{len(ends)} of batch {BATCH}, {config.size} px, {config.num_kp} keypoints")
    row("train", "GPU peak memory, MiB", peak_mib())
    row("train", "reconstruction loss", "VGG-19 perceptual" if perceptual_backbone() is not None
        else "L1 + MS-SSIM (VGG-19 weights not installed: perceptual loss unavailable)")

if CUDA:
    torch.cuda.empty_cache()  # the worker of step 3 gets the memory step 2 cached

# 3. keypoint-anim PVSs built by a Celery worker on the gpu and cpu queues.
print("== 3. keypoint-anim PVSs on the gpu queue", flush=True)
if not clips:
    row("gpu queue", "PVSs", "skipped: no face clips (set FACEQA_FACES to a folder of face videos)")
else:
    try:
        with runtime.redis_server() as broker_url:
            celery_app.conf.broker_url = broker_url
            with runtime.celery_worker(broker_url, concurrency=2, log_path=WORK / "worker.log"):
                sources = []
                for path in clips[:SRCS]:
                    outcome = source_ingest(path=path, max_frames=FRAMES)
                    if outcome.source is None:
                        raise RuntimeError(f"{path.name} not ingested: {outcome.reason}")
                    sources.append(outcome.source)
                row("gpu queue", "SRCs", f"{len(sources)} x {FRAMES} frames")
                start = time.monotonic()
                run = training_services.training_run_create(codec_name="keypoint-anim", config=config, epochs=1,
                                                            batch_size=BATCH)
                run = training_run_wait(run.pk, timeout=180)
                row("gpu queue", "training run (1 epoch)", f"{run.status}, {run.step} steps on {run.device} in "
                    f"{time.monotonic() - start:.0f} s {run.message}".strip())
                start = time.monotonic()
                built = database_build(codec_names=["keypoint-anim"], sources=sources)
                counts = pvs_wait([pvs.pk for pvs in built], timeout=300)
                seconds = time.monotonic() - start
                pvs_rows = list(Pvs.objects.filter(pk__in=[pvs.pk for pvs in built]))
                done_rows = [p for p in pvs_rows if p.encode_seconds is not None]
                row("gpu queue", "PVSs", ", ".join(f"{n} {status}" for status, n in counts.items() if n) +
                    f" in {seconds:.0f} s ({len(built) / seconds:.2f} PVS/s, metrics included)")
                row("gpu queue", "coded on", ", ".join(sorted({p.device or "?" for p in pvs_rows})))
                if done_rows:
                    row("gpu queue", "encode + decode s per PVS (mean)",
                        f"{sum(p.encode_seconds + (p.decode_seconds or 0) for p in done_rows) / len(done_rows):.2f}")
                    row("gpu queue", "kbit/s", ", ".join(f"{p.kbps:.1f}" for p in done_rows if p.kbps is not None))
                for pvs in pvs_rows:
                    if pvs.status == JobStatus.FAILED:
                        failed("gpu queue", f"PVS {pvs.pk}: {pvs.message[:200]}")
    except Exception as exc:  # noqa: BLE001 - reported in the table with the worker's log
        failed("gpu queue", f"{type(exc).__name__}: {exc}")
        log = WORK / "worker.log"
        if log.is_file():
            print("worker log (last lines):\n" + "\n".join(log.read_text().splitlines()[-30:]))

width = [max(len(r[i]) for r in ROWS + [("step", "metric", "value")]) for i in range(2)]
print(f"\n{'step':{width[0]}}  {'metric':{width[1]}}  value")
for step, metric, value in ROWS:
    print(f"{step:{width[0]}}  {metric:{width[1]}}  {value}")
sys.exit(1 if FAILED else 0)
PY
