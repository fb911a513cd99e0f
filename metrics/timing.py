"""Where the PVS jobs' time went: the seconds each job stored, summed by part.

A PVS job stores its encode and decode wall seconds on the ``Pvs`` row and
each metric's kernel seconds on its ``MetricResult`` (work shared between
metrics, such as the distorted faces' landmarks, counted in the metric that
did it first). Summed over the jobs these are core-seconds when each worker
process runs single-threaded (``OMP_NUM_THREADS=1``, as the demo's do), so the
parts add up to the workers' busy time, not to the wall time of the build.
"""
from dataclasses import dataclass

from django.db.models import Sum

from metrics.models import MetricResult
from metrics.registry import CLIP, FACE, FACE_REGION, FULL_REFERENCE, MetricSpec, all_metrics
from qa_platform.core.models import Pvs

# Metric families, by what a kernel computes (its registry kind; learned
# weights make a family of their own: on a CPU they cost the most).
FAMILIES = {
    FULL_REFERENCE: "frame metrics (PSNR, SSIM, MS-SSIM, GMSD, ...)",
    CLIP: "clip metrics (VMAF, XPSNR, PSNR-YUV, temporal)",
    FACE_REGION: "face-region metrics",
    FACE: "face landmarks, pose and identity",
}
DEEP_FAMILY = "deep metrics (LPIPS, DISTS)"


def metric_family(spec: MetricSpec) -> str:
    """The family a metric's time is counted in (``FAMILIES``, or ``DEEP_FAMILY`` for learned weights)."""
    return DEEP_FAMILY if spec.weights else FAMILIES[spec.kind]


@dataclass(frozen=True)
class JobPart:
    """One part of the PVS jobs: ``seconds`` summed over the jobs (core-seconds, see the module docstring)."""

    name: str
    seconds: float


def job_seconds(pvs_ids: list[int]) -> list[JobPart]:
    """Encode seconds per codec, decode seconds, then metric seconds per family, of the PVSs in ``pvs_ids``.

    Parts with no stored seconds are left out; metrics no longer registered count under their own name.
    """
    pvs = Pvs.objects.filter(pk__in=pvs_ids)
    parts = [
        JobPart(f"encode, {row['hrc__codec']}", row["seconds"])
        for row in pvs.values("hrc__codec").annotate(seconds=Sum("encode_seconds")).order_by("-seconds")
        if row["seconds"]
    ]
    decode = pvs.aggregate(seconds=Sum("decode_seconds"))["seconds"]
    if decode:
        parts.append(JobPart("decode", decode))
    specs = all_metrics()
    families: dict[str, float] = {}
    metric_rows = (MetricResult.objects.filter(pvs_id__in=pvs_ids, seconds__isnull=False)
                   .values("metric").annotate(seconds=Sum("seconds")))
    for row in metric_rows:
        family = metric_family(specs[row["metric"]]) if row["metric"] in specs else row["metric"]
        families[family] = families.get(family, 0.0) + row["seconds"]
    parts += [JobPart(f"metrics, {family}", seconds)
              for family, seconds in sorted(families.items(), key=lambda item: -item[1])]
    return parts
