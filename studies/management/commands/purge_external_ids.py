from django.core.management.base import BaseCommand

from studies.management.lookup import study_named
from studies.services import participants_purge_external_ids


class Command(BaseCommand):
    help = ("Delete a study's crowd-platform ids (Prolific, MTurk) after payment; the anonymous ids, "
            "votes and screening stay.")

    def add_arguments(self, parser):
        parser.add_argument("study")

    def handle(self, *args, **options):
        study = study_named(options["study"])
        purged = participants_purge_external_ids(study=study)
        self.stdout.write(f"{study.name}: crowd ids deleted from {purged} participants; "
                          f"{study.participants.count()} participants and their votes kept.")
