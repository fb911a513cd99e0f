from django.core.management.base import BaseCommand, CommandError

from studies.benchmark import BenchmarkError, Size, report_table, run_benchmark


class Command(BaseCommand):
    help = ("Time every researcher page on a synthetic study built in a scratch database (the user's database "
            "and data directory are not touched): p50 and p95 per page, in ms.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--pvs", type=int, default=Size.pvs)
        parser.add_argument("--metrics", type=int, default=Size.metrics, help="First N registered metrics.")
        parser.add_argument("--participants", type=int, default=Size.participants)
        parser.add_argument("--sources", type=int, default=Size.sources)
        parser.add_argument("--repeats", type=int, default=20, help="Requests per page.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        size = Size(pvs=options["pvs"], metrics=options["metrics"], participants=options["participants"],
                    sources=options["sources"])
        try:
            report = run_benchmark(size, repeats=options["repeats"], seed=options["seed"],
                                   progress=self.stderr.write)
        except BenchmarkError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(report_table(report))
