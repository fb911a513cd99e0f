"""How well an objective metric predicts MOS: VQEG practice, ITU-T P.1401. Django-free.

Inputs are one value per PVS, 1-D and of equal length: ``metric`` (the
objective score, in the metric's own unit), ``mos`` (rating-scale units) and,
where known, the half-width of each MOS's 95 % confidence interval (MOS
units). The statistics follow ITU-T Rec. P.1401 (01/2020), "Methods, metrics
and procedures for statistical evaluation, qualification and comparison of
objective quality prediction models":

- the metric is mapped onto the MOS scale by a monotonic function fitted by
  least squares (P.1401 §7.3); ours is the four-parameter logistic of the VQEG
  FR-TV Phase I final report (2000), see :func:`logistic_4`;
- PLCC: Pearson's r between the mapped prediction and MOS (§7.5.3);
- RMSE: ``sqrt(sum(Perror**2) / (N - d))`` with ``Perror = MOS - prediction``
  and ``d = 4`` fitted parameters (§7.5.1);
- outlier ratio: the share of PVSs with ``|Perror|`` above the 95 % CI
  half-width of their own MOS (§7.5.2.2);
- RMSE*: the epsilon-insensitive RMSE, each ``|Perror|`` first reduced by that
  half-width and floored at zero, same ``N - d`` divisor (§7.7);
- SROCC (Spearman) and KROCC (Kendall tau-b) on the metric itself: rank
  statistics are unchanged by a monotonic mapping;
- two metrics' PLCCs are compared with Williams' test for dependent
  correlations (:func:`williams_test`, :func:`compare_metrics`): both share
  the MOS, and a test for independent correlations would ignore their covariance.

Direction: a lower-is-better metric is negated before anything is computed, so
for every metric a higher PLCC, SROCC or KROCC means better agreement. The
sign is kept after that: a negative value says the metric disagrees with MOS
in its declared direction. 95 % CIs are percentile bootstrap intervals over
PVSs (Efron & Tibshirani 1993, ch. 13), refitting the logistic on each
resample.

Cluster bootstrap: the PVSs of one SRC share its content, so their errors are
correlated and resampling PVSs as if independent makes intervals too narrow.
Given ``clusters`` (one SRC label per PVS), each resample instead draws as many
SRCs as there are, with replacement, and takes all PVSs of each drawn SRC (the
cluster or "block" bootstrap, Davison & Hinkley 1997, *Bootstrap Methods and
their Application*, §3.8); a resample then has a varying number of PVSs.

Multiple comparisons: :func:`holm` adjusts a family of p-values by Holm's
step-down procedure (Holm 1979, Scand. J. Statist. 6, 65-70);
``compare_metrics(..., correction="holm")`` applies it to all pairs' Williams tests.
"""
import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit

N_PARAMS = 4  # d in P.1401 §7.5.1: the logistic's fitted parameters
# Relative tolerance on the sum of squares and on the parameters: far below what moves a PLCC
# in its third decimal, and it stops a near-linear fit from creeping outwards for hundreds of steps.
FIT_TOLERANCE = 1e-6
MIN_PVS = N_PARAMS + 1  # the RMSE divisor N - d must be positive
ALPHA = 0.05


class CorrelationError(ValueError):
    """Input on which a metric–MOS statistic is undefined."""


def logistic_4(x: ArrayLike, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """Return ``b1 + (b2 - b1) / (1 + exp(-(x - b3) / |b4|))``, elementwise.

    The four-parameter logistic of the VQEG FR-TV Phase I final report (2000),
    written with b1 the asymptote as x -> -inf and b2 as x -> +inf: it rises
    with x when b2 > b1. b3 is the midpoint (metric units), |b4| the slope
    scale (metric units). Output has the shape of ``x``, in MOS units.
    """
    return b1 + (b2 - b1) * expit((np.asarray(x, dtype=float) - b3) / np.abs(b4))


@dataclass(frozen=True)
class LogisticFit:
    """A fitted metric-to-MOS mapping; ``params`` are (b1, b2, b3, b4) of :func:`logistic_4`.

    The mapping increases with quality: b2 >= b1 for a higher-is-better metric,
    b2 <= b1 for a lower-is-better one. On near-linear data the asymptotes can
    lie far outside the MOS range; the mapping is meant for metric values
    within the range it was fitted on. Parameters are NaN and ``message`` says
    why when the fit did not converge.
    """

    params: tuple[float, float, float, float]
    converged: bool
    message: str = ""

    def predict(self, metric: ArrayLike) -> np.ndarray:
        """Map metric values (any shape) to predicted MOS, same shape."""
        if not self.converged:
            raise CorrelationError(f"logistic fit did not converge: {self.message}")
        return logistic_4(metric, *self.params)


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its 95 % percentile-bootstrap interval (NaN where undefined)."""

    value: float
    ci95_low: float
    ci95_high: float


@dataclass(frozen=True)
class CorrelationReport:
    """How well one metric predicts MOS over ``n`` PVSs (see the module docstring)."""

    n: int  # PVSs used, after dropping non-finite ones
    plcc: Estimate  # Pearson after the logistic mapping
    plcc_linear: Estimate  # Pearson on the direction-corrected metric, no mapping
    srocc: Estimate
    krocc: Estimate  # Kendall tau-b
    rmse: Estimate  # MOS units, after the mapping
    rmse_star: Estimate  # MOS units; NaN without MOS CIs
    outlier_ratio: Estimate  # fraction in [0, 1]; NaN without MOS CIs
    fit: LogisticFit
    note: str  # what was dropped, left NaN or looks wrong, "; "-separated; "" when nothing


STATISTICS = ("plcc", "plcc_linear", "srocc", "krocc", "rmse", "rmse_star", "outlier_ratio")


def _as_vector(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise CorrelationError(f"{name} must be 1-D (one value per PVS), got shape {array.shape}")
    return array


def _finite_pairs(minimum: int, columns: dict[str, ArrayLike],
                  optional: tuple[str, ...] = ()) -> tuple[list[np.ndarray], int]:
    """Keep the PVSs where every column but the ``optional`` ones is finite;
    return the columns and how many PVSs were dropped."""
    arrays = {name: _as_vector(name, values) for name, values in columns.items()}
    if len({array.size for array in arrays.values()}) > 1:
        sizes = ", ".join(f"{name}: {array.size}" for name, array in arrays.items())
        raise CorrelationError(f"inputs must have one value per PVS each, got {sizes}")
    keep = np.logical_and.reduce([np.isfinite(array) for name, array in arrays.items() if name not in optional])
    if keep.sum() < minimum:
        raise CorrelationError(f"need at least {minimum} PVSs with finite values, got {keep.sum()}")
    return [array[keep] for array in arrays.values()], int(keep.size - keep.sum())


def _require_varying(**arrays: np.ndarray) -> None:
    for name, array in arrays.items():
        if np.ptp(array) == 0:
            raise CorrelationError(f"{name} is constant over the PVSs; correlation is undefined")


def _model(q: np.ndarray, b1: float, d: float, b3: float, b4: float) -> np.ndarray:
    """The logistic with d = b2 - b1, so that a bound d >= 0 keeps it increasing."""
    return logistic_4(q, b1, b1 + d, b3, b4)


def _jacobian(q: np.ndarray, b1: float, d: float, b3: float, b4: float) -> np.ndarray:
    """(N, 4) partial derivatives of :func:`_model` in (b1, d, b3, b4)."""
    z = (q - b3) / abs(b4)
    s = expit(z)
    g = d * s * (1.0 - s)
    jacobian = np.empty((q.size, N_PARAMS))
    jacobian[:, 0], jacobian[:, 1], jacobian[:, 2], jacobian[:, 3] = 1.0, s, -g / abs(b4), -g * z / b4
    return jacobian


def _bounds(q: np.ndarray, mos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box for (b1, d, b3, b4): asymptotes within two MOS ranges of the data, midpoint
    within one metric range of it, slope scale from 1/100 to 10 metric ranges."""
    mos_span, q_span = np.ptp(mos), np.ptp(q)
    low = np.array([mos.min() - 2 * mos_span, 0.0, q.min() - q_span, 1e-2 * q_span])
    high = np.array([mos.max(), 5 * mos_span, q.max() + q_span, 10 * q_span])
    return low, high


def _initial(q: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """Start with the asymptotes at the MOS extremes and the midpoint at the median metric."""
    return np.array([mos.min(), np.ptp(mos), np.median(q), np.std(q) / 2])


def _fit(q: np.ndarray, mos: np.ndarray, start: np.ndarray, bounds) -> tuple[np.ndarray, str]:
    """Fit (b1, d, b3, b4) to MOS over an increasing metric ``q``; NaNs and a reason on failure.

    The fit must rise (d >= 0) and be no steeper than the slope-scale floor of
    :func:`_bounds` (no step functions). Fast path: unconstrained
    Levenberg–Marquardt from ``start``, kept when its result meets those two
    conditions; on near-linear data it may put the asymptotes far outside the
    MOS range, which changes nothing within the data. Otherwise the
    trust-region fit within the whole box of :func:`_bounds` decides.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            theta = curve_fit(_model, q, mos, p0=start, jac=_jacobian, method="lm",
                              ftol=FIT_TOLERANCE, xtol=FIT_TOLERANCE)[0]
            theta[3] = abs(theta[3])
            if theta[1] >= 0 and theta[3] >= bounds[0][3]:
                return theta, ""
        except (RuntimeError, ValueError):
            pass
        try:
            theta = curve_fit(_model, q, mos, p0=np.clip(start, *bounds), jac=_jacobian,
                              bounds=bounds, x_scale="jac", ftol=FIT_TOLERANCE,
                              xtol=FIT_TOLERANCE)[0]
        except (RuntimeError, ValueError) as error:
            return np.full(N_PARAMS, np.nan), str(error)
    return theta, ""


def _to_logistic_fit(theta: np.ndarray, message: str, sign: float) -> LogisticFit:
    """Express (b1, d, b3, b4) on ``sign * metric`` as logistic_4 parameters on the metric."""
    b1, d, b3, b4 = (float(value) for value in theta)
    params = (b1, b1 + d, b3, b4) if sign > 0 else (b1 + d, b1, -b3, b4)
    return LogisticFit(params=params, converged=not message, message=message)


def _cluster_codes(clusters: ArrayLike) -> np.ndarray:
    """(N,) float codes 0, 1, ... of the cluster (SRC) labels, in order of first appearance.

    Any hashable labels (str, int); float codes so that they travel with the
    numeric columns through :func:`_finite_pairs`. A missing label is an error.
    """
    if np.ndim(clusters) != 1:
        raise CorrelationError(f"clusters must be 1-D (one SRC label per PVS), got shape {np.shape(clusters)}")
    codes, _ = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)))
    if np.any(codes < 0):
        raise CorrelationError(f"clusters has {int(np.sum(codes < 0))} missing label(s); give every PVS its SRC")
    return codes.astype(float)


def _oriented(metric: ArrayLike, mos: ArrayLike, higher_is_better: bool, ci: ArrayLike | None,
              clusters: ArrayLike | None = None):
    """Drop PVSs with a non-finite metric or MOS; return the metric negated if
    lower is better, MOS, CI (NaN where unknown: such a PVS counts in every
    statistic but the outlier ratio and RMSE*), cluster codes (int, None
    without clusters), drops."""
    ci = np.full(np.shape(mos), np.nan) if ci is None else ci
    columns = {"metric": metric, "mos": mos, "mos_ci95_halfwidth": ci}
    if clusters is not None:
        columns["clusters"] = _cluster_codes(clusters)
    arrays, dropped = _finite_pairs(MIN_PVS, columns, optional=("mos_ci95_halfwidth",))
    _require_varying(metric=arrays[0], mos=arrays[1])
    if np.any(arrays[2] < 0):
        raise CorrelationError("mos_ci95_halfwidth must not be negative")
    q = arrays[0] if higher_is_better else -arrays[0]
    codes = None if clusters is None else _require_clusters(arrays[3])
    return q, arrays[1], arrays[2], codes, dropped


def _require_clusters(codes: np.ndarray) -> np.ndarray:
    codes = codes.astype(int)
    if np.unique(codes).size < 2:
        raise CorrelationError("a cluster bootstrap needs PVSs of at least 2 SRCs (clusters), got 1")
    return codes


def _bootstrap_rows(size: int, *, n_bootstrap: int, seed: int,
                   clusters: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index the bootstrap resamples of ``size`` PVSs, grouped by resample length.

    Returns ``[(which, rows), ...]``: ``which`` (b,) int, the resample numbers
    in ``range(n_bootstrap)``; ``rows`` (b, n) int, the PVS indices of each of
    those resamples, all of length n. Without ``clusters`` there is one group:
    ``n_bootstrap`` resamples of ``size`` PVSs drawn with replacement by
    ``numpy.random.default_rng(seed).integers`` (Efron & Tibshirani 1993,
    ch. 6). With ``clusters`` ((size,) int codes, one SRC per PVS) each
    resample draws as many clusters as there are, with replacement, and takes
    every PVS of each drawn cluster (Davison & Hinkley 1997, §3.8), so lengths
    vary unless all SRCs have the same number of PVSs.
    """
    rng = np.random.default_rng(seed)
    if clusters is None:
        return [(np.arange(n_bootstrap), rng.integers(0, size, size=(n_bootstrap, size)))]
    clusters = np.asarray(clusters)
    if clusters.shape != (size,):
        raise CorrelationError(f"clusters must have one label per PVS ({size}), got shape {clusters.shape}")
    _, codes = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(codes == code) for code in range(codes.max() + 1)]
    drawn = rng.integers(0, len(members), size=(n_bootstrap, len(members)))
    samples = [np.concatenate([members[code] for code in row]) for row in drawn]
    lengths = np.array([sample.size for sample in samples])
    groups = []
    for length in np.unique(lengths):
        which = np.flatnonzero(lengths == length)
        groups.append((which, np.stack([samples[index] for index in which])))
    return groups


def fit_logistic(metric: ArrayLike, mos: ArrayLike, *, higher_is_better: bool) -> LogisticFit:
    """Least-squares fit of :func:`logistic_4` from metric to MOS, increasing in quality.

    metric, mos: (N,), one value per PVS; non-finite pairs are dropped. The fit
    (``scipy.optimize.curve_fit``) is constrained so that predicted MOS never
    falls as quality rises. Raises CorrelationError for fewer than
    ``MIN_PVS`` finite pairs or constant input; a fit that does not converge
    is returned with ``converged=False``.
    """
    q, y, _, _, _ = _oriented(metric, mos, higher_is_better, None)
    theta, message = _fit(q, y, _initial(q, y), _bounds(q, y))
    return _to_logistic_fit(theta, message, 1.0 if higher_is_better else -1.0)


def _statistics(q: np.ndarray, mos: np.ndarray, ci: np.ndarray, pred: np.ndarray) -> dict:
    """Every statistic for each row of (B, N) arrays; NaN where undefined. q: the oriented metric."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        warnings.simplefilter("ignore", stats.NearConstantInputWarning)  # a flat mapping
        plcc = stats.pearsonr(pred, mos, axis=1).statistic
        plcc_linear = stats.pearsonr(q, mos, axis=1).statistic
        # Spearman's rho is Pearson's r of the mid-ranks, as scipy.stats.spearmanr computes it.
        srocc = stats.pearsonr(stats.rankdata(q, axis=1), stats.rankdata(mos, axis=1), axis=1).statistic
        krocc = stats.kendalltau(q, mos, axis=1).statistic  # tau-b
    error = np.abs(mos - pred)
    dof = mos.shape[1] - N_PARAMS
    # RMSE* and the outlier ratio need each PVS's CI: over the PVSs that have one.
    with_ci = np.isfinite(ci)
    n_ci = with_ci.sum(axis=1)
    undefined = np.isnan(error).any(axis=1) | (n_ci <= N_PARAMS)  # a failed refit, or too few CIs
    beyond = np.where(with_ci, np.maximum(error - ci, 0.0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse_star = np.sqrt(np.sum(beyond ** 2, axis=1) / (n_ci - N_PARAMS))
        outlier_ratio = np.sum(beyond > 0, axis=1) / n_ci
    return {
        "plcc": plcc, "plcc_linear": plcc_linear, "srocc": srocc, "krocc": krocc,
        "rmse": np.sqrt(np.sum(error ** 2, axis=1) / dof),
        "rmse_star": np.where(undefined, np.nan, rmse_star),
        "outlier_ratio": np.where(undefined, np.nan, outlier_ratio),
    }


def _bootstrap_predictions(q: np.ndarray, mos: np.ndarray, start: np.ndarray, bounds) -> np.ndarray:
    """Refit the logistic on each resample row, warm-started at ``start``; NaN rows where it fails."""
    pred = np.full(q.shape, np.nan)
    if np.all(np.isfinite(start)):
        for row, (q_row, mos_row) in enumerate(zip(q, mos, strict=True)):
            pred[row] = _model(q_row, *_fit(q_row, mos_row, start, bounds)[0])
    return pred


def _estimate(value: float, resampled: np.ndarray) -> Estimate:
    finite = resampled[np.isfinite(resampled)]
    low, high = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
    return Estimate(float(value), float(low), float(high))


def correlate(metric: ArrayLike, mos: ArrayLike, *, higher_is_better: bool,
              mos_ci95_halfwidth: ArrayLike | None = None, n_bootstrap: int = 1000,
              seed: int = 0, clusters: ArrayLike | None = None) -> CorrelationReport:
    """Measure how well ``metric`` predicts ``mos`` (see the module docstring for each statistic).

    metric, mos, mos_ci95_halfwidth: (N,), one value per PVS; a PVS with a
    non-finite metric or MOS is dropped and counted in ``note``; one without a
    CI (a single vote) counts in every statistic but the outlier ratio and
    RMSE*, which are taken over the PVSs that have a CI (NaN with N - 4 or
    fewer of them, or without CI half-widths). CIs: ``n_bootstrap``
    resamples of the PVSs drawn with ``numpy.random.default_rng(seed)``;
    with ``clusters`` ((N,) SRC labels, str or int, one per PVS) resamples of
    the SRCs instead, each taking all PVSs of its SRCs (:func:`_bootstrap_rows`;
    needs at least 2 SRCs; a resample of fewer than ``MIN_PVS`` PVSs is left
    out of the CIs). If the logistic fit does not converge, PLCC, RMSE, RMSE* and the outlier
    ratio are NaN and ``note`` says why; the rank statistics and the linear
    PLCC are still reported. Raises CorrelationError for fewer than
    ``MIN_PVS`` usable PVSs or constant input.
    """
    if n_bootstrap < 1:
        raise CorrelationError(f"n_bootstrap must be at least 1, got {n_bootstrap}")
    q, y, ci, codes, dropped = _oriented(metric, mos, higher_is_better, mos_ci95_halfwidth, clusters)
    bounds = _bounds(q, y)
    theta, message = _fit(q, y, _initial(q, y), bounds)
    point = _statistics(q[None], y[None], ci[None], _model(q, *theta)[None])
    resampled = {name: np.full(n_bootstrap, np.nan) for name in STATISTICS}
    failed = 0
    for which, rows in _bootstrap_rows(y.size, n_bootstrap=n_bootstrap, seed=seed, clusters=codes):
        if rows.shape[1] < MIN_PVS:  # a cluster resample of too few PVSs: no statistic is defined
            continue
        pred = _bootstrap_predictions(q[rows], y[rows], theta, bounds)
        for name, values in _statistics(q[rows], y[rows], ci[rows], pred).items():
            resampled[name][which] = values
        failed += int(np.isnan(pred[:, 0]).sum())
    notes = []
    if dropped:
        notes.append(f"dropped {dropped} of {y.size + dropped} PVSs with a non-finite value")
    if message:
        notes.append(f"logistic fit did not converge ({message}); PLCC, RMSE, RMSE* and outlier "
                     "ratio are NaN")
    elif failed:
        notes.append(f"logistic refit failed on {failed} of {n_bootstrap} resamples, left out of "
                     "the CIs of PLCC, RMSE, RMSE* and outlier ratio")
    if mos_ci95_halfwidth is None:
        notes.append("no MOS confidence intervals given; outlier ratio and RMSE* are NaN")
    if point["plcc_linear"][0] < 0:
        notes.append("metric correlates negatively with MOS in its declared direction; "
                     "check higher_is_better")
    return CorrelationReport(
        n=int(y.size), fit=_to_logistic_fit(theta, message, 1.0 if higher_is_better else -1.0),
        note="; ".join(notes),
        **{name: _estimate(point[name][0], resampled[name]) for name in STATISTICS},
    )


def williams_test(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' t for H0: rho12 == rho13, two correlations sharing variable 1; return (t, p).

    Variable 1 is MOS, 2 and 3 two metrics' predictions over the same ``n``
    PVSs, r23 their correlation with each other. Williams (1959) as written by
    Steiger (1980, Psychological Bulletin 87, p. 246, eq. 7):

        t = (r12 - r13) * sqrt((n - 1)(1 + r23)
                               / (2 (n - 1)/(n - 3) |R| + rbar^2 (1 - r23)^3)),
        |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23,  rbar = (r12 + r13) / 2,

    t-distributed with n - 3 degrees of freedom; p is two-sided. This is the
    test of the WMT metrics tasks (Graham & Baldwin 2014). Equal r12 and r13
    give t = 0, p = 1.
    """
    r = np.array([r12, r13, r23], dtype=float)
    if not np.all(np.isfinite(r)) or np.any(np.abs(r) > 1):
        raise CorrelationError(f"correlations must lie in [-1, 1], got {r12}, {r13}, {r23}")
    if n <= 3:
        raise CorrelationError(f"Williams' test needs n > 3, got {n}")
    det = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
    if det < -1e-12:
        raise CorrelationError(f"{r12}, {r13}, {r23} do not form a correlation matrix (|R| = {det:.3g})")
    if r12 == r13:
        return 0.0, 1.0
    rbar = (r12 + r13) / 2
    with np.errstate(divide="ignore"):
        t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23)
                                  / (2 * (n - 1) / (n - 3) * max(det, 0.0) + rbar ** 2 * (1 - r23) ** 3))
    return float(t), float(2 * stats.t.sf(abs(t), n - 3))


CORRECTIONS = (None, "holm")


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979, Scand. J. Statist. 6, 65-70).

    p_values: (m,) in [0, 1], one per hypothesis of the family; NaN entries
    stay NaN and do not count in m. With p_(1) <= ... <= p_(m) sorted, the
    adjusted p_(k) is ``max over j <= k of min(1, (m - j + 1) p_(j))``;
    rejecting where it is below alpha controls the family-wise error rate at
    alpha. Returns (m,) in the input's order.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise CorrelationError(f"p_values must be 1-D, got shape {p.shape}")
    finite = np.flatnonzero(np.isfinite(p))
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise CorrelationError("p-values must lie in [0, 1]")
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    adjusted = np.full(p.shape, np.nan)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return stats.pearsonr(x, y, axis=1).statistic


def _difference_interval(a: np.ndarray, b: np.ndarray, y: np.ndarray, codes: np.ndarray | None,
                         n_bootstrap: int, seed: int) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of r(a, y) - r(b, y), both on each same resample."""
    differences = np.full(n_bootstrap, np.nan)
    for which, rows in _bootstrap_rows(y.size, n_bootstrap=n_bootstrap, seed=seed, clusters=codes):
        if rows.shape[1] >= 3:
            differences[which] = _pearson_rows(a[rows], y[rows]) - _pearson_rows(b[rows], y[rows])
    estimate = _estimate(np.nan, differences)
    return estimate.ci95_low, estimate.ci95_high


def compare_metrics(predictions: Mapping[str, ArrayLike], mos: ArrayLike, *, n_bootstrap: int = 0,
                    seed: int = 0, clusters: ArrayLike | None = None,
                    correction: str | None = None) -> pd.DataFrame:
    """Williams' test between every pair of metrics on their PLCC after logistic mapping.

    predictions: metric name -> (N,) logistic-mapped predicted MOS per PVS
    (``correlate(...).fit.predict(metric)``), so r_a is that metric's PLCC.
    mos: (N,). Each pair uses the PVSs finite in both predictions and MOS.
    Returns one row per unordered pair: metric_a, metric_b (ordered so that
    r_a >= r_b), n, r_a, r_b, r_ab, t, p (two-sided) and ``significant``
    (p < 0.05, i.e. metric_a predicts MOS better than metric_b).

    Williams' test takes the PVSs as independent. With ``n_bootstrap`` > 0
    three columns follow r_ab: r_diff = r_a - r_b and its 95 % percentile
    bootstrap interval r_diff_low, r_diff_high (both metrics on the same
    resamples, their logistic mappings held fixed), drawn from
    ``numpy.random.default_rng(seed)``; with ``clusters`` ((N,) SRC labels,
    one per PVS) the resamples draw SRCs, not PVSs (:func:`_bootstrap_rows`),
    which respects the correlation of one SRC's PVSs. ``clusters`` needs
    ``n_bootstrap`` > 0.

    correction: None, or "holm" to add ``p_holm``, the Holm-adjusted p over
    all pairs of the table (:func:`holm`), after ``p``; ``significant`` is
    then ``p_holm < 0.05``.
    """
    if correction not in CORRECTIONS:
        raise CorrelationError(f"unknown correction {correction!r}: choose one of {CORRECTIONS}")
    if n_bootstrap < 0:
        raise CorrelationError(f"n_bootstrap must not be negative, got {n_bootstrap}")
    if clusters is not None and n_bootstrap == 0:
        raise CorrelationError("clusters only change bootstrap intervals: give n_bootstrap > 0")
    codes = None if clusters is None else _cluster_codes(clusters)
    rows = []
    for name_a, name_b in itertools.combinations(predictions, 2):
        label_a, label_b = f"predictions[{name_a!r}]", f"predictions[{name_b!r}]"
        columns = {label_a: predictions[name_a], label_b: predictions[name_b], "mos": mos}
        if codes is not None:
            columns["clusters"] = codes
        (a, b, y, *pair_codes), _ = _finite_pairs(MIN_PVS, columns)
        _require_varying(**{label_a: a, label_b: b, "mos": y})
        r_a, r_b = stats.pearsonr(a, y).statistic, stats.pearsonr(b, y).statistic
        if r_a < r_b:
            name_a, name_b, a, b, r_a, r_b = name_b, name_a, b, a, r_b, r_a
        r_ab = stats.pearsonr(a, b).statistic
        t, p = williams_test(r_a, r_b, r_ab, y.size)
        row = {"metric_a": name_a, "metric_b": name_b, "n": y.size, "r_a": r_a, "r_b": r_b, "r_ab": r_ab}
        if n_bootstrap:
            pvs_codes = _require_clusters(pair_codes[0]) if pair_codes else None
            low, high = _difference_interval(a, b, y, pvs_codes, n_bootstrap, seed)
            row |= {"r_diff": r_a - r_b, "r_diff_low": low, "r_diff_high": high}
        rows.append(row | {"t": t, "p": p, "significant": p < ALPHA})
    columns = ["metric_a", "metric_b", "n", "r_a", "r_b", "r_ab",
               *(["r_diff", "r_diff_low", "r_diff_high"] if n_bootstrap else []), "t", "p", "significant"]
    table = pd.DataFrame(rows, columns=columns)
    if correction == "holm":
        table.insert(table.columns.get_loc("p") + 1, "p_holm", holm(table["p"].to_numpy(dtype=float)))
        table["significant"] = table["p_holm"] < ALPHA
    return table


def _table_row(report: CorrelationReport) -> dict:
    row = {"n": report.n}
    for name in STATISTICS:
        estimate = getattr(report, name)
        row.update({name: estimate.value, f"{name}_low": estimate.ci95_low,
                    f"{name}_high": estimate.ci95_high})
    fit = report.fit
    return row | {"fit": list(fit.params) if fit.converged else None, "note": report.note}


def correlation_table(data: pd.DataFrame, *, metrics: Mapping[str, bool], mos_column: str = "mos",
                      ci_column: str | None = "mos_ci95_halfwidth", n_bootstrap: int = 1000,
                      seed: int = 0, clusters: ArrayLike | None = None) -> pd.DataFrame:
    """Rank metrics by PLCC: one row per metric of :func:`correlate`'s statistics and CIs.

    data: one row per PVS, with ``mos_column``, a column per metric and,
    optionally, ``ci_column`` (without it the outlier ratio and RMSE* are
    NaN). metrics: column name -> higher_is_better. Columns: metric, rank
    (1 = highest PLCC), n, then ``<stat>``, ``<stat>_low``, ``<stat>_high``
    for each of plcc, plcc_linear, srocc, krocc, rmse, rmse_star,
    outlier_ratio, then fit (:class:`LogisticFit`'s (b1, b2, b3, b4) on the
    metric's own values, as a list; None when it did not converge), then
    note. Sorted by PLCC, NaN last. A metric on which correlate raises
    CorrelationError (too few PVSs, constant values) gets a row of NaNs with
    the reason in ``note``. clusters: None, or (len(data),) SRC labels, one
    per row, for a cluster bootstrap of every interval (see :func:`correlate`).
    """
    missing = [column for column in [mos_column, *metrics] if column not in data]
    if missing:
        raise CorrelationError(f"data has no column(s) {', '.join(missing)}")
    if clusters is not None and np.shape(clusters) != (len(data),):
        raise CorrelationError(f"clusters must have one SRC label per row of data ({len(data)}), "
                               f"got shape {np.shape(clusters)}")
    ci = data[ci_column] if ci_column is not None and ci_column in data else None
    rows = []
    for name, higher_is_better in metrics.items():
        try:
            report = correlate(data[name], data[mos_column], higher_is_better=higher_is_better,
                               mos_ci95_halfwidth=ci, n_bootstrap=n_bootstrap, seed=seed,
                               clusters=clusters)
            rows.append({"metric": name} | _table_row(report))
        except CorrelationError as error:
            rows.append({"metric": name, "note": str(error)})
    table = pd.DataFrame(rows).reindex(columns=["metric", "n", *_stat_columns(), "fit", "note"])
    table = table.sort_values("plcc", ascending=False, na_position="last", kind="stable")
    table.insert(1, "rank", table["plcc"].rank(ascending=False, method="min").astype("Int64"))
    return table.reset_index(drop=True)


def _stat_columns() -> list[str]:
    return [f"{name}{suffix}" for name in STATISTICS for suffix in ("", "_low", "_high")]
