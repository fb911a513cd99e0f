"""Run registered metrics over a whole clip pair, in one pass. Django-free.

``run_metrics`` is the one pass that ``pvs_compute_metrics`` and the benchmark
use: the SRC's reference faces are fetched once (when a face metric is asked
for); frame metrics (``full-reference`` and ``face-region``) see the clip in
batches, each batch moved to the device once and shared by all of them (deep
features too, ``metrics.features``); clip metrics share one ``ClipPair`` (its
YUV planes converted once; with a ``reference_key``, the SRC's side kept for
its later PVSs) and face metrics one ``DistortedFaces`` (the PVS's
landmarks and embeddings measured once). A metric that raises does not stop
the others: its outcome is the exception (``WeightsMissingError`` for missing
weights); the others' outcomes are float64 per-frame arrays (T,), or a
``SequenceValue`` for metrics with a fixed pooling.
"""
import contextlib
import logging
import time
from collections.abc import Callable, Hashable
from fractions import Fraction

import numpy as np
import torch

from metrics import features
from metrics.kernels.clip import ClipPair
from metrics.kernels.face import DistortedFaces, ReferenceFaces, face_masks
from metrics.pooling import SequenceValue
from metrics.spec import CLIP, FACE, FACE_KINDS, FACE_REGION, FULL_REFERENCE, MetricSpec
from qa_platform.codec.tensors import default_device, frames_to_tensor

# Frames per batch: on a CPU, piq's FSIM runs fastest on 2-4 frames (larger
# batches leave the cache: 46 ms/frame at 4, 87 at 16 on 256x256), and the
# other frame metrics share its batches; a GPU wants large batches.
CPU_BATCH_SIZE = 4
CUDA_BATCH_SIZE = 32

Outcome = np.ndarray | SequenceValue | Exception

logger = logging.getLogger(__name__)


def stage_device(stage: str | None) -> torch.device:
    """The device a metrics stage computes on: the CPU for the ``cpu`` stage;
    CUDA for the ``gpu`` stage (or the whole set) when there is one, else the
    CPU, with a warning."""
    if stage == "cpu":
        return torch.device("cpu")
    device = default_device()
    if stage == "gpu" and device.type == "cpu":
        logger.warning("no CUDA device on this worker: the gpu metrics run on the CPU")
    return device


def default_batch_size(device: torch.device) -> int:
    """Frames per batch on ``device``: ``CUDA_BATCH_SIZE`` on CUDA, else ``CPU_BATCH_SIZE``."""
    return CUDA_BATCH_SIZE if device.type == "cuda" else CPU_BATCH_SIZE


def run_metrics(
    specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
    device: torch.device, reference_faces: Callable[[], ReferenceFaces] | None = None,
    reference_key: Hashable | None = None, feature_cache_bytes: int = 0,
    batch_size: int | None = None, fps: Fraction | float = 25, timings: dict[str, float] | None = None,
) -> dict[str, Outcome]:
    """Per-frame values of ``specs`` on uint8 clips (T, H, W, 3) RGB of one shape.

    ``reference_faces`` returns the SRC's faces (called once, only when a face
    or face-region metric is asked for; its exception, e.g. ``NoFaceError``,
    becomes the outcome of each such metric). ``reference_key`` names the SRC's
    frames so that their reference-side work (deep features, YUV planes, optical
    flow) can be kept across PVSs, within ``feature_cache_bytes`` (which bounds
    ``metrics.features.FEATURE_CACHE``; 0 empties it). ``batch_size`` defaults to
    ``default_batch_size(device)``. ``fps`` is the clips' frame rate, for the
    clip metrics that depend on it (XPSNR). ``timings``, when given, receives
    the wall seconds of each metric's kernel calls by name (work shared with
    other metrics counted in the metric that did it first) and of the
    ``reference_faces`` call under ``REFERENCE_FACES``. Returns one outcome per spec name.
    """
    batch_size = batch_size or default_batch_size(device)
    timings = {} if timings is None else timings
    features.set_budget(feature_cache_bytes)
    faces: ReferenceFaces | Exception | None = None
    if any(spec.kind in FACE_KINDS for spec in specs):
        try:
            with _timer(timings, REFERENCE_FACES):
                faces = reference_faces() if reference_faces else ValueError("no reference faces were given")
        except Exception as exc:  # every face metric fails with this reason
            faces = exc
    outcomes: dict[str, Outcome] = {}
    if isinstance(faces, Exception):
        outcomes = {spec.name: faces for spec in specs if spec.kind in FACE_KINDS}
    batched = [spec for spec in specs if spec.kind in (FULL_REFERENCE, FACE_REGION) and spec.name not in outcomes]
    outcomes |= _run_batched(batched, distorted, reference, faces, device=device, batch_size=batch_size,
                             reference_key=reference_key, timings=timings)
    clips = [spec for spec in specs if spec.kind == CLIP]
    if clips:
        outcomes |= _run_each(clips, ClipPair(distorted, reference, device, fps, reference_key), timings)
    face = [spec for spec in specs if spec.kind == FACE and spec.name not in outcomes]
    if face:
        outcomes |= _run_each(face, DistortedFaces(distorted, faces), timings)
    return {spec.name: outcomes[spec.name] for spec in specs}


# The key of the SRC's reference faces in ``run_metrics``'s timings.
REFERENCE_FACES = "reference faces"


@contextlib.contextmanager
def _timer(timings: dict[str, float], name: str):
    """Add the block's wall seconds to ``timings[name]``, whether it returns or raises."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def _run_batched(specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray,
                 faces: ReferenceFaces | None, *, device: torch.device, batch_size: int,
                 reference_key: Hashable | None, timings: dict[str, float]) -> dict[str, Outcome]:
    """Frame metrics batch by batch; a kernel that raised is not called on later batches."""
    if not specs:
        return {}
    kernels = {spec.name: (spec.load_kernel(), spec.kind == FACE_REGION) for spec in specs}
    masks = face_masks(faces, reference.shape[1:3]) if any(region for _, region in kernels.values()) else None
    parts: dict[str, list[np.ndarray]] = {name: [] for name in kernels}
    errors: dict[str, Exception] = {}
    with torch.no_grad():
        for start in range(0, len(distorted), batch_size):
            batch = slice(start, start + batch_size)
            pair = frames_to_tensor(distorted[batch], device), frames_to_tensor(reference[batch], device)
            mask = None if masks is None else torch.from_numpy(masks[batch, None]).to(device).float()
            key = None if reference_key is None else (reference_key, start, batch_size)
            with features.batch_features(key):
                for name, (kernel, region) in kernels.items():
                    if name in errors:
                        continue
                    try:
                        with _timer(timings, name):
                            values = kernel(*pair, mask) if region else kernel(*pair)
                            parts[name].append(values.double().cpu().numpy())
                    except Exception as exc:  # one failing metric must not stop the others
                        errors[name] = exc
    return {name: errors[name] if name in errors else np.concatenate(parts[name]) for name in kernels}


def _run_each(specs: list[MetricSpec], argument, timings: dict[str, float]) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for spec in specs:
        try:
            kernel = spec.load_kernel()
            with _timer(timings, spec.name):
                outcome = kernel(argument)
            outcomes[spec.name] = outcome if isinstance(outcome, SequenceValue) else np.asarray(outcome, np.float64)
        except Exception as exc:  # one failing metric must not stop the others
            outcomes[spec.name] = exc
    return outcomes
