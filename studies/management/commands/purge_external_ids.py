from django.core.management.base import BaseCommand, CommandError

from studies.models import Study
from studies.services import participants_purge_external_ids


class Command(BaseCommand):
    help = ("Delete a study's crowd-platform ids (Prolific, MTurk) after payment; the anonymous ids, "
            "votes and screening stay.")

    def add_arguments(self, parser):
        parser.add_argument("study")

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            raise CommandError(f"no study named {options['study']!r}")
        purged = participants_purge_external_ids(study=study)
        self.stdout.write(f"{study.name}: crowd ids deleted from {purged} participants; "
                          f"{study.participants.count()} participants and their votes kept.")
