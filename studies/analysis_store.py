"""Stored analyses: a study's scores, screening and metric correlations,
computed by the analysis job and read by the researcher pages.

The pages never compute. The job (``analyses_compute`` run by the Celery task
``studies.analyse`` on the ``cpu`` queue, one step of the job lifecycle of
``qa_platform.core.lifecycle``) recomputes every ``StoredAnalysis``
row of the study and every ``StoredCorrelation`` row under it:

- always the default options (``DEFAULT_OPTIONS``: the default subject model,
  Student-t CIs, simulated participants included) for every rating dimension
  of the study, each with every target of the study's method
  (``studies.results.METHOD_TARGETS``: ACR-HR MOS and DMOS, DCR its mean
  impairment score, CCR the CMOS, PC the scale value) over all PVSs, which is
  what the pages show first;
- plus every other option set or subset (dimension, model, CI, people only,
  target, codec family, codec, SRC, intervals resampling SRCs instead of PVSs)
  a researcher asked for from a page (``analysis_request``); such a row is kept
  and recomputed with the others.

Williams' tests are always stored with their Holm-adjusted p-values too (a page
chooses which decides, ``shown_comparisons``). For the MOS over all PVSs of an
ACR-HR or DCR study, a correlation row also stores Krasula et al.'s measures and
the resolving power (``studies.results.krasula_evaluation``).

A vote schedules a run ``RECOMPUTE_DELAY_SECONDS`` later (``analyses_schedule``);
the votes that come while that run waits join it. A stored row records the
study's vote count when it was computed, so a page can say that newer votes
exist (``is_stale``).
"""
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from qa_platform.core import lifecycle
from qa_platform.core.models import JobStatus
from studies.analysis import CI_METHODS, MODELS, VotesError
from studies.correlation import ALPHA, CorrelationError
from studies.jobs import send_on_commit
from studies.models import AnalysisJob, StoredAnalysis, StoredCorrelation, Study, Vote
from studies.results import (
    DEFAULT_MODEL,
    Filters,
    StudyAnalysis,
    correlation_breakdown,
    correlation_results,
    krasula_evaluation,
    method_targets,
    metric_comparisons,
    study_analysis,
)
from studies.selectors import UnknownDimensionError, dimension_keys, resolve_dimension
from studies.versions import code_version, package_version

TASK = "studies.analyse"
RECOMPUTE_DELAY_SECONDS = 30


@dataclass(frozen=True)
class AnalysisOptions:
    """Which analysis: subject ``model`` (``studies.analysis.MODELS``), ``ci``
    method (``CI_METHODS``), whether simulated participants count, and the
    rating ``dimension`` (a ``Study.dimensions`` key; empty: the study's primary one)."""

    model: str = DEFAULT_MODEL
    ci: str = "t"
    include_simulated: bool = True
    dimension: str = ""

    def __post_init__(self):
        if self.model not in MODELS or self.ci not in CI_METHODS:
            raise ValueError(f"unknown model {self.model!r} or CI method {self.ci!r}")


DEFAULT_OPTIONS = AnalysisOptions()


def _json_safe(value):
    """``value`` with NaN and infinities as None and numpy scalars as Python ones (for a JSONField)."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return _json_safe(frame.astype(object).where(frame.notna(), None).to_dict("records"))


def study_vote_count(study: Study) -> int:
    """Every vote of the study (test, training, trap; people and simulated)."""
    return Vote.objects.filter(trial__participant__study=study).count()


# A stored analysis whose votes the subject model could not use: ``message`` says why.
NO_RESULT = {"n_votes": 0, "simulated": 0, "model_version": "", "pvs": [], "participants": [], "breakdown": {},
             "pairs": []}


def _analysis_fields(analysis: StudyAnalysis) -> dict:
    return {
        "message": "", "n_votes": len(analysis.votes), "simulated": analysis.simulated,
        "model_version": analysis.result.model_version, "pvs": _records(analysis.pvs),
        "participants": _records(analysis.participants), "pairs": _records(analysis.pairs),
        "breakdown": {target: _json_safe(dict(zip(("labels", "rows"), correlation_breakdown(analysis, target=target))))
                      for target in analysis.targets},
    }


def _fill_correlation(row: StoredCorrelation, analysis: StudyAnalysis | None, n_bootstrap: int) -> None:
    """Compute ``row``: the ranking and Williams' tests (always with Holm's ``p_holm``; with SRC
    resampling the bootstrap interval of r_a − r_b too) and, for the MOS over all PVSs, Krasula's measures."""
    row.ranking, row.comparisons, row.krasula, row.n_bootstrap = [], [], {}, n_bootstrap
    if analysis is not None and row.target in analysis.targets:
        filters = Filters(family=row.family, codec=row.codec, src=row.src)
        by_src = row.resampling == StoredCorrelation.Resampling.SRC
        ranking = correlation_results(analysis, target=row.target, filters=filters, n_bootstrap=n_bootstrap,
                                      resampling=row.resampling)
        row.ranking = _records(ranking)
        try:
            comparisons = metric_comparisons(analysis, ranking, target=row.target, filters=filters,
                                             n_bootstrap=n_bootstrap if by_src else 0, resampling=row.resampling,
                                             correction="holm")
        except CorrelationError:  # e.g. a pair's PVSs all from one SRC: no SRC resampling possible
            comparisons = pd.DataFrame()
        row.comparisons = _records(comparisons)
        if row.target == "mos" and filters == Filters():
            row.krasula = _json_safe({key: _records(value) if isinstance(value, pd.DataFrame) else value
                                      for key, value in krasula_evaluation(analysis).items()})
    row.computed_at = timezone.now()


def _ensure_defaults(study: Study) -> None:
    for dimension in dimension_keys(study):
        row, _ = StoredAnalysis.objects.get_or_create(
            study=study, dimension=dimension, model=DEFAULT_OPTIONS.model, ci=DEFAULT_OPTIONS.ci,
            include_simulated=DEFAULT_OPTIONS.include_simulated)
        for target in method_targets(study.method):
            StoredCorrelation.objects.get_or_create(analysis=row, target=target, family="", codec="", src="",
                                                    resampling=StoredCorrelation.Resampling.PVS)


def analyses_compute(*, study: Study, n_bootstrap: int | None = None) -> list[StoredAnalysis]:
    """Compute and store every analysis of ``study`` and every correlation under it (see the module docstring).

    ``n_bootstrap``: bootstrap resamples of the correlation CIs (default
    ``settings.FACEQA_BOOTSTRAP_RESAMPLES``). Votes the subject model cannot
    use (none yet, none from people) are stored as the row's ``message``,
    not raised. Returns the rows stored.
    """
    n_bootstrap = n_bootstrap or settings.FACEQA_BOOTSTRAP_RESAMPLES
    _ensure_defaults(study)
    versions = {"sureal": package_version("sureal"), "numpy": np.__version__, "scipy": package_version("scipy"),
                "faceqa": code_version()}
    rows = list(study.analyses.all())
    for row in rows:
        votes = study_vote_count(study)  # before reading them: a vote that comes later makes the row stale
        try:
            analysis = study_analysis(study, model=row.model, ci=row.ci, include_simulated=row.include_simulated,
                                      dimension=row.dimension)
        except (VotesError, UnknownDimensionError) as error:
            analysis, fields = None, {**NO_RESULT, "message": str(error)}
        else:
            fields = _analysis_fields(analysis)
        correlations = list(row.correlations.all())
        for correlation in correlations:
            _fill_correlation(correlation, analysis, n_bootstrap)
        with transaction.atomic():  # a page sees the analysis and its correlations of one run
            for name, value in {**fields, "study_votes": votes, "versions": versions,
                                "computed_at": timezone.now()}.items():
                setattr(row, name, value)
            row.save()
            for correlation in correlations:
                correlation.save()
    return rows


def analyses_schedule(*, study: Study, countdown: float = RECOMPUTE_DELAY_SECONDS, force: bool = False) -> AnalysisJob:
    """Queue the study's analysis job (task ``studies.analyse``, a step of the job lifecycle,
    ``qa_platform.core.lifecycle``) to run ``countdown`` seconds after the current transaction commits.

    Nothing is sent while a run is queued already (the debounce: many votes, one run), unless
    ``force``, which queues it again and drops the earlier message. A vote during a run queues the
    next one. A broker that cannot be reached marks the job failed with the reason (the next vote or
    a recompute tries again); it never fails the caller, so a vote is stored whatever the broker does.
    """
    with transaction.atomic():
        AnalysisJob.objects.get_or_create(study=study)
        job = AnalysisJob.objects.select_for_update().get(study=study)
        if force or job.status != JobStatus.QUEUED or lifecycle.needs_run(job):
            (task_id,) = lifecycle.job_queue(job)
            send_on_commit(job, TASK, args=[job.pk], task_id=task_id, countdown=countdown)
    return job


def analysis_request(*, study: Study, options: AnalysisOptions = DEFAULT_OPTIONS, target: str = "mos",
                     filters: Filters = Filters(), resampling: str = "pvs") -> AnalysisJob:
    """Keep the analysis ``options`` and its correlations with ``target`` over
    ``filters``, their intervals resampling ``resampling`` (``"pvs"``, or ``"src"``: the
    cluster bootstrap), among the study's stored rows and run the job now.

    Rows not computed yet wait with ``computed_at`` null. Raises
    ``ValueError`` for a target the study's method does not give
    (``studies.results.METHOD_TARGETS``) or an unknown resampling, and
    ``UnknownDimensionError`` for a dimension the study does not ask.
    """
    targets = method_targets(study.method)
    if target not in targets:
        raise ValueError(f"unknown target {target!r} for a {study.method} study: choose one of {', '.join(targets)}")
    if resampling not in StoredCorrelation.Resampling.values:
        raise ValueError(f"unknown resampling {resampling!r}: choose one of "
                         f"{', '.join(StoredCorrelation.Resampling.values)}")
    dimension = resolve_dimension(study, options.dimension)
    with transaction.atomic():
        row, _ = StoredAnalysis.objects.get_or_create(study=study, dimension=dimension, model=options.model,
                                                      ci=options.ci, include_simulated=options.include_simulated)
        StoredCorrelation.objects.get_or_create(analysis=row, target=target, family=filters.family,
                                                codec=filters.codec, src=filters.src, resampling=resampling)
        return analyses_schedule(study=study, countdown=0, force=True)


@dataclass(frozen=True)
class StoredView:
    """What a page shows of one stored analysis.

    ``analysis`` is None when nothing was stored for these options;
    ``votes_now`` is the study's vote count now; ``job`` the study's analysis job, if any.
    """

    options: AnalysisOptions
    analysis: StoredAnalysis | None
    votes_now: int
    job: AnalysisJob | None

    @property
    def pvs(self) -> pd.DataFrame:
        """The stored per-PVS table (``studies.results.pvs_table`` columns, NaN
        for None), one row per test PVS; empty when nothing was computed."""
        return pd.DataFrame.from_records(self.analysis.pvs) if self.computed and self.analysis.pvs else pd.DataFrame()

    @property
    def computed(self) -> bool:
        return self.analysis is not None and self.analysis.computed_at is not None

    @property
    def is_stale(self) -> bool:
        """Votes were added or removed since the analysis was computed."""
        return self.computed and self.analysis.study_votes != self.votes_now


def stored_view(*, study: Study, options: AnalysisOptions) -> StoredView:
    """The stored analysis of ``study`` under ``options`` and the state around it (see ``StoredView``).

    Raises ``UnknownDimensionError`` for a dimension the study does not ask."""
    dimension = resolve_dimension(study, options.dimension)
    analysis = StoredAnalysis.objects.filter(study=study, dimension=dimension, model=options.model, ci=options.ci,
                                             include_simulated=options.include_simulated).first()
    return StoredView(options=options, analysis=analysis, votes_now=study_vote_count(study),
                      job=AnalysisJob.objects.filter(study=study).first())


def stored_correlation(*, analysis: StoredAnalysis, target: str, filters: Filters,
                       resampling: str = "pvs") -> StoredCorrelation | None:
    """The stored correlations of ``analysis`` with ``target`` over ``filters`` with ``resampling``'s
    intervals, or None (never asked for)."""
    return StoredCorrelation.objects.filter(analysis=analysis, target=target, family=filters.family,
                                            codec=filters.codec, src=filters.src, resampling=resampling).first()


CORRECTIONS = ("none", "holm")  # which Williams p-value decides the shown significance; the default first


def shown_comparisons(comparisons: list[dict], *, correction: str = "none") -> list[dict]:
    """The stored Williams' test rows with ``shown_p``, the p-value that decides (``p``, or with
    ``correction="holm"`` the Holm-adjusted ``p_holm``, None in rows stored before it was kept),
    and ``shown_significant`` (``shown_p`` < 0.05; None when unknown). Presentation only: nothing
    is recomputed."""
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}: choose one of {', '.join(CORRECTIONS)}")
    key = "p_holm" if correction == "holm" else "p"
    return [{**row, "shown_p": row.get(key),
             "shown_significant": None if row.get(key) is None else row[key] < ALPHA} for row in comparisons]
