"""Face detection, 68 landmarks and the 128-D identity embedding with dlib. Django-free.

The model files come from the ``face_recognition_models`` package folder,
read directly (its module needs ``pkg_resources``, see DESIGN.md). dlib's
frontal HOG detector; landmarks are the iBUG 300-W 68-point markup
(Sagonas et al., 2013); the embedding is dlib's ResNet face descriptor
(King, dlib 19.3, 99.38 % on LFW). Frames are uint8 (H, W, 3) RGB.
"""
import functools
import importlib.util
from pathlib import Path

import dlib
import numpy as np

# Indices of the 68-point markup (0-based).
RIGHT_EYE = slice(36, 42)  # subject's right eye, image left
LEFT_EYE = slice(42, 48)
MOUTH = slice(48, 68)


class NoFaceError(ValueError):
    """No face was found where one was required."""


def model_dir() -> Path:
    """Folder of the dlib model files shipped by ``face_recognition_models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed (pip install -r requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@functools.cache
def _detector():
    return dlib.get_frontal_face_detector()


@functools.cache
def _shape_predictor():
    return dlib.shape_predictor(str(model_dir() / "shape_predictor_68_face_landmarks.dat"))


@functools.cache
def _recognizer():
    return dlib.face_recognition_model_v1(str(model_dir() / "dlib_face_recognition_resnet_model_v1.dat"))


def detect_faces(frame: np.ndarray, upsample: int = 0) -> np.ndarray:
    """Detect frontal faces.

    Returns float64 (K, 4) boxes ``(x0, y0, x1, y1)`` in pixels, largest first;
    K = 0 when there is none.
    """
    rects = _detector()(np.ascontiguousarray(frame), upsample)
    boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros((0, 4))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[np.argsort(-areas)]


def _rect(box) -> dlib.rectangle:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return dlib.rectangle(x0, y0, x1, y1)


def _shape(frame: np.ndarray, box) -> dlib.full_object_detection:
    return _shape_predictor()(np.ascontiguousarray(frame), _rect(box))


def landmarks(frame: np.ndarray, box) -> np.ndarray:
    """The 68 landmarks inside ``box``: float64 (68, 2), ``(x, y)`` pixels."""
    shape = _shape(frame, box)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def identity_embedding(frame: np.ndarray, box) -> np.ndarray:
    """dlib's 128-D face descriptor of the face in ``box``: float64 (128,).

    Two faces of one person are closer than 0.6 (Euclidean) in dlib's
    calibration.
    """
    shape = _shape(frame, box)
    return np.array(_recognizer().compute_face_descriptor(np.ascontiguousarray(frame), shape))


def inter_ocular_distance(points: np.ndarray) -> float:
    """Distance between the eye centres of a (68, 2) landmark set, pixels."""
    return float(np.linalg.norm(points[RIGHT_EYE].mean(0) - points[LEFT_EYE].mean(0)))


def track_boxes(frames: np.ndarray) -> np.ndarray:
    """Largest face box per frame, float64 (T, 4); a frame without a detection
    takes the box of the nearest earlier frame (the first detection for leading
    frames). Raises ``NoFaceError`` when no frame has a face."""
    boxes = np.full((len(frames), 4), np.nan)
    for index, frame in enumerate(frames):
        found = detect_faces(frame)
        if len(found):
            boxes[index] = found[0]
    detected = np.flatnonzero(~np.isnan(boxes[:, 0]))
    if len(detected) == 0:
        raise NoFaceError("no face detected in any frame")
    for index in range(len(frames)):
        if np.isnan(boxes[index, 0]):
            earlier = detected[detected < index]
            boxes[index] = boxes[earlier[-1] if len(earlier) else detected[0]]
    return boxes
