"""Face metrics between a distorted clip and its SRC, with dlib. Django-free.

The reference side (face box, 68 landmarks, identity embeddings) depends on the
SRC alone, so it is computed once per SRC (``reference_faces``) and reused for
every PVS of that SRC. The distorted face is looked for in the reference
frame's box, not detected again: a PVS is pixel-aligned with its SRC (same
size, same frames), so the box is where the face should be, and a detector
that loses a badly coded face would silently drop exactly the frames that
matter. Landmarks and embedding are then computed in the distorted frame,
inside that box.

The distorted side is measured once per PVS (``DistortedFaces``: landmarks on
every frame, embeddings on every ``embedding_step``-th, each computed when a
metric first asks) and shared by every face metric.

Kernel contract: ``kernel(faces)`` with ``DistortedFaces``; returns float64
(T,), NaN on frames the metric skips, or a ``metrics.pooling.SequenceValue``
for the expression agreements, whose value is a correlation over time.
"""
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import dlib
import numpy as np
from scipy import stats

from metrics.pooling import PoolingError, SequenceValue
from qa_platform.codec import faces as dlib_faces
from qa_platform.codec.storage import atomic_path
from qa_platform.codec.video import check_frames

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

    @cached_property
    def inter_ocular(self) -> np.ndarray:
        """Inter-ocular distance (eye centres) per frame, float64 (T,) pixels."""
        return np.array([dlib_faces.inter_ocular_distance(points) for points in self.landmarks])


def reference_faces(frames: np.ndarray, embedding_step: int, embeddings: bool = True) -> ReferenceFaces:
    """Locate, landmark and embed the face in every frame of a SRC.

    ``frames`` uint8 (T, H, W, 3) RGB. Embeddings are computed on every
    ``embedding_step``-th frame only, and not at all when ``embeddings`` is
    false (they stay NaN). Raises ``qa_platform.codec.faces.NoFaceError`` when no
    frame has a detectable face.
    """
    boxes = dlib_faces.track_boxes(frames)
    landmarks = np.stack([dlib_faces.landmarks(frame, box) for frame, box in zip(frames, boxes)])
    faces = ReferenceFaces(boxes, landmarks, np.full((len(frames), 128), np.nan), embedding_step)
    for index in faces.embedding_frames if embeddings else ():
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


def _poses(landmarks: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    return np.stack([dlib_faces.head_pose(points, frame_size) for points in landmarks])


class DistortedFaces:
    """The faces of a PVS, measured in the SRC's face boxes, once for all face metrics.

    ``frames`` uint8 (T, H, W, 3) RGB of the PVS; ``reference`` the SRC's
    ``ReferenceFaces`` for the same T frames. Raises ``ValueError`` when the
    frames are not uint8 (T, H, W, 3) or the frame counts differ.
    """

    def __init__(self, frames: np.ndarray, reference: ReferenceFaces):
        check_frames(frames)
        if len(frames) != reference.frame_count:
            raise ValueError(f"distorted has {len(frames)} frames, the reference faces {reference.frame_count}")
        self.frames = frames
        self.reference = reference

    @cached_property
    def landmarks(self) -> np.ndarray:
        """float64 (T, 68, 2) pixels, found in the reference's box of each frame."""
        return np.stack([dlib_faces.landmarks(frame, box) for frame, box in zip(self.frames, self.reference.boxes)])

    @cached_property
    def poses(self) -> np.ndarray:
        """Head pose (pitch, yaw, roll) per frame, float64 (T, 3) degrees (``qa_platform.codec.faces.head_pose``)."""
        return _poses(self.landmarks, self.frames.shape[1:3])

    @cached_property
    def reference_poses(self) -> np.ndarray:
        """The SRC's head pose per frame, as ``poses``."""
        return _poses(self.reference.landmarks, self.frames.shape[1:3])

    @cached_property
    def embeddings(self) -> np.ndarray:
        """float64 (T, 128), NaN off ``reference.embedding_frames``."""
        embeddings = np.full((len(self.frames), 128), np.nan)
        for index in self.reference.embedding_frames:
            embeddings[index] = dlib_faces.identity_embedding(self.frames[index], self.reference.boxes[index])
        return embeddings


def aed(faces: DistortedFaces) -> np.ndarray:
    """Identity distance per frame: Euclidean distance between dlib's 128-D
    embeddings of the reference and the distorted face.

    float64 (T,), NaN off the embedding frames; 0 for identical frames, below
    0.6 for one person in dlib's calibration.
    """
    return np.linalg.norm(faces.embeddings - faces.reference.embeddings, axis=1)


def identity_similarity(faces: DistortedFaces) -> np.ndarray:
    """Cosine similarity of dlib's 128-D embeddings of the reference and the
    distorted face, float64 (T,) in [-1, 1], NaN off the embedding frames; 1
    for identical frames."""
    distorted, reference = faces.embeddings, faces.reference.embeddings
    return (distorted * reference).sum(axis=1) / (
        np.linalg.norm(distorted, axis=1) * np.linalg.norm(reference, axis=1))


def _keypoint_distance(faces: DistortedFaces, points: slice) -> np.ndarray:
    error = np.linalg.norm(faces.landmarks[:, points] - faces.reference.landmarks[:, points], axis=2)
    return error.mean(axis=1) / faces.reference.inter_ocular


def akd(faces: DistortedFaces) -> np.ndarray:
    """Landmark error per frame: mean distance between the 68 landmarks of the
    reference and the distorted face, divided by the reference's inter-ocular
    distance (eye centres). float64 (T,), 0 for identical frames."""
    return _keypoint_distance(faces, slice(0, 68))


def akd_mouth(faces: DistortedFaces) -> np.ndarray:
    """``akd`` over the 20 mouth landmarks (49-68 of the 1-based markup)."""
    return _keypoint_distance(faces, dlib_faces.MOUTH)


def akd_eyes(faces: DistortedFaces) -> np.ndarray:
    """``akd`` over the 12 eye landmarks (37-48 of the 1-based markup)."""
    return _keypoint_distance(faces, slice(dlib_faces.RIGHT_EYE.start, dlib_faces.LEFT_EYE.stop))


def _pose_error(faces: DistortedFaces, axis: int) -> np.ndarray:
    difference = faces.poses[:, axis] - faces.reference_poses[:, axis]
    return np.abs((difference + 180.0) % 360.0 - 180.0)


def pose_pitch_error(faces: DistortedFaces) -> np.ndarray:
    """|pitch(distorted) - pitch(reference)| per frame, degrees (``qa_platform.codec.faces.head_pose``)."""
    return _pose_error(faces, 0)


def pose_yaw_error(faces: DistortedFaces) -> np.ndarray:
    """|yaw(distorted) - yaw(reference)| per frame, degrees."""
    return _pose_error(faces, 1)


def pose_roll_error(faces: DistortedFaces) -> np.ndarray:
    """|roll(distorted) - roll(reference)| per frame, degrees."""
    return _pose_error(faces, 2)


def _series_agreement(faces: DistortedFaces, measure, what: str) -> SequenceValue:
    distorted = np.array([measure(points) for points in faces.landmarks])
    reference = np.array([measure(points) for points in faces.reference.landmarks])
    if len(reference) < 3 or np.ptp(reference) == 0 or np.ptp(distorted) == 0:
        raise PoolingError(f"{what} does not vary over the clip (or fewer than 3 frames): no correlation")
    return SequenceValue(float(stats.pearsonr(distorted, reference).statistic), distorted - reference)


def eye_agreement(faces: DistortedFaces) -> SequenceValue:
    """Blink agreement: Pearson r between the eye-aspect-ratio series of the
    distorted and the reference face (``qa_platform.codec.faces.eye_aspect_ratio``);
    per frame, EAR(distorted) - EAR(reference). Raises ``PoolingError`` when
    a series is constant."""
    return _series_agreement(faces, dlib_faces.eye_aspect_ratio, "the eye aspect ratio")


def mouth_agreement(faces: DistortedFaces) -> SequenceValue:
    """Mouth agreement: Pearson r between the mouth-opening series of the
    distorted and the reference face (``qa_platform.codec.faces.mouth_opening``);
    per frame, opening(distorted) - opening(reference). Raises ``PoolingError``
    when a series is constant."""
    return _series_agreement(faces, dlib_faces.mouth_opening, "the mouth opening")


# The face region is the convex hull of the 68 reference landmarks, dilated by
# this fraction of the inter-ocular distance (about 10 px on a 256x256 GFVC
# frame), so that the face contour and the forehead's edge are inside it.
FACE_MASK_DILATION = 0.15


def face_masks(reference: ReferenceFaces, frame_size: tuple[int, int]) -> np.ndarray:
    """The face region of every frame: bool (T, H, W) for ``frame_size`` (H, W),
    the convex hull of the frame's 68 reference landmarks dilated by a disc of
    radius ``FACE_MASK_DILATION`` x inter-ocular distance."""
    masks = np.zeros((reference.frame_count, *frame_size), dtype=np.uint8)
    for mask, points, distance in zip(masks, reference.landmarks, reference.inter_ocular):
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
        radius = max(1, int(round(FACE_MASK_DILATION * distance)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask[:] = cv2.dilate(mask, disc)
    return masks.astype(bool)
