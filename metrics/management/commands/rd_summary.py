from pathlib import Path

from django.core.management.base import BaseCommand

from metrics.registry import all_metrics
from metrics.summary import COMPACT_METRICS, rd_summary_csv, rd_summary_text


class Command(BaseCommand):
    help = (f"Print mean kbit/s and metric values ({', '.join(COMPACT_METRICS)}) per codec and rate point (HRC) "
            "over the done PVSs; --csv writes every metric of every HRC and PVS.")

    def add_arguments(self, parser):
        parser.add_argument("--all-metrics", dest="every_metric", action="store_true",
                            help="Print every metric (in blocks of columns), not only the compact set.")
        parser.add_argument("--csv", type=Path, metavar="PATH",
                            help="Also write every metric of every HRC and of every done PVS to this CSV file.")

    def handle(self, *args, every_metric: bool, csv: Path | None, **options):
        self.stdout.write(rd_summary_text(tuple(all_metrics()) if every_metric else COMPACT_METRICS))
        if csv is not None:
            self.stdout.write(f"Every metric, every HRC and PVS: {rd_summary_csv(csv)}")
