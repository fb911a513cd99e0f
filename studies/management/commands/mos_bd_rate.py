from django.core.management.base import BaseCommand, CommandError

from metrics.bd_rate import DEFAULT_ANCHOR
from qa_platform.core.arguments import comma_list
from studies.analysis import MODELS
from studies.management.lookup import study_named
from studies.mos_bd import mos_bd_report
from studies.results import DEFAULT_MODEL


class Command(BaseCommand):
    help = ("Print the BD-rate and BD-MOS (Bjøntegaard, PCHIP as the JVET common test conditions) of curves "
            "against an anchor with a study's MOS as the quality axis: per SRC, the mean over SRCs, the warnings.")

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="the study's name")
        parser.add_argument("--anchor", default=DEFAULT_ANCHOR,
                            help=f"the anchor curve (default {DEFAULT_ANCHOR}), e.g. x265 or 'landmark-warp key_period=10'")
        parser.add_argument("--codecs", help="test curves, comma-separated (default: every other rated curve)")
        parser.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL, help="subject model for the MOS")

    def handle(self, *args, **options):
        study = study_named(options["study"])
        codecs = comma_list(options["codecs"]) or None
        try:
            report = mos_bd_report(study=study, anchor=options["anchor"], codecs=codecs, model=options["model"])
        except ValueError as exc:  # NoVotesError and VotesError are ValueErrors
            raise CommandError(str(exc)) from exc
        self.stdout.write(report, ending="")
