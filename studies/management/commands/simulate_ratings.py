from django.core.management.base import BaseCommand, CommandError

from studies.management.lookup import study_named
from studies.services import StudyError, study_simulate_ratings


class Command(BaseCommand):
    help = ("Add SIMULATED participants who rate a study (observer model in studies/simulation.py). "
            "They are flagged simulated everywhere and left out of exports unless asked for.")

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--participants", type=int, default=24)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--latent-metric", default="ms_ssim",
                            help="Metric the latent quality is ranked by (the simulated MOS follows it).")
        parser.add_argument("--careless", type=int, default=0, help="How many of them vote at random.")

    def handle(self, *args, **options):
        study = study_named(options["study"])
        try:
            report = study_simulate_ratings(
                study=study, participants=options["participants"], seed=options["seed"],
                latent_metric=options["latent_metric"], careless=options["careless"],
            )
        except (StudyError, LookupError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"SIMULATED: {len(report.participants)} participants, {report.votes} votes on study {study.name}; "
            f"latent quality ranked by {options['latent_metric']}, so the simulated MOS favours that metric."
        )
        if report.careless:
            self.stdout.write(f"Careless (random) voters: {', '.join(report.careless)}")
