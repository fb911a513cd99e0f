"""The database page's grid: SRC x HRC, each cell a PVS with one metric's result."""
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter

from django.db.models import Avg, F, FilteredRelation, Q, QuerySet

from qa_platform.core.models import Hrc, JobStatus, Pvs, Source


@dataclass(frozen=True)
class CurveColumns:
    """The HRCs of one curve (``Hrc.curve``: a codec, or a codec variant), lowest rate first."""

    curve: str
    hrcs: list[Hrc]


@dataclass(frozen=True)
class GridRow:
    """One SRC and its PVS per HRC column (``None`` where no PVS exists)."""

    source: Source
    cells: list[Pvs | None]


@dataclass(frozen=True)
class DatabaseGrid:
    """The SRC x HRC grid with job counts and the failed PVSs."""

    curves: list[CurveColumns]
    rows: list[GridRow]
    status_counts: dict[str, int]
    failures: list[Pvs]

    @property
    def n_hrcs(self) -> int:
        return sum(len(group.hrcs) for group in self.curves)

    @property
    def n_pvs(self) -> int:
        return sum(self.status_counts.values())

    @property
    def n_finished(self) -> int:
        return self.status_counts[JobStatus.DONE] + self.status_counts[JobStatus.FAILED]

    @property
    def is_active(self) -> bool:
        """Whether any PVS is queued or running (the page then reloads itself)."""
        return bool(self.status_counts[JobStatus.QUEUED] + self.status_counts[JobStatus.RUNNING])


def hrcs_by_rate() -> list[Hrc]:
    """Every HRC, grouped by curve (``Hrc.curve``), each curve's lowest mean kbit/s first.

    The rate of an HRC is the mean kbit/s of its done PVSs; HRCs without one
    yet come after, in the order they were created.
    """
    hrcs = Hrc.objects.annotate(
        mean_kbps=Avg("pvs_set__kbps", filter=Q(pvs_set__status=JobStatus.DONE))
    )
    return sorted(hrcs, key=lambda h: (h.curve, h.mean_kbps is None, h.mean_kbps or 0.0, h.pk))


def pvs_with_metric(metric: str) -> QuerySet[Pvs]:
    """PVSs with their SRC and HRC, annotated with one metric's ``metric_value``,
    ``metric_status`` and ``metric_reason`` (``None`` where it has no result)."""
    return (
        Pvs.objects.select_related("source", "hrc")
        .annotate(chosen=FilteredRelation("metric_results", condition=Q(metric_results__metric=metric)))
        .annotate(
            metric_value=F("chosen__value"),
            metric_status=F("chosen__status"),
            metric_reason=F("chosen__reason"),
        )
    )


def database_grid(*, metric: str) -> DatabaseGrid:
    """The SRC x HRC grid, each cell a PVS annotated with ``metric`` (see ``pvs_with_metric``)."""
    hrcs = hrcs_by_rate()
    all_pvs = list(pvs_with_metric(metric))
    by_key = {(pvs.source_id, pvs.hrc_id): pvs for pvs in all_pvs}
    rows = [
        GridRow(source, [by_key.get((source.pk, hrc.pk)) for hrc in hrcs])
        for source in Source.objects.all()
    ]
    counts = Counter(pvs.status for pvs in all_pvs)
    return DatabaseGrid(
        curves=[CurveColumns(curve, list(group)) for curve, group in groupby(hrcs, key=attrgetter("curve"))],
        rows=rows,
        status_counts={status: counts.get(status, 0) for status in JobStatus.values},
        failures=[pvs for pvs in all_pvs if pvs.status == JobStatus.FAILED],
    )


