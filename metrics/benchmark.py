"""Time every metric on one clip pair, as the PVS service runs them. Django-free."""
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from metrics import compute
from metrics.kernels import face as face_kernels
from metrics.registry import FACE, FULL_REFERENCE, MetricSpec, get_metric
from metrics.weights import WeightsMissingError
from qa_platform.video import read_frames

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


def time_metrics(
    specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
    device: torch.device, batch_size: int = compute.DEFAULT_BATCH_SIZE,
) -> list[Timing]:
    """Time each metric alone on the clip pair (uint8 (T, H, W, 3)), after a
    warm-up on one batch (models built, memory allocated).

    Face metrics are timed after the SRC's reference faces, which get their
    own row (computed once per SRC, then cached).
    """
    full_reference = [spec for spec in specs if spec.kind == FULL_REFERENCE]
    compute.run_full_reference(full_reference, distorted[:batch_size], reference[:batch_size], device=device)
    timings = [
        _timed(spec.name, len(distorted), lambda spec=spec: compute.run_full_reference(
            [spec], distorted, reference, device=device, batch_size=batch_size)[spec.name])[0]
        for spec in full_reference
    ]
    face = [spec for spec in specs if spec.kind == FACE]
    if not face:
        return timings
    step = get_metric("aed").frame_step
    timing, faces = _timed("reference faces (once per SRC)", len(reference),
                           lambda: face_kernels.reference_faces(reference, step))
    timings.append(timing)
    if isinstance(faces, Exception):
        return timings
    return timings + [
        _timed(spec.name, len(distorted), lambda spec=spec: compute.run_face([spec], distorted, faces)[spec.name])[0]
        for spec in face
    ]


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
    elif isinstance(outcome, Exception):
        status = f"failed: {type(outcome).__name__}: {outcome}"
    else:
        status = "ok"
    return Timing(name, seconds, frames, status), outcome
