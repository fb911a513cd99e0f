"""landmark-warp internals: the closed-loop landmark DPCM, its feature stream, the warp, refusals."""
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_frames
from qa_platform import codec_registry
from qa_platform.codec_api import CodecError, SourceClip
from qa_platform.ingest import prepare_clip

PLUGIN_DIRS = [Path(__file__).resolve().parents[2] / "codecs"]
SIZE = 256


@pytest.fixture(scope="module")
def plugin():
    """The landmark-warp plugin module, loaded by the registry."""
    return sys.modules[codec_registry.load_codecs(PLUGIN_DIRS)["landmark-warp"].__module__]


@pytest.fixture(scope="module")
def codec():
    return codec_registry.get_codec("landmark-warp", dirs=PLUGIN_DIRS)


def random_walk(t: int, seed: int = 0) -> np.ndarray:
    """Landmark-like tracks: 68 points drifting around the frame centre, float (t, 68, 2)."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(60, 196, size=(68, 2))
    return start + np.cumsum(rng.normal(0, 1.5, size=(t, 68, 2)), axis=0)


def feature_round_trip(plugin, points: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    indices = plugin.dpcm_quantise(points, q, SIZE, SIZE)
    data = plugin.encode_feature_stream(indices, SIZE, SIZE, q)
    return indices, plugin.decode_feature_stream(data, len(points), SIZE, SIZE, q)


class TestLandmarkDpcm:
    @pytest.mark.parametrize("q", [0.5, 1.0, 3.0])
    def test_decoder_rebuilds_what_the_encoder_reconstructed(self, plugin, q):
        indices, decoded = feature_round_trip(plugin, random_walk(50), q)
        np.testing.assert_array_equal(decoded, indices)

    @pytest.mark.parametrize("q", [0.5, 1.0, 3.0])
    def test_error_stays_within_half_a_step_without_drift(self, plugin, q):
        points = random_walk(400, seed=1)
        indices = plugin.dpcm_quantise(points, q, SIZE, SIZE)
        error = np.abs(q * indices - np.clip(points, 0, SIZE - 1))
        assert error.max() <= q / 2 + 1e-9

    def test_real_landmarks_round_trip(self, plugin, faces_dir):
        frames = prepare_clip(faces_dir / "lp_d18.mp4", max_frames=25).frames
        points = plugin.track_landmarks(frames)
        assert not np.isnan(points).any()
        indices, decoded = feature_round_trip(plugin, points, 2.0)
        np.testing.assert_array_equal(decoded, indices)
        assert np.abs(2.0 * decoded - np.clip(points, 0, SIZE - 1)).max() <= 1.0

    def test_missed_frames_repeat_the_previous_landmarks(self, plugin):
        points = random_walk(10)
        points[[0, 1, 5]] = np.nan
        indices, decoded = feature_round_trip(plugin, points, 1.0)
        np.testing.assert_array_equal(decoded, indices)
        np.testing.assert_array_equal(indices[0], indices[2])
        np.testing.assert_array_equal(indices[1], indices[2])
        np.testing.assert_array_equal(indices[5], indices[4])
        assert np.abs(indices[2] - np.clip(points[2], 0, SIZE - 1)).max() <= 0.5

    def test_points_outside_the_frame_are_clipped_into_it(self, plugin):
        points = random_walk(5)
        points[:, 0] = [-20.0, 300.0]
        indices, decoded = feature_round_trip(plugin, points, 1.0)
        np.testing.assert_array_equal(decoded[:, 0], [[0, SIZE - 1]] * 5)

    def test_a_still_face_costs_little_beyond_frame_0(self, plugin):
        still = np.repeat(random_walk(1), 125, axis=0)
        moving = random_walk(125)
        indices = plugin.dpcm_quantise(still, 1.0, SIZE, SIZE)
        still_bytes = len(plugin.encode_feature_stream(indices, SIZE, SIZE, 1.0))
        moving_bytes = len(plugin.encode_feature_stream(plugin.dpcm_quantise(moving, 1.0, SIZE, SIZE),
                                                        SIZE, SIZE, 1.0))
        # Frame 0: 136 uniform indices over 256 values, 136 bytes; the 124 still frames add a few.
        assert still_bytes < 136 + 40 < moving_bytes

    def test_laplace_scale_fits_the_spread(self, plugin):
        rng = np.random.default_rng(0)
        narrow = np.round(rng.laplace(0, 0.5, 20000)).astype(np.int32)
        wide = np.round(rng.laplace(0, 4.0, 20000)).astype(np.int32)
        assert plugin.laplace_scale(narrow) == pytest.approx(0.5, rel=0.1)
        assert plugin.laplace_scale(wide) == pytest.approx(4.0, rel=0.1)


class TestPiecewiseAffineWarp:
    def image(self) -> np.ndarray:
        return np.random.default_rng(0).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)

    def test_unmoved_points_give_the_key_frame_back(self, plugin):
        source = plugin.warp_anchors(np.array([[100.0, 100.0], [150.0, 120.0], [128.0, 180.0]]), SIZE, SIZE)
        image = self.image()
        np.testing.assert_array_equal(plugin.PiecewiseAffineWarp(image, source)(source), image)

    def test_a_moved_point_carries_its_pixel(self, plugin):
        interior = np.array([[100.0, 100.0], [150.0, 120.0], [128.0, 180.0]])
        image = self.image()
        warp = plugin.PiecewiseAffineWarp(image, plugin.warp_anchors(interior, SIZE, SIZE))
        moved = interior + [[10.0, 4.0], [0.0, 0.0], [0.0, 0.0]]
        out = warp(plugin.warp_anchors(moved, SIZE, SIZE))
        np.testing.assert_array_equal(out[104, 110], image[100, 100])
        np.testing.assert_array_equal(out[0, 0], image[0, 0])

    def test_a_256x256_frame_takes_under_20_ms(self, plugin):
        points = random_walk(21)
        warp = plugin.PiecewiseAffineWarp(self.image(), plugin.warp_anchors(points[0], SIZE, SIZE))
        started = time.perf_counter()
        for frame_points in points[1:]:
            warp(plugin.warp_anchors(frame_points, SIZE, SIZE))
        assert (time.perf_counter() - started) / 20 < 0.020


class TestRefusals:
    def test_a_clip_without_a_face_is_refused(self, codec, tmp_path):
        clip = SourceClip(frames=synthetic_frames(t=5, size=64), fps=Fraction(25))
        with pytest.raises(CodecError, match="no face in any frame"):
            codec.encode(clip, {"q": 1.0, "key_qp": 37}, tmp_path)
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("params, message", [
        ({"q": 1.0}, "needs parameter"),
        ({"q": 0.0, "key_qp": 37}, "quantisation step"),
        ({"q": "1", "key_qp": 37}, "quantisation step"),
        ({"q": 1.0, "key_qp": 60}, "QP must be"),
    ])
    def test_bad_parameters_are_refused(self, codec, tmp_path, params, message):
        clip = SourceClip(frames=synthetic_frames(t=2, size=64), fps=Fraction(25))
        with pytest.raises(CodecError, match=message):
            codec.encode(clip, params, tmp_path)
