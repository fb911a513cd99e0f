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
   zig-zag mapped (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) and binarised by
   order-0 Exp-Golomb (ITU-T H.264 clause 9.1: a unary prefix of the length,
   then the suffix bits); every bin is coded with an *adaptive* binary model,
   one per (context group, prefix or suffix, bin position), as CABAC does
   (Marpe, Schwarz and Wiegand, IEEE TCSVT 2003). A model is a pair of counts
   starting at 1/1, raised after every bin and halved when their sum passes
   ``MAX_COUNT`` (so it follows a changing clip). The caller groups dimensions
   that behave alike (x and y of landmarks; keypoints apart from Jacobians).
   The model state carries across frames, and the decoder makes the same
   updates bin by bin.

Rate accounting: ``FeatureStream.data`` is the range coder's words (little
endian u32), every byte of which is counted by the caller's bitstream. Its
per-frame split, ``bits_per_frame``, is each frame's information content under
the adaptive model, -sum log2 p(bin): the range coder attains their sum
within its termination (at most 64 bits per stream, plus the rounding of
probabilities to 24 bits), which a test checks.

For comparison, :func:`jvet_frame_bits` counts what the JVET GFVC reference
software's feature coder spends on the same residuals: the same binarisation
and models, but each frame a file of its own with its models started afresh,
in whole bytes. ``manage.py benchmark_codecs`` prints both.
"""
from dataclasses import dataclass

import constriction
import numpy as np

from qa_platform.codec.bitstream import BitstreamError

# Halving the counts above this sum keeps about the last MAX_COUNT bins of a context in memory.
# Chosen on the landmark tracks of five ../shared/faces clips (125 frames; bits per frame at
# q = 6, 2, 1 px): 16 gave 92.5 / 153.1 / 218.7, 32 gave 90.5 / 153.5 / 216.1, 256 gave 95.0 / 161.8 / 219.6.
MAX_COUNT = 32
# Longest Exp-Golomb prefix accepted: zig-zag values below 2^31.
MAX_PREFIX = 31
_BERNOULLI = constriction.stream.model.Bernoulli(perfect=False)


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
    if not np.isfinite(features).all():
        raise ValueError("features hold NaN or infinity; fill missed frames before coding (e.g. repeat the last value)")
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
    """Range-code integer residuals int (T, D) with adaptive binary models per context group.

    groups: int (D,), the context group of each dimension (default: one group).
    Returns the :class:`FeatureStream`. Raises ``ValueError`` for a residual
    whose zig-zag value is 2^31 or more.
    """
    symbols = zigzag(residuals)
    if symbols.size and symbols.max() >= 1 << MAX_PREFIX:
        raise ValueError(f"a feature residual is too large to code ({symbols.max()} after zig-zag); "
                         "use a coarser quantisation step")
    groups = _check_groups(groups, symbols.shape[1])
    models = BinaryModels()
    encoder = constriction.stream.queue.RangeEncoder()
    bits = np.empty(len(symbols))
    for t, frame in enumerate(symbols):
        values, probabilities = models.bins(frame, groups)
        encoder.encode(values, _BERNOULLI, probabilities)
        bits[t] = information_content(values, probabilities)
    return FeatureStream(data=encoder.get_compressed().astype("<u4").tobytes(), bits_per_frame=bits)


def decode_residuals(data: bytes, frame_count: int, dims: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Invert :func:`encode_residuals`: int64 (frame_count, dims).

    Raises ``BitstreamError`` when ``data`` is not a whole number of 32-bit
    words or decodes to impossible symbols (a damaged stream).
    """
    if len(data) % 4:
        raise BitstreamError(f"a feature stream is whole 32-bit words; this one is {len(data)} bytes")
    groups = _check_groups(groups, dims)
    models = BinaryModels()
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").copy())

    def read_bin(probability: float) -> int:
        return int(decoder.decode(_BERNOULLI, np.array([probability]))[0])

    try:
        symbols = np.array([[models.read_symbol(read_bin, group) for group in groups] for _ in range(frame_count)],
                           dtype=np.int64).reshape(frame_count, dims)
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


def information_content(values: np.ndarray, probabilities: np.ndarray) -> float:
    """-sum log2 p of binary ``values`` int (N,) under ``probabilities`` of a one, float (N,): bits."""
    return float(-np.log2(np.where(values == 1, probabilities, 1 - probabilities)).sum())


def exp_golomb_bins(symbol: int) -> tuple[list[int], list[int]]:
    """Order-0 Exp-Golomb bins of an unsigned integer (ITU-T H.264 clause 9.1): (prefix, suffix).

    The prefix is the suffix length in unary (that many ones, then a zero);
    the suffix is symbol + 1 without its leading one, most significant bit first.
    """
    value = int(symbol) + 1
    length = value.bit_length() - 1
    return [1] * length + [0], [(value >> shift) & 1 for shift in range(length - 1, -1, -1)]


class BinaryModels:
    """Adaptive binary models, keyed by (context group, "prefix" or "suffix", bin position).

    Each holds counts [zeros, ones] from 1/1; :meth:`bins` and
    :meth:`read_symbol` use a model and then update it, bin by bin, so an
    encoder and a decoder that see the same bins keep the same state.
    """

    def __init__(self):
        self.counts: dict[tuple, list[int]] = {}

    def probability(self, context: tuple) -> float:
        """P(bin = 1) under the model of ``context``, in (0, 1)."""
        zeros, ones = self.counts.setdefault(context, [1, 1])
        return ones / (zeros + ones)

    def update(self, context: tuple, value: int) -> None:
        counts = self.counts[context]
        counts[value] += 1
        if counts[0] + counts[1] > MAX_COUNT:
            counts[0], counts[1] = (counts[0] + 1) // 2, (counts[1] + 1) // 2

    def bins(self, symbols: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame's bins and the probability each was coded with: int32 (N,), float64 (N,)."""
        values, probabilities = [], []
        for symbol, group in zip(symbols, groups):
            prefix, suffix = exp_golomb_bins(symbol)
            for kind, part in (("prefix", prefix), ("suffix", suffix)):
                for position, value in enumerate(part):
                    context = (int(group), kind, position)
                    probabilities.append(self.probability(context))
                    values.append(value)
                    self.update(context, value)
        return np.array(values, dtype=np.int32), np.array(probabilities)

    def read_symbol(self, read_bin, group: int) -> int:
        """Decode one zig-zag symbol with ``read_bin(probability) -> 0 or 1``."""
        length = 0
        while True:
            context = (int(group), "prefix", length)
            value = read_bin(self.probability(context))
            self.update(context, value)
            if not value:
                break
            length += 1
            if length > MAX_PREFIX:
                raise ValueError("an Exp-Golomb prefix runs past 31 bins")
        symbol = 1
        for position in range(length):
            context = (int(group), "suffix", position)
            value = read_bin(self.probability(context))
            self.update(context, value)
            symbol = 2 * symbol + value
        return symbol - 1


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
    bins coded by an adaptive binary arithmetic coder whose models start
    afresh in every file; the file is a whole number of bytes, at least one.

    Modelled here without writing the files: the bins and models of
    :class:`BinaryModels` (one context group), new for every frame; each
    frame's information content plus 2 bits of arithmetic-coder termination,
    rounded up to whole bytes, at least 8 bits. An ideal coder's length, so it
    flatters that software slightly.
    """
    symbols = zigzag(residuals)
    groups = np.zeros(symbols.shape[1], dtype=np.int64)
    costs = [information_content(*BinaryModels().bins(frame, groups)) for frame in symbols]
    return np.array([max(8, 8 * int(np.ceil((bits + 2) / 8))) for bits in costs], dtype=np.int64)
