"""Metric services: compute a PVS's objective metrics and store them."""
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from metrics import compute
from metrics.kernels import face as face_kernels
from metrics.models import MetricResult, MetricStatus
from metrics.pooling import POOLINGS, PoolingError, pool, pooling_label
from metrics.registry import CLIP, FACE, FULL_REFERENCE, MetricSpec, all_metrics, get_metric
from metrics.weights import WeightsMissingError, missing_weights
from qa_platform.models import Pvs, Source
from qa_platform.video import read_frames


def metric_specs(names: list[str] | None = None) -> list[MetricSpec]:
    """The specs named (every registered metric when ``names`` is None), in the
    order given, without repeats. Raises ``UnknownMetricError`` for an unknown name."""
    if names is None:
        return list(all_metrics().values())
    return [get_metric(name) for name in dict.fromkeys(names)]


def _default_pooling() -> str:
    return settings.FACEQA_METRIC_POOLING


def pvs_compute_metrics(*, pvs: Pvs, metric_names: list[str] | None = None,
                        pooling: str | None = None) -> list[MetricResult]:
    """Compute metrics of a decoded PVS against its SRC and store one result per metric.

    Reads both lossless clips once; full-reference metrics run in batches and
    clip metrics on whole clips, on CUDA when available; face metrics on the CPU against the SRC's cached
    reference faces. Each metric's result is ``ok`` (per-frame values, pooled
    by ``pooling``, default ``settings.FACEQA_METRIC_POOLING``; see
    ``metrics.pooling``), ``unavailable`` (weights missing; nothing computed) or ``failed``
    (the error as reason); all are written in one transaction, replacing
    earlier results. Raises ``UnknownMetricError`` for an unknown name,
    ``qa_platform.video.VideoError`` for an unreadable clip and ``ValueError``
    when the PVS has no decoded clip or its frames do not match the SRC's.
    """
    specs = metric_specs(metric_names)
    pooling = pooling or _default_pooling()
    if pooling not in POOLINGS:
        raise PoolingError(f"unknown pooling {pooling!r}: choose one of {', '.join(POOLINGS)}")
    reference, distorted = _read_pair(pvs)
    device = compute.default_device()
    outcomes: dict[str, compute.Outcome] = {
        spec.name: WeightsMissingError(missing)
        for spec in specs if (missing := missing_weights(spec.weights))
    }
    ready = [spec for spec in specs if spec.name not in outcomes]
    outcomes |= compute.run_full_reference(
        [spec for spec in ready if spec.kind == FULL_REFERENCE], distorted, reference, device=device
    )
    outcomes |= compute.run_clip([spec for spec in ready if spec.kind == CLIP], distorted, reference, device=device)
    outcomes |= _face_outcomes([spec for spec in ready if spec.kind == FACE], distorted, pvs.source, reference)
    devices = {FULL_REFERENCE: device.type, CLIP: device.type, FACE: "cpu"}
    with transaction.atomic():
        return [_store(pvs, spec, outcomes[spec.name], devices[spec.kind], pooling) for spec in specs]


def source_cache_dir(source: Source) -> Path:
    """Folder of the SRC's derived data: ``DATA_DIR/cache/sources/<id>``."""
    return Path(settings.DATA_DIR) / "cache" / "sources" / str(source.id)


def source_reference_faces(*, source: Source, frames: np.ndarray) -> face_kernels.ReferenceFaces:
    """The SRC's reference faces (``frames`` are its uint8 (T, H, W, 3) frames).

    Read from ``source_cache_dir(source)/faces.npz``; computed and written
    there (atomically) when absent or stale. Raises
    ``qa_platform.faces.NoFaceError`` when the SRC shows no face.
    """
    path = source_cache_dir(source) / "faces.npz"
    step = get_metric("aed").frame_step
    faces = face_kernels.load_reference_faces(path, len(frames), step)
    if faces is None:
        faces = face_kernels.reference_faces(frames, step)
        face_kernels.save_reference_faces(faces, path)
    return faces


def _read_pair(pvs: Pvs) -> tuple[np.ndarray, np.ndarray]:
    if not pvs.decoded_path:
        raise ValueError(f"PVS {pvs.pk} has no decoded clip yet")
    reference, _ = read_frames(Path(settings.DATA_DIR) / pvs.source.lossless_path)
    distorted, _ = read_frames(Path(settings.DATA_DIR) / pvs.decoded_path)
    if distorted.shape != reference.shape:
        raise ValueError(
            f"PVS {pvs.pk}: decoded frames {distorted.shape} do not match the SRC's {reference.shape}"
        )
    return reference, distorted


def _face_outcomes(specs, distorted, source, reference) -> dict[str, compute.Outcome]:
    if not specs:
        return {}
    try:
        faces = source_reference_faces(source=source, frames=reference)
    except Exception as exc:  # e.g. NoFaceError: every face metric fails with this reason
        return {spec.name: exc for spec in specs}
    return compute.run_face(specs, distorted, faces)


def _store(pvs: Pvs, spec: MetricSpec, outcome: compute.Outcome, device: str, pooling: str) -> MetricResult:
    fields = {
        "version": spec.version, "pooling": pooling_label(pooling, spec.frame_step), "device": device,
        "status": MetricStatus.OK, "value": None, "per_frame": [], "reason": "",
    }
    if isinstance(outcome, WeightsMissingError):
        fields.update(status=MetricStatus.UNAVAILABLE, reason=str(outcome), device="")
    elif isinstance(outcome, Exception):
        fields.update(status=MetricStatus.FAILED, reason=f"{type(outcome).__name__}: {outcome}")
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
    if pooling not in POOLINGS:
        raise PoolingError(f"unknown pooling {pooling!r}: choose one of {', '.join(POOLINGS)}")
    results = MetricResult.objects.filter(status=MetricStatus.OK)
    if pvs_ids is not None:
        results = results.filter(pvs_id__in=pvs_ids)
    specs = all_metrics()
    with transaction.atomic():
        for result in results.filter(metric__in=specs):
            spec = specs[result.metric]
            result.value = pool(result.per_frame, pooling, higher_is_better=spec.higher_is_better)
            result.pooling = pooling_label(pooling, spec.frame_step)
            result.save(update_fields=["value", "pooling"])
    return results.count()
