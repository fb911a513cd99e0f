"""toy-codec: a standalone external codec program for the manifest adapter's tests (stdlib and numpy only).

Not a codec anyone should use: it exists so that the tests drive a real program
through real files, as VTM or vvenc would be driven.

encode: reads 8-bit 4:2:0 video (Y4M or raw planar yuv420p), quantises every
sample with the H.264-style step Qstep = 2 ** ((qp - 4) / 6) (ITU-T H.264
clause 8.6.1: the step doubles every 6 QP, Qstep(4) = 1), takes the temporal
difference of the quantisation indices (lossless, so no drift) and
zlib-compresses the luma and chroma indices into two files, ``luma.bin`` and
``chroma.bin``. The files hold nothing else: the frame size, frame count and
QP come back on the decoder's command line.

decode: rebuilds the samples (index x Qstep, rounded, clipped to 0..255) and
writes raw yuv420p or Y4M. ``--only NAME ...`` makes it fail (exit 3) when its
directory holds any file other than those and its output: the tests use it to
show that the decoder sees nothing but the bitstream.
"""
import argparse
import sys
import zlib
from pathlib import Path

import numpy as np

LUMA, CHROMA = "luma.bin", "chroma.bin"


def qstep(qp: int) -> float:
    return 2 ** ((qp - 4) / 6)


def frame_size(width: int, height: int) -> tuple[int, int]:
    return width * height, 2 * ((width + 1) // 2) * ((height + 1) // 2)


def y4m_frames(data: bytes, size: int, path: Path) -> list[bytes]:
    """The payloads of the Y4M frames in ``data`` (each ``FRAME[ params]\\n`` then ``size`` bytes)."""
    payloads, offset = [], 0
    while offset < len(data):
        if not data.startswith(b"FRAME", offset):
            sys.exit(f"toy-codec: {path}: no FRAME marker at byte {offset}")
        start = data.index(b"\n", offset) + 1
        payloads.append(data[start:start + size])
        offset = start + size
    return payloads


def read_planes(path: Path, fmt: str, width: int, height: int, frames: int) -> np.ndarray:
    """uint8 (frames, Y + U + V samples) from raw yuv420p or Y4M (C420 only)."""
    luma, chroma = frame_size(width, height)
    data = path.read_bytes()
    if fmt == "y4m":
        header, _, data = data.partition(b"\n")
        if not header.startswith(b"YUV4MPEG2 ") or (b" C" in header and b" C420" not in header):
            sys.exit(f"toy-codec: {path} is not 8-bit 4:2:0 Y4M")
        data = b"".join(y4m_frames(data, luma + chroma, path))
    planes = np.frombuffer(data, dtype=np.uint8)
    if planes.size != frames * (luma + chroma):
        sys.exit(f"toy-codec: {path} holds {planes.size} samples, expected {frames} frames of {luma + chroma}")
    return planes.reshape(frames, luma + chroma)


def encode(args) -> None:
    planes = read_planes(Path(args.input), args.format, args.width, args.height, args.frames)
    indices = np.round(planes / qstep(args.qp)).astype(np.int16)
    residual = np.diff(indices, axis=0, prepend=np.zeros_like(indices[:1]))
    luma, _ = frame_size(args.width, args.height)
    out = Path(args.out_dir)
    (out / LUMA).write_bytes(zlib.compress(residual[:, :luma].tobytes(), 9))
    (out / CHROMA).write_bytes(zlib.compress(residual[:, luma:].tobytes(), 9))


def decode(args) -> None:
    folder = Path(args.in_dir)
    if args.only is not None:
        strangers = sorted({p.name for p in folder.iterdir()} - set(args.only) - {Path(args.output).name})
        if strangers:
            sys.exit(f"toy-codec: the decoder's directory holds files that are not bitstream: {strangers}")
    luma, chroma = frame_size(args.width, args.height)
    parts = [np.frombuffer(zlib.decompress((folder / name).read_bytes()), dtype=np.int16).reshape(-1, size)
             for name, size in ((LUMA, luma), (CHROMA, chroma))]
    indices = np.cumsum(np.concatenate(parts, axis=1), axis=0)[:args.frames]
    samples = np.clip(np.round(indices * qstep(args.qp)), 0, 255).astype(np.uint8)
    with open(args.output, "wb") as handle:
        if args.format == "y4m":
            handle.write(f"YUV4MPEG2 W{args.width} H{args.height} F25:1 Ip A1:1 C420jpeg\n".encode())
        for frame in samples:
            handle.write(b"FRAME\n" if args.format == "y4m" else b"")
            handle.write(frame.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(prog="toy-codec")
    parser.add_argument("--version", action="version", version="toy-codec 1.0")
    modes = parser.add_subparsers(dest="mode", required=True)
    for mode in ("encode", "decode"):
        sub = modes.add_parser(mode)
        for name in ("--width", "--height", "--frames"):
            sub.add_argument(name, type=int, required=True)
        sub.add_argument("--qp", type=int, choices=range(64), required=True)
        sub.add_argument("--format", choices=("y4m", "yuv420p"), required=True)
    modes.choices["encode"].add_argument("--input", required=True)
    modes.choices["encode"].add_argument("--out-dir", required=True)
    modes.choices["decode"].add_argument("--in-dir", required=True)
    modes.choices["decode"].add_argument("--output", required=True)
    modes.choices["decode"].add_argument("--only", nargs="*")
    args = parser.parse_args()
    {"encode": encode, "decode": decode}[args.mode](args)


if __name__ == "__main__":
    main()
