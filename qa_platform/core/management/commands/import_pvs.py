from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qa_platform.codec.base import Family
from qa_platform.core.arguments import comma_list
from qa_platform.core.imports import (
    JVET_LAYOUT,
    PvsImportError,
    pvs_import,
    pvs_import_jvet,
    read_source_map,
)


class Command(BaseCommand):
    help = (
        "Import PVSs a research codec coded and decoded elsewhere: one PVS from its decoded file "
        "(MP4/Y4M/any container, or planar RGB .rgb) and its bitstream files, or a whole JVET GFVC "
        "experiment folder (--layout jvet-gfvc DIR). Checked against the SRC; nothing is written when "
        "anything is wrong. Compute their metrics after with `manage.py compute_metrics`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--codec", required=True, help="Codec name of the HRC, e.g. DAC (need not be registered).")
        parser.add_argument("--hrc", default=None,
                            help="HRC parameters, a JSON object, e.g. '{\"qp\": 42}' (jvet-gfvc: merged with each "
                                 "run's qp).")
        parser.add_argument("--source", help="SRC name (jvet-gfvc: only when the folder holds one sequence).")
        parser.add_argument("--decoded", type=Path, help="The decoded clip: a container PyAV reads, or .rgb.")
        parser.add_argument("--bitstream", type=Path, nargs="+", metavar="FILE",
                            help="Every file the decoder reads; their total size is the bitstream.")
        parser.add_argument("--layout", choices=[JVET_LAYOUT], help="Import a whole experiment folder instead.")
        parser.add_argument("folder", nargs="?", type=Path, metavar="DIR",
                            help="With --layout jvet-gfvc: the Iframe_* folder (or its model folder).")
        parser.add_argument("--source-map", type=Path, metavar="CSV",
                            help="jvet-gfvc: CSV rows seq,src naming each sequence's SRC (default: SRC named seq).")
        parser.add_argument("--family", default=str(Family.GENERATIVE), choices=[str(item) for item in Family],
                            help="Codec family of a new HRC (default generative).")
        parser.add_argument("--rate-params", default="qp",
                            help="Comma-separated parameters that set the rate, left out of the HRC's "
                                 "rate-distortion curve name (default qp).")
        parser.add_argument("--codec-version", default="", help="The codec's version, stored after 'imported'.")

    def handle(self, *args, codec, hrc, source, decoded, bitstream, layout, folder, source_map, family,
               rate_params, codec_version, **options):
        common = {"codec": codec, "family": family, "rate_params": tuple(comma_list(rate_params)),
                  "codec_version": codec_version}
        try:
            if layout == JVET_LAYOUT:
                if folder is None:
                    raise CommandError("--layout jvet-gfvc needs the experiment folder DIR")
                if decoded or bitstream:
                    raise CommandError("--decoded and --bitstream are for one PVS, not with --layout")
                mapping = read_source_map(source_map) if source_map else None
                imported = pvs_import_jvet(folder=folder, params=hrc, source=source, source_map=mapping, **common)
            else:
                if folder is not None or source_map is not None:
                    raise CommandError("DIR and --source-map need --layout jvet-gfvc")
                missing = [name for name, value in (("--hrc", hrc), ("--source", source), ("--decoded", decoded),
                                                    ("--bitstream", bitstream)) if not value]
                if missing:
                    raise CommandError(f"importing one PVS needs {', '.join(missing)}")
                imported = [pvs_import(params=hrc, source=source, decoded=decoded, bitstream=bitstream, **common)]
        except PvsImportError as exc:
            raise CommandError(str(exc)) from exc
        for pvs in imported:
            self.stdout.write(f"PVS {pvs.pk}: {pvs.source.name} / {pvs.hrc.label}: {pvs.bitstream_bytes} bytes, "
                              f"{pvs.kbps:.2f} kbit/s, {pvs.source.frame_count} frames")
        self.stdout.write(f"{len(imported)} PVS{'s' if len(imported) != 1 else ''} imported; "
                          "compute their metrics with `python manage.py compute_metrics --pvs "
                          f"{' '.join(str(pvs.pk) for pvs in imported)}`")
