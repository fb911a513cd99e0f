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
from django.db.models import Count

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


# What a rate–distortion point needs of a result, its PVS and its HRC: read as values, not model instances.
_POINT_FIELDS = ("value", "pvs_id", "pvs__kbps", "pvs__hrc_id", "pvs__hrc__curve", "pvs__hrc__label",
                 "pvs__source__name")


def _ok_rows(metric: str, source: Source | None = None) -> list[dict]:
    results = MetricResult.objects.filter(
        metric=metric, status=MetricStatus.OK, value__isnull=False,
        pvs__status=JobStatus.DONE, pvs__kbps__isnull=False,
    )
    if source is not None:
        results = results.filter(pvs__source=source)
    return list(results.values(*_POINT_FIELDS))


def _pvs_point(row: dict) -> RdPoint:
    return RdPoint(curve=row["pvs__hrc__curve"], hrc=row["pvs__hrc__label"], kbps=row["pvs__kbps"],
                   value=row["value"], n_sources=1, source=row["pvs__source__name"], pvs_id=row["pvs_id"])


def _mean_points(rows: list[dict]) -> list[RdPoint]:
    by_hrc = defaultdict(list)
    for row in rows:
        by_hrc[row["pvs__hrc_id"]].append(row)
    return [
        RdPoint(curve=group[0]["pvs__hrc__curve"], hrc=group[0]["pvs__hrc__label"],
                kbps=mean(row["pvs__kbps"] for row in group), value=mean(row["value"] for row in group),
                n_sources=len(group))
        for group in by_hrc.values()
    ]


def _curves(points: list[RdPoint]) -> list[RdCurve]:
    points = sorted(points, key=attrgetter("curve", "kbps"))
    return [RdCurve(name, list(group)) for name, group in groupby(points, key=attrgetter("curve"))]


def rd_curves(*, metric: str, source: Source | None = None) -> list[RdCurve]:
    """Rate–distortion curves of ``metric``, one per stored ``Hrc.curve`` (a codec with other
    non-rate parameters or decode-time controls is a curve of its own), sorted by name.

    With a ``source``, a point is one PVS of that SRC. Without, a point is one
    HRC: mean kbit/s and mean metric value over the SRCs where that HRC's PVS
    is done and the metric is ok.
    """
    rows = _ok_rows(metric, source)
    return _curves([_pvs_point(row) for row in rows] if source else _mean_points(rows))


def rd_curves_per_source(*, metric: str) -> dict[str, list[RdCurve]]:
    """``rd_curves(metric=metric, source=...)`` of every SRC with points, by SRC name, in one query."""
    by_source = defaultdict(list)
    for row in _ok_rows(metric):
        by_source[row["pvs__source__name"]].append(_pvs_point(row))
    return {name: _curves(points) for name, points in by_source.items()}


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
