"""Bjøntegaard delta rate and delta quality between two rate–quality curves. Django-free.

G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves",
VCEG-M33, 2001, and "Improvements of the BD-PSNR model", VCEG-AI11, 2008:
the mean horizontal (rate) or vertical (quality) distance between two
interpolated curves, over the interval where both are defined. The
interpolation is the one of the JCT-VC/JVET common test conditions' BD-rate
sheets (JCTVC-L1100, JVET-T2010): piecewise cubic Hermite (PCHIP, Fritsch and
Carlson 1980) of log10 rate against quality for BD-rate and of quality against
log10 rate for BD-quality, integrated exactly (``scipy.interpolate.
PchipInterpolator`` and its ``integrate``). On the curves of the tests, the
numbers agree to 1e-9 with the ``bjontegaard`` package 1.3.0 (FAU-LMS), whose
PCHIP its authors found equal to the JVET-T2010 sheet to 10 decimals.

- BD-rate, percent: 100 x (10^(mean log10 test rate - mean log10 anchor
  rate) - 1) at equal quality. Negative: the test needs less bitrate.
- BD-quality, the metric's unit: mean test quality - mean anchor quality at
  equal log10 rate (BD-PSNR for PSNR). The sign is the metric's own: for a
  lower-is-better metric (LPIPS, DISTS, AED) a negative BD-quality means the
  test is better. BD-rate does not depend on the metric's direction.
- Each curve needs at least :data:`MIN_POINTS` points (the JVET sheets use
  four). Points are sorted by rate. A point that is not strictly better than
  every point of lower rate (a non-monotonic curve, e.g. a generative codec
  whose metric worsens with more bits) is dropped, with a warning naming it:
  the curve kept is the points that improve on all cheaper ones. When fewer
  than :data:`MIN_POINTS` remain, there is no number, with the reason.
- Overlap: the length of the interval both curves cover over the length of
  the interval either covers, on the integration axis (quality for BD-rate,
  log10 rate for BD-quality). Below :data:`LOW_OVERLAP` the result carries a
  warning (the number extrapolates nothing but describes a small part of the
  curves); with no overlap there is no number.
"""
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

MIN_POINTS = 4
# The ``bjontegaard`` package's default minimum overlap for a warning.
LOW_OVERLAP = 0.75


@dataclass(frozen=True)
class BdResult:
    """One Bjøntegaard delta.

    value: BD-rate in percent or BD-quality in the metric's unit; ``None``
    when there is no number. overlap: 0..1, see the module docstring.
    warnings: what makes the number less trustworthy. reason: why there is
    no number ("" when there is one).
    """

    value: float | None
    overlap: float
    warnings: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class _Curve:
    log_rate: np.ndarray
    quality: np.ndarray
    warnings: tuple[str, ...]


def _as_points(rates, quality, name: str) -> tuple[np.ndarray, np.ndarray]:
    rates, quality = np.asarray(rates, dtype=float), np.asarray(quality, dtype=float)
    if rates.ndim != 1 or rates.shape != quality.shape:
        raise ValueError(f"the {name} curve needs one quality per rate, got shapes {rates.shape} and {quality.shape}")
    if len(rates) < MIN_POINTS:
        raise ValueError(f"the {name} curve has {len(rates)} points; BD needs at least {MIN_POINTS} rate points "
                         "per curve: encode more rate points")
    if not (np.isfinite(rates).all() and np.isfinite(quality).all()) or (rates <= 0).any():
        raise ValueError(f"the {name} curve needs positive finite rates and finite qualities, "
                         f"got rates {rates.tolist()} and qualities {quality.tolist()}")
    return rates, quality


def _monotone_curve(rates, quality, name: str, higher_is_better: bool) -> _Curve:
    """Sort by rate (best quality first among equal rates) and keep the points better than every one before."""
    rates, quality = _as_points(rates, quality, name)
    oriented = quality if higher_is_better else -quality
    order = np.lexsort((-oriented, rates))
    rates, quality, oriented = rates[order], quality[order], oriented[order]
    best_before = np.maximum.accumulate(np.concatenate([[-np.inf], oriented[:-1]]))
    keep = oriented > best_before
    dropped = ", ".join(f"{rate:g} ({value:g})" for rate, value in zip(rates[~keep], quality[~keep]))
    warning = f"the {name} curve is not monotonic: dropped rate (quality) {dropped}, no better than a cheaper point"
    return _Curve(np.log10(rates[keep]), quality[keep], (warning,) if dropped else ())


def _delta(anchor_x, anchor_y, test_x, test_y, axis: str) -> tuple[float | None, float, str]:
    """Mean of test_y - anchor_y over the common x interval: (delta, overlap fraction, reason)."""
    low, high = max(anchor_x[0], test_x[0]), min(anchor_x[-1], test_x[-1])
    span = max(anchor_x[-1], test_x[-1]) - min(anchor_x[0], test_x[0])
    overlap = float(max(high - low, 0.0) / span)
    if high <= low:
        return None, 0.0, (f"the curves do not overlap in {axis}: anchor {anchor_x[0]:g} to {anchor_x[-1]:g}, "
                           f"test {test_x[0]:g} to {test_x[-1]:g}")
    integral = (PchipInterpolator(test_x, test_y).integrate(low, high)
                - PchipInterpolator(anchor_x, anchor_y).integrate(low, high))
    return float(integral / (high - low)), overlap, ""


def _bd(anchor_rates, anchor_quality, test_rates, test_quality, higher_is_better: bool, on_quality: bool) -> BdResult:
    anchor = _monotone_curve(anchor_rates, anchor_quality, "anchor", higher_is_better)
    test = _monotone_curve(test_rates, test_quality, "test", higher_is_better)
    warnings = anchor.warnings + test.warnings
    short = [f"the {name} curve keeps {len(curve.quality)} of its points after dropping non-monotonic ones, "
             f"BD needs {MIN_POINTS}" for name, curve in (("anchor", anchor), ("test", test))
             if len(curve.quality) < MIN_POINTS]
    if short:
        return BdResult(None, 0.0, warnings, "; ".join(short))
    if on_quality:
        # Quality increasing along x: the direction the metric improves in.
        sign = 1.0 if higher_is_better else -1.0
        delta, overlap, reason = _delta(sign * anchor.quality, anchor.log_rate, sign * test.quality,
                                        test.log_rate, "quality")
        value = None if delta is None else 100.0 * (10.0 ** delta - 1.0)
    else:
        delta, overlap, reason = _delta(anchor.log_rate, anchor.quality, test.log_rate, test.quality,
                                        "log10 rate")
        value = delta
    if value is not None and overlap < LOW_OVERLAP:
        axis = "quality" if on_quality else "log10 rate"
        warning = f"the curves overlap over {overlap:.0%} of their {axis} range; the number describes only that part"
        warnings += (warning,)
    return BdResult(value, overlap, warnings, reason)


def bd_rate(anchor_rates, anchor_quality, test_rates, test_quality, *, higher_is_better: bool = True) -> BdResult:
    """BD-rate of the test curve against the anchor curve, percent (negative: the test saves bitrate).

    Rates: positive, any one unit for both curves (kbit/s here); qualities:
    the metric's values, ``higher_is_better`` its direction. Each curve: 1-D
    sequences of equal length, at least :data:`MIN_POINTS` points, in any
    order. Raises ``ValueError`` for too few points, mismatched lengths, a
    rate <= 0 or a non-finite value. See the module docstring for sorting,
    non-monotonic curves and overlap.
    """
    return _bd(anchor_rates, anchor_quality, test_rates, test_quality, higher_is_better, on_quality=True)


def bd_quality(anchor_rates, anchor_quality, test_rates, test_quality, *, higher_is_better: bool = True) -> BdResult:
    """BD-quality (BD-PSNR for PSNR) of the test against the anchor, in the metric's unit, test minus anchor.

    Arguments and errors as :func:`bd_rate`. For a lower-is-better metric a
    negative value means the test is better.
    """
    return _bd(anchor_rates, anchor_quality, test_rates, test_quality, higher_is_better, on_quality=False)


@dataclass(frozen=True)
class SourceBd:
    """BD-rate and BD-quality of one codec against an anchor on one SRC.

    rate, quality: the results, ``None`` with ``reason`` when the curves
    could not be compared at all (a codec without points there, too few points).
    """

    source: str
    rate: BdResult | None = None
    quality: BdResult | None = None
    reason: str = ""

    @property
    def notes(self) -> tuple[str, ...]:
        """Warnings and reasons of both results, each once, in order."""
        found = [self.reason] + [text for result in (self.rate, self.quality) if result
                                 for text in (*result.warnings, result.reason)]
        return tuple(dict.fromkeys(text for text in found if text))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


@dataclass(frozen=True)
class CodecBd:
    """One test curve against one anchor curve over SRCs: per-SRC results and their means.

    ``codec`` and ``anchor`` name curves: a codec, or a codec variant
    (``landmark-warp key_period=10``, see ``Codec.curve_name``).

    As the JVET common test conditions report a BD-rate per sequence and their
    average, ``mean_rate`` (percent) and ``mean_quality`` (the metric's unit)
    are arithmetic means over the SRCs that gave a number; ``n_rate`` and
    ``n_quality`` count them, out of ``len(per_source)`` SRCs where either
    codec has points.
    """

    codec: str
    anchor: str
    per_source: tuple[SourceBd, ...]

    def _values(self, kind: str) -> list[float]:
        results = (getattr(source, kind) for source in self.per_source)
        return [result.value for result in results if result is not None and result.value is not None]

    @property
    def mean_rate(self) -> float | None:
        return _mean(self._values("rate"))

    @property
    def n_rate(self) -> int:
        return len(self._values("rate"))

    @property
    def mean_quality(self) -> float | None:
        return _mean(self._values("quality"))

    @property
    def n_quality(self) -> int:
        return len(self._values("quality"))

    @property
    def notes(self) -> list[str]:
        """``SRC: note`` for every warning and every missing number."""
        return [f"{source.source}: {note}" for source in self.per_source for note in source.notes]

    @property
    def notes_text(self) -> str:
        """:attr:`notes`, one a line."""
        return "\n".join(self.notes)


def bd_over_sources(curves: dict[str, dict[str, tuple[list[float], list[float]]]], *, anchor: str, codec: str,
                    higher_is_better: bool = True) -> CodecBd:
    """BD of ``codec`` against ``anchor`` on every SRC of ``curves`` where either has points.

    curves: SRC name -> curve name -> (rates, qualities), one point per PVS
    (rates in kbit/s, qualities in the metric's unit, or MOS). A SRC where a
    codec has no points or too few keeps its reason instead of a number.
    """
    per_source = []
    for source, by_codec in sorted(curves.items()):
        missing = [name for name in (anchor, codec) if name not in by_codec]
        if len(missing) == 2:
            continue
        if missing:
            per_source.append(SourceBd(source, reason=f"no {missing[0]} points"))
            continue
        points = (*by_codec[anchor], *by_codec[codec])
        try:
            per_source.append(SourceBd(source, bd_rate(*points, higher_is_better=higher_is_better),
                                       bd_quality(*points, higher_is_better=higher_is_better)))
        except ValueError as exc:
            per_source.append(SourceBd(source, reason=str(exc)))
    return CodecBd(codec, anchor, tuple(per_source))


# The anchor of every BD-rate view and command unless another is named: the VVC anchor, against which
# the GFVC literature and the JVET GFVC common test conditions state their gains.
DEFAULT_ANCHOR = "vvc"


def curve_names(curves: dict[str, dict[str, tuple[list[float], list[float]]]]) -> list[str]:
    """The curves with points on any SRC of ``curves`` (as :func:`bd_over_sources` takes them),
    :data:`DEFAULT_ANCHOR` first when it has points, then sorted."""
    names = {name for by_curve in curves.values() for name in by_curve}
    return sorted(names, key=lambda name: (name != DEFAULT_ANCHOR, name))


def bd_against_anchor(curves: dict[str, dict[str, tuple[list[float], list[float]]]], *, anchor: str,
                      tests: list[str] | None = None, higher_is_better: bool = True,
                      points: str = "point") -> list[CodecBd]:
    """BD of each test curve against the ``anchor`` curve, per SRC and as the mean (:func:`bd_over_sources`).

    curves: as :func:`bd_over_sources`, by curve name (a codec variant, e.g.
    ``landmark-warp key_period=10``). tests: the curves to compare, in order
    (default: every other curve with points, sorted). points: what a point is,
    for the error (``done PVS with PSNR``). Raises ``ValueError`` naming the
    anchor or test curves without points and the curves that have some.
    """
    known = curve_names(curves)
    absent = [name for name in [anchor, *(tests or [])] if name not in known]
    if absent:
        raise ValueError(f"no {points} on curve {', '.join(absent)}; curves with one: {', '.join(known) or 'none'}")
    tests = tests if tests is not None else [name for name in known if name != anchor]
    return [bd_over_sources(curves, anchor=anchor, codec=name, higher_is_better=higher_is_better) for name in tests]


def _number(result: BdResult | None, decimals: int) -> str:
    return "—" if result is None or result.value is None else f"{result.value:+.{decimals}f}"


def _overlap(result: BdResult | None) -> str:
    return "—" if result is None or result.value is None else f"{result.overlap:.0%}"


def bd_text(results: list[CodecBd], *, label: str, unit: str = "", higher_is_better: bool = True,
            decimals: int = 2) -> str:
    """A plain-text report of :func:`bd_over_sources` results on one quality axis called ``label``.

    Per codec: a row per SRC (BD-rate %, BD-quality with ``decimals``,
    overlaps on the quality and the log-rate axis), the means with how many
    SRCs gave a number, then every warning and every reason for a missing number.
    """
    quality = f"BD-{label}" + (f" ({unit})" if unit else "")
    width = max(14, len(quality) + 2)
    direction = "higher" if higher_is_better else "lower"
    header = (f"{label}: {direction} is better. BD-rate < 0: the codec needs less bitrate than the anchor for "
              f"equal {label}; {quality}: codec minus anchor at equal rate. Means are over the SRCs with a number, "
              "as JVET common test conditions average per-sequence BD-rates.")
    lines = [header]
    for result in results:
        lines += ["", f"{result.codec} against {result.anchor}",
                  f"  {'SRC':<24}{'BD-rate (%)':>12}{quality:>{width}}   overlap (quality, rate)"]
        for source in result.per_source:
            numbers = f"{_number(source.rate, 2):>12}{_number(source.quality, decimals):>{width}}"
            lines.append(f"  {source.source:<24}{numbers}   {_overlap(source.rate)}, {_overlap(source.quality)}")
        rate = "—" if result.mean_rate is None else f"{result.mean_rate:+.2f}"
        mean_quality = "—" if result.mean_quality is None else f"{result.mean_quality:+.{decimals}f}"
        lines.append(f"  {'mean':<24}{rate:>12}{mean_quality:>{width}}   SRCs with a number: {result.n_rate} "
                     f"and {result.n_quality} of {len(result.per_source)}")
        lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
