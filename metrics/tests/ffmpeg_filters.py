"""FFmpeg's own quality filters (psnr, ssim, vif, vmafmotion) through PyAV: the reference implementations our metrics are checked against."""
from fractions import Fraction

import av
import numpy as np

TIME_BASE = Fraction(1, 25)


def _frame(image: np.ndarray, pix_fmt: str, index: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
    frame.pts, frame.time_base = index, TIME_BASE
    return frame


def filter_metadata(name: str, *clips: np.ndarray, pix_fmt: str) -> list[dict[str, float]]:
    """Run FFmpeg filter ``name`` on uint8 RGB clips (T, H, W, 3) converted to
    ``pix_fmt`` (one input per clip, in FFmpeg's order: main, then reference);
    return the ``lavfi.*`` metadata it attaches to each output frame, as floats."""
    height, width = clips[0].shape[1:3]
    graph = av.filter.Graph()
    sources = [graph.add_buffer(width=width, height=height, format=pix_fmt, time_base=TIME_BASE) for _ in clips]
    quality = graph.add(name)
    sink = graph.add("buffersink")
    for pad, source in enumerate(sources):
        source.link_to(quality, 0, pad)
    quality.link_to(sink)
    graph.configure()
    metadata = []
    for index in range(len(clips[0])):
        for source, clip in zip(sources, clips):
            source.push(_frame(clip[index], pix_fmt, index))
        metadata += _drain(sink)
    for source in sources:
        source.push(None)
    return metadata + _drain(sink)


def _drain(sink) -> list[dict[str, float]]:
    frames = []
    while True:
        try:
            frame = sink.pull()
        except (av.BlockingIOError, av.EOFError):
            return frames
        frames.append({key: float(value) for key, value in frame.metadata.items() if key.startswith("lavfi.")})
