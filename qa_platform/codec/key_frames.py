"""Key frames (reference frames) of the generative codecs: when to refresh, how to code them. Django-free.

A generative decoder animates the last key frame it received. The encoder
refreshes it (sends a new intra-coded frame):

- at frame 0, always;
- every ``key_period`` frames (0: never again), as the fixed refresh of the
  GFVC common test conditions;
- adaptively, when ``key_threshold_db`` is set: the encoder decodes what it
  sent, reconstructs the next frame as the decoder will (from the decoded key
  frame and the *reconstructed* features, through the codec's ``reconstruct``
  callback) and refreshes when that frame's PSNR against the source falls
  below the threshold. The estimate is the frame's own PSNR (RGB, peak 255),
  the quality the decoder would show there.

Key frames are intra-coded at ``key_qp`` by any loaded codec that implements
:meth:`Codec.intra_encode`: x265 (a one-frame H.265 stream, the anchor's
low-delay settings), the other PyAV anchors, or an external encoder described
by a manifest (e.g. ``vvenc`` for VVC).

Payload (one bitstream section, every byte counted): ULEB128 key-frame count,
then per key frame the ULEB128 frame distance from the previous key frame
(frame 0 has none), the ULEB128 length of its intra stream and the stream.

Reference structure (HRC parameter ``refs``, :data:`REFS`; codecs that
implement it list it in their ``param_names``):

- ``"last"`` (the default, left out of the bitstream header so that streams
  coded before it existed decode unchanged): every frame is animated from the
  last key frame at or before it (:func:`key_for_frame`).
- ``"bidir"``: bidirectional animation, as the bidirectional GFVC of the
  seed papers: a frame t between key frames p < t < n is animated from both
  and the two pictures are blended with weights linear in temporal distance,
  w_p = (n - t) / (n - p), w_n = (t - p) / (n - p) (:func:`bidir_weights`;
  0.5 each at the midpoint). A key frame shows its decoded picture itself.
  The encoder always sends the last frame of the clip as a key frame too, so
  that the final segment is bidirectional as well (one more key frame than
  ``"last"`` unless the period already ends there; its bits are counted in
  the key-frame section like any other). The decoder needs key frame n before
  it can show p + 1: a structural delay of ``key_period - 1`` frames
  (:meth:`KeyFramePolicy.delay_frames`), named in the HRC label; so
  ``"bidir"`` needs ``key_period`` > 0 (an adaptive refresh only adds key
  frames, which shortens segments and never lengthens the delay).
- ``"multi"``: multi-reference animation, after MRDAC (Konuko, Valenzise and
  Lathuilière, "Multi-reference generative face video compression with
  contrastive learning", 2024), simplified: the decoder keeps the last
  :data:`MULTI_REFERENCES` key frames, and for every frame that is not a key
  frame and has more than one stored key frame the encoder signals which one
  to animate, chosen closed loop as the one whose animation (from the
  *decoded* key frame and the *reconstructed* features, as the decoder will
  make it) has the highest PSNR against the source (ties: the most recent).
  The choice is its age, 0 for the most recent key frame, coded in a section
  of its own by ``feature_coding``'s adaptive range coder (one context
  group): :func:`pack_choices`. No delay. Needs more than one key frame
  (``key_period`` or ``key_threshold_db``).

With ``"bidir"`` and ``"multi"`` the adaptive refresh still estimates the
quality of a frame animated forward from the last key frame (a lower bound
of what the decoder shows).
"""
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from qa_platform.codec import feature_coding
from qa_platform.codec.anchor import check_qp
from qa_platform.codec.base import Codec, CodecError, registered_codecs
from qa_platform.codec.bitstream import BitstreamError, pack_uleb128, read_uleb128

KEY_FRAME_PARAMS = ("key_qp", "key_period", "key_threshold_db", "key_codec")
# The reference-structure parameter (module docstring); not in KEY_FRAME_PARAMS: a codec that
# implements the decoders of "bidir" and "multi" names it in its own param_names.
REFS = "refs"
LAST, BIDIR, MULTI = "last", "bidir", "multi"
REFERENCE_MODES = (LAST, BIDIR, MULTI)
# Key frames a "multi" decoder keeps (the most recent ones); a choice costs at most 2 bins of Exp-Golomb suffix.
MULTI_REFERENCES = 4
X265 = "x265"
# The range of an adaptive threshold, dB: below 10 nothing refreshes, above 60 everything does.
THRESHOLD_RANGE = (10.0, 60.0)

Reconstruct = Callable[[np.ndarray, int, int], np.ndarray]


@dataclass(frozen=True)
class KeyFramePolicy:
    """How a generative codec refreshes and codes its key frames.

    qp: intra QP (0..51 for x265). period: refresh every ``period`` frames
    (0: frame 0 only). threshold_db: adaptive refresh threshold, dB PSNR
    (None: off). codec: "x265" or the name of a manifest codec. refs: the
    reference structure, one of :data:`REFERENCE_MODES` (module docstring).
    """

    qp: int
    period: int = 0
    threshold_db: float | None = None
    codec: str = X265
    refs: str = LAST

    @classmethod
    def from_params(cls, params: dict) -> "KeyFramePolicy":
        """The policy in an HRC's parameters (``KEY_FRAME_PARAMS``); ``CodecError`` for bad values."""
        if "key_qp" not in params:
            raise CodecError("a generative codec needs key_qp, the key frames' intra QP, e.g. {'key_qp': 37}")
        period = params.get("key_period", 0)
        if isinstance(period, bool) or not isinstance(period, int) or period < 0:
            raise CodecError(f"key_period is a whole number of frames, 0 for no periodic refresh; got {period!r}")
        threshold = params.get("key_threshold_db")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not THRESHOLD_RANGE[0] <= threshold <= THRESHOLD_RANGE[1]):
            raise CodecError(f"key_threshold_db is a PSNR in dB, {THRESHOLD_RANGE[0]:g} to "
                             f"{THRESHOLD_RANGE[1]:g}, or absent; got {threshold!r}")
        codec = params.get("key_codec", X265)
        qp = check_qp(params["key_qp"]) if codec == X265 else params["key_qp"]
        refs = params.get(REFS, LAST)
        if refs not in REFERENCE_MODES:
            raise CodecError(f"{REFS} is the reference structure, one of {', '.join(map(repr, REFERENCE_MODES))}; "
                             f"got {refs!r}")
        if refs == BIDIR and not period:
            raise CodecError(f"{REFS}='bidir' needs key_period > 0: the decoder waits for the next key frame, "
                             "a delay of key_period - 1 frames")
        if refs == MULTI and not period and threshold is None:
            raise CodecError(f"{REFS}='multi' needs more than one key frame: set key_period or key_threshold_db")
        return cls(qp=qp, period=period, threshold_db=None if threshold is None else float(threshold), codec=codec,
                   refs=refs)

    def as_params(self) -> dict:
        """The HRC parameters of this policy, defaults left out."""
        params = {"key_qp": self.qp}
        if self.period:
            params["key_period"] = self.period
        if self.threshold_db is not None:
            params["key_threshold_db"] = self.threshold_db
        if self.codec != X265:
            params["key_codec"] = self.codec
        if self.refs != LAST:
            params[REFS] = self.refs
        return params

    @property
    def delay_frames(self) -> int:
        """Structural delay of the decoder, frames: ``period - 1`` for "bidir" (it needs the next key
        frame before it shows the frames before it), else 0."""
        return self.period - 1 if self.refs == BIDIR else 0


def delay_note(params: dict) -> str:
    """What an HRC label adds for its reference structure: ``(delay 24 frames)`` for
    ``refs="bidir"`` at ``key_period`` 25 (:attr:`KeyFramePolicy.delay_frames`), else "".

    Reads ``params`` leniently (a matched-bitrate HRC has no ``key_qp``); validation is
    :meth:`KeyFramePolicy.from_params`'s.
    """
    period = params.get("key_period", 0)
    if params.get(REFS) != BIDIR or isinstance(period, bool) or not isinstance(period, int) or period < 1:
        return ""
    delay = period - 1
    return f"(delay {delay} frame{'' if delay == 1 else 's'})"


@dataclass(frozen=True)
class KeyFrames:
    """Key frames as sent: indices (frame numbers, increasing, first 0), decoded
    uint8 (K, H, W, 3) RGB as the decoder sees them, payload (the section's bytes)."""

    indices: tuple[int, ...]
    decoded: np.ndarray
    payload: bytes


def key_for_frame(indices: tuple[int, ...], t: int) -> int:
    """Position in ``indices`` of the key frame in force at frame ``t`` (the last one at or before it)."""
    return int(np.searchsorted(np.asarray(indices), t, side="right")) - 1


def psnr(frame: np.ndarray, reference: np.ndarray) -> float:
    """PSNR of one frame, RGB, peak 255, dB (inf for identical frames)."""
    mse = np.mean((frame.astype(np.float64) - reference) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def code_key_frames(frames: np.ndarray, fps: Fraction, policy: KeyFramePolicy,
                    reconstruct: Reconstruct | None = None) -> KeyFrames:
    """Choose, code and decode the key frames of a clip.

    frames: uint8 (T, H, W, 3) RGB. reconstruct(decoded_key, key_index, t):
    the decoder's frame t, uint8 (H, W, 3), animated from that key frame;
    needed only when ``policy.threshold_db`` is set (``CodecError`` otherwise).
    With ``policy.refs == "bidir"`` the last frame is a key frame too.
    """
    if policy.threshold_db is not None and reconstruct is None:
        raise CodecError("an adaptive key-frame refresh needs the codec's reconstruction of each frame")
    coder = _intra_coder(policy.codec)
    indices, streams, decoded = [], [], []
    last = len(frames) - 1
    for t in range(len(frames)):
        final = policy.refs == BIDIR and t == last
        if indices and not final and not _refresh(frames, t, policy, indices[-1], decoded[-1], reconstruct):
            continue
        stream = coder.intra_encode(frames[t], fps, policy.qp)
        indices.append(t)
        streams.append(stream)
        decoded.append(coder.intra_decode(stream, frames.shape[2], frames.shape[1]))
    return KeyFrames(indices=tuple(indices), decoded=np.stack(decoded), payload=_pack(indices, streams))


def decode_key_frames(payload: bytes, codec: str = X265, width: int = 0, height: int = 0,
                      frame_count: int | None = None) -> KeyFrames:
    """Decode a key-frame section; ``BitstreamError`` when it is damaged.

    width, height: the frame size, needed by external intra decoders only.
    frame_count: the clip's frames; a key frame at or past it is damage.
    """
    indices, streams = _unpack(payload)
    if frame_count is not None and indices[-1] >= frame_count:
        raise BitstreamError(f"the key-frame section names frame {indices[-1]} of a {frame_count}-frame clip")
    coder = _intra_coder(codec)
    decoded = np.stack([coder.intra_decode(stream, width, height) for stream in streams])
    return KeyFrames(indices=tuple(indices), decoded=decoded, payload=bytes(payload))


# An animation callback: (position of a key frame in KeyFrames.indices, frame numbers t) -> the frames
# animated from that decoded key frame, uint8 (len(t), H, W, 3) RGB.
Animate = Callable[[int, list[int]], np.ndarray]


@dataclass(frozen=True)
class Blend:
    """What a decoder shows at one frame.

    keys: positions in ``KeyFrames.indices`` of the key frames it animates;
    weights: float, one per key, summing to 1. The frame is
    round(sum weights[k] x animation from keys[k]), uint8. direct: show the
    decoded key frame ``keys[0]`` itself (the frame is that key frame).
    """

    keys: tuple[int, ...]
    weights: tuple[float, ...] = (1.0,)
    direct: bool = False


def bidir_weights(previous: int, following: int, t: int) -> tuple[float, float]:
    """Blend weights of key frames ``previous`` <= t <= ``following`` (frame numbers) for frame t:
    (w_prev, w_next) = ((n - t) / (n - p), (t - p) / (n - p)), linear in temporal distance."""
    if not previous <= t <= following or previous == following:
        raise ValueError(f"frame {t} is not between key frames {previous} and {following}")
    span = following - previous
    return (following - t) / span, (t - previous) / span


def stored_references(indices: tuple[int, ...], t: int) -> list[int]:
    """Positions in ``indices`` of the key frames a "multi" decoder holds at frame t, most recent first
    (at most :data:`MULTI_REFERENCES`)."""
    newest = key_for_frame(indices, t)
    return list(range(newest, max(newest - MULTI_REFERENCES, -1), -1))


def choice_frames(indices: tuple[int, ...], frame_count: int) -> list[int]:
    """The frames for which a "multi" stream signals a reference: not key frames, more than one stored."""
    keys = set(indices)
    return [t for t in range(frame_count) if t not in keys and len(stored_references(indices, t)) > 1]


def plan_frames(indices: tuple[int, ...], frame_count: int, refs: str,
                choices: np.ndarray | None = None) -> list[Blend]:
    """What the decoder shows at each of ``frame_count`` frames: one :class:`Blend` per frame.

    indices: the key frames (increasing, first 0). refs: "last", "bidir" or
    "multi" (module docstring). choices: for "multi", int (frame_count,), the
    age of the stored key frame chosen at each frame (0: the most recent;
    read only at :func:`choice_frames`). Raises ``BitstreamError`` for a
    "bidir" stream whose last key frame is not the last frame, or a choice
    of a key frame the decoder does not hold.
    """
    keys = {index: position for position, index in enumerate(indices)}
    if refs == LAST:
        return [Blend((key_for_frame(indices, t),)) for t in range(frame_count)]
    if refs == BIDIR and indices[-1] != frame_count - 1:
        raise BitstreamError(f"a bidirectional stream ends with a key frame at its last frame ({frame_count - 1}); "
                             f"this one's last key frame is frame {indices[-1]}: it is damaged")
    plans = []
    for t in range(frame_count):
        if t in keys:
            plans.append(Blend((keys[t],), direct=True))
            continue
        newest = key_for_frame(indices, t)
        if refs == BIDIR:
            plans.append(Blend((newest, newest + 1), bidir_weights(indices[newest], indices[newest + 1], t)))
            continue
        stored = stored_references(indices, t)
        age = int(choices[t]) if len(stored) > 1 else 0
        if not 0 <= age < len(stored):
            raise BitstreamError(f"frame {t} animates stored key frame {age} (0: the most recent) of "
                                 f"{len(stored)}: the reference choices are damaged")
        plans.append(Blend((stored[age],)))
    return plans


def render(plans: list[Blend], decoded: np.ndarray, animate: Animate) -> np.ndarray:
    """The decoded clip of ``plans``: uint8 (T, H, W, 3) RGB.

    decoded: the decoded key frames uint8 (K, H, W, 3). animate: the codec's
    animation (:data:`Animate`), called once per key frame with every frame
    it animates, in increasing order. A blend of several key frames is
    computed in float64 and rounded half to even.
    """
    wanted: dict[int, list[int]] = {}
    for t, plan in enumerate(plans):
        if not plan.direct:
            for key in plan.keys:
                wanted.setdefault(key, []).append(t)
    animated = {}
    for key, ts in sorted(wanted.items()):
        pictures = animate(key, ts)
        animated.update({(key, t): picture for t, picture in zip(ts, pictures)})
    out = np.empty((len(plans), *decoded.shape[1:]), dtype=np.uint8)
    for t, plan in enumerate(plans):
        if plan.direct:
            out[t] = decoded[plan.keys[0]]
        elif len(plan.keys) == 1:
            out[t] = animated[plan.keys[0], t]
        else:
            mix = sum(weight * animated[key, t].astype(np.float64) for key, weight in zip(plan.keys, plan.weights))
            out[t] = np.clip(np.round(mix), 0, 255).astype(np.uint8)
    return out


def choose_references(frames: np.ndarray, indices: tuple[int, ...], animate: Animate) -> np.ndarray:
    """The encoder's "multi" choices, closed loop: int64 (T,), per frame the age of the stored key frame
    whose animation has the highest PSNR against ``frames`` (uint8 (T, H, W, 3)); ties and frames
    without a choice: 0, the most recent."""
    slots = choice_frames(indices, len(frames))
    wanted: dict[int, list[int]] = {}
    for t in slots:
        for key in stored_references(indices, t):
            wanted.setdefault(key, []).append(t)
    quality = {}
    for key, ts in sorted(wanted.items()):
        for t, picture in zip(ts, animate(key, ts)):
            quality[key, t] = psnr(picture, frames[t])
    choices = np.zeros(len(frames), dtype=np.int64)
    for t in slots:
        choices[t] = int(np.argmax([quality[key, t] for key in stored_references(indices, t)]))
    return choices


def pack_choices(choices: np.ndarray, indices: tuple[int, ...]) -> bytes:
    """The reference-choice section of a "multi" stream: the ages at :func:`choice_frames`, range coded
    (``feature_coding.encode_residuals``, one dimension, one adaptive context group); b"" when no frame
    has a choice. choices: int (T,)."""
    slots = choice_frames(indices, len(choices))
    if not slots:
        return b""
    return feature_coding.encode_residuals(np.asarray(choices, dtype=np.int64)[slots][:, None]).data


def unpack_choices(data: bytes, indices: tuple[int, ...], frame_count: int) -> np.ndarray:
    """Invert :func:`pack_choices`: int64 (frame_count,), 0 where no choice is sent.

    Raises ``BitstreamError`` when the section is damaged (its range check is
    :func:`plan_frames`'s).
    """
    slots = choice_frames(indices, frame_count)
    choices = np.zeros(frame_count, dtype=np.int64)
    if not slots:
        if data:
            raise BitstreamError(f"{len(data)} unexpected bytes in the reference choices of a stream without any")
        return choices
    decoded = feature_coding.decode_residuals(bytes(data), len(slots), 1)[:, 0]
    choices[slots] = decoded
    return choices


def _refresh(frames, t, policy, last_index, last_decoded, reconstruct) -> bool:
    if policy.period and t - last_index >= policy.period:
        return True
    if policy.threshold_db is None:
        return False
    return psnr(reconstruct(last_decoded, last_index, t), frames[t]) < policy.threshold_db


def _pack(indices: list[int], streams: list[bytes]) -> bytes:
    parts = [pack_uleb128(len(indices))]
    for position, (index, stream) in enumerate(zip(indices, streams)):
        if position:
            parts.append(pack_uleb128(index - indices[position - 1]))
        parts += [pack_uleb128(len(stream)), stream]
    return b"".join(parts)


def _unpack(payload: bytes) -> tuple[list[int], list[bytes]]:
    payload = bytes(payload)
    count, offset = read_uleb128(payload, 0, "key-frame count")
    if count == 0:
        raise BitstreamError("the key-frame section holds no key frame")
    indices, streams = [], []
    for position in range(count):
        distance = 0
        if position:
            distance, offset = read_uleb128(payload, offset, f"distance to key frame {position}")
            if distance == 0:
                raise BitstreamError("the key-frame section repeats a frame index: it is damaged")
        length, offset = read_uleb128(payload, offset, f"length of key frame {position}")
        if offset + length > len(payload):
            raise BitstreamError(f"the key-frame section is truncated in key frame {position}")
        indices.append((indices[-1] if indices else 0) + distance)
        streams.append(payload[offset:offset + length])
        offset += length
    if offset != len(payload):
        raise BitstreamError(f"{len(payload) - offset} unexpected bytes after the last key frame")
    return indices, streams


def _intra_coder(name: str) -> Codec:
    """The loaded codec ``name`` that codes the key frames (:meth:`Codec.intra_encode`); ``CodecError`` otherwise."""
    codecs = registered_codecs()
    if name not in codecs:
        raise CodecError(f"key frames by {name}: no codec of that name is loaded "
                         f"(loaded: {', '.join(sorted(codecs)) or 'none'})")
    codec = codecs[name]()
    reason = codec.unavailable_reason()
    if reason:
        raise CodecError(f"key frames by {name}: {reason}")
    return codec
