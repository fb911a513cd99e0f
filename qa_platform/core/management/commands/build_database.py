import json

from django.core.management.base import BaseCommand, CommandError

from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import TARGET_KBPS, CodecError
from qa_platform.core import selectors
from qa_platform.core.arguments import comma_list
from qa_platform.core.jobs import pvs_wait
from qa_platform.core.models import Source
from qa_platform.core.services import database_build


class Command(BaseCommand):
    help = (
        "Create HRCs for the codecs and one PVS job per SRC x HRC, run them on the Celery "
        "workers, and show progress until every job has ended."
    )

    def add_arguments(self, parser):
        parser.add_argument("--codecs", required=True, help="Comma-separated codec names (see list_codecs).")
        parser.add_argument(
            "--rates", default="default",
            help='"default" (each codec\'s default rate points) or JSON: '
                 '{"x265": [{"qp": 37}, {"qp": 42}]}.',
        )
        parser.add_argument(
            "--target-kbps", default=None,
            help="Comma-separated bitrates, kbit/s (e.g. 4,8,16,32): one matched-bitrate HRC per codec and "
                 "target; each PVS gets the rate point found for its SRC within ±10 %% (searches cached). "
                 "Targets a codec cannot reach are reported as failed PVSs with the nearest rates.",
        )
        parser.add_argument("--sources", default="all", help='"all" or comma-separated SRC names.')
        parser.add_argument("--no-wait", action="store_true", help="Queue the jobs and return.")
        parser.add_argument("--timeout", type=float, default=None, help="Stop waiting after this many seconds.")

    def handle(self, *args, codecs, rates, target_kbps, sources, no_wait, timeout, **options):
        try:
            codec_names = [codec_registry.get_codec(name).name for name in comma_list(codecs)]
            rate_points = {} if rates == "default" else json.loads(rates)
            if target_kbps:
                if rates != "default":
                    raise CommandError("give --rates or --target-kbps, not both")
                rate_points = self._targets(codec_names, target_kbps)
        except (CodecError, json.JSONDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        chosen = self._sources(sources)
        try:
            all_pvs = database_build(codec_names=codec_names, sources=chosen, rate_points=rate_points)
        except CodecError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{len(all_pvs)} PVSs ({len(chosen)} SRCs x {len(all_pvs) // max(len(chosen), 1)} HRCs).")
        if no_wait:
            return
        ids = [pvs.pk for pvs in all_pvs]
        try:
            pvs_wait(ids, timeout=timeout)
        except TimeoutError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(selectors.build_summary_table(ids))

    def _targets(self, codec_names: list[str], targets: str) -> dict[str, list[dict]]:
        try:
            kbps = [float(value) for value in comma_list(targets)]
        except ValueError:
            raise CommandError(f"--target-kbps takes comma-separated numbers, got {targets!r}") from None
        if not kbps or min(kbps) <= 0:
            raise CommandError("--target-kbps needs positive bitrates, e.g. 4,8,16,32")
        return {name: [{TARGET_KBPS: value} for value in kbps] for name in codec_names}

    def _sources(self, names: str) -> list[Source]:
        if names == "all":
            chosen = list(Source.objects.all())
        else:
            wanted = comma_list(names)
            chosen = list(Source.objects.filter(name__in=wanted))
            missing = sorted(set(wanted) - {s.name for s in chosen})
            if missing:
                raise CommandError(f"no SRC named {', '.join(missing)} (see the admin or ingest_sources)")
        if not chosen:
            raise CommandError("no SRC yet: run `python manage.py ingest_sources PATH` first")
        return chosen
