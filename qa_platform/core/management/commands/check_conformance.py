from django.core.management.base import BaseCommand, CommandError

from qa_platform.core.exports import ExportError, check_conformance, reference_decoder
from qa_platform.core.models import Pvs


class Command(BaseCommand):
    help = ("Decode an anchor PVS's elementary stream with a reference decoder (VTM's DecoderApp by default) and "
            "compare its pictures, byte for byte, with FaceQA's decode (PyAV's FFmpeg). Exits 1 when they differ.")

    def add_arguments(self, parser):
        parser.add_argument("pvs_id", type=int)
        parser.add_argument("--decoder", help="decoder command line with {bitstream} and {output} placeholders "
                                              "(default: $FACEQA_VTM_DECODER, else DecoderAppStatic on PATH)")

    def handle(self, *args, **options):
        pvs = Pvs.objects.select_related("hrc").filter(pk=options["pvs_id"]).first()
        if pvs is None:
            raise CommandError(f"no PVS with id {options['pvs_id']}")
        try:
            result = check_conformance(pvs=pvs, decoder=reference_decoder(options["decoder"]))
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"decoder: {result.command}")
        if result.conforms:
            self.stdout.write(f"PVS {pvs.pk}: all {result.frames} pictures identical to FaceQA's decode")
            return
        frames = ", ".join(map(str, result.mismatched[:10])) or "none"
        raise CommandError(f"PVS {pvs.pk} differs from FaceQA's decode: pictures {frames}"
                           f"{' ...' if len(result.mismatched) > 10 else ''}; the decoder wrote "
                           f"{result.reference_bytes} bytes, FaceQA's decode has {result.expected_bytes}")
