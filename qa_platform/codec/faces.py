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


# Six points of a generic 3-D head, millimetre-like units, in camera axes
# (x right, y down, z away from the camera), so that a frontal face has no
# rotation: nose tip, chin, outer eye corners, mouth corners (the model of
# S. Mallick, "Head pose estimation using OpenCV and Dlib", LearnOpenCV 2016,
# with y and z flipped). Their indices in the 68-point markup:
POSE_LANDMARKS = (30, 8, 36, 45, 48, 54)
POSE_MODEL = np.array([
    (0.0, 0.0, 0.0), (0.0, 330.0, 65.0), (-225.0, -170.0, 135.0), (225.0, -170.0, 135.0),
    (-150.0, 150.0, 125.0), (150.0, 150.0, 125.0),
])


def head_pose(points: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Head rotation (pitch, yaw, roll) in degrees from one (68, 2) landmark set.

    OpenCV's solvePnP fits ``POSE_MODEL`` to the six ``POSE_LANDMARKS`` with
    a pinhole camera of focal length = frame width and the principal point at
    the centre of ``frame_size`` (height, width), no lens distortion, by SQPnP
    (Terzakis & Lourakis, ECCV 2020: the global minimum of the reprojection
    error in object space; the iterative solver alone falls into mirrored
    poses behind the camera, 180 degrees off, on turned heads), refined by
    Levenberg-Marquardt on the image reprojection error. The rotation is split into Euler angles
    about x (pitch), y (yaw) and z (roll) by ``cv2.RQDecomp3x3``. Returns
    float64 (3,), NaN when the fit fails or puts the head behind the camera.
    """
    import cv2

    height, width = frame_size
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)
    image_points = np.ascontiguousarray(points[list(POSE_LANDMARKS)], dtype=np.float64)
    found, rotation, translation = cv2.solvePnP(POSE_MODEL, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not found or translation[2, 0] <= 0:
        return np.full(3, np.nan)
    rotation, translation = cv2.solvePnPRefineLM(POSE_MODEL, image_points, camera, None, rotation, translation)
    matrix, _ = cv2.Rodrigues(rotation)
    return np.array(cv2.RQDecomp3x3(matrix)[0], dtype=np.float64)


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Eye aspect ratio, mean of both eyes (Soukupová & Čech, "Real-time eye
    blink detection using facial landmarks", CVWW 2016, eq. 1):
    (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) over each eye's six points of a
    (68, 2) set. About 0.3 open, near 0 closed."""
    return float(np.mean([_aspect_ratio(points[eye], pairs=((1, 5), (2, 4)), corners=(0, 3))
                          for eye in (RIGHT_EYE, LEFT_EYE)]))


INNER_MOUTH = slice(60, 68)


def mouth_opening(points: np.ndarray) -> float:
    """Mouth opening: the eye-aspect-ratio formula on the inner lip contour
    (points 61-68 of the 1-based markup), mean of the three vertical gaps over
    the width between the inner mouth corners. 0 for closed lips."""
    return _aspect_ratio(points[INNER_MOUTH], pairs=((1, 7), (2, 6), (3, 5)), corners=(0, 4))


def _aspect_ratio(contour: np.ndarray, pairs, corners) -> float:
    gaps = [np.linalg.norm(contour[a] - contour[b]) for a, b in pairs]
    width = np.linalg.norm(contour[corners[0]] - contour[corners[1]])
    return float(np.mean(gaps) / width)
