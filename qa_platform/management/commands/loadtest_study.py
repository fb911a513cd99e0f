from django.core.management.base import BaseCommand, CommandError

from qa_platform.loadtest import DEFAULT_WORKERS, run_loadtest
from qa_platform.runtime import ServiceError
from studies.loadtest import MAX_PARTICIPANTS, MAX_SECONDS, LoadTestError, Plan, report_text


class Command(BaseCommand):
    help = ("Drive N simulated crowd participants at once over real HTTP (loopback only) through a whole rating "
            "study, and print p50/p95/p99 of vote POSTs and page GETs, the errors, and "
            "'votes: acknowledged A, stored S, duplicated D, lost L'. Without --url it sets up a scratch "
            "PostgreSQL database, a study over short real clips and the production server (gunicorn) itself. "
            "Exits non-zero on any error, duplicated or lost vote.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--participants", type=int, default=50, help=f"At once, 1..{MAX_PARTICIPANTS}.")
        parser.add_argument("--seconds", type=float, default=60.0, help=f"How long, 1..{MAX_SECONDS:g}.")
        parser.add_argument("--think", type=float, default=Plan.think,
                            help="Mean seconds a participant spends on a trial between its video and the vote.")
        parser.add_argument("--double-share", type=float, default=Plan.double_share,
                            help="Share of votes posted twice (half at once, half one after the other).")
        parser.add_argument("--retry-share", type=float, default=Plan.retry_share,
                            help="Share of votes posted again after a simulated timeout.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--url", help="A running server (http://127.0.0.1:PORT); needs --study, and this "
                                          "command must read the server's database to count the stored votes.")
        parser.add_argument("--study", help="The study to rate on --url.")
        parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                            help="gunicorn workers of the scratch server (without --url).")

    def handle(self, *args, **options):
        try:
            plan = Plan(participants=options["participants"], seconds=options["seconds"], think=options["think"],
                        double_share=options["double_share"], retry_share=options["retry_share"],
                        seed=options["seed"])
            report = run_loadtest(plan, url=options["url"], study=options["study"], workers=options["workers"],
                                  progress=self.stderr.write)
        except (LoadTestError, ServiceError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(report_text(report))
        if not report.ok:
            raise CommandError(f"{report.error_count} errors, {report.votes.duplicated} duplicated and "
                               f"{report.votes.lost} lost votes")
