"""Prepare a SRC from a camera clip: one square face crop, resize, resample. Django-free.

The crop follows how the GFVC test sequences are made (VoxCeleb preparation in
Siarohin et al., "First Order Motion Model", NeurIPS 2019, its crop-video
script): the union of the face boxes found over the clip, enlarged by a margin,
made square, and held fixed for the whole clip, so the crop adds no motion of
its own.
"""
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from qa_platform.codec import faces
from qa_platform.codec.video import VideoError, read_frames

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".y4m", ".avi", ".webm")
# Frames sampled for face detection, spread evenly over the clip.
DETECTION_SAMPLES = 16
# Detection runs on frames scaled to at most this side, for speed on HD input.
DETECTION_MAX_SIDE = 640
# dlib's frontal boxes run from the brows to the chin. The crop is this many
# box sides on each side of the union box, so that hair, ears and chin are in,
# and its centre is raised by UPWARD_SHIFT box heights to take in the forehead.
MARGIN = 0.4
UPWARD_SHIFT = 0.1


class IngestError(ValueError):
    """A file cannot become a SRC; the message says why, in one line."""


@dataclass(frozen=True)
class CropBox:
    """A square crop of the origin clip: left, top, side, pixels."""

    x: int
    y: int
    side: int


@dataclass(frozen=True)
class PreparedClip:
    """A prepared SRC, before storage.

    frames: uint8 (T, size, size, 3), RGB. fps: output frame rate.
    """

    frames: np.ndarray
    fps: Fraction
    crop: CropBox


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named and the video files inside folders named (sorted, not recursive)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES))
        else:
            found.append(path)
    return found


def sample_indices(count: int, samples: int = DETECTION_SAMPLES) -> np.ndarray:
    """Up to ``samples`` frame indices spread evenly over ``count`` frames."""
    return np.unique(np.linspace(0, count - 1, num=min(samples, count)).round().astype(int))


def detect_face_union(frames: np.ndarray) -> np.ndarray:
    """Union ``(x0, y0, x1, y1)`` of the largest face box on sampled frames, pixels.

    Raises ``IngestError`` when no sampled frame shows a face.
    """
    scale = min(1.0, DETECTION_MAX_SIDE / max(frames.shape[1:3]))
    boxes = []
    for index in sample_indices(len(frames)):
        frame = frames[index]
        if scale < 1.0:
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = faces.detect_faces(frame)
        if len(found) == 0:
            found = faces.detect_faces(frame, upsample=1)
        if len(found):
            boxes.append(found[0] / scale)
    if not boxes:
        raise IngestError(f"no face found on {len(sample_indices(len(frames)))} sampled frames")
    boxes = np.array(boxes)
    return np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])


def square_crop(union: np.ndarray, width: int, height: int) -> CropBox:
    """The fixed square crop around a face union box, kept inside the frame."""
    x0, y0, x1, y1 = union
    box_w, box_h = x1 - x0, y1 - y0
    side = min(max(box_w, box_h) * (1 + 2 * MARGIN), width, height)
    centre_x = (x0 + x1) / 2
    centre_y = (y0 + y1) / 2 - UPWARD_SHIFT * box_h
    side = int(round(side))
    left = int(round(np.clip(centre_x - side / 2, 0, width - side)))
    top = int(round(np.clip(centre_y - side / 2, 0, height - side)))
    return CropBox(x=left, y=top, side=side)


# The largest input file ingest reads, bytes: a SRC is a few seconds, so a larger file is a mistake.
MAX_INPUT_BYTES = 2 * 2**30
# The most memory the decoded frames ingest keeps may take, bytes (1 s of 8K at 60 fps is 5.6 GiB).
MAX_DECODED_BYTES = 4 * 2**30


def resample_indices(count: int, fps_in: Fraction, fps_out: Fraction) -> np.ndarray:
    """Source frame index for each output frame: the nearest frame in time.

    Output frame i lies at i / fps_out seconds and takes input frame
    round(i x fps_in / fps_out), as FFmpeg's fps filter with round=near.
    """
    duration = count / fps_in
    n_out = int(duration * fps_out)
    indices = np.floor(np.arange(n_out) * float(fps_in / fps_out) + 0.5).astype(int)
    return np.minimum(indices, count - 1)


def prepare_clip(path: Path, size: int = 256, fps: Fraction = Fraction(25),
                 max_frames: int = 125, max_bytes: int = MAX_INPUT_BYTES) -> PreparedClip:
    """Read a clip and prepare it as a SRC.

    Returns size x size RGB frames at ``fps``, the first ``max_frames`` of the
    clip (fewer if the clip is shorter); only the first max(1 s, max_frames /
    fps) of the input are decoded. Raises ``IngestError`` when the file is over
    ``max_bytes``, its kept frames would take over ``MAX_DECODED_BYTES`` decoded,
    is not a readable video, is truncated, shows no face, or
    lasts under one second.
    """
    n_bytes = Path(path).stat().st_size if Path(path).is_file() else 0
    if n_bytes > max_bytes:
        raise IngestError(f"{n_bytes / 2**20:.0f} MiB is over the ingest limit of {max_bytes / 2**20:.0f} MiB; "
                          "cut the part you need first (e.g. ffmpeg -i IN -t 10 -c copy OUT)")
    try:
        frames, fps_in = read_frames(path, max_seconds=max(1.0, float(max_frames / Fraction(fps))),
                                     max_bytes=MAX_DECODED_BYTES)
    except VideoError as exc:
        raise IngestError(str(exc).removeprefix(f"{path}: ")) from exc
    duration = len(frames) / fps_in
    if duration < 1:
        raise IngestError(f"too short: {float(duration):.2f} s, at least 1 s is needed")
    indices = resample_indices(len(frames), fps_in, Fraction(fps))[:max_frames]
    crop = square_crop(detect_face_union(frames), frames.shape[2], frames.shape[1])
    out = np.stack([
        cv2.resize(
            frames[i, crop.y:crop.y + crop.side, crop.x:crop.x + crop.side],
            (size, size), interpolation=cv2.INTER_AREA if crop.side >= size else cv2.INTER_CUBIC,
        )
        for i in indices
    ])
    return PreparedClip(frames=out, fps=Fraction(fps), crop=crop)
