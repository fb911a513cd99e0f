from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qa_platform.core.exports import ExportError, export_bitstream
from qa_platform.core.models import Pvs


class Command(BaseCommand):
    help = ("Write a PVS's bitstream as decoders outside FaceQA read it: an anchor's bare elementary stream "
            "(.266 for VTM's DecoderApp, .265, .264, IVF for AV1 and VP9), else the bitstream files as stored.")

    def add_arguments(self, parser):
        parser.add_argument("pvs_id", type=int, help="the PVS's id (its page: /metrics/pvs/ID/)")
        parser.add_argument("--out", required=True, type=Path,
                            help="the file to write (a folder when the bitstream has several files)")

    def handle(self, *args, **options):
        pvs = Pvs.objects.select_related("hrc").filter(pk=options["pvs_id"]).first()
        if pvs is None:
            raise CommandError(f"no PVS with id {options['pvs_id']}")
        try:
            written = export_bitstream(pvs=pvs, out=options["out"])
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        for exported in written:
            self.stdout.write(f"{exported.path}  {exported.size} bytes  sha256 {exported.sha256}")
