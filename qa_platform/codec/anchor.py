"""Raw H.264/H.265/H.266/AV1/VP9 elementary streams, no container. Django-free.

Encoders run in-process through PyAV's CodecContext, except those PyAV's
FFmpeg lacks (libvvenc, VVC): they run in the FFmpeg program of the
``imageio-ffmpeg`` wheel (``qa_platform.codec.ffmpeg``), fed the same
Y'CbCr 4:2:0 pictures through a pipe (``StreamFormat.program_muxer``). Every
stream is decoded in-process by PyAV's FFmpeg (its native VVC decoder for
H.266).

The anchors run low delay, as the VTM anchors of the GFVC literature do
(VTM's ``encoder_lowdelay_P`` configuration: one intra frame, then P frames
only): no B frames, no look-ahead, no scene-cut intra, an infinite GOP and a
constant QP. Frame-level threading is off (x264 one thread, x265 one frame
thread, wavefronts kept, SVT-AV1 one level of parallelism, libvpx one thread),
so a bitstream and its rate do not depend on the machine's core count.
H.264/H.265 streams are Annex B byte streams with the encoders' SEI
messages removed: they carry the encoder's name and option string (measured:
about 570 bytes from x264, 2.3 kB from x265), which no decoder needs and which
would be charged to the anchors' bitrate.

Framing (:class:`Framing`). H.264/H.265 Annex B streams delimit themselves
with start codes, and FFmpeg's parser splits them back into access units. AV1
and VP9 frames carry no start code, so each packet (an AV1 temporal unit, a
VP9 frame) is prefixed by its size in bytes as a ULEB128 integer (AV1 spec
Section 4.10.5): 1 byte for packets under 128 bytes, 2 bytes under 16 kB,
that is 0.2 to 0.4 kbit/s at 25 fps. IVF would spend 12 bytes a frame plus a
32-byte file header (2.4 kbit/s at 25 fps). AV1 temporal delimiter OBUs
(2 bytes a frame) are removed, as the AV1 ISOBMFF binding (Section 2.4) and
Matroska do, since the length prefix already marks where a temporal unit
ends; libdav1d decodes the OBUs without them. Each AV1 temporal unit is
otherwise the encoder's low-overhead bitstream format (AV1 spec Section 5).

Colour: RGB is converted to Y'CbCr 4:2:0 with the BT.601 matrix, limited
("MPEG") range, chroma downsampled by area averaging; the decoder converts back
with the same matrix and range and bilinear chroma upsampling. Both directions
use libswscale through PyAV with ``BITEXACT``, so a decode repeats byte for byte.
"""
import contextlib
import enum
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from qa_platform.codec import ffmpeg, video
from qa_platform.codec.base import Codec, CodecError, Family, SourceClip
from qa_platform.codec.bitstream import (
    SUFFIX,
    BitstreamError,
    BitstreamHeader,
    only_file,
    pack_uleb128,
    read_bitstream,
    read_uleb128,
    write_bitstream,
)

QP_RANGE = range(52)
PIX_FMT = "yuv420p"
_TO_YUV = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
_TO_RGB = (Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
           | Interpolation.BITEXACT)


class Framing(enum.StrEnum):
    """How a stream marks where one packet ends and the next begins (see the module docstring)."""

    ANNEX_B = "annex-b"  # start codes (ITU-T H.264/H.265 Annex B), split by FFmpeg's parser
    LEB128 = "leb128"  # each packet prefixed by its size in bytes, ULEB128 (AV1 spec 4.10.5)


@dataclass(frozen=True)
class StreamFormat:
    """One encoder, declared by its anchor plugin: its FFmpeg encoder and decoder
    names, the unit types to drop (``filter_units`` ``remove_types``, "" for
    none), its low-delay options at a QP (``options(qp) -> dict``), its QP range
    and its packet framing."""

    encoder: str
    decoder: str
    drop_units: str
    options: Callable[[int], dict[str, str]]
    qp_range: range = QP_RANGE
    framing: Framing = Framing.ANNEX_B
    # Environment variables the encoder library reads, set (where unset) while it encodes.
    environment: dict[str, str] = field(default_factory=dict)
    # Run the encoder in the FFmpeg program, writing the stream with this raw muxer (e.g. "vvc"); "" = PyAV.
    program_muxer: str = ""
    # The pixel format the encoder takes: "yuv420p", or "yuv420p10le" (the 8-bit picture x 4, exact).
    input_pix_fmt: str = PIX_FMT


LIBRARY_VERSION = f"PyAV {av.__version__}, libavcodec " + ".".join(map(str, av.library_versions["libavcodec"]))


def check_qp(qp, qp_range: range = QP_RANGE) -> int:
    """Return ``qp`` as an int when it is an integer in ``qp_range`` (default 0..51), else raise ``CodecError``."""
    if isinstance(qp, bool) or not isinstance(qp, (int, np.integer)) or int(qp) not in qp_range:
        raise CodecError(f"QP must be an integer from {qp_range.start} to {qp_range.stop - 1}, got {qp!r}")
    return int(qp)


def join_packets(packets: list[bytes], framing: Framing) -> bytes:
    """One stream from its packets: concatenated (Annex B) or each after its ULEB128 size."""
    if framing is Framing.ANNEX_B:
        return b"".join(packets)
    return b"".join(pack_uleb128(len(packet)) + packet for packet in packets)


def split_packets(data: bytes, framing: Framing, context: av.CodecContext) -> list[av.Packet]:
    """The packets of a stream made by :func:`join_packets`, for decoder ``context``.

    Annex B streams go through the decoder's parser. ULEB128-framed streams
    are cut at the sizes; an empty packet or one that runs past the end
    raises ``BitstreamError``. Each packet's pts is its decoding order, so a
    decoded frame's pts says where it was in the stream.
    """
    if framing is Framing.ANNEX_B:
        packets = context.parse(data) + context.parse(None)
    else:
        packets = [av.Packet(payload) for payload in leb128_payloads(data)]
    for index, packet in enumerate(packets):
        packet.pts = index
    return packets


def leb128_payloads(data: bytes) -> list[bytes]:
    """The packets of a ULEB128-framed stream; ``BitstreamError`` for an empty one or one past the end."""
    payloads, offset = [], 0
    while offset < len(data):
        size, offset = read_uleb128(data, offset, f"size of packet {len(payloads)}")
        if not size or offset + size > len(data):
            raise BitstreamError(f"packet {len(payloads)} announces {size} bytes, {len(data) - offset} remain")
        payloads.append(data[offset:offset + size])
        offset += size
    return payloads


# Annex B streams as reference decoders read them, by FFmpeg decoder: the usual file suffixes.
ANNEX_B_SUFFIX = {"h264": ".264", "hevc": ".265", "vvc": ".266"}
# IVF four-character codes (as libaom's and libvpx's IVF writers use), by FFmpeg decoder.
IVF_FOURCC = {"libdav1d": b"AV01", "vp9": b"VP90"}
# An AV1 temporal delimiter OBU: header (type 2, has_size_field) and obu_size 0 (AV1 spec 5.3, 5.6).
AV1_TEMPORAL_DELIMITER = b"\x12\x00"


def reference_stream(data: bytes, fmt: StreamFormat, header: BitstreamHeader) -> tuple[str, bytes]:
    """A stored elementary stream as reference decoders read it: (file suffix, bytes).

    H.264/H.265/H.266 Annex B streams are returned unchanged (``.264``,
    ``.265``, ``.266``: VTM's DecoderApp, HM, JM, vvdec and FFmpeg read them).
    ULEB128-framed AV1 and VP9 become IVF (``.ivf``: aomdec, dav1d, vpxdec):
    a 32-byte file header, then each packet after a 12-byte frame header
    (size, pts). AV1 temporal units get back the temporal delimiter OBU the
    encoder's stream had (AV1 spec 7.5: each temporal unit starts with one).
    """
    if fmt.framing is Framing.ANNEX_B:
        return ANNEX_B_SUFFIX.get(fmt.decoder, ".bit"), data
    packets = leb128_payloads(data)
    if fmt.decoder == "libdav1d":
        packets = [AV1_TEMPORAL_DELIMITER + packet for packet in packets]
    fps = Fraction(header.fps)
    file_header = struct.pack("<4sHH4sHHIII4x", b"DKIF", 0, 32, IVF_FOURCC[fmt.decoder], header.width,
                              header.height, fps.numerator, fps.denominator, len(packets))
    frames = [struct.pack("<IQ", len(packet), pts) + packet for pts, packet in enumerate(packets)]
    return ".ivf", file_header + b"".join(frames)


def check_frames(frames: np.ndarray) -> np.ndarray:
    """``qa_platform.codec.video.check_frames``, raising ``CodecError`` (what codec callers catch)."""
    try:
        return video.check_frames(frames)
    except ValueError as exc:
        raise CodecError(str(exc)) from exc


def _check_even(fmt: StreamFormat, width: int, height: int) -> None:
    if width % 2 or height % 2:
        raise CodecError(f"{fmt.encoder} codes 4:2:0, which needs an even frame size; got {width}x{height}")


def _encoder_context(fmt: StreamFormat, width: int, height: int, fps: Fraction, qp: int):
    _check_even(fmt, width, height)
    context = av.CodecContext.create(fmt.encoder, "w")
    context.width, context.height = width, height
    context.pix_fmt = PIX_FMT
    context.framerate = Fraction(fps)
    context.time_base = 1 / Fraction(fps)
    context.colorspace = Colorspace.ITU601
    context.color_range = ColorRange.MPEG
    context.options = fmt.options(check_qp(qp, fmt.qp_range))
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
    """Y'CbCr 4:2:0 frame (BT.601, limited range, 8 or 10 bits) -> RGB uint8 (H, W, 3), full range.

    libswscale with ``ACCURATE_RND``: chroma upsampled bilinearly, the BT.601
    matrix applied to the limited-range samples (Y' 16..235, Cb/Cr 16..240 at 8
    bits; 64..940 and 64..960 at 10 bits) and each result rounded to the
    nearest 8-bit code, clipped to 0..255. A 10-bit picture goes straight to
    8-bit RGB in that one rounding; it is not first cut to 8-bit Y'CbCr.
    """
    return frame.reformat(
        format="rgb24", src_colorspace=Colorspace.ITU601, dst_colorspace=Colorspace.ITU601,
        src_color_range=ColorRange.MPEG, dst_color_range=ColorRange.JPEG, interpolation=_TO_RGB,
    ).to_ndarray()


@contextlib.contextmanager
def _environment(variables: dict[str, str]):
    """Set the variables that are unset for the duration of the block, then unset them again."""
    added = {name: value for name, value in variables.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def encode_frames(frames: np.ndarray, fps: Fraction, fmt: StreamFormat, qp: int) -> bytes:
    """Encode frames to an elementary stream, low delay at constant QP.

    frames: uint8 (T, H, W, 3) RGB, H and W even. fps: frames per second.
    fmt: the encoder (an anchor's ``stream``). qp: an integer in the format's
    ``qp_range``. Returns the stream in the format's framing, without the
    units it drops. Raises ``CodecError`` for a bad QP, frame array or size.
    """
    frames = check_frames(frames)
    if fmt.program_muxer:
        return _encode_in_program(frames, fps, fmt, check_qp(qp, fmt.qp_range))
    with _environment(fmt.environment):
        context = _encoder_context(fmt, frames.shape[2], frames.shape[1], fps, qp)
        packets = []
        for index, image in enumerate(frames):
            packets += context.encode(to_yuv(image, index))
        packets += context.encode(None)
    if fmt.drop_units:
        unit_filter = av.bitstream.BitStreamFilterContext(f"filter_units=remove_types={fmt.drop_units}", fmt.decoder)
        packets = [out for packet in packets for out in unit_filter.filter(packet)] + unit_filter.filter(None)
    return join_packets([bytes(packet) for packet in packets], fmt.framing)


def yuv420_planes(frames: np.ndarray, pix_fmt: str = PIX_FMT) -> bytes:
    """Raw planar Y'CbCr 4:2:0 of RGB frames, as an encoder program reads it from a pipe.

    frames: uint8 (T, H, W, 3) RGB, H and W even. Each frame is converted by
    :func:`to_yuv` (BT.601, limited range, 8-bit) and written as its Y, Cb, Cr
    planes. pix_fmt "yuv420p10le": the 8-bit samples times 4 as 16-bit
    little-endian words, the exact 10-bit picture of the 8-bit one (an encoder
    working at 8 bits internally gets the 8-bit picture back).
    """
    if pix_fmt not in (PIX_FMT, "yuv420p10le"):
        raise CodecError(f"an encoder program takes yuv420p or yuv420p10le, not {pix_fmt}")
    planes = np.stack([to_yuv(image, index).to_ndarray() for index, image in enumerate(frames)])
    return planes.tobytes() if pix_fmt == PIX_FMT else (planes.astype("<u2") << 2).tobytes()


def _encode_in_program(frames: np.ndarray, fps: Fraction, fmt: StreamFormat, qp: int) -> bytes:
    """Encode with ``fmt.encoder`` in the FFmpeg program; raw 4:2:0 in through stdin, the stream out of stdout."""
    height, width = frames.shape[1:3]
    _check_even(fmt, width, height)
    fps = Fraction(fps)
    options = [arg for key, value in fmt.options(qp).items() for arg in (f"-{key}", value)]
    args = ["-f", "rawvideo", "-pix_fmt", fmt.input_pix_fmt, "-s", f"{width}x{height}",
            "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "-",
            "-c:v", fmt.encoder, *options, "-f", fmt.program_muxer, "-"]
    try:
        with _environment(fmt.environment):
            return ffmpeg.run(args, stdin=yuv420_planes(frames, fmt.input_pix_fmt))
    except ffmpeg.FFmpegError as exc:
        raise CodecError(f"{fmt.encoder}: {exc}") from exc


def decode_pictures(data: bytes, fmt: StreamFormat) -> list[av.VideoFrame]:
    """Decode a stream made by encoder ``fmt`` with FFmpeg: its pictures in output order.

    The parser and then the decoder are flushed, so every coded frame comes
    back. Raises ``BitstreamError`` when the framing or FFmpeg rejects the stream.
    """
    context = av.CodecContext.create(fmt.decoder, "r")
    try:
        packets = split_packets(bytes(data), fmt.framing, context)
        frames = [frame for packet in packets for frame in context.decode(packet)]
        frames += context.decode(None)
    except (av.FFmpegError, BitstreamError) as exc:
        raise BitstreamError(f"the {fmt.encoder} elementary stream is damaged: {exc}") from exc
    if not frames:
        raise BitstreamError(f"the {fmt.encoder} elementary stream holds no decodable frame")
    return frames


def decode_frames(data: bytes, fmt: StreamFormat) -> np.ndarray:
    """Decode a stream made by encoder ``fmt``: uint8 (T, H, W, 3) RGB; errors as :func:`decode_pictures`."""
    return np.stack([to_rgb(frame) for frame in decode_pictures(data, fmt)])


def check_decoded(frames: np.ndarray, header: BitstreamHeader, path: Path) -> np.ndarray:
    """Return ``frames`` when their count and size match ``header``, else raise ``BitstreamError``."""
    expected = (header.frame_count, header.height, header.width, 3)
    if frames.shape != expected:
        raise BitstreamError(
            f"{path}: decoded {frames.shape}, the header announces {expected}; the bitstream is damaged"
        )
    return frames


class AnchorCodec(Codec):
    """A conventional anchor: one PyAV encoder, low delay, parameter ``qp`` (the format's ``qp_range``).

    Subclasses set ``name``, ``stream`` (their encoder's :class:`StreamFormat`,
    with its options) and ``default_rate_points``. The bitstream is one file
    holding one section, the elementary stream in its format's framing.
    """

    family = Family.CONVENTIONAL
    param_names = ("qp",)
    stream: ClassVar[StreamFormat]

    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Encode ``clip`` at ``params["qp"]`` into ``workdir/<name>.fqbs``."""
        params = self.check_params(params)
        qp_range = self.stream.qp_range
        if "qp" not in params:
            raise CodecError(f"{self.name} needs parameter qp ({qp_range.start}..{qp_range.stop - 1}), "
                             f"e.g. {self.default_rate_points[0]}")
        coded = {key: params[key] for key in self.param_names if key in params}
        coded["qp"] = check_qp(params["qp"], qp_range)
        frames = check_frames(clip.frames)
        stream = encode_frames(frames, clip.fps, self.stream_for(coded), coded["qp"])
        header = BitstreamHeader(codec=self.name, params=coded, width=frames.shape[2],
                                 height=frames.shape[1], fps=clip.fps, frame_count=len(frames))
        return [write_bitstream(Path(workdir) / f"{self.name}{SUFFIX}", header, [stream])]

    def stream_for(self, params: dict) -> StreamFormat:
        """The stream format an HRC's parameters select; ``stream`` unless a subclass has more than one."""
        return self.stream

    def intra_encode(self, frame: np.ndarray, fps: Fraction, qp: int) -> bytes:
        """One frame, uint8 (H, W, 3) RGB, as a one-frame elementary stream at ``qp`` (a key frame)."""
        return encode_frames(np.asarray(frame)[None], fps, self.stream, check_qp(qp, self.stream.qp_range))

    def intra_decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        """The frame of a one-frame stream: uint8 (H, W, 3) RGB; ``BitstreamError`` when damaged."""
        return decode_frames(data, self.stream)[0]

    def export_streams(self, bitstream: list[Path]) -> dict[str, bytes]:
        """The elementary stream of the one bitstream file as reference decoders read it (:func:`reference_stream`)."""
        header, (stream,) = read_bitstream(only_file(bitstream), codec=self.name, sections=1)
        suffix, data = reference_stream(stream, self.stream, header)
        return {f"{self.name}{suffix}": data}

    def rate_ladder(self) -> list[dict]:
        """Every QP of the format, highest (lowest rate) first."""
        return [{"qp": qp} for qp in reversed(self.stream.qp_range)]

    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Decode the one bitstream file: uint8 (T, H, W, 3) RGB."""
        path = only_file(bitstream)
        header, (stream,) = read_bitstream(path, codec=self.name, sections=1)
        return check_decoded(decode_frames(stream, self.stream), header, path)
