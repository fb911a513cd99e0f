from django.core.management.base import BaseCommand, CommandError

from metrics.bd import bd_report
from metrics.bd_rate import DEFAULT_ANCHOR
from qa_platform.core.arguments import comma_list


class Command(BaseCommand):
    help = ("Print the BD-rate and BD-quality (Bjøntegaard, PCHIP as the JVET common test conditions) of curves "
            "against an anchor on one metric: per SRC, the mean over SRCs, and the warnings.")

    def add_arguments(self, parser):
        parser.add_argument("--anchor", default=DEFAULT_ANCHOR,
                            help=f"the anchor curve (default {DEFAULT_ANCHOR}), e.g. x265 or 'landmark-warp key_period=10'")
        parser.add_argument("--metric", required=True, help="the quality axis, a metric name, e.g. dists")
        parser.add_argument("--codecs", help="test curves, comma-separated (default: every other curve with points)")
        parser.add_argument("--sources", help="SRC names, comma-separated (default: every SRC)")

    def handle(self, *args, **options):
        try:
            report = bd_report(metric=options["metric"], anchor=options["anchor"],
                               codecs=comma_list(options["codecs"]) or None,
                               sources=comma_list(options["sources"]) or None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report, ending="")
