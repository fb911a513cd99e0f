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
"""
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from qa_platform.codec.anchor import check_qp
from qa_platform.codec.base import Codec, CodecError, registered_codecs
from qa_platform.codec.bitstream import BitstreamError, pack_uleb128, read_uleb128

KEY_FRAME_PARAMS = ("key_qp", "key_period", "key_threshold_db", "key_codec")
X265 = "x265"
# The range of an adaptive threshold, dB: below 10 nothing refreshes, above 60 everything does.
THRESHOLD_RANGE = (10.0, 60.0)

Reconstruct = Callable[[np.ndarray, int, int], np.ndarray]


@dataclass(frozen=True)
class KeyFramePolicy:
    """How a generative codec refreshes and codes its key frames.

    qp: intra QP (0..51 for x265). period: refresh every ``period`` frames
    (0: frame 0 only). threshold_db: adaptive refresh threshold, dB PSNR
    (None: off). codec: "x265" or the name of a manifest codec.
    """

    qp: int
    period: int = 0
    threshold_db: float | None = None
    codec: str = X265

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
        return cls(qp=qp, period=period, threshold_db=None if threshold is None else float(threshold), codec=codec)

    def as_params(self) -> dict:
        """The HRC parameters of this policy, defaults left out."""
        params = {"key_qp": self.qp}
        if self.period:
            params["key_period"] = self.period
        if self.threshold_db is not None:
            params["key_threshold_db"] = self.threshold_db
        if self.codec != X265:
            params["key_codec"] = self.codec
        return params


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
    """
    if policy.threshold_db is not None and reconstruct is None:
        raise CodecError("an adaptive key-frame refresh needs the codec's reconstruction of each frame")
    coder = _intra_coder(policy.codec)
    indices, streams, decoded = [], [], []
    for t in range(len(frames)):
        if indices and not _refresh(frames, t, policy, indices[-1], decoded[-1], reconstruct):
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
