"""Reads of SRCs, HRCs and PVS jobs: job progress and the build summary."""

from django.db.models import Avg, Count, F, Q

from qa_platform.core.models import JobStatus, Pvs


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
