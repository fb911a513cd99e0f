from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from metrics import services
from metrics.models import MetricResult, MetricStatus
from metrics.pooling import POOLINGS
from metrics.registry import UnknownMetricError
from qa_platform.codec.video import VideoError
from qa_platform.core.arguments import comma_list
from qa_platform.core.models import JobStatus, Pvs
from qa_platform.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Recompute objective metrics now, in this process, for every done PVS (or the PVSs "
        "given), replacing their stored results; prints a summary per metric."
    )

    def add_arguments(self, parser):
        parser.add_argument("--metrics", help="Comma-separated metric names (default: all registered).")
        parser.add_argument("--pvs", nargs="+", type=int, metavar="ID", help="PVS ids (default: every done PVS).")
        parser.add_argument("--pooling", choices=POOLINGS, default=None,
                            help="Sequence pooling (default: settings.FACEQA_METRIC_POOLING).")
        parser.add_argument("--repool", action="store_true",
                            help="Only pool the stored per-frame values again with --pooling (fast).")

    def handle(self, *args, metrics, pvs, pooling, repool, **options):
        if repool:
            if pooling is None:
                raise CommandError("--repool needs --pooling mean|p5|harmonic")
            count = services.results_repool(pooling=pooling, pvs_ids=pvs)
            self.stdout.write(f"{count} results pooled again with {pooling}")
            return
        try:
            names = [spec.name for spec in services.metric_specs(comma_list(metrics) or None)]
        except UnknownMetricError as exc:
            raise CommandError(exc.args[0]) from exc
        chosen = self._pvs_list(pvs)
        results, errors = [], []
        for item in progress_bar(chosen, unit="PVS", desc="metrics"):
            try:
                results += services.pvs_compute_metrics(pvs=item, metric_names=names, pooling=pooling)
            except (VideoError, ValueError) as exc:
                errors.append(f"PVS {item.pk} ({item}): {exc}")
        self.stdout.write(summary(results, names))
        if errors:
            raise CommandError(f"{len(errors)} of {len(chosen)} PVSs not measured:\n  " + "\n  ".join(errors))

    def _pvs_list(self, ids: list[int] | None) -> list[Pvs]:
        rows = Pvs.objects.select_related("source", "hrc")
        if ids is None:
            chosen = list(rows.filter(status=JobStatus.DONE))
            if not chosen:
                raise CommandError("no done PVS yet: run `python manage.py build_database` first")
            return chosen
        chosen = list(rows.filter(pk__in=ids))
        missing = sorted(set(ids) - {item.pk for item in chosen})
        if missing:
            raise CommandError(f"no PVS with id {', '.join(map(str, missing))}")
        return chosen


def summary(results: list[MetricResult], names: list[str]) -> str:
    """One line per metric: results by status, then the distinct reasons of those not ok."""
    counts = Counter((result.metric, result.status) for result in results)
    reasons = {(r.metric, r.reason) for r in results if r.status != MetricStatus.OK}
    lines = []
    for name in names:
        tally = ", ".join(f"{counts[name, status]} {status}" for status in MetricStatus.values if counts[name, status])
        lines.append(f"{name:12} {tally or 'no result'}")
        lines += [f"{'':12}   {reason}" for metric, reason in sorted(reasons) if metric == name]
    return "\n".join(lines)
