"""Measure how many pair comparisons ASAP active sampling saves against a random design, on simulated observers."""

from django.core.management.base import BaseCommand, CommandError

from studies.active_sampling import DESIGNS, compare_designs, format_comparison


class Command(BaseCommand):
    help = (
        "Simulate pair-comparison sessions of one SRC with known true scores (Thurstone unit, one observer "
        "with sigma_obs = 1) and print, per number of comparisons, the RMSE of the Thurstone-scaled scores for "
        "the active and the baseline design, and how many comparisons the baseline needs for the same error."
    )
    requires_system_checks = []  # simulation only: no setting, database or service involved

    def add_arguments(self, parser):
        parser.add_argument("--stimuli", type=int, default=10, help="stimuli of the SRC (default 10)")
        parser.add_argument("--spread", type=float, default=3.0,
                            help="true scores evenly spaced over [0, SPREAD], Thurstone unit (default 3)")
        parser.add_argument("--trials", type=int, default=300, help="comparisons of the active design (default 300)")
        parser.add_argument("--repeats", type=int, default=20, help="simulated sessions per design (default 20)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--active", choices=DESIGNS, default="asap")
        parser.add_argument("--baseline", choices=DESIGNS, default="random")
        parser.add_argument("--baseline-factor", type=int, default=4,
                            help="the baseline runs this many times --trials (default 4)")

    def handle(self, *args, stimuli, spread, trials, repeats, seed, active, baseline, baseline_factor, **options):
        if active == baseline:
            raise CommandError("--active and --baseline must differ")
        if not spread > 0:
            raise CommandError(f"--spread must be > 0, not {spread}")
        try:
            true_scores = [spread * k / max(stimuli - 1, 1) for k in range(stimuli)]
            result = compare_designs(stimuli, true_scores, trials, repeats, seed, active=active,
                                     baseline=baseline, baseline_factor=baseline_factor)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(format_comparison(result))
