"""Video I/O through PyAV (FFmpeg bundled in the wheel). Django-free.

Frames are always ``uint8`` arrays of shape (T, H, W, 3), RGB, full range.
Frame rates are ``fractions.Fraction`` frames per second.
"""
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from qa_platform.codec.storage import atomic_path

# H.264 CRF of the browser copies: near-lossless, so that raters judge the
# codec under test and not the copy (DESIGN.md, "Media").
BROWSER_CRF = 12


class VideoError(ValueError):
    """A file is not a readable video (not a video, truncated, empty)."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frame_count: int


def _open(path: Path):
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    return container


def read_frames(path: Path, max_frames: int | None = None, max_seconds: float | None = None,
                max_bytes: int | None = None) -> tuple[np.ndarray, Fraction]:
    """Decode a video file to RGB frames, from the start.

    Returns (frames uint8 (T, H, W, 3) RGB, fps). ``max_frames`` and
    ``max_seconds`` (of the file's own frame rate) stop decoding early, so a
    long input costs only the frames kept. ``max_bytes`` bounds the decoded
    frames' memory: checked after the first frame, against the frames that
    would be kept. Raises ``VideoError`` when the file cannot be opened, has no
    video stream, yields no frame, would need more than ``max_bytes``, or
    breaks off before the frames asked for (a truncated file): a partial clip
    is never returned as whole.
    """
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
        limits = [n for n in (max_frames, None if max_seconds is None else math.floor(max_seconds * fps) + 1)
                  if n is not None]
        limit = min(limits) if limits else None
        frames = []
        try:
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == 1 and max_bytes is not None:
                    _check_memory(path, frames[0], limit or stream.frames or 1, max_bytes)
                if limit is not None and len(frames) >= limit:
                    break
        except av.FFmpegError as exc:
            raise VideoError(f"{path}: decoding failed after {len(frames)} frames ({exc})") from exc
    if not frames:
        raise VideoError(f"{path}: no decodable frame")
    expected = stream.frames
    wanted = expected if limit is None else min(limit, expected)
    if expected and len(frames) < wanted * 0.9:
        raise VideoError(f"{path}: truncated, {len(frames)} of {expected} frames decodable")
    return np.stack(frames), fps


def _check_memory(path: Path, first: np.ndarray, count: int, max_bytes: int) -> None:
    needed = first.nbytes * count
    if needed > max_bytes:
        height, width = first.shape[:2]
        raise VideoError(f"{path}: {count} frames of {width}x{height} need {needed / 2**30:.1f} GiB decoded, over "
                         f"the limit of {max_bytes / 2**30:.1f} GiB; scale the video down first "
                         "(e.g. ffmpeg -i IN -vf scale=-2:1080 OUT)")


def probe(path: Path) -> VideoInfo:
    """Read a video's size, frame rate and frame count by decoding it."""
    frames, fps = read_frames(path)
    return VideoInfo(width=frames.shape[2], height=frames.shape[1], fps=fps, frame_count=len(frames))


def _encode(path: Path, frames: np.ndarray, fps: Fraction, codec: str, pix_fmt: str,
            options: dict, container_options: dict | None = None) -> Path:
    frames = check_frames(frames)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", options=container_options or {}) as container:
            stream = container.add_stream(codec, rate=fps)
            stream.width = frames.shape[2]
            stream.height = frames.shape[1]
            stream.pix_fmt = pix_fmt
            stream.options = options
            for image in frames:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    return Path(path)


def write_lossless(path: Path, frames: np.ndarray, fps: Fraction) -> Path:
    """Store frames losslessly: FFV1 (RGB, bgr0) in Matroska, written atomically."""
    return _encode(path, frames, fps, "ffv1", "bgr0", {"level": "3", "g": "1"})


def write_browser_copy(path: Path, frames: np.ndarray, fps: Fraction) -> Path:
    """Store an MP4 a browser can play: H.264 4:2:0, near-lossless CRF, +faststart."""
    return _encode(
        path, frames, fps, "libx264", "yuv420p",
        {"crf": str(BROWSER_CRF), "preset": "medium"},
        container_options={"movflags": "+faststart"},
    )


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Return ``frames`` as an array when they are uint8 (T, H, W, 3) with T >= 1, else raise ``ValueError``."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) RGB with T >= 1; got {frames.dtype} {frames.shape}")
    return frames


def rgb_to_yuv420p(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert RGB frames to 8-bit YUV 4:2:0 planes as FFmpeg's swscale does by
    default (ITU-R BT.601 matrix, limited range), which is also how the
    conventional encoders here receive the frames.

    ``frames`` uint8 (T, H, W, 3) RGB; returns (Y uint8 (T, H, W), U and V
    uint8 (T, ceil(H/2), ceil(W/2))). Raises ``ValueError`` for other input.
    """
    planes = ([], [], [])
    for image in check_frames(frames):
        converted = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        for index, plane in enumerate(converted.planes):
            rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
            planes[index].append(rows[:, :plane.width])
    return tuple(np.stack(plane) for plane in planes)


def read_planar_rgb(path: Path, width: int, height: int) -> np.ndarray:
    """Read raw planar RGB 4:4:4, 8 bits: per frame the R plane, then G, then B, each ``height`` x ``width``.

    This is the ``.rgb`` layout of the JVET GFVC software (its decoders write
    each frame as a uint8 3 x H x W array with ``ndarray.tofile``). Returns
    uint8 (T, height, width, 3) RGB with T = file size / (3 x width x height).
    Raises ``VideoError`` when the file is missing, empty, or its size is not a
    whole number of frames.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    n_bytes = path.stat().st_size
    frame_bytes = 3 * width * height
    if n_bytes == 0:
        raise VideoError(f"{path}: file is empty (0 bytes)")
    if n_bytes % frame_bytes:
        raise VideoError(f"{path}: {n_bytes} bytes is not a whole number of {width}x{height} planar RGB frames "
                         f"({frame_bytes} bytes each)")
    planes = np.fromfile(path, dtype=np.uint8).reshape(n_bytes // frame_bytes, 3, height, width)
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
