"""A study's results: its votes through a subject model, joined to PVSs and metrics.

Selectors (reads only). The numbers come from ``studies.analysis`` (subject
models), ``studies.paired`` (pair-comparison scaling) and ``studies.correlation``
(metric–score statistics); this module gathers the study's rows for them, one
rating dimension at a time, and joins their output back to PVSs. The CCR
means (CMOS per PVS against its SRC, per pair of HRCs: ITU-T P.910 (10/2023),
CCR; P.800 Annex E) are plain means of the oriented votes with their 95 % CIs,
computed here. What a method gives per PVS is ``METHOD_TARGETS``.
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from studies.analysis import NORMAL_Q975, AnalysisResult, VotesError, analyse, dmos
from studies.ccr import HRC_CMOS_COLUMNS, cmos_hrc, cmos_pairs
from studies.correlation import (
    CorrelationError,
    compare_metrics,
    correlation_table,
    fit_logistic,
)
from studies import screening
from studies.evaluation import KRASULA_TESTS, EvaluationError, evaluate_metrics
from studies.krasula import KrasulaError
from studies.methods import get_method
from studies.models import Participant, Stimulus, StimulusRole, Study
from studies.paired import REFERENCE_HRC, scale_pairs
from studies.selectors import (
    PAIR_SCALED_METHODS,
    gold_failures,
    gold_rejections,
    pair_votes_frame,
    resolve_dimension,
    votes_frame,
)

DEFAULT_MODEL = "bt500"
# What each method's analysis gives per PVS, the targets metrics are correlated with, first the default.
# acr-hr: MOS and DMOS (P.910 ACR-HR); dcr: the mean of the 5-point impairment votes, a DMOS by
# construction (stored as ``mos``); ccr: CMOS of the PVS against its SRC, −3..+3; pc: the
# Thurstone/Bradley–Terry scale value of the PVS (studies.paired).
METHOD_TARGETS = {"acr-hr": ("mos", "dmos"), "dcr": ("mos",), "ccr": ("cmos",), "pc": ("scale",)}
TARGETS = ("mos", "dmos", "cmos", "scale")
# What the bootstrap intervals of the correlations resample: PVSs, or SRCs (cluster bootstrap). The default first.
RESAMPLINGS = ("pvs", "src")
_TARGET_LABELS = {
    ("acr-hr", "mos"): "MOS", ("acr-hr", "dmos"): "DMOS (ACR-HR)",
    ("dcr", "mos"): "DMOS (DCR): mean impairment score",
    ("ccr", "cmos"): "CMOS against the SRC (CCR, −3..+3)",
    ("pc", "scale"): "scale value (PC)",
}
# The ranked table's columns, in order (studies.correlation.STATISTICS less RMSE*).
RANKED_STATISTICS = ("plcc", "plcc_linear", "srocc", "krocc", "rmse", "outlier_ratio")
UNKNOWN_FAMILY = "unknown"
CCR_MODEL_VERSION = "faceqa-ccr-cmos/2 (studies.ccr)"


def method_targets(method: str) -> tuple[str, ...]:
    """The targets (per-PVS scores) the analysis of a ``method`` study gives, the default first."""
    return METHOD_TARGETS.get(method, METHOD_TARGETS["acr-hr"])


def target_label(method: str, target: str) -> str:
    """How pages and the dataset card name ``target`` of a ``method`` study (e.g. ``DMOS (DCR): …``)."""
    return _TARGET_LABELS.get((method, target), target.upper())


@dataclass(frozen=True)
class StudyAnalysis:
    """A study's votes on one rating dimension, analysed.

    ``pvs``: one row per test PVS (see ``pvs_table``) with a column per target
    of the method (``targets``, ``METHOD_TARGETS``); ``participants``: one row per
    participant (see ``participant_table``); ``result``: the subject model's own
    output (CCR, PC: the pair scaling's, with no subject bias). ``votes``: the
    votes analysed (``votes_frame``, or ``pair_votes_frame`` for CCR and PC).
    ``pairs``: CCR, CMOS per pair of HRCs; PC, scale value per stimulus (the SRC
    included); empty otherwise. ``simulated`` counts the simulated participants included.
    """

    study: Study
    result: AnalysisResult
    pvs: pd.DataFrame
    participants: pd.DataFrame
    votes: pd.DataFrame
    simulated: int
    include_simulated: bool
    dimension: str = "overall"
    targets: tuple[str, ...] = ("mos", "dmos")
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)


class NoVotesError(VotesError):
    """The study has no votes to analyse yet."""


def study_analysis(study: Study, *, model: str = DEFAULT_MODEL, ci: str = "t",
                   include_simulated: bool = True, dimension: str | None = None) -> StudyAnalysis:
    """Analyse the study's test votes on ``dimension`` (default the primary one), by its method.

    - ACR-HR: ``model`` (``studies.analysis.MODELS``) gives the MOS, ``dmos`` the DMOS.
    - DCR: the 5-point impairment votes of each PVS through ``model``, as
      ``mos`` (a DMOS by construction: the reference is shown first).
    - CCR: per PVS the CMOS against its SRC (``cmos``, −3..+3, from the pairs
      with the SRC, oriented as the PVS rated against the SRC), and the CMOS per
      pair of HRCs (``pairs``); ``model`` does not apply.
    - PC: per stimulus the pair-comparison scale value (``scale``, studies.paired);
      ``model`` does not apply.

    Participants who failed more gold trials than the study allows are
    rejected first (the same ones for every dimension), and, when
    ``study.screening_excludes``, those flagged by the other screening rules
    (``screening_flags``). Consistency repeats are screened, never averaged
    into the MOS. Raises ``NoVotesError`` when there are no votes,
    ``VotesError`` for votes that cannot be analysed, and
    ``UnknownDimensionError`` for a dimension the study does not ask.
    """
    dimension = resolve_dimension(study, dimension)
    if study.method in PAIR_SCALED_METHODS:
        return _pair_analysis(study, model=model, ci=ci, include_simulated=include_simulated, dimension=dimension)
    votes = votes_frame(study, include_simulated=include_simulated, dimension=dimension)
    if votes.empty:
        raise _no_votes(study, include_simulated)
    flags = screening_flags(study, include_simulated=include_simulated)
    result = analyse(votes, model=model, ci=ci, extra_rejected=_rejected(study, include_simulated, flags))
    rejected = result.subjects.loc[result.subjects["rejected"], "subject"]
    # DMOS from hidden references is ACR-HR's; a DCR vote is differential already.
    differential = dmos(votes, ci=ci, rejected=rejected) if study.method == "acr-hr" else None
    return StudyAnalysis(
        study=study, result=result, votes=votes,
        pvs=pvs_table(study, result.scores, differential),
        participants=participant_table(study, result.subjects, include_simulated, flags=flags),
        simulated=int(votes.drop_duplicates("subject")["simulated"].sum()),
        include_simulated=include_simulated, dimension=dimension, targets=method_targets(study.method),
    )


def _rejected(study: Study, include_simulated: bool, flags: dict[str, list[screening.Flag]]) -> dict[str, str]:
    """Participants left out of the analysis, with why: gold failures beyond the study's limit, and
    the screening rules' ``flags`` when the study says they exclude (``Study.screening_excludes``)."""
    rejected = gold_rejections(study, include_simulated=include_simulated)
    if study.screening_excludes:
        rejected.update({subject: screening.describe(found) for subject, found in flags.items()
                         if subject not in rejected})
    return rejected


def _screening_votes(study: Study, include_simulated: bool) -> pd.DataFrame:
    """The test votes the screening rules read, consistency repeats included. Pairs (CCR, PC) are
    screened on the answers as given on the page (a repeat is shown in its first showing's order):
    always pressing one button is straight-lining whichever video came first."""
    if study.method not in PAIR_SCALED_METHODS:
        return votes_frame(study, include_simulated=include_simulated, include_repeats=True)
    votes = pair_votes_frame(study, include_simulated=include_simulated, include_repeats=True)
    method = get_method(study.method)
    return votes.assign(stimulus=votes["stimulus_a"] + " | " + votes["stimulus_b"],
                        vote=[method.canonical_score(int(v), bool(s)) for v, s in zip(votes["vote"], votes["swapped"])])


def screening_flags(study: Study, *, include_simulated: bool = True) -> dict[str, list[screening.Flag]]:
    """Every screening rule's flags per participant (``studies.screening.screen``) on the study's
    test votes, consistency repeats included, and its gold failures."""
    values = get_method(study.method).values
    return screening.screen(_screening_votes(study, include_simulated),
                            gold_failures=gold_failures(study, include_simulated=include_simulated),
                            max_gold_failures=study.gold_max_failures, scale_range=max(values) - min(values))


def _no_votes(study: Study, include_simulated: bool) -> NoVotesError:
    return NoVotesError(f"study {study.name!r} has no votes yet"
                        + ("" if include_simulated else " from people (simulated ones left out)"))


def _ccr_votes(pair_votes: pd.DataFrame) -> pd.DataFrame:
    return pair_votes[["subject", "stimulus_a", "stimulus_b", "vote"]]


def _normal_interval(table: pd.DataFrame, value: str, std: str, ci: str) -> pd.DataFrame:
    """``studies.ccr`` gives Student t intervals; ``ci="normal"`` turns them to ± 1.95996 standard errors."""
    if ci == "normal":
        table = table.assign(ci95_low=table[value] - NORMAL_Q975 * table[std],
                             ci95_high=table[value] + NORMAL_Q975 * table[std])
    return table


def ccr_pvs_cmos(pair_votes: pd.DataFrame, *, ci: str = "t") -> pd.DataFrame:
    """Per PVS, its CMOS against its SRC from canonical CCR pair votes (``pair_votes_frame``).

    ``studies.ccr.cmos_pairs`` on the pairs of a PVS with its SRC (``REF``), each
    turned to "the PVS rated against the SRC" (−3..+3; negative: worse than the
    SRC). Returns ``stimulus`` (``SRC/HRC``), ``n_votes``, ``score``, ``score_std``
    (standard error), ``ci95_low``, ``ci95_high`` (Student t, n−1, or normal with
    ``ci="normal"``); one row per PVS that has such votes.
    """
    columns = ["stimulus", "n_votes", "score", "score_std", "ci95_low", "ci95_high"]
    with_ref = pair_votes[(pair_votes["hrc_a"] == REFERENCE_HRC) ^ (pair_votes["hrc_b"] == REFERENCE_HRC)]
    if with_ref.empty:
        return pd.DataFrame(columns=columns)
    pairs = cmos_pairs(_ccr_votes(with_ref))
    ref_first = pairs["hrc_a"] == REFERENCE_HRC  # then the CMOS is the PVS (b) against the SRC (a)
    table = pd.DataFrame({
        "stimulus": pairs["stimulus_b"].where(ref_first, pairs["stimulus_a"]),
        "n_votes": pairs["n_votes"],
        "score": pairs["cmos"].where(ref_first, -pairs["cmos"]) + 0.0,
        "score_std": pairs["cmos_std"],
        "ci95_low": pairs["ci95_low"].where(ref_first, -pairs["ci95_high"]),
        "ci95_high": pairs["ci95_high"].where(ref_first, -pairs["ci95_low"]),
    })
    return _normal_interval(table, "score", "score_std", ci)[columns]


def ccr_hrc_pairs(pair_votes: pd.DataFrame, *, ci: str = "t") -> pd.DataFrame:
    """CMOS per pair of HRCs from canonical CCR pair votes, pooled over SRCs (``studies.ccr.cmos_hrc``).

    Each pair is named in sorted order of its HRC labels (``REF`` for the SRC) as
    ``hrc_a``, ``hrc_b``, the CMOS being B rated against A (−3..+3; positive: B
    better). Columns ``studies.ccr.HRC_CMOS_COLUMNS``: hrc_a, hrc_b, n_votes,
    n_srcs, n_subjects, cmos, cmos_std (standard error), ci95_low, ci95_high
    (Student t, n−1, or normal with ``ci="normal"``).
    """
    if pair_votes.empty:
        return pd.DataFrame(columns=list(HRC_CMOS_COLUMNS))
    return _normal_interval(cmos_hrc(_ccr_votes(pair_votes)), "cmos", "cmos_std", ci)


def _pair_subjects(votes: pd.DataFrame, rejected: dict[str, str]) -> pd.DataFrame:
    """The subject table of a pair analysis: gold rejections only, no bias or inconsistency."""
    subjects = sorted(votes["subject"].unique())
    return pd.DataFrame({
        "subject": subjects, "rejected": [s in rejected for s in subjects],
        "reason": [rejected.get(s, "") for s in subjects],
        "bias": np.nan, "inconsistency": np.nan,
    })


def _pair_analysis(study: Study, *, model: str, ci: str, include_simulated: bool, dimension: str) -> StudyAnalysis:
    """CCR or PC (see ``study_analysis``)."""
    votes = pair_votes_frame(study, include_simulated=include_simulated, dimension=dimension)
    if votes.empty:
        raise _no_votes(study, include_simulated)
    flags = screening_flags(study, include_simulated=include_simulated)
    rejected = _rejected(study, include_simulated, flags)
    kept = votes[~votes["subject"].isin(rejected)]
    if kept.empty:
        raise VotesError("no votes left once the participants who failed gold trials are removed")
    if study.method == "ccr":
        scores, pairs, version = ccr_pvs_cmos(kept, ci=ci), ccr_hrc_pairs(kept, ci=ci), CCR_MODEL_VERSION
        target = "cmos"
    else:
        scores, pairs, version = pc_scale(kept, ci=ci)
        target = "scale"
    subjects = _pair_subjects(votes, rejected)
    result = AnalysisResult(model=model, model_version=version, ci=ci, scores=scores, subjects=subjects,
                            contents=None)
    return StudyAnalysis(
        study=study, result=result, votes=votes,
        pvs=pvs_table(study, scores, None, target=target),
        participants=participant_table(study, subjects, include_simulated, flags=flags),
        simulated=int(votes.drop_duplicates("subject")["simulated"].sum()),
        include_simulated=include_simulated, dimension=dimension, targets=method_targets(study.method),
        pairs=pairs,
    )


# Preferences added in each direction to every compared pair before PC scaling (studies.paired): keeps
# the scale finite when a PVS won (or lost) every comparison, as small panels often give.
PC_PAIR_MODEL = "thurstone"
PC_PSEUDO_COUNT = 0.5


def pc_scale(pair_votes: pd.DataFrame, *, ci: str = "t") -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Per-stimulus scale values of canonical PC pair votes (``pair_votes_frame``), through
    ``studies.paired.scale_pairs`` (Thurstone Case V, ``PC_PSEUDO_COUNT``; each SRC scaled alone, its
    SRC at 0; unit: SD of the difference of two discriminal processes, 1 = 84 % preference).

    Returns (per stimulus: ``stimulus``, ``n_votes`` (comparisons it took part in), ``score``
    (scale value), ``score_std`` (standard error), ``ci95_low``, ``ci95_high`` (± 1.96 SE, whatever
    ``ci``: the scale's errors are asymptotic); the same with src, hrc, n_preferred and anchor
    for every stimulus, the SRC included; the scaling's version, which names any SRC left out because
    its comparisons do not connect its PVSs yet). Raises ``VotesError``
    (``studies.paired.PairVotesError``) when no SRC can be scaled.
    """
    result = scale_pairs(pair_votes[["subject", "stimulus_a", "stimulus_b", "preferred"]],
                         model=PC_PAIR_MODEL, pseudo_count=PC_PSEUDO_COUNT, skip_unscalable=True)
    scores = result.scores.rename(columns={"n_comparisons": "n_votes"})
    per_stimulus = scores.rename(columns={"scale": "score", "scale_std": "score_std"})
    # An SRC whose comparisons do not yet connect its PVSs is left out, and named where the version shows
    # (StoredAnalysis.model_version holds 100 characters).
    version = f"{result.model_version}; pseudo-count {PC_PSEUDO_COUNT:g}"
    if result.skipped:
        version = f"{version}; not scaled yet: {', '.join(result.skipped)}"[:100]
    return per_stimulus[["stimulus", "n_votes", "score", "score_std", "ci95_low", "ci95_high"]], scores, version


def _stimulus_rows(study: Study) -> pd.DataFrame:
    """One row per PVS the study's test stimuli show (a pair's A and B), in stimulus order."""
    stimuli = Stimulus.objects.filter(study=study, role=StimulusRole.TEST).select_related(
        "source", "pvs__hrc", "companion_pvs__hrc")
    shown = {}
    for s in stimuli:
        for pvs in (s.pvs, s.companion_pvs):
            if pvs is not None:
                shown.setdefault(pvs.pk, (s.source, pvs))
    return pd.DataFrame([
        {
            "stimulus": f"{source.name}/{pvs.hrc.label}", "pvs_id": pvs.pk, "src": source.name, "hrc": pvs.hrc.label,
            "codec": pvs.hrc.codec, "curve": pvs.hrc.curve, "family": pvs.hrc.family or UNKNOWN_FAMILY,
            "rate_point": pvs.hrc.params_key, "kbps": pvs.kbps, "bitstream_bytes": pvs.bitstream_bytes,
        }
        for source, pvs in shown.values()
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


def pvs_table(study: Study, scores: pd.DataFrame, differential: pd.DataFrame | None = None, *,
              target: str = "mos") -> pd.DataFrame:
    """One row per test PVS: stimulus, pvs_id, src, hrc, codec, curve
    (``Hrc.curve``), family (``Hrc.family``, ``unknown`` where blank),
    rate_point, kbps (kbit/s), bitstream_bytes, n_votes, ``<target>``,
    ``<target>_std``, ``<target>_ci95_low/high``, ``<target>_ci95_halfwidth``
    (``target``: ``mos``, ``cmos`` or ``scale``, from ``scores``' score columns), for
    ACR-HR dmos, dmos_ci95_low/high (from ``differential``), then one column per
    metric (sequence value, the metric's unit). A PVS of a pair study is listed
    whether it is the A or the B of its pairs."""
    stimuli = _stimulus_rows(study)
    mos = scores.rename(columns={"score": target, "score_std": f"{target}_std", "ci95_low": f"{target}_ci95_low",
                                 "ci95_high": f"{target}_ci95_high"})
    mos = mos[["stimulus", "n_votes", target, f"{target}_std", f"{target}_ci95_low", f"{target}_ci95_high"]]
    table = stimuli.merge(mos, on="stimulus", how="left")
    if differential is not None:
        diff = differential.rename(columns={"ci95_low": "dmos_ci95_low", "ci95_high": "dmos_ci95_high"})
        table = table.merge(diff[["stimulus", "dmos", "dmos_ci95_low", "dmos_ci95_high"]], on="stimulus", how="left")
    table[f"{target}_ci95_halfwidth"] = (table[f"{target}_ci95_high"] - table[f"{target}_ci95_low"]) / 2
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
    consistency = screening.consistency(_screening_votes(study, include_simulated))
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


def analysis_target(analysis: StudyAnalysis, target: str | None) -> str:
    """``target``, or the analysis's default one when None; ``ValueError`` for one its method does not give."""
    if target is None:
        return analysis.targets[0]
    if target not in analysis.targets:
        raise ValueError(f"a {analysis.study.method} study gives {', '.join(analysis.targets)}, not {target!r}")
    return target


def _clusters(table: pd.DataFrame, resampling: str) -> np.ndarray | None:
    """The SRC of each PVS of ``table`` for a cluster bootstrap (``resampling="src"``), else None."""
    if resampling not in RESAMPLINGS:
        raise ValueError(f"unknown resampling {resampling!r}: choose one of {', '.join(RESAMPLINGS)}")
    return table["src"].to_numpy(dtype=object) if resampling == "src" else None


def correlation_results(analysis: StudyAnalysis, *, target: str | None = None, filters: Filters = Filters(),
                        n_bootstrap: int = 1000, seed: int = 0, resampling: str = "pvs") -> pd.DataFrame:
    """``studies.correlation.correlation_table`` of every metric with values
    against ``target`` (one of ``analysis.targets``, default the first: MOS,
    DCR's mean impairment score, CCR's CMOS or PC's scale value) over the filtered PVSs, ranked.

    ``resampling``: ``"pvs"``, or ``"src"`` for intervals from the cluster bootstrap over SRCs
    (each drawn SRC brings all its PVSs; Davison & Hinkley 1997 §3.8), which needs 2+ SRCs."""
    target = analysis_target(analysis, target)
    table = filters.apply(analysis.pvs).dropna(subset=[target])
    specs = {name: spec.higher_is_better for name, spec in all_metrics().items()
             if name in table and table[name].notna().sum() > 0}
    data = table.assign(target=table[target], halfwidth=_halfwidth(table, target))
    return correlation_table(data, metrics=specs, mos_column="target", ci_column="halfwidth",
                             n_bootstrap=n_bootstrap, seed=seed, clusters=_clusters(table, resampling))


def _halfwidth(table: pd.DataFrame, target: str) -> pd.Series:
    return (table[f"{target}_ci95_high"] - table[f"{target}_ci95_low"]) / 2


def metric_comparisons(analysis: StudyAnalysis, ranking: pd.DataFrame, *, target: str | None = None,
                       filters: Filters = Filters(), n_bootstrap: int = 0, seed: int = 0, resampling: str = "pvs",
                       correction: str | None = None) -> pd.DataFrame:
    """Williams' test (``studies.correlation.compare_metrics``) between every
    pair of ranked metrics whose logistic fit converges; each pair on the
    filtered PVSs that have both metrics (so the r values can differ slightly
    from the ranked table's PLCC where a metric is missing on some PVSs).

    ``n_bootstrap`` > 0 adds the bootstrap interval of r_a − r_b, resampling PVSs or, with
    ``resampling="src"``, SRCs (which needs ``n_bootstrap`` > 0). ``correction="holm"`` adds
    ``p_holm`` (Holm 1979, over every pair of the table) and takes ``significant`` from it."""
    target = analysis_target(analysis, target)
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
    return compare_metrics(predictions, rows[target], n_bootstrap=n_bootstrap, seed=seed,
                           clusters=_clusters(rows, resampling), correction=correction)


# Why a pair-scaled study has no Krasula measures (shown on the dashboard).
KRASULA_NEEDS_SINGLE_STIMULUS = "Krasula's measures need per-stimulus votes; this method's votes are pairs"


def krasula_evaluation(analysis: StudyAnalysis, *, seed: int = 0) -> dict:
    """Krasula et al.'s measures (QoMEX 2016) and the J.149 resolving power of every metric against
    the MOS of a single-stimulus study (ACR-HR, DCR) over all its PVSs, via
    ``studies.evaluation.evaluate_metrics`` (Holm-adjusted tests between metrics).

    Votes: the analysed test votes (``analysis.votes``) of the participants the analysis kept, hidden
    references left out (they have no metric values); the rating scale's units. Scores: each PVS's
    metric values (``analysis.pvs``, the metric's units), matched on the stimulus label ``SRC/HRC``;
    PVSs without a MOS and metrics without a value are left out. Returns a dict:
    ``metrics`` (a frame, per metric: auc_ds, auc_bw with ``_low``/``_high`` 95 % intervals from DeLong's
    variance; cc0, fraction of better/worse pairs the metric orders right; thr, the metric
    difference (metric units) at which the better/worse classification is decided; resolving_power,
    MOS units after the logistic mapping, smaller is better; n_krasula, n_pairs_different,
    n_pairs_similar, note), ``comparisons`` (a frame, per pair: auc_ds, auc_bw, cc0 of each metric with
    ``p_<m>``, ``p_<m>_holm`` and ``significant_<m>`` from the Holm p), ``notes``; or only
    ``message`` when the votes cannot be evaluated (too few votes per stimulus, one stimulus...).
    Pair-scaled studies (CCR, PC) give ``{"message": KRASULA_NEEDS_SINGLE_STIMULUS}``.
    """
    if analysis.study.method in PAIR_SCALED_METHODS:
        return {"message": KRASULA_NEEDS_SINGLE_STIMULUS}
    rejected = analysis.result.subjects.loc[analysis.result.subjects["rejected"], "subject"]
    votes = analysis.votes[(analysis.votes["is_reference"] == 0) & ~analysis.votes["subject"].isin(rejected)]
    pvs = analysis.pvs.dropna(subset=["mos"])
    specs = {name: spec for name, spec in all_metrics().items() if name in pvs and pvs[name].notna().any()}
    if not specs:
        return {"message": "no metric has values on these PVSs"}
    votes = votes[votes["stimulus"].isin(pvs["stimulus"])]
    try:
        # n_bootstrap=1: only Krasula's measures (DeLong intervals) and its tests are kept, not the
        # correlation table's bootstrap intervals, which the ranking has already.
        result = evaluate_metrics(votes[["subject", "stimulus", "vote", "reference"]],
                                  pvs[["stimulus", *specs]],
                                  lower_is_better=[name for name, spec in specs.items() if not spec.higher_is_better],
                                  n_bootstrap=1, seed=seed, correction="holm")
    except (EvaluationError, KrasulaError, CorrelationError) as error:
        return {"message": str(error)}
    metrics = result.metrics[["metric", *KRASULA_METRIC_COLUMNS]]
    pair_columns = [c for c in result.comparisons.columns
                    if c in ("metric_a", "metric_b") or any(m in c for m in KRASULA_TESTS)]
    return {"metrics": metrics, "comparisons": result.comparisons[pair_columns], "notes": list(result.notes)}


# The per-metric columns of ``krasula_evaluation``.
KRASULA_METRIC_COLUMNS = ("auc_ds", "auc_ds_low", "auc_ds_high", "auc_bw", "auc_bw_low", "auc_bw_high", "cc0",
                          "thr", "resolving_power", "n_krasula", "n_pairs_different", "n_pairs_similar", "note")


def correlation_breakdown(analysis: StudyAnalysis, *, target: str | None = None) -> tuple[list[str], list[dict]]:
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
