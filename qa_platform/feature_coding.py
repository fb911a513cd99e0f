"""Feature-stream coding for every generative codec: quantise, predict, entropy-code. Django-free.

A generative codec sends, per frame, a short vector of features (landmarks,
keypoints, Jacobians). This module codes a clip's features, float (T, D), in
three steps, the same for every codec:

1. **Quantisation** with a step per dimension (a float or float (D,), in the
   features' own unit): index = round(x / step), ties to even.
2. **Closed-loop prediction**: each frame is predicted from the *previous
   reconstructed* frame and only the integer residual is sent
   (DPCM, Jayant and Noll, "Digital Coding of Waveforms", 1984, ch. 6). With a
   uniform quantiser the reconstruction ``step x index`` stays within step/2
   of every value and never drifts. Frame 0 is predicted from zero.
3. **Entropy coding** with constriction's range coder
   (``constriction.stream.queue.RangeEncoder``, Bamler 2022). Each residual is
   zig-zag mapped (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) and coded with an
   *adaptive* categorical model over the alphabet 0 .. ``ESCAPE``: one
   frequency table per context group (the caller groups dimensions that
   behave alike, e.g. x and y of landmarks, or keypoints apart from
   Jacobians), every count starting at 1, raised by ``INCREMENT`` for each
   symbol of a frame after that frame is coded, and halved when a table's
   total exceeds ``MAX_TOTAL`` (so
   the model follows a changing clip). The model state carries across frames;
   the decoder makes the same updates. A symbol >= ``ESCAPE`` is sent as
   ``ESCAPE`` followed by its excess in Elias-gamma form (bit length by a
   uniform model over 0..24, then the remaining bits uniform).

Rate accounting: ``FeatureStream.data`` is the range coder's words (little
endian u32), every byte of which is counted by the caller's bitstream. Its
per-frame split, ``bits_per_frame``, is each frame's information content under
the adaptive model, -sum log2 p(symbol): the range coder attains their sum
within its termination (at most 64 bits per stream, plus the rounding of
probabilities to 24 bits), which a test checks.

For comparison, :func:`jvet_frame_bits` counts what the JVET GFVC reference
software's feature coder spends on the same residuals (each frame its own
file), used by ``manage.py benchmark_codecs``.
"""
from dataclasses import dataclass

import constriction
import numpy as np

from qa_platform.bitstream import BitstreamError

# Chosen on the landmark tracks of five ../shared/faces clips (bits per frame at q = 6, 2, 1 px):
# alphabet 0..15 and +32 per occurrence gave 101 / 166 / 225; 0..63 and +1 gave 111 / 175 / 230.
ESCAPE = 15
INCREMENT = 32
MAX_TOTAL = 1 << 16
# The Elias-gamma excess: bit length 0..24, coded uniformly.
_MAX_EXCESS_BITS = 24
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
_UNIFORM = constriction.stream.model.Uniform()


@dataclass(frozen=True)
class FeatureStream:
    """A coded feature stream.

    data: the bytes to put in the bitstream. bits_per_frame: float64 (T,),
    each frame's information content in bits (sum within 64 bits of 8 x len(data)).
    """

    data: bytes
    bits_per_frame: np.ndarray

    @property
    def total_bits(self) -> int:
        """8 x len(data): what the stream costs in the bitstream, bits."""
        return 8 * len(self.data)


def zigzag(values: np.ndarray) -> np.ndarray:
    """Map signed integers to unsigned: 0, -1, 1, -2, 2 -> 0, 1, 2, 3, 4 (int64, same shape)."""
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= 0, 2 * values, -2 * values - 1)


def unzigzag(symbols: np.ndarray) -> np.ndarray:
    """Invert :func:`zigzag`: int64, same shape."""
    symbols = np.asarray(symbols, dtype=np.int64)
    return np.where(symbols % 2 == 0, symbols // 2, -(symbols + 1) // 2)


def quantise_closed_loop(features: np.ndarray, step) -> np.ndarray:
    """Closed-loop DPCM residuals of a feature track.

    features: float (T, D), no NaN. step: float or float (D,) > 0, in the
    features' unit. Returns int64 (T, D) residuals r with
    ``step x cumsum(r, axis=0)`` the reconstruction (see :func:`reconstruct`),
    within step/2 of ``features``. Raises ``ValueError`` for NaN or a step <= 0.
    """
    features = np.asarray(features, dtype=np.float64)
    step = _check_step(step, features.shape[1])
    if np.isnan(features).any():
        raise ValueError("features hold NaN; fill missed frames before coding (e.g. repeat the last value)")
    residuals = np.empty(features.shape, dtype=np.int64)
    previous = np.zeros(features.shape[1], dtype=np.int64)
    for t, target in enumerate(features):
        residuals[t] = np.round((target - step * previous) / step)
        previous = previous + residuals[t]
    return residuals


def reconstruct(residuals: np.ndarray, step) -> np.ndarray:
    """The decoder's features from DPCM residuals: float64 (T, D) = step x cumsum(residuals)."""
    residuals = np.asarray(residuals, dtype=np.int64)
    return _check_step(step, residuals.shape[1]) * np.cumsum(residuals, axis=0)


def encode_residuals(residuals: np.ndarray, groups: np.ndarray | None = None) -> FeatureStream:
    """Range-code integer residuals int (T, D) with adaptive models per context group.

    groups: int (D,), the context group of each dimension (default: one group).
    Returns the :class:`FeatureStream`. Raises ``ValueError`` for a residual
    whose zig-zag value exceeds 2^24 + ESCAPE.
    """
    symbols = zigzag(residuals)
    model = AdaptiveModel(_check_groups(groups, symbols.shape[1]))
    encoder = constriction.stream.queue.RangeEncoder()
    bits = np.empty(len(symbols))
    for t, frame in enumerate(symbols):
        bits[t] = model.encode(encoder, frame)
    return FeatureStream(data=encoder.get_compressed().astype("<u4").tobytes(), bits_per_frame=bits)


def decode_residuals(data: bytes, frame_count: int, dims: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Invert :func:`encode_residuals`: int64 (frame_count, dims).

    Raises ``BitstreamError`` when ``data`` is not a whole number of 32-bit
    words or decodes to impossible symbols (a damaged stream).
    """
    if len(data) % 4:
        raise BitstreamError(f"a feature stream is whole 32-bit words; this one is {len(data)} bytes")
    model = AdaptiveModel(_check_groups(groups, dims))
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").copy())
    try:
        symbols = np.stack([model.decode(decoder, dims) for _ in range(frame_count)])
    except (ValueError, RuntimeError) as exc:
        raise BitstreamError(f"the feature stream is damaged: {exc}") from exc
    return unzigzag(symbols)


def encode_features(features: np.ndarray, step, groups: np.ndarray | None = None) -> tuple[FeatureStream, np.ndarray]:
    """Quantise, predict and code a feature track in one call.

    features: float (T, D). step: float or float (D,). Returns the coded
    stream and the decoder's reconstruction float64 (T, D): the encoder must
    use the reconstruction wherever it predicts or decides (closed loop).
    """
    residuals = quantise_closed_loop(features, step)
    return encode_residuals(residuals, groups), reconstruct(residuals, step)


def decode_features(data: bytes, frame_count: int, dims: int, step, groups: np.ndarray | None = None) -> np.ndarray:
    """Invert :func:`encode_features`: the reconstruction float64 (frame_count, dims)."""
    return reconstruct(decode_residuals(data, frame_count, dims, groups), step)


class AdaptiveModel:
    """Adaptive frequency tables, one per context group, over the symbols 0..ESCAPE.

    groups: int (D,), the table each dimension uses. ``encode``/``decode`` code
    one frame of D symbols and then add that frame's counts, so encoder and
    decoder keep the same state frame after frame.
    """

    def __init__(self, groups: np.ndarray):
        self.groups = groups
        self.counts = np.ones((groups.max() + 1, ESCAPE + 1), dtype=np.int64)

    def probabilities(self) -> np.ndarray:
        """float64 (D, ESCAPE + 1): each dimension's model for the next frame."""
        table = self.counts[self.groups].astype(np.float64)
        return table / table.sum(axis=1, keepdims=True)

    def encode(self, encoder, symbols: np.ndarray) -> float:
        """Code one frame's zig-zag symbols int (D,); return its information content, bits."""
        probabilities = self.probabilities()
        clipped = np.minimum(symbols, ESCAPE)
        encoder.encode(clipped.astype(np.int32), _CATEGORICAL, probabilities)
        bits = -np.log2(probabilities[np.arange(len(symbols)), clipped]).sum()
        bits += sum(_encode_excess(encoder, excess) for excess in symbols[symbols >= ESCAPE] - ESCAPE)
        self._update(clipped)
        return float(bits)

    def decode(self, decoder, dims: int) -> np.ndarray:
        """Decode one frame of ``dims`` zig-zag symbols: int64 (dims,)."""
        clipped = decoder.decode(_CATEGORICAL, self.probabilities()).astype(np.int64)
        symbols = clipped.copy()
        for position in np.flatnonzero(clipped == ESCAPE):
            symbols[position] += _decode_excess(decoder)
        self._update(clipped)
        return symbols

    def _update(self, clipped: np.ndarray) -> None:
        np.add.at(self.counts, (self.groups, clipped), INCREMENT)
        full = self.counts.sum(axis=1) > MAX_TOTAL
        self.counts[full] = (self.counts[full] + 1) // 2


def _encode_excess(encoder, excess: int) -> float:
    length = int(excess).bit_length()
    if length > _MAX_EXCESS_BITS:
        raise ValueError(f"a feature residual is too large to code ({excess + ESCAPE} after zig-zag); "
                         "use a coarser quantisation step")
    encoder.encode(np.array([length], np.int32), _UNIFORM, np.array([_MAX_EXCESS_BITS + 1], np.int32))
    if length > 1:
        rest = int(excess) - (1 << (length - 1))
        encoder.encode(np.array([rest], np.int32), _UNIFORM, np.array([1 << (length - 1)], np.int32))
    return np.log2(_MAX_EXCESS_BITS + 1) + max(length - 1, 0)


def _decode_excess(decoder) -> int:
    length = int(decoder.decode(_UNIFORM, np.array([_MAX_EXCESS_BITS + 1], np.int32))[0])
    if length <= 1:
        return length
    return (1 << (length - 1)) + int(decoder.decode(_UNIFORM, np.array([1 << (length - 1)], np.int32))[0])


def _check_step(step, dims: int) -> np.ndarray:
    step = np.broadcast_to(np.asarray(step, dtype=np.float64), (dims,))
    if not (np.isfinite(step).all() and (step > 0).all()):
        raise ValueError(f"a quantisation step must be a positive number, got {step}")
    return step


def _check_groups(groups: np.ndarray | None, dims: int) -> np.ndarray:
    if groups is None:
        return np.zeros(dims, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    if groups.shape != (dims,) or groups.min() < 0:
        raise ValueError(f"groups must be {dims} non-negative integers, one per dimension")
    return groups


def jvet_frame_bits(residuals: np.ndarray) -> np.ndarray:
    """Bits per frame the JVET GFVC reference software's feature coder spends: int64 (T,).

    What that software does (JVET GFVC common software, feature coding of
    each inter frame): every frame's residuals go to a file of their own;
    each residual is zig-zag mapped, binarised by order-0 Exp-Golomb and the
    bins coded by an adaptive binary arithmetic coder whose contexts start
    afresh in every file; the file is a whole number of bytes, at least one.

    Modelled here without writing the files: each bin's cost is its
    information content under a count-based adaptive binary model (counts
    start at 1/1 per context), one context per prefix position (the unary
    part) and one per suffix position; 2 bits of arithmetic-coder termination
    are added and the frame rounded up to whole bytes, at least 8 bits. It is
    an ideal coder's length, so it flatters that software slightly.
    """
    symbols = zigzag(residuals)
    return np.array([_jvet_frame(frame) for frame in symbols], dtype=np.int64)


def _jvet_frame(symbols: np.ndarray) -> int:
    contexts: dict[tuple[str, int], list[int]] = {}
    bits = 0.0
    for symbol in symbols:
        value = int(symbol) + 1
        length = value.bit_length() - 1
        prefix = [1] * length + [0]
        suffix = [(value >> shift) & 1 for shift in range(length - 1, -1, -1)]
        for kind, bins in (("prefix", prefix), ("suffix", suffix)):
            for position, bin_value in enumerate(bins):
                counts = contexts.setdefault((kind, position), [1, 1])
                bits -= np.log2(counts[bin_value] / (counts[0] + counts[1]))
                counts[bin_value] += 1
    return max(8, 8 * int(np.ceil((bits + 2) / 8)))
