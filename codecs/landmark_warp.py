"""landmark-warp: a model-based generative face codec, the simplest of its kind.

Bitstream (one FaceQA bitstream file, two sections):

1. key frames (``qa_platform.codec.key_frames``): frame 0, and more when
   ``key_period`` or the adaptive ``key_threshold_db`` asks for a refresh,
   intra-coded by x265 (or an external encoder, ``key_codec``) at ``key_qp``.
2. feature stream (``qa_platform.codec.feature_coding``): the 68 dlib landmarks of
   every frame (iBUG 300-W markup), clipped to the frame, quantised with step
   ``q`` pixels by closed-loop DPCM (each frame predicted from the previous
   reconstruction, so the error stays within q/2 and never drifts). The integer
   residuals are differenced once more along the markup order (adjacent points
   move together with the head; a lossless transform), then range-coded with
   the adaptive models of ``feature_coding``, one context for x and one for y.

The decoder decodes the key frames, rebuilds the landmarks and warps the key
frame in force piecewise-affinely from its own (reconstructed) landmarks to
each frame's, over one Delaunay triangulation of the key frame's landmarks
plus eight fixed border points (corners and edge midpoints), so the triangles
never change topology and the background stays still.

Reference structure (``refs``, ``qa_platform.codec.key_frames``): ``"last"``
(the default) warps the last key frame; ``"bidir"`` warps the key frames
before and after each frame and blends the two warps with weights linear in
temporal distance (the last frame is a key frame too; structural delay
``key_period - 1`` frames, in the HRC label); ``"multi"`` keeps the last four
key frames and warps the one the encoder chose by PSNR, signalled per frame
in a third section. With ``"bidir"`` and ``"multi"`` a key frame shows its
decoded picture itself (unless decode-time controls edit its landmarks).

Decode-time controls (``control_names``; interactive and controllable face
video coding, e.g. IFVC and CoFaCo) edit the decoded landmarks before the
warp and change no bit of the bitstream: ``mouth`` opens (negative: closes,
never past closed) the mouth by that fraction of the inter-ocular distance;
``blink`` closes the eyes by that fraction (0..1) in a blink of 0.3 s every
3 s; ``shift_x``/``shift_y`` move the head by pixels; ``rotate`` turns it
in-plane by degrees, counter-clockwise on screen, about the landmarks' centre.

The encoder tracks faces with dlib's frontal detector; a frame where it finds
none keeps the previous frame's landmarks (residual 0), frames before the
first detection take the first detection's. A clip without any face is refused.

Measured at 256x256, 25 fps, 125 frames on five face clips of ../shared/faces
(fomm_demo_00, fomm_demo_04, lp_d0, lp_d12, lp_d18): the default rate points
give 3.1, 4.0, 5.8 and 9.0 kbit/s on average; the feature stream alone 95 to
226 bits per frame (2.4 to 5.6 kbit/s; ``manage.py benchmark_codecs``).
"""
from fractions import Fraction
from pathlib import Path

import cv2
import dlib
import numpy as np
from scipy.spatial import Delaunay

from qa_platform.codec import (
    KEY_FRAME_PARAMS,
    LAST,
    LIBRARY_VERSION,
    MULTI,
    REFS,
    SUFFIX,
    Blend,
    BitstreamError,
    BitstreamHeader,
    Codec,
    CodecError,
    Device,
    Family,
    KeyFramePolicy,
    SourceClip,
    check_decoded,
    check_frames,
    choose_references,
    code_key_frames,
    decode_key_frames,
    delay_note,
    faces,
    feature_coding,
    key_for_frame,
    only_file,
    pack_choices,
    plan_frames,
    read_bitstream,
    register_codec,
    render,
    unpack_choices,
    write_bitstream,
)

N_LANDMARKS = 68
Q_RANGE = (0.25, 32.0)
# Context groups of the feature stream: x coordinates, then y, point after point.
GROUPS = np.tile([0, 1], N_LANDMARKS)
# iBUG 300-W indices.
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
UPPER_LIDS, LOWER_LIDS = [37, 38, 43, 44], [41, 40, 47, 46]
LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
CHIN = [6, 7, 8, 9, 10]
INNER_LIPS = (62, 66)
BLINK_PERIOD_S, BLINK_LENGTH_S = 3.0, 0.3


def track_landmarks(frames: np.ndarray) -> np.ndarray:
    """The 68 landmarks of the largest face per frame: float64 (T, 68, 2), (x, y) pixels.

    A frame without a detection holds NaN. Raises ``CodecError`` when no frame
    shows a face.
    """
    points = np.full((len(frames), N_LANDMARKS, 2), np.nan)
    for index, frame in enumerate(frames):
        boxes = faces.detect_faces(frame)
        if len(boxes):
            points[index] = faces.landmarks(frame, boxes[0])
    if np.isnan(points[:, 0, 0]).all():
        raise CodecError(
            "landmark-warp found no face in any frame; it codes face clips only "
            "(use a face-centred SRC, or an anchor codec for other content)"
        )
    return points


def fill_missed(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Landmark tracks ready to code: float64 (T, 68, 2) clipped to the frame.

    points: float (T, 68, 2) with NaN rows where the detector missed (at least
    one detected). A missed frame repeats the previous frame's points; frames
    before the first detection take the first detection's.
    """
    detected = np.flatnonzero(~np.isnan(points[:, 0, 0]))
    filled = np.empty_like(points, dtype=np.float64)
    last = points[detected[0]]
    for t, frame_points in enumerate(points):
        last = last if np.isnan(frame_points[0, 0]) else frame_points
        filled[t] = last
    return np.clip(filled, 0, [width - 1, height - 1])


def landmark_residuals(points: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """The DPCM residuals of landmark tracks float (T, 68, 2) at step ``q`` pixels.

    Returns (temporal residuals int64 (T, 136), the same differenced along the
    markup order: what the feature coder codes).
    """
    residuals = feature_coding.quantise_closed_loop(points.reshape(len(points), -1), q)
    chained = np.diff(residuals.reshape(points.shape), axis=1, prepend=0)
    return residuals, chained.reshape(len(points), -1)


def encode_landmarks(points: np.ndarray, q: float) -> tuple[feature_coding.FeatureStream, np.ndarray]:
    """Code landmark tracks float (T, 68, 2) with step ``q`` pixels.

    Returns the feature stream and the decoder's landmarks float64 (T, 68, 2),
    within q/2 of ``points``.
    """
    residuals, chained = landmark_residuals(points, q)
    stream = feature_coding.encode_residuals(chained, GROUPS)
    return stream, feature_coding.reconstruct(residuals, q).reshape(points.shape)


def decode_landmarks(data: bytes, frame_count: int, q: float) -> np.ndarray:
    """Invert :func:`encode_landmarks`: float64 (frame_count, 68, 2) pixels."""
    chained = feature_coding.decode_residuals(data, frame_count, 2 * N_LANDMARKS, GROUPS)
    residuals = np.cumsum(chained.reshape(frame_count, N_LANDMARKS, 2), axis=1)
    return feature_coding.reconstruct(residuals.reshape(frame_count, -1), q).reshape(frame_count, N_LANDMARKS, 2)


def apply_controls(landmarks: np.ndarray, controls: dict, fps: Fraction) -> np.ndarray:
    """Edit decoded landmarks float (T, 68, 2) by the decode-time controls; a new array.

    See the module docstring for what each control does and its unit.
    """
    edited = np.array(landmarks, dtype=np.float64)
    eyes = edited[:, RIGHT_EYE].mean(axis=1), edited[:, LEFT_EYE].mean(axis=1)
    across = eyes[1] - eyes[0]
    interocular = np.linalg.norm(across, axis=1, keepdims=True)
    down = np.stack([-across[:, 1], across[:, 0]], axis=1) / interocular
    if controls.get("mouth"):
        gap = np.einsum("ij,ij->i", edited[:, INNER_LIPS[1]] - edited[:, INNER_LIPS[0]], down)[:, None]
        opening = np.maximum(controls["mouth"] * interocular, -np.maximum(gap, 0))
        edited[:, LOWER_LIP] += (opening * down)[:, None]
        edited[:, CHIN] += (opening * down / 2)[:, None]
    if controls.get("blink"):
        closure = controls["blink"] * blink_profile(len(edited), fps)[:, None, None]
        edited[:, UPPER_LIDS] += closure * (edited[:, LOWER_LIDS] - edited[:, UPPER_LIDS])
    if controls.get("rotate"):
        edited = _rotate(edited, np.deg2rad(controls["rotate"]))
    edited += [controls.get("shift_x", 0.0), controls.get("shift_y", 0.0)]
    return edited


def blink_profile(frame_count: int, fps: Fraction) -> np.ndarray:
    """Eye closure per frame for the ``blink`` control, float (T,) in [0, 1]: a triangle of
    BLINK_LENGTH_S seconds starting every BLINK_PERIOD_S seconds, the first 1 s in."""
    seconds = np.arange(frame_count) / float(fps)
    phase = np.mod(seconds - 1.0, BLINK_PERIOD_S)
    half = BLINK_LENGTH_S / 2
    return np.where(seconds >= 1.0, np.clip(1 - np.abs(phase - half) / half, 0, 1), 0.0)


def _rotate(landmarks: np.ndarray, angle: float) -> np.ndarray:
    # Counter-clockwise on screen, where y points down: x' = x cos + y sin, y' = -x sin + y cos.
    centre = landmarks.mean(axis=1, keepdims=True)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return centre + (landmarks - centre) @ rotation


def border_points(width: int, height: int) -> np.ndarray:
    """The eight fixed warp anchors: corners and edge midpoints, float64 (8, 2)."""
    xs = np.array([0, (width - 1) / 2, width - 1])
    ys = np.array([0, (height - 1) / 2, height - 1])
    grid = np.array([[x, y] for y in ys for x in xs])
    return np.delete(grid, 4, axis=0)


def warp_anchors(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Warp anchors of one frame, float64 (76, 2) pixels: the 68 landmarks (68, 2)
    clipped to the frame, then the eight border points."""
    inside = np.clip(landmarks, 0, [width - 1, height - 1])
    return np.concatenate([inside, border_points(width, height)])


class PiecewiseAffineWarp:
    """Warp one image piecewise-affinely from fixed source points to moving ones.

    The piecewise-affine warp of active appearance models (Cootes, Edwards and
    Taylor, IEEE TPAMI 2001). image: uint8 (H, W, 3). source: float (N, 2)
    pixels, triangulated once (Delaunay, ``scipy.spatial``). Calling it with
    destination points (N, 2) in the same order returns the warped uint8
    (H, W, 3) image: each destination pixel is sampled (bilinear) where the
    affine map of its triangle sends it in the source image. Triangles are
    rasterised into an owner map and all pixels are sampled by one
    ``cv2.remap``. Pixels no triangle covers keep the source pixel.
    """

    def __init__(self, image: np.ndarray, source: np.ndarray):
        self.image = image
        self.source = np.asarray(source, dtype=np.float64)
        self.triangles = Delaunay(self.source).simplices
        height, width = image.shape[:2]
        self.xs, self.ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))

    def __call__(self, destination: np.ndarray) -> np.ndarray:
        destination = np.asarray(destination, dtype=np.float64)
        owner = self._rasterise(destination)
        affine = self._inverse_affines(destination)[owner]
        map_x = affine[..., 0, 0] * self.xs + affine[..., 0, 1] * self.ys + affine[..., 0, 2]
        map_y = affine[..., 1, 0] * self.xs + affine[..., 1, 1] * self.ys + affine[..., 1, 2]
        return cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def _rasterise(self, destination: np.ndarray) -> np.ndarray:
        """int32 (H, W): 1 + the index of the triangle covering each pixel, 0 for none."""
        owner = np.zeros(self.xs.shape, dtype=np.int32)
        fixed = np.round(destination[self.triangles] * 16).astype(np.int32)
        for index, corners in enumerate(fixed, start=1):
            cv2.fillConvexPoly(owner, corners, index, lineType=cv2.LINE_8, shift=4)
        return owner

    def _inverse_affines(self, destination: np.ndarray) -> np.ndarray:
        """float32 (1 + n_triangles, 2, 3): identity, then each triangle's destination-to-source map."""
        corners = destination[self.triangles]
        homogeneous = np.concatenate([corners, np.ones(corners.shape[:2] + (1,))], axis=2)
        maps = np.linalg.pinv(homogeneous) @ self.source[self.triangles]
        identity = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        return np.concatenate([identity, maps.transpose(0, 2, 1)]).astype(np.float32)


@register_codec
class LandmarkWarp(Codec):
    """Key frames by x265 plus a landmark feature stream; the decoder warps the key frame in force."""

    name = "landmark-warp"
    version = f"2 ({LIBRARY_VERSION}, dlib {dlib.__version__})"
    family = Family.GENERATIVE
    device = Device.CPU
    description = "x265 key frames + DPCM/range-coded 68 landmarks, piecewise-affine warp, decode-time controls"
    param_names = ("q", *KEY_FRAME_PARAMS, REFS)
    control_names = ("mouth", "blink", "shift_x", "shift_y", "rotate")
    default_rate_points = (
        {"q": 6.0, "key_qp": 47},
        {"q": 4.0, "key_qp": 42},
        {"q": 2.0, "key_qp": 37},
        {"q": 1.0, "key_qp": 32},
    )

    def rate_ladder(self) -> list[dict]:
        """key_qp 51 down to 22 with q halving every 5 QP (q = 2 at key_qp 37, as the default
        rate points), rounded to quarter pixels and kept in Q_RANGE."""
        return [{"q": float(np.clip(np.round(4 * 2 ** ((key_qp - 32) / 5)) / 4, *Q_RANGE)), "key_qp": key_qp}
                for key_qp in range(51, 21, -1)]

    def label(self, params: dict) -> str:
        """The base label plus the structural delay of ``refs="bidir"``, e.g.
        ``landmark-warp q=2.0 key_qp=37 key_period=25 refs=bidir (delay 24 frames)``."""
        return " ".join(filter(None, [super().label(params), delay_note(params)]))

    def feature_residuals(self, clip: SourceClip, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """The chained landmark residuals int64 (T, 136) and their x/y context groups."""
        q, _ = self._check(params)
        frames = check_frames(clip.frames)
        height, width = frames.shape[1:3]
        return landmark_residuals(fill_missed(track_landmarks(frames), width, height), q)[1], GROUPS

    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Code the key frames and the landmarks of all frames (and, for ``refs="multi"``, the reference
        chosen per frame: a third section)."""
        q, policy = self._check(params)
        frames = check_frames(clip.frames)
        height, width = frames.shape[1:3]
        stream, landmarks = encode_landmarks(fill_missed(track_landmarks(frames), width, height), q)
        anchors = [warp_anchors(points, width, height) for points in landmarks]
        warps = {}

        def reconstruct(decoded_key: np.ndarray, key_index: int, t: int) -> np.ndarray:
            if key_index not in warps:
                warps[key_index] = PiecewiseAffineWarp(decoded_key, anchors[key_index])
            return warps[key_index](anchors[t])

        keys = code_key_frames(frames, clip.fps, policy, reconstruct)
        sections = [keys.payload, stream.data]
        if policy.refs == MULTI:
            def animate(key: int, ts: list[int]) -> np.ndarray:
                return np.stack([reconstruct(keys.decoded[key], keys.indices[key], t) for t in ts])

            sections.append(pack_choices(choose_references(frames, keys.indices, animate), keys.indices))
        header = BitstreamHeader(codec=self.name, params={"q": q, **policy.as_params()}, width=width,
                                 height=height, fps=clip.fps, frame_count=len(frames))
        return [write_bitstream(Path(workdir) / f"{self.name}{SUFFIX}", header, sections)]

    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Warp the decoded key frames to every frame's landmarks: uint8 (T, H, W, 3) RGB."""
        return self.decode_controlled(bitstream, {})

    def decode_controlled(self, bitstream: list[Path], controls: dict) -> np.ndarray:
        """Decode with the landmarks edited by ``controls`` (see the module docstring)."""
        controls = self.check_controls(controls)
        path = only_file(bitstream)
        header, sections = read_bitstream(path, codec=self.name)
        q, policy = self._check(header.params)
        expected = 3 if policy.refs == MULTI else 2
        if len(sections) != expected:
            raise BitstreamError(f"{path}: {self.name} bitstreams with refs={policy.refs} hold {expected} sections, "
                                 f"this one {len(sections)}")
        key_section, feature_stream = sections[:2]
        width, height = header.width, header.height
        keys = decode_key_frames(key_section, policy.codec, width, height, header.frame_count)
        landmarks = decode_landmarks(feature_stream, header.frame_count, q)
        shown = apply_controls(landmarks, controls, header.fps) if controls else landmarks
        warps = [PiecewiseAffineWarp(key, warp_anchors(landmarks[index], width, height))
                 for key, index in zip(keys.decoded, keys.indices)]
        if policy.refs == LAST:
            frames = np.stack([warps[key_for_frame(keys.indices, t)](warp_anchors(points, width, height))
                               for t, points in enumerate(shown)])
            return check_decoded(frames, header, path)
        choices = unpack_choices(sections[2], keys.indices, header.frame_count) if policy.refs == MULTI else None
        plans = plan_frames(keys.indices, header.frame_count, policy.refs, choices)
        if controls:  # a key frame's landmarks are edited too: warp it rather than show it
            plans = [Blend(plan.keys, plan.weights) for plan in plans]

        def animate(key: int, ts: list[int]) -> np.ndarray:
            return np.stack([warps[key](warp_anchors(shown[t], width, height)) for t in ts])

        return check_decoded(render(plans, keys.decoded, animate), header, path)

    def _check(self, params: dict) -> tuple[float, KeyFramePolicy]:
        params = self.check_params(params)
        if "q" not in params or "key_qp" not in params:
            raise CodecError("landmark-warp needs parameters q and key_qp, e.g. {'q': 2.0, 'key_qp': 37}")
        q = params["q"]
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not Q_RANGE[0] <= q <= Q_RANGE[1]:
            raise CodecError(f"q is the landmark quantisation step in pixels, {Q_RANGE[0]} to {Q_RANGE[1]}; got {q!r}")
        return float(q), KeyFramePolicy.from_params(params)
