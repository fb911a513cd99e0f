import time

from django.core.management.base import BaseCommand

from studies.analysis_store import analyses_compute
from studies.management.lookup import study_named


class Command(BaseCommand):
    help = ("Compute and store a study's analyses now, in this process (what the analysis job does): the default "
            "options and every option set asked for from the pages, with their correlations.")

    def add_arguments(self, parser):
        parser.add_argument("study")

    def handle(self, *args, **options):
        study = study_named(options["study"])
        start = time.perf_counter()
        rows = analyses_compute(study=study)
        for row in rows:
            self.stdout.write(f"{row}: {row.message or f'{row.n_votes} test votes, {row.model_version}'}")
        self.stdout.write(f"Stored {len(rows)} analyses of {study.name} in {time.perf_counter() - start:.1f} s.")
