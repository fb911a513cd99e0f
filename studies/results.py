"""A study's results: its votes through a subject model, joined to PVSs and metrics.

Selectors (reads only). The numbers come from ``studies.analysis`` (subject
models) and ``studies.correlation`` (metric–MOS statistics); this module only
gathers the study's rows for them and joins their output back to PVSs.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from studies.analysis import AnalysisResult, VotesError, analyse, dmos
from studies.correlation import (
    CorrelationError,
    compare_metrics,
    correlation_table,
    fit_logistic,
)
from studies import screening
from studies.methods import get_method
from studies.models import Participant, Stimulus, StimulusRole, Study
from studies.selectors import gold_failures, gold_rejections, votes_frame

DEFAULT_MODEL = "bt500"
TARGETS = ("mos", "dmos")
# The ranked table's columns, in order (studies.correlation.STATISTICS less RMSE*).
RANKED_STATISTICS = ("plcc", "plcc_linear", "srocc", "krocc", "rmse", "outlier_ratio")
UNKNOWN_FAMILY = "unknown"


@dataclass(frozen=True)
class StudyAnalysis:
    """A study's votes analysed by one subject model.

    ``pvs``: one row per test PVS (see ``pvs_table``); ``participants``: one
    row per participant (see ``participant_table``); ``result``: the model's
    own output. ``simulated`` counts the simulated participants included.
    """

    study: Study
    result: AnalysisResult
    pvs: pd.DataFrame
    participants: pd.DataFrame
    votes: pd.DataFrame
    simulated: int
    include_simulated: bool


class NoVotesError(VotesError):
    """The study has no votes to analyse yet."""


def study_analysis(study: Study, *, model: str = DEFAULT_MODEL, ci: str = "t",
                   include_simulated: bool = True) -> StudyAnalysis:
    """Analyse the study's test votes with ``model`` (``studies.analysis.MODELS``).

    Participants who failed more gold trials than the study allows are
    rejected before the model runs, and, when ``study.screening_excludes``,
    those flagged by the other screening rules (``screening_flags``).
    Consistency repeats are screened, never averaged into the MOS. Raises
    ``NoVotesError`` when there are no votes and ``VotesError`` for votes the
    model cannot use.
    """
    votes = votes_frame(study, include_simulated=include_simulated)
    if votes.empty:
        raise NoVotesError(f"study {study.name!r} has no votes yet"
                           + ("" if include_simulated else " from people (simulated ones left out)"))
    rejected = gold_rejections(study, include_simulated=include_simulated)
    flags = screening_flags(study, include_simulated=include_simulated)
    if study.screening_excludes:
        rejected.update({subject: screening.describe(found) for subject, found in flags.items()
                         if subject not in rejected})
    result = analyse(votes, model=model, ci=ci, extra_rejected=rejected)
    rejected = result.subjects.loc[result.subjects["rejected"], "subject"]
    differential = dmos(votes, ci=ci, rejected=rejected)
    return StudyAnalysis(
        study=study, result=result, votes=votes,
        pvs=pvs_table(study, result.scores, differential),
        participants=participant_table(study, result.subjects, include_simulated, flags=flags),
        simulated=int(votes.drop_duplicates("subject")["simulated"].sum()),
        include_simulated=include_simulated,
    )


def screening_flags(study: Study, *, include_simulated: bool = True) -> dict[str, list[screening.Flag]]:
    """Every screening rule's flags per participant (``studies.screening.screen``) on the study's
    test votes, consistency repeats included, and its gold failures."""
    votes = votes_frame(study, include_simulated=include_simulated, include_repeats=True)
    values = get_method(study.method).values
    return screening.screen(votes, gold_failures=gold_failures(study, include_simulated=include_simulated),
                            max_gold_failures=study.gold_max_failures, scale_range=max(values) - min(values))


def _stimulus_rows(study: Study) -> pd.DataFrame:
    stimuli = Stimulus.objects.filter(study=study, role=StimulusRole.TEST, pvs__isnull=False)
    return pd.DataFrame([
        {
            "stimulus": s.label, "pvs_id": s.pvs_id, "src": s.source.name, "hrc": s.pvs.hrc.label,
            "codec": s.pvs.hrc.codec, "curve": s.pvs.hrc.curve, "family": s.pvs.hrc.family or UNKNOWN_FAMILY,
            "rate_point": s.pvs.hrc.params_key, "kbps": s.pvs.kbps, "bitstream_bytes": s.pvs.bitstream_bytes,
        }
        for s in stimuli.select_related("source", "pvs__hrc")
    ], columns=["stimulus", "pvs_id", "src", "hrc", "codec", "curve", "family", "rate_point", "kbps",
                "bitstream_bytes"])


def metric_values(pvs_ids: list[int]) -> pd.DataFrame:
    """Sequence values of every registered metric, one column per metric (NaN
    where the metric is unavailable or failed), indexed by PVS id."""
    rows = MetricResult.objects.filter(pvs_id__in=pvs_ids, status=MetricStatus.OK).values_list(
        "pvs_id", "metric", "value")
    frame = pd.DataFrame(list(rows), columns=["pvs_id", "metric", "value"])
    wide = frame.pivot(index="pvs_id", columns="metric", values="value") if len(frame) else pd.DataFrame()
    return wide.reindex(index=pvs_ids, columns=list(all_metrics()))


def pvs_table(study: Study, scores: pd.DataFrame, differential: pd.DataFrame) -> pd.DataFrame:
    """One row per test PVS: stimulus, pvs_id, src, hrc, codec, curve
    (``Hrc.curve``), family (``Hrc.family``, ``unknown`` where blank),
    rate_point, kbps (kbit/s), bitstream_bytes, n_votes, mos, mos_std,
    mos_ci95_low/high, mos_ci95_halfwidth, dmos, dmos_ci95_low/high, then one
    column per metric (sequence value, the metric's unit)."""
    stimuli = _stimulus_rows(study)
    mos = scores.rename(columns={"score": "mos", "score_std": "mos_std", "ci95_low": "mos_ci95_low",
                                 "ci95_high": "mos_ci95_high"})
    mos = mos[["stimulus", "n_votes", "mos", "mos_std", "mos_ci95_low", "mos_ci95_high"]]
    diff = differential.rename(columns={"ci95_low": "dmos_ci95_low", "ci95_high": "dmos_ci95_high"})
    table = stimuli.merge(mos, on="stimulus", how="left").merge(
        diff[["stimulus", "dmos", "dmos_ci95_low", "dmos_ci95_high"]], on="stimulus", how="left")
    table["mos_ci95_halfwidth"] = (table["mos_ci95_high"] - table["mos_ci95_low"]) / 2
    metrics = metric_values(table["pvs_id"].tolist()).reset_index(drop=True)
    return pd.concat([table.reset_index(drop=True), metrics], axis=1).sort_values(["src", "codec", "kbps"])


def participant_table(study: Study, subjects: pd.DataFrame, include_simulated: bool,
                      flags: dict[str, list[screening.Flag]] | None = None) -> pd.DataFrame:
    """One row per participant: subject (anonymous id), platform, simulated,
    completed, votes, gold_failures, rejected, reason, flags (every screening
    rule's finding as one line, ``studies.screening``; empty: none),
    consistency (mean absolute difference of repeated votes, scale points;
    empty without repeats), bias, inconsistency,
    device_pixel_ratio, window and screen (CSS px), framed (shown inside a
    crowd platform's frame), zoom_estimate (empty when framed: not measurable
    there), refresh_hz (measured), device_class, median_watch_seconds."""
    participants = Participant.objects.filter(study=study)
    if not include_simulated:
        participants = participants.filter(is_simulated=False)
    failures = gold_failures(study, include_simulated=include_simulated)
    if flags is None:
        flags = screening_flags(study, include_simulated=include_simulated)
    consistency = screening.consistency(votes_frame(study, include_simulated=include_simulated,
                                                    include_repeats=True))
    fitted = subjects.set_index("subject")
    rows = []
    for p in participants.prefetch_related("trials__vote"):
        votes = [t.vote for t in p.trials.all() if hasattr(t, "vote")]
        watch = [v.watch_seconds for v in votes if v.watch_seconds is not None]
        row = fitted.loc[p.anonymous_id] if p.anonymous_id in fitted.index else None
        rows.append({
            "subject": p.anonymous_id, "platform": p.platform, "simulated": p.is_simulated,
            "completed": p.completed_at is not None, "votes": len(votes),
            "gold_failures": len(failures.get(p.anonymous_id, [])),
            "rejected": bool(row["rejected"]) if row is not None else False,
            "reason": row["reason"] if row is not None else "no test votes yet",
            "flags": screening.describe(flags.get(p.anonymous_id, [])),
            "consistency": float(consistency[p.anonymous_id]) if p.anonymous_id in consistency.index else np.nan,
            "bias": row["bias"] if row is not None else np.nan,
            "inconsistency": row["inconsistency"] if row is not None else np.nan,
            "device_pixel_ratio": p.viewing.get("device_pixel_ratio"),
            "window": f"{p.viewing['window_width']:.0f}x{p.viewing['window_height']:.0f}" if p.viewing else "",
            "screen": f"{p.viewing['screen_width']:.0f}x{p.viewing['screen_height']:.0f}" if p.viewing else "",
            "framed": bool(p.viewing.get("framed")),
            "zoom_estimate": p.viewing.get("zoom_estimate"),
            "refresh_hz": p.viewing.get("refresh_hz"),
            "device_class": p.viewing.get("device_class", ""),
            "median_watch_seconds": float(np.median(watch)) if watch else np.nan,
        })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Filters:
    """Which PVSs a view looks at; empty = all."""

    family: str = ""
    codec: str = ""
    src: str = ""

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        for column in ("family", "codec", "src"):
            if getattr(self, column):
                table = table[table[column] == getattr(self, column)]
        return table


def correlation_results(analysis: StudyAnalysis, *, target: str = "mos", filters: Filters = Filters(),
                        n_bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``studies.correlation.correlation_table`` of every metric with values
    against ``target`` (``mos`` or ``dmos``) over the filtered PVSs, ranked."""
    table = filters.apply(analysis.pvs).dropna(subset=[target])
    specs = {name: spec.higher_is_better for name, spec in all_metrics().items()
             if name in table and table[name].notna().sum() > 0}
    data = table.assign(target=table[target], halfwidth=_halfwidth(table, target))
    return correlation_table(data, metrics=specs, mos_column="target", ci_column="halfwidth",
                             n_bootstrap=n_bootstrap, seed=seed)


def _halfwidth(table: pd.DataFrame, target: str) -> pd.Series:
    return (table[f"{target}_ci95_high"] - table[f"{target}_ci95_low"]) / 2


def metric_comparisons(analysis: StudyAnalysis, ranking: pd.DataFrame, *, target: str = "mos",
                       filters: Filters = Filters()) -> pd.DataFrame:
    """Williams' test (``studies.correlation.compare_metrics``) between every
    pair of ranked metrics whose logistic fit converges; each pair on the
    filtered PVSs that have both metrics (so the r values can differ slightly
    from the ranked table's PLCC where a metric is missing on some PVSs)."""
    rows = filters.apply(analysis.pvs).dropna(subset=[target])
    specs = all_metrics()
    predictions = {}
    for name in ranking.loc[ranking["plcc"].notna(), "metric"]:
        have = rows[name].notna()
        try:
            fit = fit_logistic(rows.loc[have, name], rows.loc[have, target],
                               higher_is_better=specs[name].higher_is_better)
        except CorrelationError:
            continue
        if fit.converged:
            predictions[name] = np.where(have, fit.predict(rows[name].fillna(0.0)), np.nan)
    return compare_metrics(predictions, rows[target])


def correlation_breakdown(analysis: StudyAnalysis, *, target: str = "mos") -> tuple[list[str], list[dict]]:
    """PLCC (after mapping) and SROCC of every metric on each subset of PVSs:
    all, each codec family, each codec, because metrics behave differently on
    generative artefacts. Point estimates only (one resample, its interval
    ignored): the dashboard filtered to a subset gives its bootstrap CIs.

    Returns (subset labels, one dict per metric: ``metric`` and, per subset,
    ``(plcc, srocc, n)`` or None where the subset has too few PVSs).
    """
    pvs = analysis.pvs
    subsets = ([("all", Filters())] + [(f, Filters(family=f)) for f in sorted(pvs["family"].unique())]
               + [(c, Filters(codec=c)) for c in sorted(pvs["codec"].unique())])
    cells: dict[str, dict[str, tuple | None]] = {}
    for label, subset in subsets:
        ranking = correlation_results(analysis, target=target, filters=subset, n_bootstrap=1)
        for row in ranking.itertuples():
            value = None if pd.isna(row.plcc) and pd.isna(row.srocc) else (row.plcc, row.srocc, row.n)
            cells.setdefault(row.metric, {})[label] = value
    labels = [label for label, _ in subsets]
    return labels, [{"metric": m, "cells": [cells[m].get(label) for label in labels]} for m in cells]
