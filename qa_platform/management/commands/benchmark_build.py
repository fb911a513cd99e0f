import os

from django.core.management.base import BaseCommand, CommandError

from qa_platform.core.arguments import comma_list
from qa_platform.runtime import ServiceError
from qa_platform.samples import SamplesUnavailable
from qa_platform.throughput import (
    DEFAULT_METRICS,
    RATE_POINTS,
    BenchmarkError,
    Plan,
    benchmark,
    cores_note,
    parse_worker_counts,
    results_table,
)


class Command(BaseCommand):
    help = (
        "Build a fixed small database (the first sample clips, trimmed, through "
        f"{' and '.join(RATE_POINTS)} at two rate points each) once per worker count, each time on a "
        "fresh data directory, SQLite database and Redis with one Celery worker of that many processes, "
        "and print PVSs per minute, the speed-up over the fewest workers and the scaling efficiency."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workers", default="1,2",
                            help=f"Comma-separated worker process counts (default 1,2; this machine has "
                                 f"{os.cpu_count()} CPU cores).")
        parser.add_argument("--srcs", type=int, default=Plan.srcs, help=f"SRCs, first sample clips by name "
                                                                       f"(default {Plan.srcs}).")
        parser.add_argument("--frames", type=int, default=Plan.frames,
                            help=f"Frames per SRC (default {Plan.frames}).")
        parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                            help="Comma-separated metrics each PVS job computes "
                                 "(default: %(default)s; empty: every metric).")
        parser.add_argument("--timeout", type=float, default=Plan.timeout,
                            help=f"Seconds a build may take before the benchmark fails (default {Plan.timeout:g}).")

    def handle(self, *args, workers, srcs, frames, metrics, timeout, **options):
        try:
            counts = parse_worker_counts(workers)
            plan = Plan(srcs=srcs, frames=frames, metrics=tuple(comma_list(metrics)), timeout=timeout)
            runs = benchmark(plan, counts, progress=self.stderr.write)
        except (ValueError, SamplesUnavailable, ServiceError, BenchmarkError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(results_table(runs))
        self.stdout.write(cores_note(counts, os.cpu_count()))
