"""Krasula et al.'s classification measures and the resolving power of a metric. Django-free.

Sources:

- L. Krasula, K. Fliegel, P. Le Callet, M. Klíma, "On the accuracy of
  objective image and video quality models: New methodology for performance
  evaluation", QoMEX 2016 (below: *Krasula 2016*). Every pair of stimuli is
  classified from the subjective data as significantly different or not, and
  if different, which is better; a metric is judged by how well its score
  difference for the pair separates these classes:

  - *different/similar* analysis: ROC of ``|ΔOM|`` (the absolute difference of
    the objective scores of a pair) between the significantly different pairs
    (positives) and the others (negatives); its area is **AUC_DS**;
  - *better/worse* analysis: over the significantly different pairs only, ROC
    of ``ΔOM`` oriented so that positives are "first stimulus better" and each
    pair also enters mirrored as a "worse" negative; its area is **AUC_BW**;
  - **CC0**, the correct classification at ``ΔOM = 0``: the share of the
    significantly different pairs whose ``ΔOM`` has the sign of the
    subjective difference (a tie counts as wrong);
  - **THR**, the 95th percentile of ``|ΔOM|`` over the pairs that are not
    significantly different (metric units): a difference above it is rarely
    seen between stimuli that viewers could not tell apart.

  AUCs and their covariance between metrics come from DeLong, DeLong &
  Clarke-Pearson (1988, Biometrics 44, 837-845) in the fast midrank form of
  Sun & Xu (2014, IEEE Signal Process. Lett. 21(11), 1389-1393); two metrics'
  AUCs are compared by the z test on their difference with that covariance,
  CC0s by a two-proportion z test. These follow the authors' MATLAB code as
  ported to Python by Netflix vmaf (``vmaf.core.perf_metric.AucPerfMetric``,
  ``vmaf.tools.sigproc.fastDeLong``, ``calpvalue``, ``significanceBinomial``);
  our code is written anew and reproduces vmaf's published test values (see
  ``studies/tests/test_krasula.py``). Caveats the original shares: pairs
  that share a stimulus are not independent, and in the better/worse analysis
  each pair enters twice (as itself and mirrored), so DeLong's variance and
  the CC0 test (whose n counts both copies) are optimistic.

- Resolving power: ITU-T Rec. J.149 (03/2004), "Method for specifying
  accuracy and cross-calibration of Video Quality Metrics", as computed by
  M. H. Pinson & S. Wolf, NTIA Technical Report TR-09-457 (2009), MATLAB
  ``vqm_accuracy``, and its port in vmaf
  (``ResolvingPowerPerfMetric``): the metric difference ``ΔVQM`` at which the
  average confidence that two stimuli differ in the metric's direction
  reaches 95 %. Smaller is better. See :func:`resolving_power`.

Input conventions: ``votes`` is a sequence of N 1-D arrays, the raw votes of
each stimulus (rating-scale units; at least 2 finite votes each); metric
scores are (N,) or (M, N) for M metrics, oriented so that higher means better
(negate a lower-is-better metric first). Pairs are indexed by
:class:`PairOutcomes`.
"""
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

ALPHA = 0.05
PAIR_TESTS = ("welch", "z2")  # see pair_outcomes
PAIR_SETS = ("unordered", "ordered")
CROSSINGS = ("last", "sorted")  # see resolving_power
THR_PERCENTILE = 95.0  # THR: this percentile of |ΔOM| over the similar pairs
# vmaf's z2 rule: |z| > 2 is a significant difference (vmaf AucPerfMetric._evaluate._signif)
Z2_THRESHOLD = 2.0


class KrasulaError(ValueError):
    """Input on which a Krasula measure or the resolving power is undefined."""


@dataclass(frozen=True)
class PairOutcomes:
    """The subjective verdict on pairs of stimuli.

    first, second: (K,) int indices into the N stimuli; outcome: (K,) int8,
    +1 where stimulus ``first`` is significantly better than ``second``, -1
    where significantly worse, 0 where the difference is not significant.
    """

    first: np.ndarray
    second: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return int(self.outcome.size)


@dataclass(frozen=True)
class KrasulaResult:
    """Krasula 2016's measures of M metrics on one set of pairs (see the module docstring).

    Vectors are (M,), one value per metric in input order; ``cov_*`` are the
    (M, M) DeLong covariance matrices of the AUCs and ``p_*`` (M, M) symmetric
    matrices of two-sided p-values for "metric i and metric j differ" (1 on
    the diagonal; NaN where undefined). ``thr`` is in metric units. Counts:
    ``n_different``/``n_similar`` pairs in the different/similar analysis,
    ``n_classified`` = 2 * n_different, the better/worse samples (each
    different pair and its mirror), which is the n of the CC0 test.
    """

    auc_ds: np.ndarray
    cov_ds: np.ndarray
    p_ds: np.ndarray
    auc_bw: np.ndarray
    cov_bw: np.ndarray
    p_bw: np.ndarray
    cc0: np.ndarray
    p_cc0: np.ndarray
    thr: np.ndarray
    n_different: int
    n_similar: int
    n_classified: int

    def auc_interval(self, name: str, metric: int) -> tuple[float, float]:
        """95 % normal interval of ``auc_ds`` or ``auc_bw`` of one metric from its DeLong variance, in [0, 1]."""
        auc, cov = getattr(self, f"auc_{name}")[metric], getattr(self, f"cov_{name}")[metric, metric]
        half = stats.norm.ppf(1 - ALPHA / 2) * np.sqrt(cov)
        return float(max(auc - half, 0.0)), float(min(auc + half, 1.0))


def _vote_arrays(votes: Sequence[ArrayLike]) -> list[np.ndarray]:
    arrays = []
    for index, values in enumerate(votes):
        array = np.asarray(values, dtype=float)
        if array.ndim != 1:
            raise KrasulaError(f"votes of stimulus {index} must be 1-D, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise KrasulaError(f"votes of stimulus {index} are not all finite")
        if array.size < 2:
            raise KrasulaError(f"stimulus {index} has {array.size} vote(s); a pair test needs at least 2")
        arrays.append(array)
    if len(arrays) < 2:
        raise KrasulaError(f"need at least 2 stimuli, got {len(arrays)}")
    return arrays


def _vote_moments(votes: Sequence[ArrayLike], ddof: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) mean, variance (with ``ddof``) and number of votes of each stimulus."""
    arrays = _vote_arrays(votes)
    mean = np.array([array.mean() for array in arrays])
    variance = np.array([array.var(ddof=ddof) for array in arrays])
    count = np.array([array.size for array in arrays], dtype=float)
    return mean, variance, count


def _pair_indices(n: int, pairs: str) -> tuple[np.ndarray, np.ndarray]:
    if pairs == "unordered":
        return np.triu_indices(n, k=1)
    if pairs == "ordered":  # vmaf's AucPerfMetric: all N x N, row-major, each stimulus with itself too
        first, second = np.indices((n, n))
        return first.ravel(), second.ravel()
    raise KrasulaError(f"unknown pairs {pairs!r}: choose one of {PAIR_SETS}")


def pair_outcomes(votes: Sequence[ArrayLike], *, test: str = "welch", alpha: float = ALPHA,
                  pairs: str = "unordered") -> PairOutcomes:
    """Decide for each pair of stimuli whether viewers rated them significantly differently.

    votes: N 1-D arrays of raw votes, at least 2 each. Krasula 2016 classify
    pairs by a significance test on the subjective data; the test is ours to
    choose:

    - ``"welch"`` (default): Welch's two-sample t test, two-sided, at
      ``alpha``: ``t = (m_i - m_j) / sqrt(s_i²/n_i + s_j²/n_j)`` with sample
      variances (ddof 1) and Welch–Satterthwaite degrees of freedom;
    - ``"z2"``: vmaf's rule (``AucPerfMetric._evaluate``): the same
      statistic read as z, significant when ``|z| > 2`` (``alpha`` unused).

    With both variances zero, any difference of the means is significant.
    pairs: ``"unordered"`` (default), the N(N-1)/2 pairs i < j, as in
    Krasula's own data (the Toyama set in vmaf's tests); ``"ordered"``, all
    N² ordered pairs including (i, i), as vmaf's ``AucPerfMetric`` builds
    them: the AUCs and CC0 are those of the unordered pairs except that the
    N self-pairs join the similar ones, but every pair counts twice in the
    variances and tests. Use it only to compare with vmaf.
    """
    if test not in PAIR_TESTS:
        raise KrasulaError(f"unknown test {test!r}: choose one of {PAIR_TESTS}")
    if not 0 < alpha < 1:
        raise KrasulaError(f"alpha must lie in (0, 1), got {alpha}")
    mean, variance, count = _vote_moments(votes, ddof=1)
    first, second = _pair_indices(mean.size, pairs)
    difference = mean[first] - mean[second]
    per_mean = variance / count
    squared_se = per_mean[first] + per_mean[second]
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(squared_se > 0, difference / np.sqrt(squared_se), np.inf * np.sign(difference))
        if test == "z2":
            significant = np.abs(statistic) > Z2_THRESHOLD
        else:
            dof = squared_se ** 2 / (per_mean[first] ** 2 / (count[first] - 1)
                                     + per_mean[second] ** 2 / (count[second] - 1))
            p = 2 * stats.t.sf(np.abs(statistic), np.where(squared_se > 0, dof, 1.0))
            significant = p < alpha
    significant &= difference != 0
    outcome = (np.sign(difference) * significant).astype(np.int8)
    return PairOutcomes(first=first, second=second, outcome=outcome)


def score_differences(scores: ArrayLike, pairs: PairOutcomes) -> np.ndarray:
    """ΔOM = score[first] - score[second] for each pair: (M, K) from (M, N) or (N,) scores, metric units."""
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    if matrix.ndim != 2:
        raise KrasulaError(f"scores must be (N,) or (M, N), got shape {np.shape(scores)}")
    if not np.all(np.isfinite(matrix)):
        raise KrasulaError("scores must be finite")
    n = max(pairs.first.max(initial=-1), pairs.second.max(initial=-1)) + 1
    if matrix.shape[1] < n:
        raise KrasulaError(f"scores have {matrix.shape[1]} stimuli, the pairs index {n}")
    return matrix[:, pairs.first] - matrix[:, pairs.second]


def delong(positives: ArrayLike, negatives: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of M classifiers and DeLong's covariance of them (Sun & Xu 2014, fast midrank form).

    positives: (M, m) scores of the m positive samples under each of M
    classifiers; negatives: (M, n). AUC_r = P(X > Y) + P(X = Y)/2, the
    Mann–Whitney statistic over m*n comparisons, from the midranks T_z of all
    m+n scores: ``AUC = (sum of T_z over positives)/(m n) - (m + 1)/(2 n)``.
    Placement values V10_i = (T_z,i - T_x,i)/n over positives and
    V01_j = 1 - (T_z,j - T_y,j)/m over negatives (T_x, T_y: midranks within
    each class) give ``S = cov(V10)/m + cov(V01)/n`` (M, M). Returns
    ((M,) AUC in [0, 1], (M, M) S); S is NaN with fewer than 2 samples in a
    class, everything NaN with none.
    """
    x, y = np.atleast_2d(np.asarray(positives, dtype=float)), np.atleast_2d(np.asarray(negatives, dtype=float))
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise KrasulaError(f"positives and negatives must be (M, m) and (M, n), got {x.shape} and {y.shape}")
    k, m, n = x.shape[0], x.shape[1], y.shape[1]
    if m == 0 or n == 0:
        return np.full(k, np.nan), np.full((k, k), np.nan)
    tz = stats.rankdata(np.hstack([x, y]), axis=1)  # midranks (average method)
    tx, ty = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    auc = tz[:, :m].sum(axis=1) / (m * n) - (m + 1) / (2 * n)
    if m < 2 or n < 2:
        return auc, np.full((k, k), np.nan)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


def auc_difference_p(auc: ArrayLike, cov: ArrayLike, i: int, j: int) -> float:
    """Two-sided p of H0: AUC_i == AUC_j, z = |AUC_i - AUC_j| / sqrt(S_ii + S_jj - 2 S_ij), normal.

    DeLong et al. 1988 (vmaf ``calpvalue``). auc: (M,); cov: (M, M) from
    :func:`delong`. Equal AUCs give p = 1, different ones with a zero
    variance of the difference p = 0 (z infinite); NaN where the covariance is undefined.
    """
    auc, cov = np.asarray(auc, dtype=float), np.asarray(cov, dtype=float)
    difference = auc[i] - auc[j]
    if difference == 0:
        return 1.0
    variance = cov[i, i] + cov[j, j] - 2 * cov[i, j]
    if not np.isfinite(variance):
        return float("nan")
    if variance <= 0:  # no sampling variance (e.g. both perfectly separating): z is infinite, as in vmaf
        return 0.0
    return float(2 * stats.norm.sf(abs(difference) / np.sqrt(variance)))


def proportion_difference_p(p1: float, p2: float, n: int) -> float:
    """Two-sided p of H0: two proportions of n trials each are equal, pooled z test.

    ``z = |p1 - p2| / sqrt(p (1 - p) 2 / n)``, p = (p1 + p2)/2: the test
    vmaf's ``significanceBinomial`` applies to two metrics' CC0. Equal
    proportions give 1.
    """
    if p1 == p2:
        return 1.0
    pooled = (p1 + p2) / 2
    return float(2 * stats.norm.sf(abs(p1 - p2) / np.sqrt(pooled * (1 - pooled) * 2 / n)))


def _pairwise(values: np.ndarray, p_of) -> np.ndarray:
    k = values.shape[0]
    p = np.ones((k, k))
    for i, j in itertools.combinations(range(k), 2):
        p[i, j] = p[j, i] = p_of(i, j)
    return p


def krasula_performance(differences: ArrayLike, outcome: ArrayLike) -> KrasulaResult:
    """Compute AUC_DS, AUC_BW, CC0, THR and the tests between metrics (Krasula 2016).

    differences: (M, K) or (K,) ΔOM of each pair under each metric (metric
    units, higher-is-better orientation, :func:`score_differences`);
    outcome: (K,) in {-1, 0, 1} (:class:`PairOutcomes`). This is the
    authors' ``Metrics_performance(objScoDif, signif)`` (vmaf
    ``AucPerfMetric._metrics_performance``):

    - different/similar: positives ``|ΔOM|`` of the pairs with outcome != 0,
      negatives those with outcome 0; AUC_DS by :func:`delong`;
    - better/worse: B = ``ΔOM * outcome`` over the different pairs (so that
      B > 0 is a correct verdict), W = -B; AUC_BW of B against W;
    - CC0 = (#(B > 0) + #(W < 0)) / (|B| + |W|);
    - THR: 95th percentile of the negatives' ``|ΔOM|`` (numpy's linear
      interpolation, as vmaf);
    - p-values between metrics: :func:`auc_difference_p` for both AUCs,
      :func:`proportion_difference_p` with n = |B| + |W| for CC0.

    Parts without samples (no different or no similar pair) are NaN.
    """
    delta = np.atleast_2d(np.asarray(differences, dtype=float))
    signs = np.asarray(outcome)
    if delta.ndim != 2 or signs.ndim != 1 or delta.shape[1] != signs.size:
        raise KrasulaError(f"differences must be (M, K) and outcome (K,), got {np.shape(differences)} "
                           f"and {signs.shape}")
    if not np.all(np.isin(signs, (-1, 0, 1))):
        raise KrasulaError("outcome must hold only -1, 0 and 1")
    if not np.all(np.isfinite(delta)):
        raise KrasulaError("differences must be finite")
    different, similar = signs != 0, signs == 0
    auc_ds, cov_ds = delong(np.abs(delta[:, different]), np.abs(delta[:, similar]))
    better = delta[:, different] * signs[different]
    auc_bw, cov_bw = delong(better, -better)
    n_classified = 2 * better.shape[1]
    with np.errstate(invalid="ignore"):
        cc0 = ((better > 0).sum(axis=1) + (-better < 0).sum(axis=1)) / n_classified
    thr = (np.percentile(np.abs(delta[:, similar]), THR_PERCENTILE, axis=1) if similar.any()
           else np.full(delta.shape[0], np.nan))
    return KrasulaResult(
        auc_ds=auc_ds, cov_ds=cov_ds, p_ds=_pairwise(delta, lambda i, j: auc_difference_p(auc_ds, cov_ds, i, j)),
        auc_bw=auc_bw, cov_bw=cov_bw, p_bw=_pairwise(delta, lambda i, j: auc_difference_p(auc_bw, cov_bw, i, j)),
        cc0=cc0, p_cc0=_pairwise(delta, lambda i, j: proportion_difference_p(cc0[i], cc0[j], n_classified)),
        thr=thr, n_different=int(different.sum()), n_similar=int(similar.sum()), n_classified=n_classified,
    )


def krasula(votes: Sequence[ArrayLike], scores: ArrayLike, *, test: str = "welch", alpha: float = ALPHA,
            pairs: str = "unordered") -> KrasulaResult:
    """Krasula 2016's measures of metrics from raw votes: :func:`pair_outcomes`, then :func:`krasula_performance`.

    votes: N 1-D arrays of raw votes; scores: (N,) or (M, N), higher is better.
    """
    outcomes = pair_outcomes(votes, test=test, alpha=alpha, pairs=pairs)
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    if matrix.shape[-1] != len(votes):
        raise KrasulaError(f"scores have {matrix.shape[-1]} stimuli, votes {len(votes)}")
    return krasula_performance(score_differences(matrix, outcomes), outcomes.outcome)


def resolving_power(votes: Sequence[ArrayLike], predictions: ArrayLike, *, confidence: float = 0.95,
                    ddof: int = 1, n_bins: int = 10, crossing: str = "last") -> float:
    """The ΔVQM at which viewers' average confidence in the metric's verdict reaches ``confidence``.

    ITU-T J.149 / Pinson & Wolf NTIA TR-09-457 ``vqm_accuracy`` (as ported in
    vmaf's ``ResolvingPowerPerfMetric``). votes: N 1-D arrays of raw votes;
    predictions: (N,) metric values *already mapped to the MOS scale* (so the
    result is in MOS units and comparable between metrics; J.149 fits the
    metric first), higher is better.

    For every pair i < j: ``ΔVQM = |v_j - v_i|`` and
    ``z = (MOS_j - MOS_i) / sqrt(σ_i²/n_i + σ_j²/n_j)``, its sign flipped where
    v_j < v_i, so that Φ(z) is the confidence that the stimulus the metric
    prefers is the better one (σ: standard deviation of the votes with
    ``ddof``; vmaf uses 0, the default here is 1; a zero standard error is
    taken as 1e-8, as in vmaf). Φ(z) is averaged in 2 n_bins - 1 half-open
    windows [low, low + step) of width step = (max - min ΔVQM)/n_bins sliding
    by step/2 (NTIA's "50 % overlap"; the largest ΔVQM falls in none, as in
    the original); empty windows are dropped. The window starts are vmaf's,
    ``numpy.arange(min, max - step, step / 2)`` and then [max - step, max)
    if the last window stops short of the maximum: arange's rounding (it steps
    by ``(min + step/2) - min``) can put a ΔVQM lying exactly on a window edge,
    as with integer predictions, into the window below, and we keep that so as
    to reproduce vmaf's published values. The result, read off the curve of
    window mean against window centre, depends on ``crossing``:

    - ``"last"`` (default): where the piecewise-linear curve last rises
      through ``confidence``, i.e. beyond which it stays above it: the
      NTIA MATLAB search down from the top window; NaN when the curve ends
      below ``confidence`` or never is at or below it;
    - ``"sorted"``: vmaf's ``interp1d(curve, centres)(confidence)``, which
      sorts the windows by their mean and interpolates between the two whose
      means bracket ``confidence``, wherever they lie; NaN outside the range
      of the means.

    The two agree when the curve rises monotonically; with few stimuli it
    often does not. Smaller is better.
    """
    if crossing not in CROSSINGS:
        raise KrasulaError(f"unknown crossing {crossing!r}: choose one of {CROSSINGS}")
    if not 0 < confidence < 1:
        raise KrasulaError(f"confidence must lie in (0, 1), got {confidence}")
    if n_bins < 1:
        raise KrasulaError(f"n_bins must be at least 1, got {n_bins}")
    mos, variance, count = _vote_moments(votes, ddof=ddof)
    vqm = np.asarray(predictions, dtype=float)
    if vqm.shape != mos.shape:
        raise KrasulaError(f"predictions must be (N,) = {mos.shape}, got shape {vqm.shape}")
    if not np.all(np.isfinite(vqm)):
        raise KrasulaError("predictions must be finite")
    first, second = np.triu_indices(mos.size, k=1)
    delta = vqm[second] - vqm[first]
    standard_error = np.sqrt(variance[first] / count[first] + variance[second] / count[second])
    z = (mos[second] - mos[first]) / np.where(standard_error == 0, 1e-8, standard_error)
    z = np.where(delta < 0, -z, z)
    delta = np.abs(delta)
    confidence_of_pair = stats.norm.cdf(z)
    low, high = delta.min(), delta.max()
    step = (high - low) / n_bins
    if step == 0:
        return float("nan")
    lows = np.arange(low, high - step, step / 2)  # vmaf's windows, rounding included (see docstring)
    highs, centres = lows + step, lows + step / 2
    if highs[-1] < high:
        lows, highs, centres = (np.append(lows, high - step), np.append(highs, high),
                                np.append(centres, high - step / 2))
    inside = (delta[None, :] >= lows[:, None]) & (delta[None, :] < highs[:, None])
    counts = inside.sum(axis=1)
    keep = counts > 0
    centres = centres[keep]
    curve = (inside @ confidence_of_pair)[keep] / counts[keep]
    if crossing == "sorted":
        return _sorted_crossing(centres, curve, confidence)
    return _last_upward_crossing(centres, curve, confidence)


def _sorted_crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """x at ``level`` by linear interpolation of x against y sorted by y (stable); NaN outside y's range."""
    if not y.min() <= level <= y.max():
        return float("nan")
    order = np.argsort(y, kind="stable")
    return float(np.interp(level, y[order], x[order]))


def _last_upward_crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """x where the polyline (x, y) last rises through ``level``, linearly interpolated; NaN if none."""
    if y[-1] < level:
        return float("nan")
    at_or_below = np.flatnonzero(y[:-1] <= level)
    if y[-1] == level:
        return float(x[-1])
    if at_or_below.size == 0:
        return float("nan")
    i = at_or_below[-1]
    # y[i] <= level and every later point is above it, so y[i + 1] > y[i]
    return float(x[i] + (level - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))
