"""Face metrics (AED, AKD) between a distorted clip and its SRC, with dlib. Django-free.

The reference side (face box, 68 landmarks, identity embeddings) depends on the
SRC alone, so it is computed once per SRC (``reference_faces``) and reused for
every PVS of that SRC. The distorted face is looked for in the reference
frame's box, not detected again: a PVS is pixel-aligned with its SRC (same
size, same frames), so the box is where the face should be, and a detector
that loses a badly coded face would silently drop exactly the frames that
matter. Landmarks and embedding are then computed in the distorted frame,
inside that box.

Kernel contract: ``kernel(distorted, faces)`` with uint8 frames (T, H, W, 3)
RGB and the SRC's ``ReferenceFaces`` for T frames; returns float64 (T,), NaN on
frames the metric skips. Raises ``ValueError`` when the frame counts differ.
"""
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np

from qa_platform import faces as dlib_faces
from qa_platform.storage import atomic_path

# Bump when what ``reference_faces`` stores changes: older caches are recomputed.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class ReferenceFaces:
    """Face data of a SRC, one row per frame.

    boxes float64 (T, 4) ``(x0, y0, x1, y1)`` pixels (``faces.track_boxes``);
    landmarks float64 (T, 68, 2) ``(x, y)`` pixels; embeddings float64
    (T, 128), NaN on frames not in ``embedding_frames``; ``embedding_step``
    the spacing of those frames.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    embeddings: np.ndarray
    embedding_step: int

    @property
    def frame_count(self) -> int:
        return len(self.boxes)

    @property
    def embedding_frames(self) -> np.ndarray:
        """Indices of the frames that carry an embedding: 0, step, 2 step, ..."""
        return np.arange(0, self.frame_count, self.embedding_step)


def reference_faces(frames: np.ndarray, embedding_step: int) -> ReferenceFaces:
    """Locate, landmark and embed the face in every frame of a SRC.

    ``frames`` uint8 (T, H, W, 3) RGB. Embeddings are computed on every
    ``embedding_step``-th frame only. Raises ``qa_platform.faces.NoFaceError``
    when no frame has a detectable face.
    """
    boxes = dlib_faces.track_boxes(frames)
    landmarks = np.stack([dlib_faces.landmarks(frame, box) for frame, box in zip(frames, boxes)])
    faces = ReferenceFaces(boxes, landmarks, np.full((len(frames), 128), np.nan), embedding_step)
    for index in faces.embedding_frames:
        faces.embeddings[index] = dlib_faces.identity_embedding(frames[index], boxes[index])
    return faces


def save_reference_faces(faces: ReferenceFaces, path: Path) -> Path:
    """Write ``faces`` to an ``.npz`` file atomically; return ``path``."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp, boxes=faces.boxes, landmarks=faces.landmarks, embeddings=faces.embeddings,
            embedding_step=faces.embedding_step, cache_format=CACHE_FORMAT, dlib_version=dlib.__version__,
        )
    return Path(path)


def load_reference_faces(path: Path, frame_count: int, embedding_step: int) -> ReferenceFaces | None:
    """Read faces saved by ``save_reference_faces``; ``None`` when the file is
    absent or was made for another frame count, step, cache format or dlib version."""
    if not Path(path).is_file():
        return None
    with np.load(path) as data:
        made_for = (int(data["cache_format"]), int(data["embedding_step"]), str(data["dlib_version"]))
        if made_for != (CACHE_FORMAT, embedding_step, dlib.__version__):
            return None
        faces = ReferenceFaces(data["boxes"], data["landmarks"], data["embeddings"], embedding_step)
    return faces if faces.frame_count == frame_count else None


def aed(distorted: np.ndarray, faces: ReferenceFaces) -> np.ndarray:
    """Identity distance per frame: Euclidean distance between dlib's 128-D
    embeddings of the reference and the distorted face.

    float64 (T,), NaN off ``faces.embedding_frames``; 0 for identical frames,
    below 0.6 for one person in dlib's calibration.
    """
    _check_frames(distorted, faces)
    values = np.full(faces.frame_count, np.nan)
    for index in faces.embedding_frames:
        embedding = dlib_faces.identity_embedding(distorted[index], faces.boxes[index])
        values[index] = np.linalg.norm(embedding - faces.embeddings[index])
    return values


def akd(distorted: np.ndarray, faces: ReferenceFaces) -> np.ndarray:
    """Landmark error per frame: mean distance between the 68 landmarks of the
    reference and the distorted face, divided by the reference's inter-ocular
    distance (eye centres). float64 (T,), 0 for identical frames."""
    _check_frames(distorted, faces)
    values = np.empty(faces.frame_count)
    for index, (frame, box, reference) in enumerate(zip(distorted, faces.boxes, faces.landmarks)):
        error = np.linalg.norm(dlib_faces.landmarks(frame, box) - reference, axis=1).mean()
        values[index] = error / dlib_faces.inter_ocular_distance(reference)
    return values


def _check_frames(distorted: np.ndarray, faces: ReferenceFaces) -> None:
    if distorted.ndim != 4 or distorted.shape[-1] != 3 or distorted.dtype != np.uint8:
        raise ValueError(f"distorted must be uint8 (T, H, W, 3); got {distorted.dtype} {distorted.shape}")
    if len(distorted) != faces.frame_count:
        raise ValueError(f"distorted has {len(distorted)} frames, the reference faces {faces.frame_count}")
