"""Reads of SRCs, HRCs and PVS jobs: the database grid, job progress, the build summary."""
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter

from django.db.models import Avg, Count, F, FilteredRelation, Q, QuerySet

from qa_platform.models import Hrc, JobStatus, Pvs, Source


@dataclass(frozen=True)
class CodecColumns:
    """The HRCs of one codec, lowest rate first."""

    codec: str
    hrcs: list[Hrc]


@dataclass(frozen=True)
class GridRow:
    """One SRC and its PVS per HRC column (``None`` where no PVS exists)."""

    source: Source
    cells: list[Pvs | None]


@dataclass(frozen=True)
class DatabaseGrid:
    """The SRC x HRC grid with job counts and the failed PVSs."""

    codecs: list[CodecColumns]
    rows: list[GridRow]
    status_counts: dict[str, int]
    failures: list[Pvs]

    @property
    def n_hrcs(self) -> int:
        return sum(len(group.hrcs) for group in self.codecs)

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
    """Every HRC, grouped by codec, each codec's lowest mean kbit/s first.

    The rate of an HRC is the mean kbit/s of its done PVSs; HRCs without one
    yet come after, in the order they were created.
    """
    hrcs = Hrc.objects.annotate(
        mean_kbps=Avg("pvs_set__kbps", filter=Q(pvs_set__status=JobStatus.DONE))
    )
    return sorted(hrcs, key=lambda h: (h.codec, h.mean_kbps is None, h.mean_kbps or 0.0, h.pk))


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
        codecs=[CodecColumns(codec, list(group)) for codec, group in groupby(hrcs, key=attrgetter("codec"))],
        rows=rows,
        status_counts={status: counts.get(status, 0) for status in JobStatus.values},
        failures=[pvs for pvs in all_pvs if pvs.status == JobStatus.FAILED],
    )


def build_summary_table(ids: list[int]) -> str:
    """A plain-text table per HRC: PVS counts by status, mean kbit/s, mean encode/decode s,
    then the error of every failed PVS."""
    rows = (
        Pvs.objects.filter(pk__in=ids)
        .values("hrc__codec", "hrc__label")
        .annotate(
            n=Count("id"),
            done=Count("id", filter=Q(status=JobStatus.DONE)),
            failed=Count("id", filter=Q(status=JobStatus.FAILED)),
            kbps=Avg("kbps", filter=Q(status=JobStatus.DONE)),
            enc=Avg("encode_seconds", filter=Q(status=JobStatus.DONE)),
            dec=Avg("decode_seconds", filter=Q(status=JobStatus.DONE)),
        )
        .order_by("hrc__codec", F("kbps").asc(nulls_last=True))
    )
    width = max([28, *(len(row["hrc__label"]) for row in rows)])
    lines = [f"{'HRC':<{width}} {'PVS':>4} {'done':>5} {'failed':>6} {'kbit/s':>8} {'enc s':>6} {'dec s':>6}"]
    for row in rows:
        lines.append(
            f"{row['hrc__label']:<{width}} {row['n']:>4} {row['done']:>5} {row['failed']:>6} "
            f"{_fmt(row['kbps'], 1):>8} {_fmt(row['enc'], 2):>6} {_fmt(row['dec'], 2):>6}"
        )
    for pvs in Pvs.objects.filter(pk__in=ids, status=JobStatus.FAILED).select_related("source", "hrc"):
        lines.append(f"FAILED {pvs}: {pvs.message}")
    return "\n".join(lines)


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
