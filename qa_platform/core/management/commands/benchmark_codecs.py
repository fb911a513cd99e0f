from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from qa_platform.codec import benchmark as codec_benchmark
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import CodecError, SourceClip
from qa_platform.core.arguments import comma_list
from qa_platform.core.ingest import IngestError, expand_paths, prepare_clip
from qa_platform.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Encode and decode frames per second and bits per frame of every codec at each of its default "
        "rate points, on face clips prepared as SRCs are; for generative codecs also the feature "
        "stream's bits per frame by this platform's coder and as the JVET GFVC reference software "
        "codes it (each frame its own file, Exp-Golomb bins, adaptive binary arithmetic coding; an "
        "ideal coder's length)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clips", type=Path, default=None,
                            help="A folder of face videos (default: ../shared/faces beside the repository).")
        parser.add_argument("--max-clips", type=int, default=3, help="Clips used, first by name (default 3).")
        parser.add_argument("--frames", type=int, default=50, help="Frames per clip (default 50).")
        parser.add_argument("--size", type=int, default=256, help="Frame side in pixels (default 256).")
        parser.add_argument("--codecs", help="Comma-separated codec names (default: every codec that runs here).")

    def handle(self, *args, clips, max_clips, frames, size, codecs, **options):
        folder = clips or Path(settings.BASE_DIR).parent / "shared" / "faces"
        paths = expand_paths([folder])[:max_clips] if folder.is_dir() else []
        if not paths:
            raise CommandError(f"no video in {folder}; give --clips DIR")
        try:
            sources = [prepare_clip(path, size=size, max_frames=frames) for path in paths]
            chosen = [codec_registry.get_codec(name) for name in comma_list(codecs)] if codecs else [
                cls() for cls in codec_registry.all_codecs()]
        except (IngestError, CodecError) as exc:
            raise CommandError(str(exc)) from exc
        clip_list = [SourceClip(frames=source.frames, fps=source.fps) for source in sources]
        rows, notes = codec_benchmark.benchmark(chosen, clip_list,
                                                progress=lambda items: progress_bar(items, unit="HRC", desc="codecs"))
        for note in notes:
            self.stdout.write(note)
        self.stdout.write(f"{len(clip_list)} clips x {frames} frames at {size}x{size}, "
                          f"{float(clip_list[0].fps):g} fps; wall-clock times, this machine")
        self.stdout.write(codec_benchmark.timing_table(rows))
        ratio = codec_benchmark.mean_ratio(rows)
        if ratio is not None:
            self.stdout.write(f"feature streams: this platform's coder spends {ratio:.2f}x the bits of the "
                              "JVET-style coder on the same residuals (mean over the generative HRCs)")
