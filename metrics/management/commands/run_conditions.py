from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from metrics.conditions import conditions_csv, conditions_report
from qa_platform.codec.base import CodecError
from qa_platform.codec.storage import write_bytes_atomic
from qa_platform.core.arguments import comma_list
from qa_platform.core.conditions import CONDITIONS, ConditionsError, conditions_build, get_conditions
from qa_platform.core.jobs import pvs_wait


class Command(BaseCommand):
    help = ("Run a set of common test conditions (jvet-gfvc: the JVET GFVC CTC) on the ingested SRCs: the VVC "
            "anchor and the generative codecs at the conditions' rate points, then write the results table "
            "(per sequence and rate point: kbit/s and metrics) and BD-rates against the anchor.")

    def add_arguments(self, parser):
        parser.add_argument("conditions", choices=sorted(CONDITIONS))
        parser.add_argument("--codecs", help="generative codecs, comma-separated (default: every loaded one "
                                             "that runs here); the anchor always runs")
        parser.add_argument("--sources", help="SRC names, comma-separated (default: every SRC within the "
                                              "conditions' size, frame rate and frame counts)")
        parser.add_argument("--out", type=Path, help="write the results table and BD-rates as CSV to this file")
        parser.add_argument("--report-only", action="store_true", help="queue nothing; report what exists")
        parser.add_argument("--no-wait", action="store_true", help="queue the jobs and return")
        parser.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds")

    def handle(self, *args, **options):
        conditions = get_conditions(options["conditions"])
        if not options["report_only"]:
            try:
                all_pvs = conditions_build(conditions=conditions, codec_names=comma_list(options["codecs"]) or None,
                                           source_names=comma_list(options["sources"]) or None)
            except (ConditionsError, CodecError) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{conditions.name}: {len(all_pvs)} PVSs ({conditions.reference})")
            if options["no_wait"]:
                return
            try:
                pvs_wait([pvs.pk for pvs in all_pvs], timeout=options["timeout"])
            except TimeoutError as exc:
                raise CommandError(str(exc)) from exc
        report = conditions_report(conditions)
        if not report.rows:
            raise CommandError(f"no PVS of {conditions.name} yet: run `python manage.py run_conditions "
                               f"{conditions.name}` without --report-only")
        if options["out"]:
            write_bytes_atomic(options["out"], conditions_csv(report).encode())
            self.stdout.write(f"results table: {options['out']}")
        self.stdout.write(_bd_summary(report))


def _bd_summary(report) -> str:
    lines = [f"BD-rate against {report.conditions.anchor}, mean over sequences, percent "
             f"({len(report.rows)} PVSs, {report.pending} not done):"]
    for metric, results in report.bd.items():
        for result in results:
            mean = "no number" if result.mean_rate is None else f"{result.mean_rate:+.1f} %"
            lines.append(f"  {result.codec:<28} {metric:<12} {mean} ({result.n_rate}/{len(result.per_source)} SRCs)")
    return "\n".join(lines) + "\n"
