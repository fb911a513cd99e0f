"""hybrid-* and predictive-*: a generative codec plus a conventional stream, fused at the decoder.

Two families of layered generative face codecs, each a wrapper around a
generative codec of the zoo (the *base*, used through its public ``encode`` and
``decode`` alone) and a conventional codec of the zoo (x265 by default, or any
loaded conventional codec that takes a ``qp``: x264, svtav1, vp9, vvc):

- ``hybrid-<base>`` after HDAC (G. Konuko, S. Lathuilière, G. Valenzise, "A
  hybrid deep animation codec for low-bitrate video conferencing", ICIP 2022):
  an auxiliary *base layer* (HDAC's name; here "auxiliary stream", since the
  *base* is the generative codec), the whole clip downscaled by ``aux_scale``
  and coded low delay by ``aux_codec`` at a high ``aux_qp``, is decoded beside
  the animation. HDAC fuses the two in a trained generator (its base-layer
  features concatenated with the warped reference features at the bottleneck;
  JVET GFVC software ``source/GFVC/HDAC/modules/generator.py``, base layer by
  HM or VTM at QP 37 to 52, optionally downscaled, ``bl_scale_factor``).
  Without training, this codec fuses by frequency band, per block, as the
  encoder chooses and signals: with ``upsample`` bicubic to the frame size and
  ``G`` a Gaussian low-pass of standard deviation ``fuse_sigma`` pixels (of
  the full-size frame; kernel 6 sigma + 1 wide, reflected border), each
  picture splits into a low band G(x) and a high band x - G(x), and per
  32 x 32 block (``BLOCK``) one of three modes (``MODES``) takes

  ========== ===================== ======================
  mode       low band from         high band from
  ========== ===================== ======================
  ANIMATION  animation             animation
  FUSED      auxiliary stream      animation
  AUXILIARY  auxiliary stream      auxiliary stream
  ========== ===================== ======================

  FUSED is HDAC's idea in closed form: the auxiliary stream is right about
  colour, illumination, head and mouth position even at QP 51 and half size,
  the animation about texture and edges. The encoder picks per block the mode
  with the least squared error against the source (from the *decoded*
  auxiliary stream); the modes are sent as their change from the previous
  frame's (frame 0 from FUSED), range-coded (``feature_coding``, one adaptive
  context), typically 10 to 20 bits a frame. The decoder interpolates the
  block weights bilinearly between block centres, so mode changes leave no
  block edge, and computes per RGB channel in float32, rounded and clipped::

      out = A_low + A_high + w_low (X_low - A_low) + w_high (X_high - A_high)

  (A the animation, X the upsampled auxiliary picture). ``fuse_sigma``
  defaults to ``aux_scale`` (the auxiliary stream's own band limit, about
  1 / (2 aux_scale) cycles per pixel).

- ``predictive-<base>`` after RDAC (G. Konuko, S. Lathuilière, G. Valenzise,
  "Predictive coding for animation-based video compression", ICIP 2023): the
  animated frame is the prediction and the residual (source - prediction) is
  coded by ``res_codec`` at ``res_qp``, low delay (its inter prediction plays
  the part of RDAC's temporal prediction of the residual). Closed loop: the
  encoder decodes the base stream it wrote with the base codec's own decoder
  (so the prediction is the decoder's, decoded key frames and features
  included) and the residual stream it wrote with the conventional decoder, and
  its reconstruction is bit for bit the decoder's output
  (:meth:`PredictiveCodec.encode_reconstructed`). The base codecs here animate
  from their key frames, never from earlier reconstructions, so the base
  stream does not depend on the residual. Residual mapping to the 8-bit RGB
  picture the conventional codec codes (then as YUV 4:2:0, BT.601 limited
  range, as every anchor here)::

      coded    = clip(rint(128 + res_gain x (source - prediction)), 0, 255)
      decoded  = clip(rint(prediction + (coded' - 128) / res_gain), 0, 255)

  with ``coded'`` the conventional decoder's picture. ``res_gain`` (default 1)
  above 1 spends more bits on small residuals and clips large ones earlier.

Bitstream: one FaceQA bitstream file. Its header holds the base codec's own
header parameters plus this codec's non-default ones; its sections are the
base codec's sections (its file, less its header, which the decoder rebuilds
from this header: same size, rate and frame count, the base's parameters),
then this family's: the conventional stream (the raw elementary stream for
a PyAV anchor, or the conventional codec's whole bitstream file for any
other codec, e.g. an external program, header included), and for hybrid the
block modes. Every byte is
counted; nothing else reaches the decoder. The base must write one FaceQA
bitstream file (``CodecError`` otherwise).

Codec names: one class per (family, base) for each base in :data:`BASES`
(``hybrid-landmark-warp``, ``predictive-keypoint-anim``, ...), so that each
has its own rate ladder, HRC labels and curve names; the base's parameters
pass through unchanged. A base that is not loaded makes the codec unavailable.
Decode-time controls are not offered: the conventional stream carries the
real face and would undo them.
"""
import tempfile
from pathlib import Path

import cv2
import numpy as np

from qa_platform.codec import (
    SUFFIX,
    AnchorCodec,
    BitstreamError,
    BitstreamHeader,
    Codec,
    CodecError,
    Device,
    Family,
    SourceClip,
    TARGET_KBPS,
    check_decoded,
    check_frames,
    check_qp,
    decode_frames,
    encode_frames,
    feature_coding,
    only_file,
    read_bitstream,
    register_codec,
    registered_codecs,
    write_bitstream,
)

# The generative codecs wrapped, by registered name (declared once here; their plugins may load after this one).
BASES = ("landmark-warp", "keypoint-anim")
VERSION = "1"
DEFAULT_CONVENTIONAL = "x265"
SCALES = (1, 2, 4, 8)
SIGMA_RANGE = (0.25, 32.0)
GAIN_RANGE = (0.25, 4.0)
RESIDUAL_OFFSET = 128
# Fusion block size, pixels, and the block modes: (auxiliary weight of the low band, of the high band).
BLOCK = 32
MODES = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))
ANIMATION, FUSED, AUXILIARY = range(len(MODES))


def conventional_codec(name: str) -> Codec:
    """The loaded conventional codec ``name``, ready to run; ``CodecError`` otherwise."""
    codecs = registered_codecs()
    if name not in codecs:
        raise CodecError(f"conventional codec {name!r} is not loaded (loaded: {', '.join(sorted(codecs))})")
    codec = codecs[name]()
    if codec.family != Family.CONVENTIONAL:
        raise CodecError(f"{name} is a {codec.family} codec; the conventional stream needs a conventional one")
    reason = codec.unavailable_reason()
    if reason:
        raise CodecError(f"conventional codec {name}: {reason}")
    return codec


def conventional_qp_range(codec: Codec) -> range:
    """The QPs of a conventional codec: its stream format's for a PyAV anchor, else 0..63."""
    return codec.stream.qp_range if isinstance(codec, AnchorCodec) else range(0, 64)


def encode_conventional(codec: Codec, frames: np.ndarray, fps, qp: int) -> bytes:
    """Code frames uint8 (T, H, W, 3) RGB, low delay at ``qp``: the section's bytes.

    A PyAV anchor gives its raw elementary stream; another codec its whole
    bitstream file (it must write one).
    """
    if isinstance(codec, AnchorCodec):
        return encode_frames(frames, fps, codec.stream, check_qp(qp, codec.stream.qp_range))
    with tempfile.TemporaryDirectory(prefix="faceqa-conv-") as workdir:
        paths = codec.encode(SourceClip(frames=frames, fps=fps), {"qp": qp}, Path(workdir))
        if len(paths) != 1:
            raise CodecError(f"{codec.name} writes {len(paths)} files; the conventional stream needs one")
        return Path(paths[0]).read_bytes()


def decode_conventional(codec: Codec, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Invert :func:`encode_conventional`: uint8 ``shape`` (T, H, W, 3) RGB; ``BitstreamError`` when damaged."""
    if isinstance(codec, AnchorCodec):
        frames = decode_frames(data, codec.stream)
    else:
        with tempfile.TemporaryDirectory(prefix="faceqa-conv-") as workdir:
            path = Path(workdir) / f"{codec.name}{SUFFIX}"
            path.write_bytes(data)
            frames = codec.decode([path])
    if frames.shape != tuple(shape):
        raise BitstreamError(f"the {codec.name} stream decodes to {frames.shape}, expected {tuple(shape)}: "
                             "it is damaged")
    return frames


def downscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Frames uint8 (T, H, W, 3) shrunk by ``scale`` with area averaging: uint8 (T, H/scale, W/scale, 3)."""
    if scale == 1:
        return frames
    height, width = frames.shape[1] // scale, frames.shape[2] // scale
    return np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in frames])


def low_pass(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass of a float32 (H, W, 3) image, standard deviation ``sigma`` pixels, reflected border."""
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(image, (size, size), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)


def bands(animated: np.ndarray, auxiliary: np.ndarray, sigma: float) -> tuple[np.ndarray, ...]:
    """The four bands one frame is fused from, each float32 (H, W, 3).

    animated: uint8 (H, W, 3). auxiliary: uint8 (h, w, 3), resized
    bicubically to (H, W) first. Returns (animation low, animation high,
    auxiliary low, auxiliary high): Gaussian low-pass of ``sigma`` pixels and
    the rest, so that low + high is each picture.
    """
    height, width = animated.shape[:2]
    if auxiliary.shape[:2] != (height, width):
        auxiliary = cv2.resize(auxiliary, (width, height), interpolation=cv2.INTER_CUBIC)
    anim, aux = animated.astype(np.float32), auxiliary.astype(np.float32)
    anim_low, aux_low = low_pass(anim, sigma), low_pass(aux, sigma)
    return anim_low, anim - anim_low, aux_low, aux - aux_low


def mode_weights(modes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel auxiliary weights float32 (H, W, 1) of the low and the high band for one frame's block modes.

    modes: int (rows, cols), one of :data:`MODES` per BLOCK x BLOCK block
    (the last row and column may be cut by the frame edge). The block weights
    are interpolated bilinearly between block centres (``cv2.resize``), so
    that a mode change makes no visible block edge.
    """
    low, high = (np.asarray([MODES[mode][band] for mode in modes.ravel()], dtype=np.float32).reshape(modes.shape)
                 for band in (0, 1))
    rows, cols = modes.shape
    return tuple(cv2.resize(band, (cols * BLOCK, rows * BLOCK), interpolation=cv2.INTER_LINEAR)[:height, :width, None]
                 for band in (low, high))


def fuse(animated: np.ndarray, auxiliary: np.ndarray, sigma: float, modes: np.ndarray | None = None) -> np.ndarray:
    """HDAC-like fusion by frequency and block mode (module docstring): uint8 (T, H, W, 3) RGB.

    animated: uint8 (T, H, W, 3), the generative decoder's frames. auxiliary:
    uint8 (T, h, w, 3), the decoded auxiliary stream (h = H / aux_scale).
    sigma: Gaussian standard deviation, pixels of the full-size frame.
    modes: int (T, rows, cols) block modes (:data:`MODES`); None: every block
    FUSED. Raises ``ValueError`` when the frame counts differ.
    """
    if len(animated) != len(auxiliary):
        raise ValueError(f"{len(animated)} animated frames but {len(auxiliary)} auxiliary frames")
    count, height, width = animated.shape[:3]
    if modes is None:
        modes = np.full((count, *block_grid(height, width)), FUSED)
    out = np.empty_like(animated)
    for t in range(count):
        anim_low, anim_high, aux_low, aux_high = bands(animated[t], auxiliary[t], sigma)
        low_weight, high_weight = mode_weights(modes[t], height, width)
        fused = anim_low + anim_high + low_weight * (aux_low - anim_low) + high_weight * (aux_high - anim_high)
        out[t] = np.clip(np.rint(fused), 0, 255).astype(np.uint8)
    return out


def block_grid(height: int, width: int) -> tuple[int, int]:
    """(rows, cols) of BLOCK x BLOCK blocks covering an H x W frame."""
    return -(-height // BLOCK), -(-width // BLOCK)


def choose_modes(frames: np.ndarray, animated: np.ndarray, auxiliary: np.ndarray, sigma: float) -> np.ndarray:
    """The encoder's block modes int64 (T, rows, cols): per block the :data:`MODES` entry whose
    unsmoothed picture has the least squared error against the source ``frames`` uint8 (T, H, W, 3)."""
    count, height, width = frames.shape[:3]
    rows, cols = block_grid(height, width)
    modes = np.empty((count, rows, cols), dtype=np.int64)
    for t in range(count):
        anim_low, anim_high, aux_low, aux_high = bands(animated[t], auxiliary[t], sigma)
        source = frames[t].astype(np.float32)
        errors = []
        for low_weight, high_weight in MODES:
            picture = anim_low + anim_high + low_weight * (aux_low - anim_low) + high_weight * (aux_high - anim_high)
            squared = ((np.clip(np.rint(picture), 0, 255) - source) ** 2).sum(axis=2)
            padded = np.pad(squared, ((0, rows * BLOCK - height), (0, cols * BLOCK - width)))
            errors.append(padded.reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3)))
        modes[t] = np.argmin(np.stack(errors), axis=0)
    return modes


def encode_modes(modes: np.ndarray) -> bytes:
    """Code block modes int (T, rows, cols): each block's change from the previous frame (frame 0 from
    FUSED), range-coded with the adaptive models of ``feature_coding``, one context group."""
    flat = modes.reshape(len(modes), -1).astype(np.int64)
    changes = np.diff(flat, axis=0, prepend=np.full((1, flat.shape[1]), FUSED))
    return feature_coding.encode_residuals(changes, np.zeros(flat.shape[1], dtype=np.int64)).data


def decode_modes(data: bytes, count: int, rows: int, cols: int) -> np.ndarray:
    """Invert :func:`encode_modes`: int64 (count, rows, cols); ``BitstreamError`` for a mode outside MODES."""
    try:
        changes = feature_coding.decode_residuals(data, count, rows * cols, np.zeros(rows * cols, dtype=np.int64))
    except (ValueError, IndexError, OverflowError) as exc:
        raise BitstreamError(f"the block-mode section is damaged: {exc}") from exc
    modes = FUSED + np.cumsum(changes, axis=0)
    if modes.min() < 0 or modes.max() >= len(MODES):
        raise BitstreamError("the block-mode section holds a mode that does not exist: it is damaged")
    return modes.reshape(count, rows, cols)


def residual_picture(source: np.ndarray, prediction: np.ndarray, gain: float) -> np.ndarray:
    """The residual as the 8-bit picture the conventional codec codes: uint8, same shape as ``source``.

    128 + gain x (source - prediction), rounded and clipped to 0..255; both
    inputs uint8 (T, H, W, 3) RGB.
    """
    residual = np.float32(gain) * (source.astype(np.float32) - prediction.astype(np.float32))
    return np.clip(np.rint(residual + RESIDUAL_OFFSET), 0, 255).astype(np.uint8)


def add_residual(prediction: np.ndarray, decoded: np.ndarray, gain: float) -> np.ndarray:
    """The reconstruction: prediction + (decoded - 128) / gain, rounded, clipped: uint8 (T, H, W, 3)."""
    residual = (decoded.astype(np.float32) - RESIDUAL_OFFSET) / np.float32(gain)
    return np.clip(np.rint(prediction.astype(np.float32) + residual), 0, 255).astype(np.uint8)


def _spread(points: list, count: int) -> list:
    """``count`` items of ``points`` evenly spaced from first to last (repeats when there are fewer)."""
    if not points or count <= 0:
        return []
    return [points[round(i * (len(points) - 1) / max(count - 1, 1))] for i in range(count)]


class _FromBase:
    """A class attribute computed from the base codec's class when read: ``compute(owner, base_class)``,
    or ``fallback`` while the base is not loaded (plugins load in file-name order)."""

    def __init__(self, compute, fallback):
        self.compute, self.fallback = compute, fallback

    def __get__(self, instance, owner):
        base = registered_codecs().get(owner.base_name)
        return self.fallback if base is None else self.compute(owner, base)


class LayeredCodec(Codec):
    """A base generative codec plus one conventional stream (see the module docstring).

    Subclasses (one per family and base) set ``base_name``; a family sets
    ``codec_param`` and ``qp_param`` (the conventional codec and its QP),
    ``own_params`` (its parameters, the conventional ones first), its
    ``default_qps`` (paired with the base's default rate points), the number
    ``own_sections`` of sections it adds after the base's, and implements
    :meth:`enhance` and :meth:`reconstruct`.
    """

    family = Family.GENERATIVE
    base_name: str
    codec_param: str
    qp_param: str
    own_params: tuple[str, ...]
    own_sections: int
    default_qps: tuple[int, ...]
    # The conventional QPs of the rate ladder, lowest rate first.
    ladder_qps: tuple[int, ...] = tuple(range(51, 21, -1))

    version = _FromBase(lambda owner, base: f"{VERSION} ({base.name} {base.version})",
                        f"{VERSION} (base not loaded)")
    device = _FromBase(lambda owner, base: base.device, Device.CPU)
    param_names = _FromBase(lambda owner, base: (*base.param_names, *owner.own_params), ())
    default_rate_points = _FromBase(
        lambda owner, base: tuple({**point, owner.qp_param: qp} for point, qp in
                                  zip(_spread(list(base.default_rate_points), len(owner.default_qps)),
                                      owner.default_qps)) if base.default_rate_points else (),
        (),
    )

    def base(self) -> Codec:
        """The base generative codec, ready to run; ``CodecError`` when it is not loaded."""
        cls = registered_codecs().get(self.base_name)
        if cls is None:
            raise CodecError(f"{self.name} needs the {self.base_name} codec plugin, which is not loaded")
        return cls()

    def unavailable_reason(self) -> str:
        try:
            base = self.base()
        except CodecError as exc:
            return str(exc)
        reason = base.unavailable_reason()
        return f"its base codec {self.base_name}: {reason}" if reason else ""

    def execution_device(self) -> str:
        return self.base().execution_device()

    def rate_ladder(self) -> list[dict]:
        """The base codec's ladder with the conventional QP falling alongside (``ladder_qps``), lowest rate first;
        empty when the base has none."""
        base_ladder = self.base().rate_ladder() if self.base_name in registered_codecs() else []
        return [{**point, self.qp_param: qp}
                for point, qp in zip(_spread(base_ladder, len(self.ladder_qps)), self.ladder_qps)]

    def rate_params(self) -> set[str]:
        """The base codec's rate parameters and the conventional QP."""
        base = self.base().rate_params() if self.base_name in registered_codecs() else {TARGET_KBPS}
        return base | {self.qp_param}

    def split(self, params: dict) -> tuple[dict, dict]:
        """(the base codec's parameters, this family's checked and completed ones); ``CodecError`` when bad."""
        params = self.check_params(params)
        own = {key: params[key] for key in self.own_params if key in params}
        base = {key: value for key, value in params.items() if key not in self.own_params}
        return base, self.check_own(own)

    def check_own(self, own: dict) -> dict:
        """This family's parameters with defaults filled in; ``CodecError`` for bad ones."""
        name = own.get(self.codec_param, DEFAULT_CONVENTIONAL)
        if not isinstance(name, str):
            raise CodecError(f"{self.codec_param} names a conventional codec, got {name!r}")
        if self.qp_param not in own:
            raise CodecError(f"{self.name} needs {self.qp_param}, the conventional stream's QP, e.g. "
                             f"{self.default_qps[0]}")
        qp = own[self.qp_param]
        codec = conventional_codec(name)
        qp_range = conventional_qp_range(codec)
        if isinstance(qp, bool) or not isinstance(qp, int) or qp not in qp_range:
            raise CodecError(f"{self.qp_param} must be an integer in {qp_range.start}..{qp_range.stop - 1} "
                             f"for {name}, got {qp!r}")
        return {**own, self.codec_param: name}

    def stored_params(self, own: dict) -> dict:
        """What the header keeps of this family's parameters: the non-default ones (each byte is counted)."""
        return {key: value for key, value in own.items()
                if not (key == self.codec_param and value == DEFAULT_CONVENTIONAL)}

    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Encode the base stream and the conventional stream into ``workdir/<name>.fqbs``."""
        return self.encode_reconstructed(clip, params, workdir)[0]

    def encode_reconstructed(self, clip: SourceClip, params: dict, workdir: Path) -> tuple[list[Path], np.ndarray]:
        """Encode as :meth:`encode`; also return the encoder's reconstruction, uint8 (T, H, W, 3) RGB.

        The reconstruction is made from the decoded streams alone, as the
        decoder makes it, and equals :meth:`decode`'s output bit for bit.
        """
        base_params, own = self.split(params)
        frames = check_frames(clip.frames)
        self.check_size(frames.shape[1:3], own)
        base = self.base()
        with tempfile.TemporaryDirectory(prefix="faceqa-base-") as scratch:
            base_path = only_file(base.encode(clip, base_params, Path(scratch)))
            base_header, base_sections = read_bitstream(base_path, codec=base.name)
            animated = base.decode([base_path])
        if base_header.frame_count != len(frames) or (base_header.height, base_header.width) != frames.shape[1:3]:
            raise CodecError(f"{base.name} coded {base_header.frame_count} frames of {base_header.width}x"
                             f"{base_header.height}, not the clip")
        clash = sorted(set(base_header.params) & set(self.own_params))
        if clash:
            raise CodecError(f"{base.name} writes parameter(s) {', '.join(clash)}, which {self.name} uses")
        codec = conventional_codec(own[self.codec_param])
        sections = self.enhance(frames, animated, clip.fps, codec, own)
        reconstruction = self.reconstruct(animated, sections, codec, own)
        header = BitstreamHeader(codec=self.name, params={**base_header.params, **self.stored_params(own)},
                                 width=frames.shape[2], height=frames.shape[1], fps=clip.fps,
                                 frame_count=len(frames))
        path = write_bitstream(Path(workdir) / f"{self.name}{SUFFIX}", header, [*base_sections, *sections])
        return [path], reconstruction

    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Decode the base stream with the base codec, the conventional stream, and combine them:
        uint8 (T, H, W, 3) RGB. ``BitstreamError`` (or ``CodecError`` for bad header parameters) when damaged."""
        path = only_file(bitstream)
        header, sections = read_bitstream(path, codec=self.name)
        if len(sections) <= self.own_sections:
            raise BitstreamError(f"{path}: {self.name} bitstreams hold the base sections and {self.own_sections} "
                                 f"more, this one {len(sections)} section(s)")
        base_params, own = self.split(header.params)
        base = self.base()
        with tempfile.TemporaryDirectory(prefix="faceqa-base-") as scratch:
            base_header = BitstreamHeader(codec=base.name, params=base_params, width=header.width,
                                          height=header.height, fps=header.fps, frame_count=header.frame_count)
            base_path = write_bitstream(Path(scratch) / f"{base.name}{SUFFIX}", base_header,
                                        sections[:-self.own_sections])
            animated = base.decode([base_path])
        check_decoded(animated, header, path)
        codec = conventional_codec(own[self.codec_param])
        return check_decoded(self.reconstruct(animated, sections[-self.own_sections:], codec, own), header, path)

    def check_size(self, size: tuple[int, int], own: dict) -> None:
        """Refuse a frame size (H, W) the conventional stream cannot code (``CodecError``)."""
        if size[0] % 2 or size[1] % 2:
            raise CodecError(f"{self.name} needs an even frame size, got {size[1]}x{size[0]}")

    def enhance(self, frames: np.ndarray, animated: np.ndarray, fps, codec: Codec, own: dict) -> list[bytes]:
        """This family's ``own_sections`` sections for the source ``frames`` uint8 (T, H, W, 3) and the
        decoder's ``animated`` frames (same shape), ``codec`` coding the conventional stream."""
        raise NotImplementedError

    def reconstruct(self, animated: np.ndarray, sections: list[bytes], codec: Codec, own: dict) -> np.ndarray:
        """The output frames uint8 (T, H, W, 3) from the animation and this family's sections; the encoder's
        reconstruction and the decoder's output both come from here. ``BitstreamError`` when damaged."""
        raise NotImplementedError


class HybridCodec(LayeredCodec):
    """HDAC-like: an auxiliary downscaled conventional stream; low frequencies from it, high from the animation.

    Parameters besides the base's: ``aux_codec`` (default x265), ``aux_qp``,
    ``aux_scale`` (1, 2, 4 or 8; default 2: the stream codes H/2 x W/2),
    ``fuse_sigma`` (pixels, 0.25 to 32; default ``aux_scale``).
    """

    codec_param, qp_param = "aux_codec", "aux_qp"
    own_params = ("aux_codec", "aux_qp", "aux_scale", "fuse_sigma")
    own_sections = 2
    default_qps = (51, 47, 43, 39)
    description_text = "HDAC-like hybrid: {base} + a downscaled x265 auxiliary stream, low/high-frequency fusion"

    def check_own(self, own: dict) -> dict:
        own = super().check_own(own)
        scale = own.get("aux_scale", 2)
        if isinstance(scale, bool) or scale not in SCALES:
            raise CodecError(f"aux_scale divides the frame size for the auxiliary stream: one of {SCALES}, "
                             f"got {scale!r}")
        sigma = own.get("fuse_sigma", float(scale))
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (
                SIGMA_RANGE[0] <= sigma <= SIGMA_RANGE[1]):
            raise CodecError(f"fuse_sigma is the fusion low-pass in pixels, {SIGMA_RANGE[0]} to {SIGMA_RANGE[1]}; "
                             f"got {sigma!r}")
        return {**own, "aux_scale": int(scale), "fuse_sigma": float(sigma)}

    def stored_params(self, own: dict) -> dict:
        stored = super().stored_params(own)
        if stored["aux_scale"] == 2:
            del stored["aux_scale"]
        if stored["fuse_sigma"] == float(own["aux_scale"]):
            del stored["fuse_sigma"]
        return stored

    def check_size(self, size: tuple[int, int], own: dict) -> None:
        step = 2 * own["aux_scale"]
        if size[0] % step or size[1] % step:
            raise CodecError(f"{self.name} with aux_scale {own['aux_scale']} needs a frame size divisible by "
                             f"{step}, got {size[1]}x{size[0]}")

    def enhance(self, frames, animated, fps, codec, own) -> list[bytes]:
        """The auxiliary stream, then the block modes chosen against its decoded pictures."""
        stream = encode_conventional(codec, downscale(frames, own["aux_scale"]), fps, own["aux_qp"])
        auxiliary = decode_conventional(codec, stream, self.aux_shape(animated.shape, own))
        return [stream, encode_modes(choose_modes(frames, animated, auxiliary, own["fuse_sigma"]))]

    def reconstruct(self, animated, sections, codec, own) -> np.ndarray:
        stream, modes = sections
        auxiliary = decode_conventional(codec, stream, self.aux_shape(animated.shape, own))
        count, height, width = animated.shape[:3]
        return fuse(animated, auxiliary, own["fuse_sigma"], decode_modes(modes, count, *block_grid(height, width)))

    @staticmethod
    def aux_shape(shape: tuple[int, ...], own: dict) -> tuple[int, ...]:
        """The auxiliary stream's frame shape for a clip of ``shape`` (T, H, W, 3)."""
        count, height, width, channels = shape
        return count, height // own["aux_scale"], width // own["aux_scale"], channels


class PredictiveCodec(LayeredCodec):
    """RDAC-like: the animation predicts each frame; the residual is coded conventionally, closed loop.

    Parameters besides the base's: ``res_codec`` (default x265), ``res_qp``,
    ``res_gain`` (0.25 to 4; default 1), the residual mapping's scale.
    """

    codec_param, qp_param = "res_codec", "res_qp"
    own_params = ("res_codec", "res_qp", "res_gain")
    own_sections = 1
    default_qps = (50, 45, 40, 35)
    description_text = "RDAC-like predictive: {base} as the prediction + an x265 residual stream, closed loop"

    def check_own(self, own: dict) -> dict:
        own = super().check_own(own)
        gain = own.get("res_gain", 1.0)
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]:
            raise CodecError(f"res_gain scales the residual before coding, {GAIN_RANGE[0]} to {GAIN_RANGE[1]}; "
                             f"got {gain!r}")
        return {**own, "res_gain": float(gain)}

    def stored_params(self, own: dict) -> dict:
        stored = super().stored_params(own)
        if stored["res_gain"] == 1.0:
            del stored["res_gain"]
        return stored

    def enhance(self, frames, animated, fps, codec, own) -> list[bytes]:
        """The residual stream."""
        return [encode_conventional(codec, residual_picture(frames, animated, own["res_gain"]), fps, own["res_qp"])]

    def reconstruct(self, animated, sections, codec, own) -> np.ndarray:
        return add_residual(animated, decode_conventional(codec, sections[0], animated.shape), own["res_gain"])


def _declare(family: type[LayeredCodec], prefix: str, base_name: str) -> type[LayeredCodec]:
    """Register the class of ``family`` around ``base_name`` as ``<prefix>-<base_name>``."""
    name = f"{prefix}-{base_name}"
    qualname = f"{family.__name__}_{base_name.replace('-', '_')}"
    cls = type(qualname, (family,), {
        "name": name, "base_name": base_name, "__module__": __name__, "__qualname__": qualname,
        "description": family.description_text.format(base=base_name),
        "__doc__": f"{family.__doc__.splitlines()[0]} Base: {base_name}.",
    })
    return register_codec(cls)


for _base in BASES:
    for _family, _prefix in ((HybridCodec, "hybrid"), (PredictiveCodec, "predictive")):
        _cls = _declare(_family, _prefix, _base)
        globals()[_cls.__qualname__] = _cls
del _base, _family, _prefix, _cls
