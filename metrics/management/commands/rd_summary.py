from django.core.management.base import BaseCommand

from metrics.summary import rd_summary_text


class Command(BaseCommand):
    help = "Print mean kbit/s and metric values per codec and rate point (HRC) over the done PVSs."

    def handle(self, *args, **options):
        self.stdout.write(rd_summary_text())
