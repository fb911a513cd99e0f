from django.core.management.base import BaseCommand, CommandError

from metrics.bd import bd_report


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


class Command(BaseCommand):
    help = ("Print the BD-rate and BD-quality (Bjøntegaard, PCHIP as the JVET common test conditions) of curves "
            "against an anchor on one metric: per SRC, the mean over SRCs, and the warnings.")

    def add_arguments(self, parser):
        parser.add_argument("--anchor", required=True,
                            help="the anchor curve, e.g. x265 or 'landmark-warp key_period=10'")
        parser.add_argument("--metric", required=True, help="the quality axis, a metric name, e.g. dists")
        parser.add_argument("--codecs", help="test curves, comma-separated (default: every other curve with points)")
        parser.add_argument("--sources", help="SRC names, comma-separated (default: every SRC)")

    def handle(self, *args, **options):
        try:
            report = bd_report(metric=options["metric"], anchor=options["anchor"],
                               codecs=_names(options["codecs"]), sources=_names(options["sources"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report, ending="")
