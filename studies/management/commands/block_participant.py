from django.core.management.base import BaseCommand, CommandError

from studies.management.lookup import study_named
from studies.selectors import participant_by_anonymous_id
from studies.services import StudyError, participant_block


class Command(BaseCommand):
    help = ("Block a participant's crowd id (Prolific, MTurk) from every study: its keyed hash is stored, "
            "never the id. Give the anonymous id shown on the analysis page (e.g. P007).")

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("anonymous_id")
        parser.add_argument("--reason", required=True, help="Why (kept for the researchers, never shown).")

    def handle(self, *args, **options):
        study = study_named(options["study"])
        participant = participant_by_anonymous_id(study, options["anonymous_id"])
        if participant is None:
            raise CommandError(f"study {study.name!r} has no participant {options['anonymous_id']!r}")
        try:
            participant_block(participant=participant, reason=options["reason"])
        except StudyError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{participant.anonymous_id}'s {participant.get_platform_display()} id is blocked "
                          "from every study.")
