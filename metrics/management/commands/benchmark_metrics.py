from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from metrics import benchmark, compute, services
from metrics.registry import UnknownMetricError
from qa_platform.video import VideoError


class Command(BaseCommand):
    help = (
        "Time every metric (ms per frame) on one clip and a degraded copy of it (blur + noise), "
        "as the PVS service computes them. Without --clip a synthetic clip is used (no face: "
        "AED and AKD then fail); e.g. --clip ../shared/faces/fomm_demo_00.mp4."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clip", type=Path, help="A video with a face (cropped square and resized).")
        parser.add_argument("--frames", type=int, default=125, help="Frames to use (default 125).")
        parser.add_argument("--size", type=int, default=256, help="Frame side in pixels (default 256).")
        parser.add_argument("--batch-size", type=int, default=compute.DEFAULT_BATCH_SIZE)
        parser.add_argument("--metrics", help="Comma-separated metric names (default: all registered).")

    def handle(self, *args, clip, frames, size, batch_size, metrics, **options):
        try:
            specs = services.metric_specs(metrics.split(",") if metrics else None)
            reference = benchmark.load_clip(clip, frames, size) if clip else benchmark.synthetic_clip(frames, size)
        except (UnknownMetricError, VideoError) as exc:
            raise CommandError(exc.args[0]) from exc
        device = compute.default_device()
        timings = benchmark.time_metrics(
            specs, benchmark.degrade(reference), reference, device=device, batch_size=batch_size
        )
        self.stdout.write(
            f"{len(reference)} frames {reference.shape[2]}x{reference.shape[1]}, device {device}, "
            f"batch {batch_size}\n{'metric':32} {'ms/frame':>9} {'total s':>8}  status"
        )
        for timing in timings:
            self.stdout.write(
                f"{timing.name:32} {timing.ms_per_frame:9.1f} {timing.seconds:8.2f}  {timing.status}"
            )
