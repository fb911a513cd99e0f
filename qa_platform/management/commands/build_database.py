import json

from django.core.management.base import BaseCommand, CommandError

from qa_platform import codec_registry, selectors
from qa_platform.codec_api import CodecError
from qa_platform.jobs import pvs_wait
from qa_platform.models import Source
from qa_platform.services import database_build


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
        parser.add_argument("--sources", default="all", help='"all" or comma-separated SRC names.')
        parser.add_argument("--no-wait", action="store_true", help="Queue the jobs and return.")
        parser.add_argument("--timeout", type=float, default=None, help="Stop waiting after this many seconds.")

    def handle(self, *args, codecs, rates, sources, no_wait, timeout, **options):
        try:
            codec_names = [codec_registry.get_codec(name.strip()).name for name in codecs.split(",") if name.strip()]
            rate_points = {} if rates == "default" else json.loads(rates)
        except (CodecError, json.JSONDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        chosen = self._sources(sources)
        all_pvs = database_build(codec_names=codec_names, sources=chosen, rate_points=rate_points)
        self.stdout.write(f"{len(all_pvs)} PVSs ({len(chosen)} SRCs x {len(all_pvs) // max(len(chosen), 1)} HRCs).")
        if no_wait:
            return
        ids = [pvs.pk for pvs in all_pvs]
        try:
            pvs_wait(ids, timeout=timeout)
        except TimeoutError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(selectors.build_summary_table(ids))

    def _sources(self, names: str) -> list[Source]:
        if names == "all":
            chosen = list(Source.objects.all())
        else:
            wanted = [n.strip() for n in names.split(",") if n.strip()]
            chosen = list(Source.objects.filter(name__in=wanted))
            missing = sorted(set(wanted) - {s.name for s in chosen})
            if missing:
                raise CommandError(f"no SRC named {', '.join(missing)} (see the admin or ingest_sources)")
        if not chosen:
            raise CommandError("no SRC yet: run `python manage.py ingest_sources PATH` first")
        return chosen
