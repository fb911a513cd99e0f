"""The FaceQA bitstream container: one self-describing file per PVS. Django-free.

Every byte of the file counts in the PVS bitrate (DESIGN.md, "bitstream"), so
the header is kept to a few tens of bytes. Layout, integers little-endian:

====================  =====  ===================================================
field                 bytes  meaning
====================  =====  ===================================================
magic                 4      ``b"FQBS"``
version               1      container format version, :data:`VERSION`
width, height         2 + 2  frame size, pixels
fps num, fps den      4 + 4  frame rate, frames per second, as a fraction
frame count           4      frames the decoder must output
codec name length     1      then the codec name, UTF-8
params length         2      then the codec parameters, canonical JSON (UTF-8)
section count         1      then per section: length (4 bytes) and payload
====================  =====  ===================================================

A section is an opaque payload the codec defines (an H.264/H.265 Annex B
elementary stream, a key frame, a feature stream). Nothing may follow the
last section: trailing bytes are an error, as are missing ones.
"""
import json
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from qa_platform.codec.base import params_key
from qa_platform.codec.storage import write_bytes_atomic

MAGIC = b"FQBS"
VERSION = 1
SUFFIX = ".fqbs"

_VERSION = struct.Struct("<B")
_FRAME_FORMAT = struct.Struct("<HHIII")
_NAME_LENGTH = struct.Struct("<B")
_PARAMS_LENGTH = struct.Struct("<H")
_SECTION_COUNT = struct.Struct("<B")
_SECTION_LENGTH = struct.Struct("<I")


class BitstreamError(ValueError):
    """A file is not a complete FaceQA bitstream, or not one a decoder can read."""


@dataclass(frozen=True)
class BitstreamHeader:
    """What every decoder learns before its sections.

    codec: the codec name. params: the encoder's parameter dict (JSON values).
    width, height: frame size, pixels. fps: frames per second. frame_count:
    frames the decoder outputs.
    """

    codec: str
    params: dict
    width: int
    height: int
    fps: Fraction
    frame_count: int


def pack_bitstream(header: BitstreamHeader, sections: list[bytes]) -> bytes:
    """Serialise a header and its sections to the container format above.

    Raises ``BitstreamError`` for a value that does not fit its field.
    """
    name = header.codec.encode()
    params = params_key(header.params).encode()
    fps = Fraction(header.fps)
    try:
        parts = [
            MAGIC, _VERSION.pack(VERSION),
            _FRAME_FORMAT.pack(header.width, header.height, fps.numerator, fps.denominator,
                               header.frame_count),
            _NAME_LENGTH.pack(len(name)), name,
            _PARAMS_LENGTH.pack(len(params)), params,
            _SECTION_COUNT.pack(len(sections)),
        ]
        for section in sections:
            parts += [_SECTION_LENGTH.pack(len(section)), bytes(section)]
    except struct.error as exc:
        raise BitstreamError(f"a header field or section does not fit the container format: {exc}") from exc
    return b"".join(parts)


class _Reader:
    """Reads fields off a byte string; running off its end is truncation."""

    def __init__(self, data: bytes, source: str):
        self.data = data
        self.offset = 0
        self.source = source

    def take(self, size: int, what: str) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise BitstreamError(
                f"{self.source}: truncated in the {what} (needs {end} bytes, has "
                f"{len(self.data)}); the file is incomplete: encode it again"
            )
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def unpack(self, layout: struct.Struct, what: str) -> tuple:
        return layout.unpack(self.take(layout.size, what))


def unpack_bitstream(data: bytes, source: str = "bitstream") -> tuple[BitstreamHeader, list[bytes]]:
    """Parse the container format; ``source`` names the data in error messages.

    Returns (header, sections). Raises ``BitstreamError`` on a wrong magic, an
    unknown version, a zero frame size or rate, truncation or trailing bytes.
    """
    reader = _Reader(bytes(data), source)
    magic = reader.take(len(MAGIC), "magic")
    if magic != MAGIC:
        raise BitstreamError(f"{source}: not a FaceQA bitstream (starts with {magic!r}, expected {MAGIC!r})")
    (version,) = reader.unpack(_VERSION, "version")
    if version != VERSION:
        raise BitstreamError(
            f"{source}: container version {version} is not supported (this FaceQA reads version {VERSION})"
        )
    width, height, fps_num, fps_den, frame_count = reader.unpack(_FRAME_FORMAT, "frame format")
    if not (width and height and fps_num and fps_den and frame_count):
        raise BitstreamError(f"{source}: the header holds a zero frame size, frame rate or frame count")
    (name_length,) = reader.unpack(_NAME_LENGTH, "codec name length")
    name = reader.take(name_length, "codec name")
    (params_length,) = reader.unpack(_PARAMS_LENGTH, "parameter length")
    codec, params = _decode_identity(name, reader.take(params_length, "codec parameters"), source)
    (count,) = reader.unpack(_SECTION_COUNT, "section count")
    sections = [reader.take(reader.unpack(_SECTION_LENGTH, f"length of section {index}")[0],
                            f"section {index}") for index in range(count)]
    if reader.offset != len(reader.data):
        raise BitstreamError(f"{source}: {len(reader.data) - reader.offset} unexpected bytes after the last section")
    header = BitstreamHeader(codec=codec, params=params, width=width, height=height,
                             fps=Fraction(fps_num, fps_den), frame_count=frame_count)
    return header, sections


def _decode_identity(name: bytes, params: bytes, source: str) -> tuple[str, dict]:
    try:
        codec, decoded = name.decode(), json.loads(params)
    except ValueError as exc:
        raise BitstreamError(f"{source}: the codec name or parameters are damaged ({exc})") from exc
    if not isinstance(decoded, dict):
        raise BitstreamError(f"{source}: the codec parameters are not a JSON object")
    return codec, decoded


def write_bitstream(path: Path, header: BitstreamHeader, sections: list[bytes]) -> Path:
    """Write one bitstream file atomically (temporary name, then rename); return ``path``."""
    return write_bytes_atomic(Path(path), pack_bitstream(header, sections))


def read_bitstream(path: Path, codec: str | None = None,
                   sections: int | None = None) -> tuple[BitstreamHeader, list[bytes]]:
    """Read a bitstream file: (header, sections).

    With ``codec``, also check that the file was written by that codec; with
    ``sections``, that it holds that many sections. Raises ``BitstreamError``
    for a missing, foreign, damaged or truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise BitstreamError(f"{path}: no such bitstream file")
    header, found = unpack_bitstream(path.read_bytes(), source=str(path))
    if codec is not None and header.codec != codec:
        raise BitstreamError(f"{path}: written by codec {header.codec!r}, cannot be decoded by {codec!r}")
    if sections is not None and len(found) != sections:
        raise BitstreamError(f"{path}: {header.codec} bitstreams hold {sections} section(s), this one {len(found)}")
    return header, found


def only_file(paths: list[Path]) -> Path:
    """The single file of a one-file bitstream; ``BitstreamError`` when there are more or none."""
    if len(paths) != 1:
        raise BitstreamError(f"expected exactly one bitstream file, got {len(paths)}: {[str(p) for p in paths]}")
    return Path(paths[0])


def pack_uleb128(value: int) -> bytes:
    """An unsigned integer as ULEB128 (AV1 spec 4.10.5 ``leb128()``): 7 bits per byte, low first."""
    if value < 0:
        raise BitstreamError(f"ULEB128 codes unsigned integers, got {value}")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_uleb128(data: bytes, offset: int, what: str) -> tuple[int, int]:
    """Read a ULEB128 integer at ``offset``: (value, offset after it).

    ``what`` names the field in the ``BitstreamError`` raised when the data
    ends inside it or it runs past 8 bytes (AV1's limit).
    """
    value = 0
    for position in range(8):
        if offset + position >= len(data):
            raise BitstreamError(f"truncated in the {what}")
        byte = data[offset + position]
        value |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            return value, offset + position + 1
    raise BitstreamError(f"the {what} is longer than 8 bytes: the stream is damaged")
