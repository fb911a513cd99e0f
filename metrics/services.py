"""Metric services: compute a PVS's metrics and store them; draw a PVS frame (filling the SRC's face cache)."""
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from metrics import compute, features, pictures
from metrics.kernels import face as face_kernels
from metrics.models import MetricResult, MetricStatus
from metrics.pooling import (
    PoolingError,
    SequenceValue,
    check_method,
    pool,
    pooling_label,
)
from metrics.registry import DEVICES, FACE, MetricSpec, all_metrics, get_metric
from metrics.spec import FACE_KINDS, MetricUnavailableError
from metrics.weights import WeightsMissingError, missing_weights
from qa_platform.codec.video import read_frames
from qa_platform.core.models import Pvs, Source


def metric_specs(names: list[str] | None = None) -> list[MetricSpec]:
    """The specs named (every registered metric when ``names`` is None), in the
    order given, without repeats. Raises ``UnknownMetricError`` for an unknown name."""
    if names is None:
        return list(all_metrics().values())
    return [get_metric(name) for name in dict.fromkeys(names)]


def job_metric_names() -> list[str]:
    """The metrics a PVS job computes: ``settings.FACEQA_JOB_METRICS`` (every
    registered metric when empty) less ``settings.FACEQA_JOB_SKIP_METRICS``."""
    chosen = settings.FACEQA_JOB_METRICS or list(all_metrics())
    return [name for name in chosen if name not in settings.FACEQA_JOB_SKIP_METRICS]


def _default_pooling() -> str:
    return settings.FACEQA_METRIC_POOLING


def pvs_compute_metrics(*, pvs: Pvs, metric_names: list[str] | None = None,
                        pooling: str | None = None, stage: str | None = None) -> list[MetricResult]:
    """Compute metrics of a decoded PVS against its SRC and store one result per metric.

    ``metric_names`` None means the job's metrics (``job_metric_names``).
    ``stage`` ``cpu`` or ``gpu`` keeps the metrics of that device (the PVS
    job's two metrics stages, on the two queues); ``None`` keeps all. Reads
    both lossless clips once (the SRC's frames once per worker process for
    its successive PVSs, kept with its other reference-side work in
    ``metrics.features.FEATURE_CACHE``) and runs the metrics in one pass
    (``metrics.compute.run_metrics``): the ``gpu`` stage on CUDA when the
    worker has it, else on the CPU with a warning, and the device is stored
    with each value; face metrics use the SRC's cached reference faces and
    the SRC's reference-side work (deep features, YUV planes, optical flow)
    is kept on this worker. Each result stores the wall seconds of its
    kernel (``MetricResult.seconds``). Each
    metric's result is ``ok`` (per-frame values, pooled by ``pooling``,
    default ``settings.FACEQA_METRIC_POOLING``; see ``metrics.pooling``),
    ``unavailable`` (weights or the FFmpeg program missing; nothing computed) or ``failed`` (the
    error as reason); all are written in one transaction, replacing earlier
    results. Raises ``UnknownMetricError`` for an unknown name, ``ValueError``
    for an unknown stage, ``qa_platform.codec.video.VideoError`` for an unreadable
    clip and ``ValueError`` when the PVS has no decoded clip or its frames do
    not match the SRC's.
    """
    specs = metric_specs(metric_names if metric_names is not None else job_metric_names())
    if stage is not None:
        if stage not in DEVICES:
            raise ValueError(f"unknown metrics stage {stage!r}: choose one of {', '.join(DEVICES)}")
        specs = [spec for spec in specs if spec.device == stage]
    pooling = check_method(pooling or _default_pooling())
    if not specs:
        return []
    reference_key, cache_bytes = _reference_key(pvs.source), settings.FACEQA_FEATURE_CACHE_MB << 20
    features.set_budget(cache_bytes)
    reference, distorted = _read_pair(pvs, reference_key)
    device = compute.stage_device(stage)
    outcomes: dict[str, compute.Outcome] = {
        spec.name: WeightsMissingError(missing)
        for spec in specs if (missing := missing_weights(spec.weights))
    }
    timings: dict[str, float] = {}
    outcomes |= compute.run_metrics(
        [spec for spec in specs if spec.name not in outcomes], distorted, reference, device=device,
        reference_faces=lambda: source_reference_faces(source=pvs.source, frames=reference),
        reference_key=reference_key, feature_cache_bytes=cache_bytes, fps=pvs.source.fps, timings=timings,
    )
    _charge_reference_faces(timings, specs)
    with transaction.atomic():
        return [_store(pvs, spec, outcomes[spec.name], _device_label(spec, device), pooling, timings.get(spec.name))
                for spec in specs]


def _charge_reference_faces(timings: dict[str, float], specs: list[MetricSpec]) -> None:
    """Count the SRC's reference faces (computed, or read from the SRC's cache) in the first face
    metric that was timed, the one that did that shared work first."""
    seconds = timings.pop(compute.REFERENCE_FACES, 0.0)
    timed = [spec.name for spec in specs if spec.kind in FACE_KINDS and spec.name in timings]
    if timed:
        timings[timed[0]] += seconds


def _device_label(spec: MetricSpec, device) -> str:
    """Where the value was computed: dlib face work is always on the CPU."""
    return "cpu" if spec.kind == FACE else device.type


def _reference_key(source: Source) -> tuple:
    """Names the SRC's frames for the reference-side cache (``metrics.features``): a new lossless
    file (another data folder, a new write) is a new key."""
    path = Path(settings.DATA_DIR) / source.lossless_path
    stat = path.stat()
    return ("src", source.pk, str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def source_cache_dir(source: Source) -> Path:
    """Folder of the SRC's derived data: ``DATA_DIR/cache/sources/<id>``."""
    return Path(settings.DATA_DIR) / "cache" / "sources" / str(source.id)


def source_reference_faces(*, source: Source, frames: np.ndarray) -> face_kernels.ReferenceFaces:
    """The SRC's reference faces (``frames`` are its uint8 (T, H, W, 3) frames).

    Read from ``source_cache_dir(source)/faces.npz``; computed and written
    there (atomically) when absent or stale. Raises
    ``qa_platform.codec.faces.NoFaceError`` when the SRC shows no face.
    """
    path = source_cache_dir(source) / "faces.npz"
    step = get_metric("aed").frame_step
    faces = face_kernels.load_reference_faces(path, len(frames), step)
    if faces is None:
        faces = face_kernels.reference_faces(frames, step)
        face_kernels.save_reference_faces(faces, path)
    return faces


PICTURE_KINDS = ("reference", "distorted", "landmarks", "face_region", *pictures.MAP_KINDS)


class NoPicture(LookupError):
    """There is no such picture of a PVS: an unknown kind, a frame out of range, a PVS not decoded yet."""


def pvs_picture(*, pvs: Pvs, index: int, kind: str) -> bytes:
    """PNG of frame ``index`` (0-based) of a PVS: the SRC frame, the PVS frame,
    the landmarks overlay, the face region or a distortion map (``PICTURE_KINDS``).

    The landmarks and the face region read the SRC's face cache, computing it
    when absent (:func:`source_reference_faces`). Raises ``NoPicture`` for an
    unknown kind, a frame out of range or a PVS not decoded yet, and
    ``WeightsMissingError`` for the LPIPS map without weights.
    """
    if kind not in PICTURE_KINDS or not pvs.decoded_path or not 0 <= index < pvs.source.frame_count:
        raise NoPicture(f"no {kind} picture of frame {index} of PVS {pvs.pk}")
    data = Path(settings.DATA_DIR)
    reference = read_frames(data / pvs.source.lossless_path)[0]
    distorted = read_frames(data / pvs.decoded_path, max_frames=index + 1)[0][index]
    if kind == "reference":
        return pictures.png(reference[index])
    if kind == "distorted":
        return pictures.png(distorted)
    if kind in ("landmarks", "face_region"):
        faces = source_reference_faces(source=pvs.source, frames=reference)
        if kind == "face_region":
            mask = face_kernels.face_masks(faces, distorted.shape[:2])[index]
            return pictures.png(pictures.face_region_overlay(distorted, mask))
        return pictures.png(pictures.landmarks_overlay(distorted, faces.landmarks[index], faces.boxes[index]))
    return pictures.png(pictures.MAPS[kind](distorted, reference[index]))


def _read_pair(pvs: Pvs, reference_key: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(SRC frames, PVS frames), uint8 (T, H, W, 3) each; the SRC's decoded once per process
    for its successive PVSs (kept under ``reference_key`` in ``metrics.features.FEATURE_CACHE``)."""
    if not pvs.decoded_path:
        raise ValueError(f"PVS {pvs.pk} has no decoded clip yet")
    reference = features.reference_work(
        "decoded-frames", reference_key, lambda: read_frames(Path(settings.DATA_DIR) / pvs.source.lossless_path)[0])
    distorted, _ = read_frames(Path(settings.DATA_DIR) / pvs.decoded_path)
    if distorted.shape != reference.shape:
        raise ValueError(
            f"PVS {pvs.pk}: decoded frames {distorted.shape} do not match the SRC's {reference.shape}"
        )
    return reference, distorted


def _store(pvs: Pvs, spec: MetricSpec, outcome: compute.Outcome, device: str, pooling: str,
           seconds: float | None) -> MetricResult:
    fields = {
        "version": spec.version, "pooling": pooling_label(pooling, spec), "device": device,
        "status": MetricStatus.OK, "value": None, "per_frame": [], "reason": "", "seconds": seconds,
    }
    if isinstance(outcome, MetricUnavailableError):  # weights, or the FFmpeg program or filter, missing
        fields.update(status=MetricStatus.UNAVAILABLE, reason=str(outcome), device="")
    elif isinstance(outcome, Exception):
        fields.update(status=MetricStatus.FAILED, reason=f"{type(outcome).__name__}: {outcome}")
    elif isinstance(outcome, SequenceValue):
        fields.update(value=outcome.value, per_frame=outcome.per_frame)
    else:
        try:
            fields.update(value=pool(outcome, pooling, higher_is_better=spec.higher_is_better), per_frame=outcome)
        except PoolingError as error:
            fields.update(status=MetricStatus.FAILED, reason=str(error))
    result, _ = MetricResult.objects.update_or_create(pvs=pvs, metric=spec.name, defaults=fields)
    return result


def results_repool(*, pooling: str, pvs_ids: list[int] | None = None) -> int:
    """Pool the stored per-frame values of ``ok`` results again with
    ``pooling`` (no metric is recomputed); return how many were updated.
    Raises ``PoolingError`` for an unknown method."""
    check_method(pooling)
    specs = {name: spec for name, spec in all_metrics().items() if not spec.fixed_pooling}
    results = MetricResult.objects.filter(status=MetricStatus.OK, metric__in=specs)
    if pvs_ids is not None:
        results = results.filter(pvs_id__in=pvs_ids)
    with transaction.atomic():
        for result in results:
            spec = specs[result.metric]
            result.value = pool(result.per_frame, pooling, higher_is_better=spec.higher_is_better)
            result.pooling = pooling_label(pooling, spec)
            result.save(update_fields=["value", "pooling"])
    return results.count()
