"""landmark-warp: a model-based generative face codec, the simplest of its kind.

Bitstream (one FaceQA bitstream file, two sections):

1. key frame: frame 0 intra-coded by x265 at ``key_qp`` (Annex B, low delay).
2. feature stream: the 68 dlib landmarks of every frame (iBUG 300-W markup),
   quantised with step ``q`` pixels by closed-loop DPCM: each frame is
   predicted from the previous frame's reconstructed landmarks and the integer
   residual is sent, so the reconstruction error stays within q/2 and never
   drifts. Entropy coding is range coding with ``constriction``
   (``stream.queue.RangeEncoder``): frame 0's quantisation indices with a
   uniform model over the frame; for later frames the residuals are differenced
   once more along the markup order (adjacent points move together with the
   head) and coded with one zero-mean ``QuantizedLaplace`` whose scale, the
   clip's maximum-likelihood estimate under that quantised model, is sent as
   a float16 before the range-coder words.

The decoder decodes the key frame, rebuilds the landmarks and warps the key
frame piecewise-affinely to each frame's landmarks over one Delaunay
triangulation of the key frame's landmarks plus eight fixed border points
(corners and edge midpoints), so the triangles never change topology and the
background stays still.

The encoder tracks faces with dlib's frontal detector; a frame where it finds
none keeps the previous frame's landmarks (residual 0), frames before the
first detection take the first detection's. A clip without any face is refused.

Measured at 256x256, 25 fps, 125 frames on five face clips of ../shared/faces:
the default rate points give 2.3 to 9 kbit/s (feature stream 1.6 to 6 kbit/s).
"""
import struct
from pathlib import Path

import constriction
import cv2
import dlib
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.spatial import Delaunay
from scipy.stats import laplace

from qa_platform import faces
from qa_platform.bitstream import SUFFIX, BitstreamError, BitstreamHeader, only_file, read_bitstream, write_bitstream
from qa_platform.codec_api import Codec, CodecError, Device, Family, SourceClip, register_codec
from qa_platform.pyav_codec import (
    LIBRARY_VERSION, check_decoded, check_frames, check_qp, decode_frames, encode_frames,
)

KEY_ENCODER = "libx265"
N_LANDMARKS = 68
Q_RANGE = (0.25, 32.0)
_SCALE = struct.Struct("<e")
# Search range of the Laplace scale, in quantisation steps.
_MIN_SCALE = 0.05
_MAX_SCALE = 1000.0


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


def index_limits(width: int, height: int, q: float) -> np.ndarray:
    """Largest quantisation index per axis for points inside a width x height frame: int (2,)."""
    return np.round(np.array([width - 1, height - 1]) / q).astype(np.int64)


def dpcm_quantise(points: np.ndarray, q: float, width: int, height: int) -> np.ndarray:
    """Closed-loop DPCM quantisation of landmark tracks.

    points: float (T, 68, 2) pixels, NaN rows where the detector missed (at
    least one row detected). Each frame is predicted from the previous
    reconstruction ``q x index``; the residual is rounded to whole steps, ties
    to even (numpy), so a residual of exactly half a step is not sent: with
    dlib's whole-pixel landmarks an even ``q`` drops 1-pixel jitter, which is
    why the default rate points use even steps. Points are first clipped to
    the frame. Returns int64 (T, 68, 2) indices;
    their reconstruction ``q x index`` lies within q/2 of every clipped
    detected point. A missed frame repeats the previous indices (residual 0).
    """
    clipped = np.clip(points, 0, [width - 1, height - 1])
    detected = np.flatnonzero(~np.isnan(points[:, 0, 0]))
    indices = np.empty(points.shape, dtype=np.int64)
    index = np.round(clipped[detected[0]] / q)
    for t, target in enumerate(clipped):
        if not np.isnan(target[0, 0]):
            index = index + np.round((target - q * index) / q)
        indices[t] = index
    return indices


def encode_feature_stream(indices: np.ndarray, width: int, height: int, q: float) -> bytes:
    """Entropy-code landmark indices (int (T, 68, 2) from :func:`dpcm_quantise`) to bytes."""
    limits = index_limits(width, height, q)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(_flat(indices[0]), constriction.stream.model.Uniform(), _uniform_sizes(limits))
    residuals = _chain_residuals(indices)
    scale = laplace_scale(residuals)
    encoder.encode(residuals, _laplace(limits, scale))
    return _SCALE.pack(scale) + encoder.get_compressed().astype("<u4").tobytes()


def decode_feature_stream(data: bytes, frame_count: int, width: int, height: int, q: float) -> np.ndarray:
    """Invert :func:`encode_feature_stream`: int64 (frame_count, 68, 2) landmark indices."""
    if len(data) < _SCALE.size or (len(data) - _SCALE.size) % 4:
        raise BitstreamError(f"the landmark-warp feature stream has an impossible length ({len(data)} bytes)")
    (scale,) = _SCALE.unpack_from(data)
    if not _MIN_SCALE / 2 < scale < 2 * _MAX_SCALE:
        raise BitstreamError(f"the landmark-warp feature stream is damaged (Laplace scale {scale})")
    limits = index_limits(width, height, q)
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4", offset=_SCALE.size).copy())
    first = decoder.decode(constriction.stream.model.Uniform(), _uniform_sizes(limits))
    residuals = decoder.decode(_laplace(limits, scale), (frame_count - 1) * N_LANDMARKS * 2)
    chained = residuals.reshape(frame_count - 1, N_LANDMARKS, 2).astype(np.int64)
    steps = np.cumsum(chained, axis=1)
    start = first.reshape(1, N_LANDMARKS, 2).astype(np.int64)
    return np.concatenate([start, start + np.cumsum(steps, axis=0)])


def laplace_scale(symbols: np.ndarray) -> float:
    """Maximum-likelihood scale of a zero-mean Laplace quantised to unit bins, for integer ``symbols``.

    The bin probability is F(k + 1/2) - F(k - 1/2) with F the Laplace CDF
    (scipy.stats.laplace), maximised over log-scale in [_MIN_SCALE, _MAX_SCALE]
    (scipy.optimize.minimize_scalar). Rounded to float16, the value sent.
    """
    if symbols.size == 0:
        return float(np.float16(_MIN_SCALE))
    values, counts = np.unique(symbols, return_counts=True)

    def negative_log_likelihood(log_scale: float) -> float:
        scale = np.exp(log_scale)
        mass = laplace.cdf(values + 0.5, scale=scale) - laplace.cdf(values - 0.5, scale=scale)
        return -float(counts @ np.log(np.maximum(mass, 1e-300)))

    best = minimize_scalar(negative_log_likelihood, bounds=np.log([_MIN_SCALE, _MAX_SCALE]), method="bounded")
    return float(np.float16(np.exp(best.x)))


def _flat(indices: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(indices, dtype=np.int32).reshape(-1)


def _uniform_sizes(limits: np.ndarray) -> np.ndarray:
    return np.tile(np.maximum(limits + 1, 2).astype(np.int32), N_LANDMARKS)


def _chain_residuals(indices: np.ndarray) -> np.ndarray:
    temporal = np.diff(indices, axis=0)
    return _flat(np.diff(temporal, axis=1, prepend=0))


def _laplace(limits: np.ndarray, scale: float):
    bound = int(max(2 * limits.max(), 1))
    return constriction.stream.model.QuantizedLaplace(-bound, bound, 0.0, scale)


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
    """Key frame by x265 plus a landmark feature stream; the decoder warps the key frame."""

    name = "landmark-warp"
    version = f"1 ({LIBRARY_VERSION}, dlib {dlib.__version__})"
    family = Family.GENERATIVE
    device = Device.CPU
    description = "x265 key frame + DPCM/range-coded 68 landmarks, piecewise-affine warp"
    param_names = ("q", "key_qp")
    default_rate_points = (
        {"q": 6.0, "key_qp": 47},
        {"q": 4.0, "key_qp": 42},
        {"q": 2.0, "key_qp": 37},
        {"q": 1.0, "key_qp": 32},
    )

    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Code frame 0 as the key frame and the landmarks of all frames as the feature stream."""
        q, key_qp = self._check(params)
        frames = check_frames(clip.frames)
        height, width = frames.shape[1:3]
        indices = dpcm_quantise(track_landmarks(frames), q, width, height)
        key_frame = encode_frames(frames[:1], clip.fps, KEY_ENCODER, key_qp)
        header = BitstreamHeader(codec=self.name, params={"q": q, "key_qp": key_qp}, width=width,
                                 height=height, fps=clip.fps, frame_count=len(frames))
        sections = [key_frame, encode_feature_stream(indices, width, height, q)]
        return [write_bitstream(Path(workdir) / f"{self.name}{SUFFIX}", header, sections)]

    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Warp the decoded key frame to every frame's landmarks: uint8 (T, H, W, 3) RGB."""
        path = only_file(bitstream)
        header, (key_section, feature_stream) = read_bitstream(path, codec=self.name, sections=2)
        q, _ = self._check(header.params)
        width, height = header.width, header.height
        key_frame = decode_frames(key_section, KEY_ENCODER)[0]
        indices = decode_feature_stream(feature_stream, header.frame_count, width, height, q)
        anchors = [warp_anchors(q * frame_indices, width, height) for frame_indices in indices]
        warp = PiecewiseAffineWarp(key_frame, anchors[0])
        return check_decoded(np.stack([warp(points) for points in anchors]), header, path)

    def _check(self, params: dict) -> tuple[float, int]:
        params = self.check_params(params)
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise CodecError(f"landmark-warp needs parameter(s) {', '.join(missing)}, e.g. {{'q': 2.0, 'key_qp': 37}}")
        q = params["q"]
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not Q_RANGE[0] <= q <= Q_RANGE[1]:
            raise CodecError(f"q is the landmark quantisation step in pixels, {Q_RANGE[0]} to {Q_RANGE[1]}; got {q!r}")
        return float(q), check_qp(params["key_qp"])
