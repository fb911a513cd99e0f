import os
import time

from django.core.management.base import BaseCommand, CommandError

from qa_platform.demo import DEMO_FRAMES, run_demo
from qa_platform.runtime import ServiceError
from qa_platform.samples import SamplesUnavailable


class Command(BaseCommand):
    help = "Build and measure a demo database from the sample face clips, then serve the pages (make demo)."

    def add_arguments(self, parser):
        parser.add_argument("--serve", type=int, choices=[0, 1], default=1, help="1: serve the pages at the end.")
        parser.add_argument("--concurrency", type=int, default=None,
                            help="Celery worker processes (default: one per core).")
        parser.add_argument("--frames", type=int, default=DEMO_FRAMES,
                            help=f"Frames per SRC, from the start of each sample clip (default {DEMO_FRAMES}).")

    def handle(self, *args, serve, concurrency, frames, **options):
        started_at = float(os.environ.get("FACEQA_DEMO_STARTED", time.time()))
        try:
            run_demo(out=self.stdout, serve=bool(serve), started_at=started_at, concurrency=concurrency, frames=frames)
        except (SamplesUnavailable, ServiceError) as exc:
            raise CommandError(str(exc)) from exc
