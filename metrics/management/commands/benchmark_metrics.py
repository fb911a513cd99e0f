import json
import os
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch
from django.core.management.base import BaseCommand, CommandError

from metrics import benchmark, compute, services
from metrics.registry import UnknownMetricError, demo_metric_names
from qa_platform.codec.video import VideoError
from qa_platform.core.arguments import comma_list
from qa_platform.progress import progress_bar

VIDEO_SUFFIXES = {".mp4", ".mkv", ".y4m", ".avi", ".mov", ".webm"}
# Issue 15's targets for the demo's set on one CPU core at 256x256: the one pass
# for a later PVS of a SRC at most this many ms per frame, and this many times
# faster than the per-frame, per-metric way.
TARGET_MS_PER_FRAME = 60
TARGET_SPEED_UP = 3


class Command(BaseCommand):
    help = (
        "Frames per second of every metric alone and of the whole set in one pass, against the "
        "straightforward way (per frame, one metric at a time), with CPU time and peak memory, on "
        "clips cropped square and resized (default 256x256) and a degraded copy of each (blur + "
        "noise), on one CPU thread unless --threads. E.g. --clips ../shared/faces. Without clips a "
        "synthetic clip is used (no face: the face metrics then fail)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clips", type=Path, help="A folder of videos with faces (all are used).")
        parser.add_argument("--clip", type=Path, help="One video with a face.")
        parser.add_argument("--frames", type=int, default=50, help="Frames per clip (default 50).")
        parser.add_argument("--size", type=int, default=256, help="Frame side in pixels (default 256).")
        parser.add_argument("--batch-size", type=int, default=None,
                            help=f"Frames per batch (default {compute.CPU_BATCH_SIZE} on the CPU, "
                                 f"{compute.CUDA_BATCH_SIZE} on CUDA).")
        parser.add_argument("--metrics", default="demo",
                            help="Comma-separated metric names, 'demo' for the set the demo computes (the "
                                 "default: all but the ones slow on a CPU) or 'all' for every registered one.")
        parser.add_argument("--threads", type=int, default=1,
                            help="Threads for torch, OpenCV and libvmaf (default 1: the one-core target).")
        parser.add_argument("--pyiqa-python", type=Path,
                            help="Python of a separate environment with pyiqa: also time pyiqa per frame, one "
                                 "metric at a time, on the metrics it computes without downloaded weights.")

    def handle(self, *args, clips, clip, frames, size, batch_size, metrics, threads, pyiqa_python, **options):
        if threads < 1:
            raise CommandError(f"--threads must be at least 1, not {threads}")
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        names = {"demo": demo_metric_names(), "all": None}.get(metrics, comma_list(metrics) or None)
        try:
            specs = services.metric_specs(names)
            references = [benchmark.load_clip(path, frames, size) for path in _paths(clips, clip)] or [
                benchmark.synthetic_clip(frames, size)]
        except (UnknownMetricError, VideoError) as exc:
            raise CommandError(exc.args[0]) from exc
        device = compute.default_device()
        alone, runs = defaultdict(list), defaultdict(list)
        for reference in progress_bar(references, unit="clip", desc="each metric alone"):
            distorted = benchmark.degrade(reference)
            for timing in benchmark.time_metrics(specs, distorted, reference, device=device, batch_size=batch_size):
                alone[timing.name].append(timing)
        # The two ways are compared on the metrics that ran on every clip.
        runnable = [spec for spec in specs
                    if alone.get(spec.name) and all(t.status == "ok" for t in alone[spec.name])]
        for reference in progress_bar(references if runnable else [], unit="clip", desc="whole set, three ways"):
            distorted = benchmark.degrade(reference)
            for run in benchmark.compare_passes(runnable, distorted, reference, device=device, batch_size=batch_size):
                runs[run.name].append(run)
        floor = sum(benchmark.decode_seconds(benchmark.degrade(reference), reference) for reference in references)
        self._report(references, device, batch_size, alone, runs, floor)
        if pyiqa_python:
            self._pyiqa(pyiqa_python, references, [s for s in runnable if s.name in PYIQA_NAMES], device, batch_size)
        left_out = [spec.name for spec in specs if spec not in runnable]
        if left_out:
            self.stdout.write(f"left out of the whole set (not ok alone): {', '.join(left_out)}")

    def _report(self, references, device, batch_size, alone, runs, floor):
        total = sum(len(r) for r in references)
        self.stdout.write(
            f"{len(references)} clip(s), {total} frames {references[0].shape[2]}x{references[0].shape[1]}, "
            f"device {device}, batch {batch_size or compute.default_batch_size(device)}, torch threads {torch.get_num_threads()}\n"
            f"\n{'each metric alone':40} {'frames/s':>9} {'ms/frame':>9} {'in pass':>8}  status"
        )
        # Each metric's kernel time inside the one pass of a later PVS (shared work in the first that did it).
        in_pass = defaultdict(float)
        for run in runs.get(benchmark.ONE_PASS_NEXT, []):
            for name, seconds in run.kernel_seconds.items():
                in_pass[name] += seconds
        for name, timings in alone.items():
            seconds = sum(t.seconds for t in timings)
            status = next((t.status for t in timings if t.status != "ok"), "ok")
            key = compute.REFERENCE_FACES if name == benchmark.REFERENCE_FACES_ROW else name
            shared = f"{1000 * in_pass[key] / total:8.1f}" if key in in_pass else f"{'-':>8}"
            self.stdout.write(f"{name:40} {total / seconds:9.1f} {1000 * seconds / total:9.1f} {shared}  {status}")
        self.stdout.write(f"\n'in pass': ms/frame of its kernel in the one pass of a later PVS\n"
                          f"floor, decoding the PVS and the SRC once (lossless FFV1 files, as the job reads "
                          f"them): {1000 * floor / total:.1f} ms/frame")
        if not runs:
            return
        self.stdout.write(f"\n{'whole set':40} {'frames/s':>9} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}")
        totals = {}
        for name, parts in runs.items():
            seconds = totals[name] = sum(p.seconds for p in parts)
            cpu, peak = sum(p.cpu_seconds for p in parts), max(p.peak_rss_mib for p in parts)
            self.stdout.write(f"{name:40} {total / seconds:9.2f} {seconds:8.1f} {cpu:8.1f} {peak:13.0f}")
        naive = totals.pop(benchmark.NAIVE)
        self.stdout.write("\nspeed-up over the per-frame, per-metric way: " + ", ".join(
            f"{naive / seconds:.1f}x ({name})" for name, seconds in totals.items())
            + f" (target: at least {TARGET_SPEED_UP}x for a later PVS)")
        later = runs[benchmark.ONE_PASS_NEXT]
        wall, cpu = (1000 * sum(getattr(run, kind) for run in later) / total for kind in ("seconds", "cpu_seconds"))
        self.stdout.write(f"whole set, one pass, later PVS: {wall:.1f} ms/frame wall, {cpu:.1f} ms/frame CPU "
                          f"(target: at most {TARGET_MS_PER_FRAME} ms/frame at 256x256 on one core; on a "
                          "loaded machine the CPU time is what it costs)")
        if device.type == "cuda":
            self.stdout.write(f"GPU peak memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


    def _pyiqa(self, python: Path, references, specs, device, batch_size):
        """pyiqa per frame, one metric at a time, next to our one pass on the same metrics."""
        if not specs:
            self.stdout.write("pyiqa: none of the chosen metrics is one pyiqa computes without weights")
            return
        ours = pyiqa_seconds = 0.0
        for reference in progress_bar(references, unit="clip", desc="pyiqa"):
            distorted = benchmark.degrade(reference)
            ours += benchmark.time_one_pass(specs, distorted, reference, device=device, batch_size=batch_size).seconds
            result = _run_pyiqa(python, distorted, reference, [PYIQA_NAMES[s.name] for s in specs])
            pyiqa_seconds += sum(result["seconds"].values())
        total = sum(len(r) for r in references)
        names = ", ".join(s.name for s in specs)
        self.stdout.write(
            f"\non {names}:\n"
            f"{'ours, one pass':40} {total / ours:9.2f} frames/s\n"
            f"{'pyiqa ' + result['pyiqa'] + ', per frame, one at a time':40} {total / pyiqa_seconds:9.2f} frames/s"
            f"\nspeed-up over pyiqa: {pyiqa_seconds / ours:.1f}x"
        )


# Our metric → pyiqa's name for the same formula (those it computes without downloaded weights).
PYIQA_NAMES = {"psnr_rgb": "psnr", "psnr_y": "psnry", "ssim": "ssim", "ms_ssim": "ms_ssim", "fsim": "fsim",
               "gmsd": "gmsd", "vif": "vif"}


def _run_pyiqa(python: Path, distorted, reference, names: list[str]) -> dict:
    # -I: the script's folder (metrics/, whose selectors.py would shadow the
    # standard library's) is not put on sys.path.
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / "distorted.npy", Path(folder) / "reference.npy"]
        np.save(paths[0], distorted)
        np.save(paths[1], reference)
        script = Path(benchmark.__file__).with_name("pyiqa_baseline.py")
        done = subprocess.run([str(python), "-I", str(script), *map(str, paths), ",".join(names)],
                              capture_output=True, text=True, check=False, env={**os.environ, "TORCH_HOME": folder})
    if done.returncode != 0:
        raise CommandError(f"pyiqa baseline failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _paths(folder: Path | None, clip: Path | None) -> list[Path]:
    if clip is not None:
        return [clip]
    if folder is None:
        return []
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not paths:
        raise CommandError(f"no video in {folder}")
    return paths
