"""The frame files an external encoder reads and its decoder writes: Y4M, raw 4:2:0 or raw RGB. Django-free.

RGB <-> Y'CbCr 4:2:0 uses the PyAV anchors' conversion
(``qa_platform.codec.anchor.to_yuv``/``to_rgb``: BT.601, limited range), so every
codec sees the same 4:2:0 source.
"""
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from qa_platform.codec.anchor import check_frames, to_rgb, to_yuv
from qa_platform.codec.base import CodecError
from qa_platform.codec.bitstream import BitstreamError

# y4m: YUV4MPEG2 8-bit 4:2:0; yuv420p: raw planar Y, U, V (VTM/HM .yuv); rgb24: raw interleaved RGB; rgbp: raw planar R, G, B.
FRAME_FORMATS = ("y4m", "yuv420p", "rgb24", "rgbp")


def _frame_bytes(fmt: str, width: int, height: int) -> int:
    if fmt in ("y4m", "yuv420p"):
        return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    return width * height * 3


def write_raw_frames(path: Path, frames: np.ndarray, fps: Fraction, fmt: str) -> Path:
    """Write RGB frames, uint8 (T, H, W, 3), in ``fmt`` (one of :data:`FRAME_FORMATS`) for an encoder.

    Y'CbCr formats need an even frame size (4:2:0); ``CodecError`` otherwise.
    """
    frames = check_frames(frames)
    height, width = frames.shape[1:3]
    if fmt in ("y4m", "yuv420p") and (width % 2 or height % 2):
        raise CodecError(f"{fmt} input is 4:2:0, which needs an even frame size; got {width}x{height}")
    if fmt == "y4m":
        with av.open(str(path), "w", format="yuv4mpegpipe") as container:
            stream = container.add_stream("wrapped_avframe", rate=Fraction(fps))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for index, image in enumerate(frames):
                container.mux(stream.encode(to_yuv(image, index)))
            container.mux(stream.encode(None))
        return Path(path)
    with open(path, "wb") as handle:
        for index, image in enumerate(frames):
            if fmt == "yuv420p":
                handle.write(to_yuv(image, index).to_ndarray().tobytes())
            elif fmt == "rgbp":
                handle.write(np.ascontiguousarray(image.transpose(2, 0, 1)).tobytes())
            else:
                handle.write(image.tobytes())
    return Path(path)


def read_raw_frames(path: Path, fmt: str, frame_count: int, width: int, height: int) -> np.ndarray:
    """Read what a decoder wrote in ``fmt``: RGB uint8 (T, H, W, 3).

    Raises ``BitstreamError`` when the file is missing or does not hold exactly
    ``frame_count`` frames of ``width`` x ``height``.
    """
    path = Path(path)
    expected = f"{frame_count} frames of {width}x{height}"
    if not path.is_file():
        raise BitstreamError(f"the decoder wrote no output file {path.name}; expected {expected}")
    if fmt == "y4m":
        try:
            with av.open(str(path), format="yuv4mpegpipe") as container:
                decoded = list(container.decode(container.streams.video[0]))
        except (av.FFmpegError, IndexError) as exc:
            raise BitstreamError(f"the decoder's Y4M output is not readable: {exc}") from exc
        shapes = {(frame.height, frame.width, frame.format.name) for frame in decoded}
        if len(decoded) != frame_count or shapes != {(height, width, "yuv420p")}:
            raise BitstreamError(f"the decoder wrote {len(decoded)} Y4M frames of {sorted(shapes)}, "
                                 f"expected {expected}, yuv420p")
        return np.stack([to_rgb(frame) for frame in decoded])
    size = _frame_bytes(fmt, width, height)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size != frame_count * size:
        raise BitstreamError(f"the decoder wrote {data.size} bytes of {fmt}, expected {expected}: "
                             f"{frame_count} x {size} = {frame_count * size} bytes")
    if fmt == "yuv420p":
        planes = data.reshape(frame_count, height * 3 // 2, width)
        return np.stack([to_rgb(av.VideoFrame.from_ndarray(plane, format="yuv420p")) for plane in planes])
    if fmt == "rgbp":
        return np.ascontiguousarray(data.reshape(frame_count, 3, height, width).transpose(0, 2, 3, 1))
    return data.reshape(frame_count, height, width, 3)


