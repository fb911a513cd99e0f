"""Key frames by a manifest codec: one frame coded alone, its files packed into one section. Django-free."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa_platform.codec.base import CodecError, SourceClip
from qa_platform.codec.bitstream import (
    BitstreamError,
    BitstreamHeader,
    pack_uleb128,
    read_uleb128,
    write_bitstream,
)
from qa_platform.codec.manifest.schema import HEADER_NAME, PLACEHOLDER

if TYPE_CHECKING:
    from qa_platform.codec.manifest.codec import ManifestCodec

# The fps given to a single key frame: an intra frame does not depend on it.
KEY_FRAME_FPS = Fraction(25)


# Key frames (qa_platform.codec.key_frames): one frame coded alone. A codec whose
# bitstream is one plainly named file (VTM, vvenc) gives that file's bare
# bytes. Otherwise the files are packed in name order as: count (1 byte), then
# per file its name length (1 byte), the name (UTF-8) and its size (unsigned
# LEB128), then the files' bytes in the same order: an overhead of
# 1 + sum(1 + len(name) + len(LEB128(size))) bytes, 25 for the toy codec's
# luma.bin and chroma.bin (sizes from 128 bytes to 16 kB). When the decoder command uses
# rate parameters (the toy codec's {qp}; VTM's and vvdec's do not), their
# values go first, as a JSON list after its length (1 byte): 5 bytes for
# ``[28]``.

def pack_files(files: dict[str, bytes]) -> bytes:
    """Pack bitstream files (name -> bytes) as described above."""
    names = sorted(files)
    head = [bytes([len(names)])]
    for name in names:
        encoded = name.encode()
        head += [bytes([len(encoded)]), encoded, pack_uleb128(len(files[name]))]
    return b"".join(head + [files[name] for name in names])


def unpack_files(data: bytes) -> dict[str, bytes]:
    """Inverse of :func:`pack_files`; ``BitstreamError`` for truncated or trailing bytes."""
    if not data:
        raise BitstreamError("packed key frame is empty")
    count, offset, sizes = data[0], 1, []
    for _ in range(count):
        length = data[offset] if offset < len(data) else 0
        name = data[offset + 1:offset + 1 + length].decode(errors="replace")
        size, offset = read_uleb128(data, offset + 1 + length, "size of a packed key-frame file")
        sizes.append((name, size))
    files = {}
    for name, size in sizes:
        if offset + size > len(data):
            raise BitstreamError(f"packed key frame truncated in file {name}")
        files[name], offset = bytes(data[offset:offset + size]), offset + size
    if offset != len(data):
        raise BitstreamError(f"packed key frame has {len(data) - offset} trailing bytes")
    return files


def _single_name(codec: ManifestCodec) -> str | None:
    """The bitstream's one file name when the manifest declares exactly one plain name."""
    patterns = codec.manifest.bitstream
    return patterns[0] if len(patterns) == 1 and not any(ch in patterns[0] for ch in "*?[") else None


def _decoder_params(codec: ManifestCodec) -> list[str]:
    """The rate parameters the decoder command uses, in declaration order."""
    used = {found for argument in codec.manifest.decode_command for found in PLACEHOLDER.findall(argument)}
    return [name for name in codec.manifest.params if name in used]


def _key_frame_params(codec: ManifestCodec, qp) -> dict:
    rate = next(iter(codec.manifest.params))
    return {**codec.default_rate_points[0], rate: qp}


def intra_encode(codec: ManifestCodec, frame: np.ndarray, qp: int, workdir: Path) -> bytes:
    """Code ONE frame, uint8 (H, W, 3) RGB, with a manifest codec at rate parameter ``qp``.

    ``qp`` sets the manifest's first parameter (the others take the first
    default rate point's values). Returns the codec's bitstream file(s) and
    the parameters its decoder needs, packed as described above, without
    ``header.fqbs``. Files go through
    ``workdir``, which is left empty. Raises ``CodecError`` as ``encode`` does.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3:
        raise CodecError(f"intra_encode takes one frame, uint8 (H, W, 3); got {frame.dtype} {frame.shape}")
    params = _key_frame_params(codec, qp)
    paths = codec.encode(SourceClip(frames=frame[None], fps=KEY_FRAME_FPS), params, Path(workdir))
    files = {path.name: path.read_bytes() for path in paths if path.name != HEADER_NAME}
    for path in paths:
        path.unlink()
    single = _single_name(codec)
    body = files[single] if single else pack_files(files)
    if not _decoder_params(codec):
        return body
    values = json.dumps([params[name] for name in _decoder_params(codec)], separators=(",", ":")).encode()
    return bytes([len(values)]) + values + body


def intra_decode(codec: ManifestCodec, data: bytes, width: int, height: int, workdir: Path) -> np.ndarray:
    """Decode what :func:`intra_encode` returned: uint8 (height, width, 3) RGB.

    Raises ``BitstreamError`` for a damaged packing or a decode of the wrong
    size. ``workdir`` is left empty.
    """
    data = bytes(data)
    params = dict(codec.default_rate_points[0])
    if _decoder_params(codec):
        length = data[0] if data else 0
        try:
            values = json.loads(data[1:1 + length])
        except ValueError as exc:
            raise BitstreamError(f"packed key frame: damaged parameter values ({exc})") from exc
        if not isinstance(values, list) or len(values) != len(_decoder_params(codec)):
            raise BitstreamError(f"packed key frame: expected values of {_decoder_params(codec)}, got {values!r}")
        params.update(zip(_decoder_params(codec), values))
        data = data[1 + length:]
    workdir = Path(workdir)
    paths = [write_bitstream(workdir / HEADER_NAME, BitstreamHeader(
        codec=codec.name, params=params, width=width, height=height, fps=KEY_FRAME_FPS, frame_count=1), [])]
    single = _single_name(codec)
    for name, content in ({single: bytes(data)} if single else unpack_files(data)).items():
        if not name or Path(name).name != name or name in (HEADER_NAME, ".", ".."):
            raise BitstreamError(f"packed key frame holds a bad file name {name!r}")
        paths.append(workdir / name)
        paths[-1].write_bytes(content)
    try:
        return codec.decode(paths)[0]
    finally:
        for path in paths:
            path.unlink()
