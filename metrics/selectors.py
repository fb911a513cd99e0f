"""Reads of metric results: the per-PVS table, rate–distortion points and curves, metric agreement.

Curves are the HRCs' stored ``Hrc.curve`` (what ``Codec.curve_name`` said when
the HRC was made): no codec plugin is loaded to read them. Figures of these
reads are in ``metrics.figures``, BD-rates in ``metrics.bd``.
"""
from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter
from statistics import mean

import pandas as pd
from django.db.models import Count, QuerySet

from metrics.models import MetricResult, MetricStatus
from metrics.registry import MetricSpec, all_metrics
from qa_platform.core.models import JobStatus, Pvs, Source


@dataclass(frozen=True)
class MetricRow:
    """One registered metric and its result on a PVS (``None``: not computed yet)."""

    spec: MetricSpec
    result: MetricResult | None


def pvs_metric_rows(*, pvs: Pvs) -> list[MetricRow]:
    """One row per registered metric, in registry order, with its result on ``pvs``."""
    results = {result.metric: result for result in pvs.metric_results.all()}
    return [MetricRow(spec, results.get(name)) for name, spec in all_metrics().items()]


@dataclass(frozen=True)
class RdPoint:
    """One point of a rate–distortion curve: a PVS, or the mean over the SRCs of one HRC.

    kbps: kbit/s; value: the metric's sequence value, in its unit.
    """

    curve: str
    hrc: str
    kbps: float
    value: float
    n_sources: int
    source: str = ""
    pvs_id: int | None = None


@dataclass(frozen=True)
class RdCurve:
    """The points of one curve (``Hrc.curve``), lowest kbit/s first."""

    name: str
    points: list[RdPoint]

    @property
    def sources_text(self) -> str:
        """How many SRCs a point averages: ``1 SRC``, ``3 SRCs``, or ``2–3 SRCs`` where HRCs differ."""
        counts = sorted({point.n_sources for point in self.points})
        if counts == [1]:
            return "1 SRC"
        return f"{counts[0]} SRCs" if len(counts) == 1 else f"{counts[0]}–{counts[-1]} SRCs"


@dataclass(frozen=True)
class Exclusion:
    """PVSs that are not in a rate–distortion plot, and why."""

    count: int
    why: str


def _ok_results(metric: str, source: Source | None) -> QuerySet[MetricResult]:
    results = MetricResult.objects.filter(
        metric=metric, status=MetricStatus.OK, value__isnull=False,
        pvs__status=JobStatus.DONE, pvs__kbps__isnull=False,
    ).select_related("pvs__source", "pvs__hrc")
    return results if source is None else results.filter(pvs__source=source)


def _pvs_point(result: MetricResult) -> RdPoint:
    pvs = result.pvs
    return RdPoint(
        curve=pvs.hrc.curve, hrc=pvs.hrc.label, kbps=pvs.kbps, value=result.value,
        n_sources=1, source=pvs.source.name, pvs_id=pvs.pk,
    )


def _mean_points(results: list[MetricResult]) -> list[RdPoint]:
    by_hrc = defaultdict(list)
    for result in results:
        by_hrc[result.pvs.hrc].append(result)
    return [
        RdPoint(
            curve=hrc.curve, hrc=hrc.label,
            kbps=mean(result.pvs.kbps for result in group),
            value=mean(result.value for result in group),
            n_sources=len(group),
        )
        for hrc, group in by_hrc.items()
    ]


def rd_curves(*, metric: str, source: Source | None = None) -> list[RdCurve]:
    """Rate–distortion curves of ``metric``, one per stored ``Hrc.curve`` (a codec with other
    non-rate parameters or decode-time controls is a curve of its own), sorted by name.

    With a ``source``, a point is one PVS of that SRC. Without, a point is one
    HRC: mean kbit/s and mean metric value over the SRCs where that HRC's PVS
    is done and the metric is ok.
    """
    results = list(_ok_results(metric, source))
    points = [_pvs_point(result) for result in results] if source else _mean_points(results)
    points.sort(key=attrgetter("curve", "kbps"))
    return [RdCurve(name, list(group)) for name, group in groupby(points, key=attrgetter("curve"))]


def rd_exclusions(*, metric: str, source: Source | None = None) -> list[Exclusion]:
    """The PVSs a rate–distortion plot of ``metric`` leaves out, counted by reason:
    jobs not done, results unavailable or failed (with their reason), results not computed yet."""
    pvs = Pvs.objects.all() if source is None else source.pvs_set.all()
    done = pvs.filter(status=JobStatus.DONE)
    not_done = pvs.exclude(status=JobStatus.DONE).values("status").annotate(n=Count("id")).order_by("status")
    not_ok = (
        MetricResult.objects.filter(metric=metric, pvs__in=done).exclude(status=MetricStatus.OK)
        .values("status", "reason").annotate(n=Count("id")).order_by("-n", "reason")
    )
    not_computed = done.exclude(metric_results__metric=metric).count()
    return (
        [Exclusion(row["n"], f"PVS {row['status']}") for row in not_done]
        + [Exclusion(row["n"], f"metric {row['status']}: {row['reason']}") for row in not_ok]
        + ([Exclusion(not_computed, "metric not computed yet")] if not_computed else [])
    )


@dataclass(frozen=True)
class Agreement:
    """Spearman rank correlation between every pair of metrics over the PVSs
    that have both (``rho``, ``n``: square lists in ``names`` order), with
    each metric oriented so that higher is better (a lower-is-better metric is
    negated): +1 means two metrics rank the PVSs alike."""

    names: list[str]
    rho: list[list[float | None]]
    n: list[list[int]]


def metric_agreement() -> Agreement:
    """The agreement of every metric with a value on at least 3 PVSs."""
    specs = all_metrics()
    rows = MetricResult.objects.filter(status=MetricStatus.OK, metric__in=specs).values_list(
        "pvs_id", "metric", "value")
    frame = pd.DataFrame(list(rows), columns=["pvs_id", "metric", "value"])
    wide = frame.pivot(index="pvs_id", columns="metric", values="value")
    names = [name for name in specs if name in wide and wide[name].count() >= 3]
    oriented = wide[names] * [1.0 if specs[name].higher_is_better else -1.0 for name in names]
    # Pairwise-complete: each pair is ranked over the PVSs that have both, as scipy.stats.spearmanr on them.
    rho = oriented.corr(method="spearman", min_periods=3).to_numpy()
    present = oriented.notna().to_numpy(dtype=int)
    return Agreement(names=names, rho=[[None if r != r else float(r) for r in row] for row in rho],
                     n=(present.T @ present).tolist())
