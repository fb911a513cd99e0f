"""Evaluate objective metrics against raw votes: every statistic FaceQA has, in two tables. Django-free.

Inputs are two long tables, as the ``evaluate_metrics`` command reads them
from CSV:

- votes: one row per vote, columns ``subject``, ``stimulus``, ``vote``
  (rating-scale units, any scale) and optionally ``reference``, the SRC of the
  stimulus. Without ``reference`` the SRC is the part of the stimulus name
  before its first ``/`` (FaceQA names stimuli ``SRC/HRC``; a name without
  ``/`` is its own SRC);
- scores: one row per stimulus, column ``stimulus`` and one column per metric
  (metric units), higher-is-better unless named in ``lower_is_better``.

Per metric (:func:`evaluate_metrics`'s ``metrics`` table): the P.1401
statistics of :mod:`studies.correlation` against the MOS (mean of the votes)
with bootstrap CIs over PVSs or, with ``cluster_bootstrap``, over SRCs; the
Krasula 2016 measures of :mod:`studies.krasula` on the metric's own values
(AUC_DS, AUC_BW with 95 % intervals from DeLong's variance, CC0, THR); and the
resolving power (J.149) of the metric after its logistic mapping, in MOS
units. Per pair of metrics (``comparisons``): Williams' test on PLCC and the
Krasula tests on AUC_DS, AUC_BW and CC0, each family optionally Holm-adjusted.
"""
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from studies import correlation, krasula
from studies.correlation import ALPHA, CorrelationError, compare_metrics, correlation_table, holm, logistic_4

VOTE_COLUMNS = ("subject", "stimulus", "vote")
KRASULA_TESTS = ("auc_ds", "auc_bw", "cc0")  # the Krasula measures compared between metrics
MIN_VOTES = 2  # Krasula's pair test and the resolving power need a variance per stimulus


class EvaluationError(ValueError):
    """Votes or scores that cannot be evaluated; the message says what is wrong."""


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate_metrics` computed.

    metrics: one row per metric (see :func:`evaluate_metrics`); comparisons:
    one row per unordered pair of metrics; stimuli: one row per scored
    stimulus with votes: stimulus, src, n_votes, mos, mos_ci95_halfwidth
    (Student t, NaN for one vote); notes: what was left out and why.
    """

    metrics: pd.DataFrame
    comparisons: pd.DataFrame
    stimuli: pd.DataFrame
    notes: tuple[str, ...]


def src_of(stimulus: str) -> str:
    """The SRC of a FaceQA stimulus name ``SRC/HRC``: the part before the first '/' (all of it without one)."""
    return stimulus.split("/", 1)[0]


def stimulus_table(votes: pd.DataFrame) -> pd.DataFrame:
    """Per stimulus, in order of first appearance: stimulus, src, n_votes, mos, vote_sd, mos_ci95_halfwidth.

    votes: see the module docstring. mos: mean vote; vote_sd: sample standard
    deviation (ddof 1); mos_ci95_halfwidth: ``t(0.975, n - 1) * sd / sqrt(n)``
    (rating-scale units; NaN for a single vote). Raises EvaluationError for
    missing columns, empty names, votes that are not finite numbers, or a
    stimulus with more than one reference.
    """
    return _aggregate(_clean_votes(votes))


def _clean_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Validated long votes: stimulus (str), src (str), vote (float), one row per vote."""
    missing = [column for column in VOTE_COLUMNS if column not in votes.columns]
    if missing:
        raise EvaluationError(f"votes: missing column(s) {', '.join(missing)}; "
                              f"found {', '.join(map(str, votes.columns))}")
    if votes.empty:
        raise EvaluationError("votes: the table is empty")
    frame = pd.DataFrame({"stimulus": _names(votes, "stimulus", "votes"), "vote": _numbers(votes, "vote", "votes")})
    _names(votes, "subject", "votes")
    if "reference" in votes.columns:
        frame["src"] = _names(votes, "reference", "votes")
        conflicting = frame.groupby("stimulus", sort=False)["src"].nunique() > 1
        if conflicting.any():
            raise EvaluationError(f"votes: stimulus {conflicting.index[conflicting][0]!r} has more than one reference")
    else:
        frame["src"] = frame["stimulus"].map(src_of)
    return frame


def _aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    table = frame.groupby("stimulus", sort=False).agg(src=("src", "first"), n_votes=("vote", "size"),
                                                      mos=("vote", "mean"), vote_sd=("vote", "std"))
    dof = table["n_votes"].to_numpy(dtype=float) - 1
    quantile = stats.t.ppf(0.975, np.where(dof > 0, dof, np.nan))
    table["mos_ci95_halfwidth"] = quantile * table["vote_sd"] / np.sqrt(table["n_votes"])
    return table.reset_index()


def _names(frame: pd.DataFrame, column: str, table: str) -> pd.Series:
    values = frame[column]
    text = values.astype(str).str.strip()
    empty = values.isna() | (text == "")
    if empty.any():
        raise EvaluationError(f"{table}: empty {column} in {int(empty.sum())} row(s), e.g. data row "
                              f"{int(np.flatnonzero(empty)[0]) + 1}")
    return text.reset_index(drop=True)


def _numbers(frame: pd.DataFrame, column: str, table: str, *, finite: bool = True) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    bad = values.isna() & frame[column].notna() if not finite else ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EvaluationError(f"{table}: {column} is not a {'finite ' if finite else ''}number in "
                              f"{int(bad.sum())} row(s), e.g. data row {row + 1}: {frame[column].iloc[row]!r}")
    return values.reset_index(drop=True)


def _score_table(scores: pd.DataFrame, lower_is_better: Collection[str]) -> tuple[pd.DataFrame, dict[str, bool]]:
    """Validated scores (stimulus: str, one float column per metric, NaN where missing) and name -> higher_is_better."""
    if "stimulus" not in scores.columns:
        raise EvaluationError(f"scores: missing column stimulus; found {', '.join(map(str, scores.columns))}")
    names = [str(column) for column in scores.columns if column != "stimulus"]
    if not names:
        raise EvaluationError("scores: no metric columns besides stimulus")
    unknown = sorted(set(lower_is_better) - set(names))
    if unknown:
        raise EvaluationError(f"lower-is-better metric(s) {', '.join(unknown)} are not columns of scores "
                              f"({', '.join(names)})")
    table = pd.DataFrame({"stimulus": _names(scores, "stimulus", "scores")})
    duplicated = table["stimulus"].duplicated()
    if duplicated.any():
        raise EvaluationError(f"scores: stimulus {table['stimulus'][duplicated].iloc[0]!r} has more than one row")
    for column, name in zip([c for c in scores.columns if c != "stimulus"], names, strict=True):
        table[name] = _numbers(scores, column, "scores", finite=False)
    return table, {name: name not in set(lower_is_better) for name in names}


def evaluate_metrics(votes: pd.DataFrame, scores: pd.DataFrame, *, lower_is_better: Collection[str] = (),
                     n_bootstrap: int = 1000, seed: int = 0, cluster_bootstrap: bool = False,
                     correction: str | None = None, pair_test: str = "welch",
                     alpha: float = ALPHA) -> Evaluation:
    """Evaluate every metric column of ``scores`` against the ``votes`` (see the module docstring).

    Every scored stimulus must have votes (EvaluationError otherwise); voted
    stimuli without scores are left out (said in ``notes``). A metric's
    missing (empty or NaN) scores drop those stimuli for that metric.
    Krasula's measures and the resolving power use the stimuli with at least
    ``MIN_VOTES`` votes; ``pair_test`` and ``alpha`` decide which pairs
    differ (:func:`studies.krasula.pair_outcomes`). Bootstrap intervals:
    ``n_bootstrap`` resamples from ``seed``, of PVSs or (``cluster_bootstrap``)
    of SRCs. correction: None or "holm", applied per test family over the
    pairs of metrics.

    ``metrics`` columns: metric, higher_is_better, rank (by PLCC), n, then
    value, ``_low``, ``_high`` for plcc, plcc_linear, srocc, krocc, rmse,
    rmse_star, outlier_ratio (:func:`studies.correlation.correlation_table`),
    auc_ds, auc_bw (intervals from DeLong's variance); cc0 (fraction), thr
    (metric units), resolving_power (MOS units, after the logistic mapping),
    n_krasula (stimuli), n_pairs_different, n_pairs_similar, bootstrap
    ("pvs" or "src"), fit (logistic (b1, b2, b3, b4)), note.

    ``comparisons`` columns: metric_a, metric_b (r_a >= r_b), n, r_a, r_b,
    r_ab, r_diff, r_diff_low, r_diff_high (bootstrap of r_a - r_b), t,
    p_williams, [p_williams_holm], significant_williams (metric_a has the
    higher PLCC at 0.05); then for each of auc_ds, auc_bw, cc0: ``<m>_a``,
    ``<m>_b``, ``p_<m>``, [``p_<m>_holm``], ``significant_<m>`` (the two
    metrics differ at 0.05, two-sided), on the stimuli both metrics scored.
    """
    if correction not in correlation.CORRECTIONS:
        raise EvaluationError(f"unknown correction {correction!r}: choose one of {correlation.CORRECTIONS}")
    if pair_test not in krasula.PAIR_TESTS:
        raise EvaluationError(f"unknown pair test {pair_test!r}: choose one of {krasula.PAIR_TESTS}")
    if n_bootstrap < 1:
        raise EvaluationError(f"n_bootstrap must be at least 1, got {n_bootstrap}")
    clean = _clean_votes(votes)
    stimuli = _aggregate(clean)
    scored, directions = _score_table(scores, lower_is_better)
    unknown = ~scored["stimulus"].isin(stimuli["stimulus"])
    if unknown.any():
        examples = ", ".join(repr(name) for name in scored["stimulus"][unknown].head(5))
        raise EvaluationError(f"{int(unknown.sum())} stimulus/stimuli in scores have no votes, e.g. {examples}")
    notes = []
    unscored = int((~stimuli["stimulus"].isin(scored["stimulus"])).sum())
    if unscored:
        notes.append(f"{unscored} voted stimuli have no scores and are left out")
    data = scored.merge(stimuli, on="stimulus", how="left", validate="one_to_one")
    few = data["n_votes"] < MIN_VOTES
    if few.any():
        notes.append(f"{int(few.sum())} stimuli with fewer than {MIN_VOTES} votes are left out of the Krasula "
                     "measures and the resolving power")
    votes_by_stimulus = clean.groupby("stimulus")["vote"]
    vote_arrays = [votes_by_stimulus.get_group(name).to_numpy() for name in data["stimulus"]]
    clusters = data["src"].to_numpy() if cluster_bootstrap else None
    try:
        table = correlation_table(data, metrics=directions, mos_column="mos", ci_column="mos_ci95_halfwidth",
                                  n_bootstrap=n_bootstrap, seed=seed, clusters=clusters)
    except CorrelationError as error:
        raise EvaluationError(str(error)) from error
    pairs = _PairCache(vote_arrays, pair_test=pair_test, alpha=alpha)
    usable = (~few).to_numpy()
    rows = [_krasula_row(data, name, directions[name], fit, usable, pairs, vote_arrays)
            for name, fit in zip(table["metric"], table["fit"], strict=True)]
    metrics = table.drop(columns="note").merge(pd.DataFrame(rows), on="metric", how="left")
    metrics.insert(1, "higher_is_better", metrics["metric"].map(directions))
    metrics["bootstrap"] = "src" if cluster_bootstrap else "pvs"
    metrics["note"] = [
        "; ".join(part for part in (table_note, krasula_note) if isinstance(part, str) and part)
        for table_note, krasula_note in zip(table["note"], metrics.pop("krasula_note"), strict=True)
    ]
    metrics = metrics[[column for column in metrics.columns if column not in ("fit", "note")] + ["fit", "note"]]
    comparisons, left_out = _comparisons(data, directions, table, usable, pairs, n_bootstrap=n_bootstrap,
                                         seed=seed, clusters=clusters, correction=correction)
    if left_out:
        notes.append(f"left out of the comparisons (no converged logistic fit): {', '.join(left_out)}")
    return Evaluation(metrics=metrics, comparisons=comparisons,
                      stimuli=data[["stimulus", "src", "n_votes", "mos", "mos_ci95_halfwidth"]],
                      notes=tuple(notes))


class _PairCache:
    """Pair outcomes of a subset of stimuli (a boolean mask over the scored stimuli), computed once per subset."""

    def __init__(self, vote_arrays: list[np.ndarray], *, pair_test: str, alpha: float):
        self.vote_arrays, self.pair_test, self.alpha = vote_arrays, pair_test, alpha
        self.cache: dict[bytes, krasula.PairOutcomes] = {}

    def __call__(self, mask: np.ndarray) -> krasula.PairOutcomes:
        key = np.packbits(mask).tobytes() + mask.size.to_bytes(8, "little")
        if key not in self.cache:
            chosen = [votes for votes, keep in zip(self.vote_arrays, mask, strict=True) if keep]
            try:
                self.cache[key] = krasula.pair_outcomes(chosen, test=self.pair_test, alpha=self.alpha)
            except krasula.KrasulaError as error:
                raise EvaluationError(str(error)) from error
        return self.cache[key]


def _oriented(data: pd.DataFrame, name: str, higher_is_better: bool) -> np.ndarray:
    values = data[name].to_numpy(dtype=float)
    return values if higher_is_better else -values


def _krasula_row(data: pd.DataFrame, name: str, higher_is_better: bool, fit, usable: np.ndarray,
                 pairs: _PairCache, vote_arrays: list[np.ndarray]) -> dict:
    """Krasula measures and resolving power of one metric; NaN with a reason where undefined."""
    row = {"metric": name, "krasula_note": ""}
    values = _oriented(data, name, higher_is_better)
    mask = usable & np.isfinite(values)
    row["n_krasula"] = int(mask.sum())
    if mask.sum() < 2:
        row["krasula_note"] = f"Krasula measures need 2 stimuli with {MIN_VOTES}+ votes and a score"
        return row
    outcomes = pairs(mask)
    result = krasula.krasula_performance(krasula.score_differences(values[mask], outcomes), outcomes.outcome)
    for measure in ("ds", "bw"):
        low, high = result.auc_interval(measure, 0)
        row |= {f"auc_{measure}": getattr(result, f"auc_{measure}")[0],
                f"auc_{measure}_low": low, f"auc_{measure}_high": high}
    row |= {"cc0": result.cc0[0], "thr": result.thr[0], "n_pairs_different": result.n_different,
            "n_pairs_similar": result.n_similar}
    if not isinstance(fit, list):
        row["resolving_power"] = np.nan
        row["krasula_note"] = "no resolving power without a converged logistic fit"
    else:
        mapped = logistic_4(data[name].to_numpy(dtype=float)[mask], *fit)
        chosen = [votes for votes, keep in zip(vote_arrays, mask, strict=True) if keep]
        row["resolving_power"] = krasula.resolving_power(chosen, mapped)
    return row


def _comparisons(data: pd.DataFrame, directions: dict[str, bool], table: pd.DataFrame, usable: np.ndarray,
                 pairs: _PairCache, *, n_bootstrap: int, seed: int, clusters, correction) -> tuple[pd.DataFrame, list]:
    """Williams' test on PLCC and Krasula's tests for every pair of metrics with a converged fit."""
    fits = dict(zip(table["metric"], table["fit"], strict=True))
    predictions = {name: logistic_4(data[name].to_numpy(dtype=float), *fit)
                   for name, fit in fits.items() if isinstance(fit, list)}
    left_out = [name for name, fit in fits.items() if not isinstance(fit, list)]
    try:
        williams = compare_metrics(predictions, data["mos"], n_bootstrap=n_bootstrap, seed=seed,
                                   clusters=clusters, correction=correction)
    except CorrelationError as error:
        raise EvaluationError(str(error)) from error
    williams = williams.rename(columns={"p": "p_williams", "p_holm": "p_williams_holm",
                                        "significant": "significant_williams"})
    extra = []
    for name_a, name_b in zip(williams["metric_a"], williams["metric_b"], strict=True):
        a, b = _oriented(data, name_a, directions[name_a]), _oriented(data, name_b, directions[name_b])
        mask = usable & np.isfinite(a) & np.isfinite(b)
        row = {}
        if mask.sum() >= 2:
            outcomes = pairs(mask)
            result = krasula.krasula_performance(
                krasula.score_differences(np.vstack([a[mask], b[mask]]), outcomes), outcomes.outcome)
            for measure in KRASULA_TESTS:
                values, p = getattr(result, measure), getattr(result, f"p_{measure.replace('auc_', '')}")
                row |= {f"{measure}_a": values[0], f"{measure}_b": values[1], f"p_{measure}": p[0, 1]}
        extra.append(row)
    columns = [f"{prefix}{measure}{suffix}" for measure in KRASULA_TESTS
               for prefix, suffix in (("", "_a"), ("", "_b"), ("p_", ""))]
    comparisons = pd.concat([williams, pd.DataFrame(extra, columns=columns, index=williams.index)], axis=1)
    for measure in KRASULA_TESTS:
        p = comparisons[f"p_{measure}"].to_numpy(dtype=float)
        decided = p
        if correction == "holm":
            decided = holm(p)
            comparisons[f"p_{measure}_holm"] = decided
        comparisons[f"significant_{measure}"] = decided < ALPHA
        order = [f"{measure}_a", f"{measure}_b", f"p_{measure}",
                 *([f"p_{measure}_holm"] if correction == "holm" else []), f"significant_{measure}"]
        comparisons = comparisons[[c for c in comparisons.columns if c not in order] + order]
    return comparisons, left_out
