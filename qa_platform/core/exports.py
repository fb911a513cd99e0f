"""A PVS's bitstream for decoders outside FaceQA, and the check of FaceQA's decode against one. Services.

``export_bitstream`` writes what a reference decoder reads: an anchor's bare
elementary stream (``vvc.266`` for VTM's DecoderApp, ``x265.265`` for HM,
IVF for AV1 and VP9), or the bitstream files as stored for the other codecs
(generative codecs, manifest codecs, imported PVSs).

``check_conformance`` decodes that stream with a reference decoder program
(VTM's DecoderApp for VVC, when a lab has built it) and compares its output
planes, byte for byte, with the pictures FaceQA's decoder (PyAV's FFmpeg)
gives: the decoded PVS that metrics and raters see comes from the latter.
"""
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from qa_platform.codec import registry as codec_registry
from qa_platform.codec.anchor import AnchorCodec, decode_pictures, reference_stream
from qa_platform.codec.bitstream import BitstreamError, only_file, read_bitstream
from qa_platform.codec.storage import sha256_file, write_bytes_atomic
from qa_platform.core.models import Pvs
from qa_platform.core.services import bitstream_files

# VTM's decoder (https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM): -d 0 writes the pictures at the
# stream's own bit depth (1 byte a sample up to 8 bits, 2 bytes little-endian above).
VTM_DECODER = ("DecoderAppStatic", "DecoderApp")
VTM_ARGUMENTS = "-b {bitstream} -o {output} -d 0"
# One reference decoder run, seconds.
DECODER_TIMEOUT_S = 600


class ExportError(ValueError):
    """The PVS cannot be exported or checked; the message says why and what to do."""


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    size: int
    sha256: str


def export_bitstream(*, pvs: Pvs, out: Path) -> list[ExportedFile]:
    """Write the PVS's bitstream as decoders outside FaceQA read it.

    One stream (an anchor's elementary stream, a one-file bitstream) is
    written to ``out``; several files go into the folder ``out`` (made if
    absent). Files are written atomically. Raises ``ExportError`` when the
    PVS is not coded yet, its files are missing or damaged, or ``out`` is taken.
    """
    streams = _streams(pvs)
    out = Path(out)
    if len(streams) == 1 and not out.is_dir():
        targets = {out: next(iter(streams.values()))}
    else:
        if out.exists() and not out.is_dir():
            raise ExportError(f"PVS {pvs.pk} has {len(streams)} bitstream files; --out must be a folder, "
                              f"and {out} is a file")
        out.mkdir(parents=True, exist_ok=True)
        targets = {out / name: data for name, data in streams.items()}
    for path, data in targets.items():
        write_bytes_atomic(path, data)
    return [ExportedFile(path, path.stat().st_size, sha256_file(path)) for path in targets]


def _stored_files(pvs: Pvs) -> list[Path]:
    if pvs.bitstream_bytes is None or not pvs.bitstream_path:
        raise ExportError(f"PVS {pvs.pk} is {pvs.status}, not coded: it has no bitstream yet")
    folder = Path(settings.DATA_DIR) / pvs.bitstream_path
    if not folder.is_dir():
        raise ExportError(f"PVS {pvs.pk}: its bitstream folder {folder} is missing from the data directory")
    return bitstream_files(folder)


def _streams(pvs: Pvs) -> dict[str, bytes]:
    files = _stored_files(pvs)
    codec = codec_registry.load_codecs().get(pvs.hrc.codec)
    if codec is None:  # an imported PVS of a codec FaceQA does not run: its files as given
        return {path.name: path.read_bytes() for path in files}
    try:
        return codec().export_streams(files)
    except BitstreamError as exc:
        raise ExportError(f"PVS {pvs.pk}: {exc}") from exc


@dataclass(frozen=True)
class Conformance:
    """A reference decoder's output against FaceQA's decode, per picture."""

    command: str
    frames: int
    mismatched: tuple[int, ...]
    reference_bytes: int
    expected_bytes: int

    @property
    def conforms(self) -> bool:
        return not self.mismatched and self.reference_bytes == self.expected_bytes


def reference_decoder(explicit: str | None = None) -> list[str]:
    """The reference decoder command with ``{bitstream}``/``{output}`` placeholders, as an argument list.

    ``explicit`` (a command line) wins; else ``FACEQA_VTM_DECODER`` (a
    command line); else VTM's DecoderAppStatic or DecoderApp on PATH with
    :data:`VTM_ARGUMENTS`. Raises ``ExportError`` when none is found.
    """
    command = explicit or os.environ.get("FACEQA_VTM_DECODER", "")
    if command:
        words = shlex.split(command)
        return words if "{bitstream}" in command else [*words, *shlex.split(VTM_ARGUMENTS)]
    for name in VTM_DECODER:
        if shutil.which(name):
            return [name, *shlex.split(VTM_ARGUMENTS)]
    raise ExportError("no reference decoder: build VTM (https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM) "
                      "and put DecoderAppStatic on PATH, set FACEQA_VTM_DECODER, or pass --decoder")


def check_conformance(*, pvs: Pvs, decoder: list[str]) -> Conformance:
    """Decode an anchor PVS's elementary stream with ``decoder`` and compare with FaceQA's decode.

    decoder: the argument list of :func:`reference_decoder`; it must write
    the decoded pictures as raw planar Y'CbCr 4:2:0 (8-bit samples, or 16-bit
    little-endian above 8 bits) to ``{output}``. Raises ``ExportError`` for a
    PVS that is not an anchor's, a damaged stored bitstream, or when the decoder fails.
    """
    codec = codec_registry.load_codecs().get(pvs.hrc.codec)
    if codec is None or not issubclass(codec, AnchorCodec):
        raise ExportError(f"PVS {pvs.pk} is coded by {pvs.hrc.codec}, not a conventional anchor: a reference "
                          "decoder of a video coding standard cannot read its bitstream")
    try:
        header, (stream,) = read_bitstream(only_file(_stored_files(pvs)), codec=codec.name, sections=1)
        expected = [_planes(picture) for picture in decode_pictures(stream, codec.stream)]
    except BitstreamError as exc:
        raise ExportError(f"PVS {pvs.pk}: {exc}") from exc
    suffix, data = reference_stream(stream, codec.stream, header)
    with tempfile.TemporaryDirectory(prefix="faceqa-conformance-") as workdir:
        bitstream, output = Path(workdir) / f"{codec.name}{suffix}", Path(workdir) / "decoded.yuv"
        bitstream.write_bytes(data)
        command = [word.format(bitstream=bitstream, output=output) for word in decoder]
        _run_decoder(command)
        decoded = output.read_bytes() if output.is_file() else b""
    size = len(expected[0]) if expected else 0
    mismatched = tuple(index for index, planes in enumerate(expected)
                       if decoded[index * size:(index + 1) * size] != planes)
    return Conformance(command=shlex.join(command), frames=header.frame_count, mismatched=mismatched,
                       reference_bytes=len(decoded), expected_bytes=size * len(expected))


def _planes(picture) -> bytes:
    """The Y, Cb, Cr planes of a decoded picture without row padding, as reference decoders write them
    (1 byte a sample up to 8 bits, 2 bytes little-endian above: PyAV's ``yuv420p10le``)."""
    sample = 2 if picture.format.name.endswith("le") else 1
    return b"".join(np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width * sample]
                    .tobytes() for plane in picture.planes)


def _run_decoder(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, timeout=DECODER_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExportError(f"the reference decoder did not run: {exc}") from exc
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ExportError(f"the reference decoder failed (exit {done.returncode}): {' / '.join(last)}")
