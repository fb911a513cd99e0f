"""Time the metrics on clip pairs, as the PVS service runs them and the naive way. Django-free.

Three measurements (``benchmark_metrics``):

- each metric alone, as the service runs it (batched; face metrics after the
  SRC's reference faces, which get their own row), nothing cached;
- the whole set in one pass, as ``pvs_compute_metrics`` runs it
  (``metrics.compute.run_metrics``): each batch of frames converted once and
  shared by every frame metric, the reference faces computed once and the
  distorted faces measured once for all face metrics, the YUV planes converted
  once for the clip metrics; for the first PVS of a SRC (everything computed,
  the SRC's reference-side work kept in ``metrics.features.FEATURE_CACHE``) and
  for a later PVS (the SRC's faces from its cache, its reference-side work from
  ``FEATURE_CACHE``, as the worker has them), with each metric's kernel time;
- the straightforward way: one metric at a time, one frame at a time, every
  frame converted again for every metric, and the face work (detection and
  landmarks of the reference frame, landmarks of the distorted one, and both
  embeddings for the identity metrics) redone for every face metric and frame;
  metrics that look across frames (VMAF, the temporal ones, the expression
  correlations) run once each on the whole clip with their own reference work.
  The library calls are the same (piq, lpips, vmaf-torch, libvmaf and xpsnr in
  the FFmpeg program, OpenCV, dlib through our kernels), so the difference is
  batching and sharing, not the formulas.

Wall time, CPU time (all threads, and the FFmpeg child processes) and the
peak resident memory of the process during each measurement (sampled every
5 ms) are reported. The floor is the
time to decode the two clips once, as the PVS job reads them (lossless FFV1 files).
"""
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from metrics import compute, features
from metrics.kernels import face as face_kernels
from metrics.registry import (
    AED_FRAME_STEP,
    FACE,
    FACE_REGION,
    FULL_REFERENCE,
    MetricSpec,
)
from metrics.spec import FACE_KINDS, MetricUnavailableError
from metrics.weights import WeightsMissingError
from qa_platform.codec.video import read_frames, write_lossless

# Names the benchmark's SRC in the reference-side cache; its budget (the job's default, 1 GiB).
BENCHMARK_SRC = ("benchmark", "src")
CACHE_BYTES = 1 << 30


@dataclass(frozen=True)
class Timing:
    """Wall time of one metric over a clip of ``frames`` frames."""

    name: str
    seconds: float
    frames: int
    status: str

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames


@dataclass(frozen=True)
class Run:
    """One whole-set measurement over ``frames`` frames; ``kernel_seconds``: each metric's
    kernel time in it (``run_metrics``'s timings; empty for the naive way)."""

    name: str
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    frames: int
    kernel_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


class _PeakRss:
    """Samples the process's resident memory (Linux /proc) while active."""

    def __enter__(self):
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of the child processes it waited
    for (the FFmpeg program of VMAF and XPSNR): on a loaded machine, what the work cost."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _measured(name: str, frames: int, run, kernel_seconds: dict[str, float] | None = None) -> Run:
    """``run()`` measured; ``kernel_seconds`` is the timings dict ``run`` fills, if any."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    with _PeakRss() as memory:
        run()
    return Run(name, time.perf_counter() - wall, _cpu_seconds() - cpu, memory.peak, frames,
               {} if kernel_seconds is None else kernel_seconds)


def _reference_faces(reference: np.ndarray, embedding_step: int = AED_FRAME_STEP, embeddings: bool = True):
    return lambda: face_kernels.reference_faces(reference, embedding_step, embeddings)


def run_one_pass(specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
                 device: torch.device, batch_size: int | None = None, faces=None,
                 reference_key=None, timings: dict[str, float] | None = None) -> dict:
    """Every metric in ``specs`` as ``pvs_compute_metrics`` runs them: with the
    SRC's reference faces computed here, or given (``faces``, as the SRC's cache
    gives them to its later PVSs); with ``reference_key``, the SRC's
    reference-side work kept in (or taken from) ``FEATURE_CACHE``, else nothing kept."""
    reference_faces = _reference_faces(reference) if faces is None else (lambda: faces)
    return compute.run_metrics(specs, distorted, reference, device=device, batch_size=batch_size,
                               reference_faces=reference_faces, reference_key=reference_key,
                               feature_cache_bytes=CACHE_BYTES if reference_key else 0, timings=timings)


# The metrics that read identity embeddings (the others need landmarks only).
IDENTITY_METRICS = ("aed", "id_sim")


def _per_frame(spec: MetricSpec) -> bool:
    """Whether a metric's values are frame by frame, so that the naive way can run it one frame at a time."""
    return spec.kind in (FULL_REFERENCE, FACE_REGION, FACE) and not spec.fixed_pooling


def run_naive(specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
              device: torch.device) -> None:
    """Every metric alone, frame by frame, nothing shared (see the module docstring).
    Metrics that look across frames run once each on the whole clip, with their own reference work.
    Identity embeddings are computed only for the metrics that use them."""
    for spec in specs:
        if not _per_frame(spec):
            compute.run_metrics([spec], distorted, reference, device=device, reference_faces=_reference_faces(reference))
            continue
        for index in range(0, len(distorted), spec.frame_step):  # the frames the service computes
            pair = distorted[index:index + 1], reference[index:index + 1]
            faces = _reference_faces(pair[1], embedding_step=1, embeddings=spec.name in IDENTITY_METRICS)
            compute.run_metrics([spec], *pair, device=device, batch_size=1, reference_faces=faces)

ONE_PASS_FIRST = "one pass, first PVS of a SRC"
ONE_PASS_NEXT = "one pass, next PVS (SRC's side cached)"
NAIVE = "per frame, one metric at a time"


def compare_passes(specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
                   device: torch.device, batch_size: int | None = None) -> list[Run]:
    """The whole set three ways: the one pass for the first PVS of a SRC
    (everything computed, the SRC's reference-side work kept), for a later PVS
    (the faces from the SRC's cache, as every other PVS of a database gets them,
    and the reference-side work the first pass kept), and the naive way, cold
    (the cache emptied first, nothing kept)."""
    features.FEATURE_CACHE.clear()
    runs = [time_one_pass(specs, distorted, reference, device=device, batch_size=batch_size,
                          reference_key=BENCHMARK_SRC)]
    faces = None
    if any(spec.kind in FACE_KINDS for spec in specs):
        faces = face_kernels.reference_faces(reference, AED_FRAME_STEP)
    timings: dict[str, float] = {}
    runs.append(_measured(ONE_PASS_NEXT, len(distorted), lambda: run_one_pass(
        specs, distorted, reference, device=device, batch_size=batch_size, faces=faces,
        reference_key=BENCHMARK_SRC, timings=timings), timings))
    features.FEATURE_CACHE.clear()
    return runs + [_measured(NAIVE, len(distorted), lambda: run_naive(specs, distorted, reference, device=device))]


def time_one_pass(specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
                  device: torch.device, batch_size: int | None = None, reference_key=None) -> Run:
    """``run_one_pass`` for the first PVS of a SRC measured, after a warm-up on a
    few frames (models built, memory allocated; nothing cached by it)."""
    run_one_pass(specs, distorted[:3], reference[:3], device=device, batch_size=batch_size)
    timings: dict[str, float] = {}
    return _measured(ONE_PASS_FIRST, len(distorted), lambda: run_one_pass(
        specs, distorted, reference, device=device, batch_size=batch_size, reference_key=reference_key,
        timings=timings), timings)


def decode_seconds(distorted: np.ndarray, reference: np.ndarray, fps: Fraction = Fraction(25)) -> float:
    """The floor of a PVS job: wall seconds to decode its two clips once, the PVS
    and the SRC written as the job reads them (lossless FFV1 in Matroska,
    ``qa_platform.codec.video.write_lossless``) and read back by ``read_frames``."""
    with tempfile.TemporaryDirectory(prefix="faceqa-benchmark-") as folder:
        paths = [write_lossless(Path(folder) / f"{name}.mkv", frames, fps)
                 for name, frames in (("pvs", distorted), ("src", reference))]
        start = time.perf_counter()
        for path in paths:
            read_frames(path)
        return time.perf_counter() - start


def load_clip(path: Path, frames: int, size: int) -> np.ndarray:
    """The first ``frames`` frames of a video, centre-cropped square and resized
    to ``size`` (area interpolation): uint8 (T, size, size, 3) RGB."""
    clip, _ = read_frames(path, max_frames=frames)
    height, width = clip.shape[1:3]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return np.stack([
        cv2.resize(frame[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
        for frame in clip
    ])


def synthetic_clip(frames: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture drifting one pixel per frame: uint8 (T, size, size, 3). No face."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (size, size + frames, 3)), (0, 0), 4)
    return np.stack([texture[:, t:t + size] for t in range(frames)]).clip(0, 255).astype(np.uint8)


def degrade(frames: np.ndarray, sigma: float = 1.5, noise: float = 3.0, seed: int = 0) -> np.ndarray:
    """A stand-in for coding loss: Gaussian blur (``sigma`` px) plus Gaussian
    noise (``noise`` code values, s.d.); uint8 (T, H, W, 3) in, same out."""
    rng = np.random.default_rng(seed)
    blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), sigma) for frame in frames]).astype(np.float64)
    return (blurred + rng.normal(0, noise, blurred.shape)).round().clip(0, 255).astype(np.uint8)


# The row of the SRC's reference faces in the timings of each metric alone.
REFERENCE_FACES_ROW = "reference faces (once per SRC)"


def time_metrics(
    specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
    device: torch.device, batch_size: int | None = None,
) -> list[Timing]:
    """Time each metric alone on the clip pair (uint8 (T, H, W, 3)), after a
    warm-up on one batch (models built, memory allocated).

    Face and face-region metrics are timed after the SRC's reference faces,
    which get their own row (computed once per SRC, then cached).
    """
    needs_faces = any(spec.kind in FACE_KINDS for spec in specs)
    faces = None
    timings = []
    if needs_faces:
        timing, faces = _timed(REFERENCE_FACES_ROW, len(reference), _reference_faces(reference))
        timings.append(timing)

    def run(chosen, frames):
        return compute.run_metrics(chosen, distorted[frames], reference[frames], device=device,
                                   batch_size=batch_size, reference_faces=_faces_of(faces, frames))

    run(specs, slice(0, max(batch_size or compute.default_batch_size(device), 3)))
    return timings + [
        _timed(spec.name, len(distorted), lambda spec=spec: run([spec], slice(None))[spec.name])[0]
        for spec in specs
    ]


def _faces_of(faces, frames: slice):
    """A ``reference_faces`` callable giving ``faces`` cut to ``frames`` (or raising what computing them raised)."""
    def get():
        if isinstance(faces, Exception):
            raise faces
        return face_kernels.ReferenceFaces(
            faces.boxes[frames], faces.landmarks[frames], faces.embeddings[frames], faces.embedding_step)
    return get


def _timed(name: str, frames: int, run) -> tuple[Timing, object]:
    """Run ``run()``; return its timing row and its result (or the exception it raised or returned)."""
    start = time.perf_counter()
    try:
        outcome = run()
    except Exception as exc:  # the row reports the error instead of failing the benchmark
        outcome = exc
    seconds = time.perf_counter() - start
    if isinstance(outcome, WeightsMissingError):
        status = "unavailable (weights missing)"
    elif isinstance(outcome, MetricUnavailableError):
        status = f"unavailable: {outcome}"
    elif isinstance(outcome, Exception):
        status = f"failed: {type(outcome).__name__}: {outcome}"
    else:
        status = "ok"
    return Timing(name, seconds, frames, status), outcome
