"""Sequence pooling: how per-frame metric values become one value per PVS. Django-free.

- ``mean``: the arithmetic mean of the frames that have a value.
- ``p5``: the 5th percentile of quality, i.e. the value that 5 % of the frames
  are worse than: the 5th percentile of a higher-is-better metric, the 95th
  of a lower-is-better one. It follows the worst moments, which a viewer
  remembers (short generative glitches).
- ``harmonic``: Netflix VMAF's harmonic-mean pooling,
  n / sum(1 / (x_i + 1)) - 1 (Li et al., "Toward a practical perceptual video
  quality metric", Netflix tech blog 2016; vmaf's ``harmonic_mean``). It
  leans towards the low values, which are the bad frames only for
  higher-is-better metrics; it needs values above -1.

A metric whose spec has a ``fixed_pooling`` (a correlation over time, say)
makes its sequence value itself and returns a ``SequenceValue``; the pooling
setting does not apply to it.

The pooling used is stored with every sequence value (``MetricResult.pooling``).
"""
from dataclasses import dataclass

import numpy as np

from metrics.spec import MetricSpec

POOLINGS = ("mean", "p5", "harmonic")


@dataclass(frozen=True)
class SequenceValue:
    """A sequence value a kernel computed itself, and the per-frame values
    (float64 (T,), NaN = no value) it shows beside it."""

    value: float
    per_frame: np.ndarray


class PoolingError(ValueError):
    """The per-frame values cannot be pooled this way."""


def check_method(method: str) -> str:
    """Return ``method`` when it is one of ``POOLINGS``; raise ``PoolingError`` otherwise."""
    if method not in POOLINGS:
        raise PoolingError(f"unknown pooling {method!r}: choose one of {', '.join(POOLINGS)}")
    return method


def pool(values: np.ndarray, method: str, *, higher_is_better: bool) -> float:
    """Pool per-frame values (float (T,), NaN = no value) into one float.

    Raises ``PoolingError`` for an unknown method, no finite value, or values
    at or below -1 for ``harmonic``.
    """
    check_method(method)
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise PoolingError("no frame has a finite value")
    if method == "mean":
        return float(finite.mean())
    if method == "p5":
        return float(np.percentile(finite, 5 if higher_is_better else 95))
    if np.any(finite <= -1):
        raise PoolingError("harmonic pooling needs values above -1")
    return float(finite.size / np.sum(1.0 / (finite + 1.0)) - 1.0)


def pooling_label(method: str, spec: MetricSpec) -> str:
    """What is stored with ``spec``'s value, e.g. ``mean``, ``p5, every 5th
    frame`` or the spec's ``fixed_pooling``."""
    if spec.fixed_pooling:
        return spec.fixed_pooling
    return method if spec.frame_step == 1 else f"{method}, every {spec.frame_step}th frame"
