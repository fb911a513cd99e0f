from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.analysis import MODELS, VotesError
from studies.export import ExportError, dataset_export
from studies.management.lookup import study_named
from studies.results import DEFAULT_MODEL


class Command(BaseCommand):
    help = "Export a study's ratings as a dataset folder (votes, per-PVS MOS, descriptors, sureal JSON, card)."

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--out", required=True, type=Path, help="A new or empty folder.")
        parser.add_argument("--media", action="store_true", help="Also copy the videos, with their SHA-256.")
        parser.add_argument("--include-simulated", action="store_true",
                            help="Keep simulated participants (left out by default).")
        parser.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL)

    def handle(self, *args, **options):
        study = study_named(options["study"])
        try:
            report = dataset_export(study=study, out_dir=options["out"], media=options["media"],
                                    include_simulated=options["include_simulated"], model=options["model"])
        except (ExportError, VotesError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Exported {report.votes} votes of {report.participants} participants to {report.folder}:")
        for name in report.files:
            self.stdout.write(f"  {name}")
