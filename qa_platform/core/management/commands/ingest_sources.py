from fractions import Fraction
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qa_platform.core.ingest import expand_paths
from qa_platform.core.services import source_ingest


class Command(BaseCommand):
    help = (
        "Prepare video files (MP4/MKV/MOV/Y4M, or folders of them) as SRCs: one fixed "
        "square face crop per clip, resized, resampled, stored losslessly with a browser copy."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--size", type=int, default=256, help="Output side, pixels (default 256).")
        parser.add_argument("--fps", type=Fraction, default=Fraction(25), help="Output frame rate (default 25).")
        parser.add_argument("--frames", type=int, default=125, help="Keep at most this many frames (default 125).")

    def handle(self, *args, paths, size, fps, frames, **options):
        if size < 16 or frames < 1 or fps <= 0:
            raise CommandError("--size must be >= 16, --frames >= 1 and --fps > 0")
        files = expand_paths(paths)
        if not files:
            raise CommandError(f"no video files in {', '.join(map(str, paths))}")
        failed = 0
        for path in files:
            outcome = source_ingest(path=path, size=size, fps=fps, max_frames=frames)
            if outcome.status == "error":
                failed += 1
                self.stderr.write(f"{path}: {outcome.reason}")
            else:
                src = outcome.source
                self.stdout.write(
                    f"{path}: {outcome.status} as SRC {src.name} ({src.size}x{src.size}, "
                    f"{float(src.fps):g} fps, {src.frame_count} frames, crop {src.crop_size} px "
                    f"at {src.crop_x},{src.crop_y})"
                )
        self.stdout.write(f"{len(files) - failed} of {len(files)} files are SRCs.")
        if failed == len(files):
            raise CommandError("no file could be ingested")
