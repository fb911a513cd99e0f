import time

from django.core.management.base import BaseCommand, CommandError

from studies.analysis_store import analyses_compute
from studies.models import Study


class Command(BaseCommand):
    help = ("Compute and store a study's analyses now, in this process (what the analysis job does): the default "
            "options and every option set asked for from the pages, with their correlations.")

    def add_arguments(self, parser):
        parser.add_argument("study")

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            raise CommandError(f"no study named {options['study']!r}")
        start = time.perf_counter()
        rows = analyses_compute(study=study)
        for row in rows:
            self.stdout.write(f"{row}: {row.message or f'{row.n_votes} test votes, {row.model_version}'}")
        self.stdout.write(f"Stored {len(rows)} analyses of {study.name} in {time.perf_counter() - start:.1f} s.")
