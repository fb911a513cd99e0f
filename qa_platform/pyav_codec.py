"""Raw H.264/H.265 elementary streams through PyAV's CodecContext (no container). Django-free.

The anchors run low delay, as the VTM anchors of the GFVC literature do
(VTM's ``encoder_lowdelay_P`` configuration: one intra frame, then P frames
only): no B frames, no look-ahead, no scene-cut intra, an infinite GOP and a
constant QP. Frame-level threading is off (x264 one thread, x265 one frame
thread, wavefronts kept), so a bitstream and its rate do not depend on the
machine's core count. Streams are Annex B byte streams with the encoders' SEI
messages removed: they carry the encoder's name and option string (measured:
about 570 bytes from x264, 2.3 kB from x265), which no decoder needs and which
would be charged to the anchors' bitrate.

Colour: RGB is converted to Y'CbCr 4:2:0 with the BT.601 matrix, limited
("MPEG") range, chroma downsampled by area averaging; the decoder converts back
with the same matrix and range and bilinear chroma upsampling. Both directions
use libswscale through PyAV with ``BITEXACT``, so a decode repeats byte for byte.
"""
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from qa_platform import video
from qa_platform.bitstream import (
    SUFFIX,
    BitstreamError,
    BitstreamHeader,
    only_file,
    read_bitstream,
    write_bitstream,
)
from qa_platform.codec_api import Codec, CodecError, Family, SourceClip

QP_RANGE = range(0, 52)
PIX_FMT = "yuv420p"
_TO_YUV = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
_TO_RGB = (Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
           | Interpolation.BITEXACT)


def _x264_options(qp: int) -> dict[str, str]:
    return {"qp": str(qp), "preset": "medium", "tune": "zerolatency",
            "x264-params": "bframes=0:rc-lookahead=0:keyint=infinite:scenecut=0:sync-lookahead=0:threads=1"}


def _x265_options(qp: int) -> dict[str, str]:
    return {"preset": "medium", "tune": "zerolatency",
            "x265-params": f"qp={qp}:bframes=0:rc-lookahead=0:keyint=-1:scenecut=0:frame-threads=1:log-level=error"}


@dataclass(frozen=True)
class StreamFormat:
    """One encoder: its FFmpeg decoder, the SEI NAL unit types to drop and its
    low-delay options at a QP (``options(qp) -> dict``)."""

    encoder: str
    decoder: str
    sei_types: str
    options: Callable[[int], dict[str, str]]


# NAL unit types: H.264 SEI is 6 (ITU-T H.264 Table 7-1); H.265 prefix and
# suffix SEI are 39 and 40 (ITU-T H.265 Table 7-1).
FORMATS = {
    "libx264": StreamFormat(encoder="libx264", decoder="h264", sei_types="6", options=_x264_options),
    "libx265": StreamFormat(encoder="libx265", decoder="hevc", sei_types="39|40", options=_x265_options),
}

LIBRARY_VERSION = f"PyAV {av.__version__}, libavcodec " + ".".join(map(str, av.library_versions["libavcodec"]))


def stream_format(encoder: str) -> StreamFormat:
    """The :class:`StreamFormat` of ``encoder`` ("libx264" or "libx265")."""
    try:
        return FORMATS[encoder]
    except KeyError:
        raise CodecError(f"no elementary-stream format for encoder {encoder!r}; known: {', '.join(FORMATS)}") from None


def check_qp(qp) -> int:
    """Return ``qp`` as an int when it is an integer in 0..51, else raise ``CodecError``."""
    if isinstance(qp, bool) or not isinstance(qp, (int, np.integer)) or int(qp) not in QP_RANGE:
        raise CodecError(f"QP must be an integer from 0 to 51, got {qp!r}")
    return int(qp)


def check_frames(frames: np.ndarray) -> np.ndarray:
    """``qa_platform.video.check_frames``, raising ``CodecError`` (what codec callers catch)."""
    try:
        return video.check_frames(frames)
    except ValueError as exc:
        raise CodecError(str(exc)) from exc


def _encoder_context(fmt: StreamFormat, width: int, height: int, fps: Fraction, qp: int):
    if width % 2 or height % 2:
        raise CodecError(f"{fmt.encoder} codes 4:2:0, which needs an even frame size; got {width}x{height}")
    context = av.CodecContext.create(fmt.encoder, "w")
    context.width, context.height = width, height
    context.pix_fmt = PIX_FMT
    context.framerate = Fraction(fps)
    context.time_base = 1 / Fraction(fps)
    context.colorspace = Colorspace.ITU601
    context.color_range = ColorRange.MPEG
    context.options = fmt.options(qp)
    return context


def to_yuv(image: np.ndarray, index: int) -> av.VideoFrame:
    """RGB uint8 (H, W, 3), full range -> yuv420p frame (BT.601, limited range) with pts ``index``."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
        format=PIX_FMT, src_colorspace=Colorspace.ITU601, dst_colorspace=Colorspace.ITU601,
        src_color_range=ColorRange.JPEG, dst_color_range=ColorRange.MPEG, interpolation=_TO_YUV,
    )
    frame.pts = index
    return frame


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """yuv420p frame (BT.601, limited range) -> RGB uint8 (H, W, 3), full range."""
    return frame.reformat(
        format="rgb24", src_colorspace=Colorspace.ITU601, dst_colorspace=Colorspace.ITU601,
        src_color_range=ColorRange.MPEG, dst_color_range=ColorRange.JPEG, interpolation=_TO_RGB,
    ).to_ndarray()


def encode_frames(frames: np.ndarray, fps: Fraction, encoder: str, qp: int) -> bytes:
    """Encode frames to an Annex B elementary stream, low delay at constant QP.

    frames: uint8 (T, H, W, 3) RGB, H and W even. fps: frames per second.
    encoder: "libx264" or "libx265". qp: 0..51. Returns the stream without SEI.
    """
    fmt = stream_format(encoder)
    frames = check_frames(frames)
    context = _encoder_context(fmt, frames.shape[2], frames.shape[1], fps, check_qp(qp))
    packets = []
    for index, image in enumerate(frames):
        packets += context.encode(to_yuv(image, index))
    packets += context.encode(None)
    sei_filter = av.bitstream.BitStreamFilterContext(f"filter_units=remove_types={fmt.sei_types}", fmt.decoder)
    filtered = [out for packet in packets for out in sei_filter.filter(packet)]
    filtered += sei_filter.filter(None)
    return b"".join(bytes(packet) for packet in filtered)


def decode_frames(data: bytes, encoder: str) -> np.ndarray:
    """Decode an Annex B stream made by ``encoder``: uint8 (T, H, W, 3) RGB.

    The parser and then the decoder are flushed, so every coded frame comes
    back. Raises ``BitstreamError`` when FFmpeg rejects the stream.
    """
    context = av.CodecContext.create(stream_format(encoder).decoder, "r")
    try:
        packets = context.parse(bytes(data)) + context.parse(None)
        frames = [frame for packet in packets for frame in context.decode(packet)]
        frames += context.decode(None)
    except av.FFmpegError as exc:
        raise BitstreamError(f"the {encoder} elementary stream is damaged: {exc}") from exc
    if not frames:
        raise BitstreamError(f"the {encoder} elementary stream holds no decodable frame")
    return np.stack([to_rgb(frame) for frame in frames])


def check_decoded(frames: np.ndarray, header: BitstreamHeader, path: Path) -> np.ndarray:
    """Return ``frames`` when their count and size match ``header``, else raise ``BitstreamError``."""
    expected = (header.frame_count, header.height, header.width, 3)
    if frames.shape != expected:
        raise BitstreamError(
            f"{path}: decoded {frames.shape}, the header announces {expected}; the bitstream is damaged"
        )
    return frames


class AnchorCodec(Codec):
    """A conventional anchor: one PyAV encoder, low delay, parameter ``qp`` (0..51).

    Subclasses set ``name``, ``encoder`` (a key of :data:`FORMATS`) and
    ``default_rate_points``. The bitstream is one file holding one section,
    the Annex B elementary stream.
    """

    family = Family.CONVENTIONAL
    param_names = ("qp",)
    encoder: ClassVar[str]

    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Encode ``clip`` at ``params["qp"]`` into ``workdir/<name>.fqbs``."""
        params = self.check_params(params)
        if "qp" not in params:
            raise CodecError(f"{self.name} needs parameter qp (0..51), e.g. {{'qp': 37}}")
        qp = check_qp(params["qp"])
        frames = check_frames(clip.frames)
        stream = encode_frames(frames, clip.fps, self.encoder, qp)
        header = BitstreamHeader(codec=self.name, params={"qp": qp}, width=frames.shape[2],
                                 height=frames.shape[1], fps=clip.fps, frame_count=len(frames))
        return [write_bitstream(Path(workdir) / f"{self.name}{SUFFIX}", header, [stream])]

    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Decode the one bitstream file: uint8 (T, H, W, 3) RGB."""
        path = only_file(bitstream)
        header, (stream,) = read_bitstream(path, codec=self.name, sections=1)
        return check_decoded(decode_frames(stream, self.encoder), header, path)
