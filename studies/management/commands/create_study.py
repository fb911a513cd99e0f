from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from studies.models import Method
from studies.selectors import PvsFilterError, participants_needed, pvs_matching
from studies.services import StudyError, study_create


class Command(BaseCommand):
    help = "Create an ACR-HR rating study over finished PVSs and print its participant URL."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Study name (a slug).")
        parser.add_argument("--method", choices=Method.values, default=Method.ACR_HR)
        parser.add_argument("--pvs", default="all",
                            help="all, or e.g. 'codec=x265,landmark-warp;src=lp_d20' (keys: codec, src, hrc, id).")
        parser.add_argument("--votes-per-pvs", type=int, default=15)
        parser.add_argument("--trials-per-participant", type=int, default=None,
                            help="Test stimuli per participant (default: all).")
        parser.add_argument("--training", type=int, default=3,
                            help="Training stimuli shown first: one SRC and its PVSs over the quality range.")
        parser.add_argument("--training-pvs", default=None,
                            help="Choose the training PVSs instead, with a filter as for --pvs.")
        parser.add_argument("--no-trap", action="store_true", help="Do not insert the trapping clip.")
        parser.add_argument("--replays", type=int, default=0, help="Replays allowed per trial.")
        parser.add_argument("--max-participants", type=int, default=None,
                            help="Cap on the people who may join (default: none).")
        parser.add_argument("--completion-url", default="",
                            help="Crowd: where to send participants at the end; {code} = completion code.")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        try:
            study = study_create(
                name=options["name"], method=options["method"], pvs=pvs_matching(options["pvs"]), votes_per_pvs=options["votes_per_pvs"],
                trials_per_participant=options["trials_per_participant"], training_count=options["training"],
                training=pvs_matching(options["training_pvs"]) if options["training_pvs"] else None,
                trap=not options["no_trap"], replays_allowed=options["replays"],
                completion_url=options["completion_url"], seed=options["seed"],
                max_participants=options["max_participants"],
            )
        except (StudyError, PvsFilterError) as error:
            raise CommandError(str(error)) from error
        counts = {role: study.stimuli.filter(role=role).count() for role in ("test", "training", "trap")}
        n_references = study.stimuli.filter(role="test", pvs__isnull=True).count()
        per_participant = study.trials_per_participant or counts["test"] - n_references
        self.stdout.write(
            f"Study {study.name}: {counts['test'] - n_references} PVSs and {n_references} hidden references, "
            f"{counts['training']} training, {counts['trap']} trap; each participant rates {per_participant} "
            f"PVSs and every hidden reference; {participants_needed(study)} participants give "
            f"{study.votes_per_pvs} votes per PVS."
        )
        self.stdout.write(f"Participant URL: {options['base_url']}{reverse('studies:landing', args=[study.name])}")
        self.stdout.write(f"Completion code: {study.completion_code}")
