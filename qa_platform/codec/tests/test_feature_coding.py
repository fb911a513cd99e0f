"""The feature-stream coder shared by the generative codecs."""
import numpy as np
import pytest

from qa_platform.codec import feature_coding as fc
from qa_platform.codec.bitstream import BitstreamError


def random_walk(frames=60, dims=20, seed=0, scale=1.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50 + np.cumsum(rng.normal(0, scale, (frames, dims)), axis=0)


class TestZigzag:
    def test_maps_signed_to_unsigned_and_back(self):
        values = np.array([0, -1, 1, -2, 2, -300, 300])
        assert fc.zigzag(values).tolist() == [0, 1, 2, 3, 4, 599, 600]
        assert fc.unzigzag(fc.zigzag(values)).tolist() == values.tolist()


class TestClosedLoop:
    def test_reconstruction_stays_within_half_a_step_and_does_not_drift(self):
        features = random_walk(frames=500)
        step = np.linspace(0.5, 3.0, features.shape[1])
        error = np.abs(fc.reconstruct(fc.quantise_closed_loop(features, step), step) - features)
        assert (error <= step / 2 + 1e-9).all()

    def test_frame_zero_is_predicted_from_zero(self):
        residuals = fc.quantise_closed_loop(np.array([[10.0], [10.4], [12.0]]), 2.0)
        assert residuals[:, 0].tolist() == [5, 0, 1]

    @pytest.mark.parametrize("step", [0, -1, np.nan])
    def test_refuses_a_step_that_is_not_positive(self, step):
        with pytest.raises(ValueError, match="positive"):
            fc.quantise_closed_loop(random_walk(), step)

    def test_refuses_nan_features_with_a_hint(self):
        features = random_walk()
        features[3, 2] = np.nan
        with pytest.raises(ValueError, match="NaN or infinity"):
            fc.quantise_closed_loop(features, 1.0)


class TestEntropyCoding:
    def test_round_trip_is_lossless_with_escapes_and_groups(self):
        residuals = fc.quantise_closed_loop(random_walk(), 1.0)
        residuals[4, 1] = 100_000  # far beyond the adaptive alphabet: an escape
        groups = np.arange(residuals.shape[1]) % 2
        stream = fc.encode_residuals(residuals, groups)
        decoded = fc.decode_residuals(stream.data, len(residuals), residuals.shape[1], groups)
        assert np.array_equal(decoded, residuals)

    def test_bits_per_frame_add_up_to_the_bytes_written(self):
        stream, _ = fc.encode_features(random_walk(frames=125, dims=136), 1.0)
        assert len(stream.bits_per_frame) == 125
        overhead = stream.total_bits - stream.bits_per_frame.sum()
        assert 0 <= overhead <= 64 + 0.001 * stream.total_bits

    def test_the_model_adapts_across_frames(self):
        still = np.zeros((100, 10))  # every residual 0: a learning model spends less on each frame
        stream, _ = fc.encode_features(still, 1.0)
        assert stream.bits_per_frame[-1] < stream.bits_per_frame[0] / 4
        # A model's counts are halved past 32, so a certain bin costs about log2(32/31) = 0.046 bits at best.
        assert stream.total_bits < 0.15 * 100 * 10

    def test_a_residual_too_large_is_refused(self):
        with pytest.raises(ValueError, match="coarser"):
            fc.encode_residuals(np.array([[1 << 31]]))

    def test_a_stream_not_in_words_is_damaged(self):
        stream, _ = fc.encode_features(random_walk(), 1.0)
        with pytest.raises(BitstreamError, match="32-bit"):
            fc.decode_features(stream.data[:-1], 60, 20, 1.0)


class TestJvetFrameBits:
    def test_each_frame_costs_at_least_a_byte_in_whole_bytes(self):
        bits = fc.jvet_frame_bits(np.zeros((10, 4), dtype=np.int64))
        assert bits.tolist() == [8] * 10

    def test_costs_grow_with_the_residuals(self):
        small = fc.jvet_frame_bits(np.ones((1, 40), dtype=np.int64))
        large = fc.jvet_frame_bits(np.full((1, 40), 50, dtype=np.int64))
        assert large[0] > 2 * small[0] and small[0] % 8 == 0

    def test_costs_more_than_the_adaptive_stream_on_a_short_feature_vector(self):
        # 20 values per frame, as 10 keypoints: per-frame files and fresh contexts cost most here.
        residuals = fc.quantise_closed_loop(random_walk(frames=125, dims=20, scale=0.6), 1.0)
        assert fc.jvet_frame_bits(residuals).sum() > fc.encode_residuals(residuals).total_bits
