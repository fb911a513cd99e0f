"""landmark-warp internals: the closed-loop landmark DPCM, its feature stream, the warp, refusals."""
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_frames
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import CodecError, SourceClip
from qa_platform.core.ingest import prepare_clip

# Runs dlib on real faces: `make test`, not `make test-unit`.
pytestmark = pytest.mark.slow

PLUGIN_DIRS = [Path(__file__).resolve().parents[3] / "codecs"]
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
    """(encoder's reconstruction, decoder's landmarks) of landmark tracks (T, 68, 2)."""
    stream, reconstructed = plugin.encode_landmarks(plugin.fill_missed(points, SIZE, SIZE), q)
    return reconstructed, plugin.decode_landmarks(stream.data, len(points), q)


class TestLandmarkStream:
    @pytest.mark.parametrize("q", [0.5, 1.0, 3.0])
    def test_decoder_rebuilds_what_the_encoder_reconstructed(self, plugin, q):
        reconstructed, decoded = feature_round_trip(plugin, random_walk(50), q)
        np.testing.assert_array_equal(decoded, reconstructed)

    @pytest.mark.parametrize("q", [0.5, 1.0, 3.0])
    def test_error_stays_within_half_a_step_without_drift(self, plugin, q):
        points = random_walk(400, seed=1)
        reconstructed, _ = feature_round_trip(plugin, points, q)
        assert np.abs(reconstructed - np.clip(points, 0, SIZE - 1)).max() <= q / 2 + 1e-9

    def test_real_landmarks_round_trip(self, plugin, faces_dir):
        frames = prepare_clip(faces_dir / "lp_d18.mp4", max_frames=25).frames
        points = plugin.track_landmarks(frames)
        assert not np.isnan(points).any()
        reconstructed, decoded = feature_round_trip(plugin, points, 2.0)
        np.testing.assert_array_equal(decoded, reconstructed)
        assert np.abs(decoded - np.clip(points, 0, SIZE - 1)).max() <= 1.0

    def test_missed_frames_repeat_the_previous_landmarks(self, plugin):
        points = random_walk(10)
        points[[0, 1, 5]] = np.nan
        filled = plugin.fill_missed(points, SIZE, SIZE)
        np.testing.assert_array_equal(filled[0], filled[2])
        np.testing.assert_array_equal(filled[1], filled[2])
        np.testing.assert_array_equal(filled[5], filled[4])
        np.testing.assert_array_equal(filled[2], np.clip(points[2], 0, SIZE - 1))

    def test_points_outside_the_frame_are_clipped_into_it(self, plugin):
        points = random_walk(5)
        points[:, 0] = [-20.0, 300.0]
        _, decoded = feature_round_trip(plugin, points, 1.0)
        np.testing.assert_array_equal(decoded[:, 0], [[0, SIZE - 1]] * 5)

    def test_a_still_face_costs_little_beyond_frame_0(self, plugin):
        still = np.repeat(random_walk(1), 125, axis=0)
        still_stream, _ = plugin.encode_landmarks(still, 1.0)
        moving_stream, _ = plugin.encode_landmarks(random_walk(125), 1.0)
        # The 124 still frames cost a fraction of a bit per landmark each; a moving face several bits.
        assert still_stream.bits_per_frame[1:].mean() < 30 < moving_stream.bits_per_frame[1:].mean()


class TestControls:
    """Decode-time edits of the landmarks (IFVC / CoFaCo-style controls)."""

    FPS = Fraction(25)

    def face(self, plugin, faces_dir):
        frames = prepare_clip(faces_dir / "lp_d18.mp4", max_frames=100).frames
        return plugin.fill_missed(plugin.track_landmarks(frames), SIZE, SIZE)

    @staticmethod
    def mouth_gap(points: np.ndarray) -> np.ndarray:
        """Inner-lip gap per frame along the face's downward axis (perpendicular to the eye line), pixels."""
        across = points[:, 42:48].mean(1) - points[:, 36:42].mean(1)
        down = np.stack([-across[:, 1], across[:, 0]], axis=1) / np.linalg.norm(across, axis=1, keepdims=True)
        return np.einsum("ij,ij->i", points[:, 66] - points[:, 62], down)

    def test_mouth_opens_by_a_fraction_of_the_eye_distance(self, plugin, faces_dir):
        points = self.face(plugin, faces_dir)
        opened = plugin.apply_controls(points, {"mouth": 0.2}, self.FPS)
        interocular = np.linalg.norm(points[:, 42:48].mean(1) - points[:, 36:42].mean(1), axis=1)
        np.testing.assert_allclose(self.mouth_gap(opened) - self.mouth_gap(points), 0.2 * interocular)
        np.testing.assert_array_equal(opened[:, 17:48], points[:, 17:48])  # brows, nose and eyes stay

    def test_closing_the_mouth_stops_at_closed(self, plugin, faces_dir):
        points = self.face(plugin, faces_dir)
        closed = plugin.apply_controls(points, {"mouth": -5.0}, self.FPS)
        np.testing.assert_allclose(self.mouth_gap(closed), np.minimum(self.mouth_gap(points), 0), atol=1e-9)

    def test_blink_closes_the_upper_lids_during_blinks_only(self, plugin, faces_dir):
        points = self.face(plugin, faces_dir)
        blinked = plugin.apply_controls(points, {"blink": 1.0}, self.FPS)
        profile = plugin.blink_profile(len(points), self.FPS)
        assert profile[:25].max() == 0 and profile.max() > 0.9
        peak = int(np.argmax(profile))
        expected = points[peak, [37, 38]] + profile[peak] * (points[peak, [41, 40]] - points[peak, [37, 38]])
        np.testing.assert_allclose(blinked[peak, [37, 38]], expected)
        np.testing.assert_array_equal(blinked[:25], points[:25])

    def test_rotation_and_shift_move_the_head_rigidly(self, plugin, faces_dir):
        points = self.face(plugin, faces_dir)
        moved = plugin.apply_controls(points, {"rotate": 10.0, "shift_x": 5.0}, self.FPS)
        eyes = moved[:, 45] - moved[:, 36]
        original = points[:, 45] - points[:, 36]
        turned = np.degrees(np.arctan2(-eyes[:, 1], eyes[:, 0]) - np.arctan2(-original[:, 1], original[:, 0]))
        np.testing.assert_allclose(turned, 10.0, atol=1e-6)  # counter-clockwise on screen
        np.testing.assert_allclose(moved.mean(1) - points.mean(1), [[5.0, 0.0]] * len(points), atol=1e-9)

    def test_controls_change_the_picture_not_the_bitstream(self, codec, faces_dir, tmp_path):
        clip = prepare_clip(faces_dir / "lp_d18.mp4", max_frames=20)
        source = SourceClip(clip.frames, clip.fps)
        paths = codec.encode(source, {"q": 2.0, "key_qp": 37}, tmp_path / "plain")
        # Even an encoder handed the controls writes the plain bitstream: they are not its business.
        handed = codec.encode(source, {"q": 2.0, "key_qp": 37, "controls": {"mouth": 0.3}}, tmp_path / "handed")
        assert handed[0].read_bytes() == paths[0].read_bytes()
        plain = codec.decode(paths)
        edited = codec.decode_controlled(paths, {"mouth": 0.3})
        assert not np.array_equal(plain, edited)
        np.testing.assert_array_equal(codec.decode_controlled(paths, {}), plain)

    def test_unknown_controls_are_refused_with_the_known_ones(self, codec, tmp_path):
        with pytest.raises(CodecError, match="mouth, blink"):
            codec.check_params({"q": 2.0, "key_qp": 37, "controls": {"smile": 1.0}})
        with pytest.raises(CodecError, match="JSON object"):
            codec.check_params({"q": 2.0, "key_qp": 37, "controls": [1]})


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
        ({"q": 1.0}, "needs parameters"),
        ({"q": 0.0, "key_qp": 37}, "quantisation step"),
        ({"q": "1", "key_qp": 37}, "quantisation step"),
        ({"q": 1.0, "key_qp": 60}, "QP must be"),
    ])
    def test_bad_parameters_are_refused(self, codec, tmp_path, params, message):
        clip = SourceClip(frames=synthetic_frames(t=2, size=64), fps=Fraction(25))
        with pytest.raises(CodecError, match=message):
            codec.encode(clip, params, tmp_path)


class TestKeyFrameRefresh:
    def test_a_refresh_period_sends_more_key_frames_and_improves_the_picture(self, codec, faces_dir, tmp_path):
        from qa_platform.codec.bitstream import read_bitstream
        from qa_platform.codec.key_frames import decode_key_frames

        clip = prepare_clip(faces_dir / "lp_d0.mp4", max_frames=30)
        source = SourceClip(clip.frames, clip.fps)
        results = {}
        for period in (0, 10):
            paths = codec.encode(source, {"q": 2.0, "key_qp": 37, "key_period": period}, tmp_path / str(period))
            _, (keys, _) = read_bitstream(paths[0])
            error = np.mean((codec.decode(paths).astype(float) - clip.frames) ** 2)
            results[period] = (decode_key_frames(keys).indices, paths[0].stat().st_size, error)
        assert results[0][0] == (0,) and results[10][0] == (0, 10, 20)
        assert results[10][1] > results[0][1] and results[10][2] < results[0][2]


class TestReferenceStructures:
    """refs: "last" (the default, unchanged), "bidir" and "multi" on 21 real frames, a key frame every 10."""

    PARAMS = {"q": 2.0, "key_qp": 37, "key_period": 10}

    @pytest.fixture(scope="class")
    @classmethod
    def clip(cls):
        from conftest import FACES_DIR

        if not FACES_DIR.is_dir():
            pytest.skip("../shared/faces is absent")
        clip = prepare_clip(FACES_DIR / "lp_d0.mp4", max_frames=21)
        return SourceClip(clip.frames, clip.fps)

    @pytest.fixture(scope="class")
    @classmethod
    def coded(cls, codec, clip, tmp_path_factory):
        """{refs: (bitstream path, header, sections, decoded frames)}, each decoded from a copy of the file alone."""
        from qa_platform.codec.bitstream import read_bitstream

        out = {}
        for refs in ("none", "last", "bidir", "multi"):
            params = cls.PARAMS if refs == "none" else {**cls.PARAMS, "refs": refs}
            path = codec.encode(clip, params, tmp_path_factory.mktemp(f"encode-{refs}"))[0]
            copy = tmp_path_factory.mktemp(f"decode-{refs}") / "stream.fqbs"
            copy.write_bytes(path.read_bytes())
            path.unlink()
            out[refs] = (copy, *read_bitstream(copy), codec.decode([copy]))
        return out

    @staticmethod
    def forward_warps(plugin, header, sections):
        """Every frame warped from every key frame, as the decoder's pieces: (keys, {(key, t): frame})."""
        from qa_platform.codec.key_frames import decode_key_frames

        keys = decode_key_frames(sections[0])
        landmarks = plugin.decode_landmarks(sections[1], header.frame_count, header.params["q"])
        anchors = [plugin.warp_anchors(points, header.width, header.height) for points in landmarks]
        warps = {}
        for key, index in enumerate(keys.indices):
            warp = plugin.PiecewiseAffineWarp(keys.decoded[key], anchors[index])
            warps.update({(key, t): warp(anchors[t]) for t in range(header.frame_count)})
        return keys, warps

    def test_refs_last_is_todays_stream_bit_for_bit_and_decodes_as_before(self, plugin, coded):
        assert coded["last"][0].read_bytes() == coded["none"][0].read_bytes()
        _, header, sections, decoded = coded["none"]
        assert "refs" not in header.params and len(sections) == 2
        keys, warps = self.forward_warps(plugin, header, sections)
        before = np.stack([warps[plugin.key_for_frame(keys.indices, t), t] for t in range(21)])
        assert np.array_equal(decoded, before)

    def test_every_mode_round_trips_and_counts_every_byte(self, coded, clip):
        from qa_platform.codec.bitstream import pack_bitstream

        for refs, (path, header, sections, decoded) in coded.items():
            assert decoded.shape == clip.frames.shape and decoded.dtype == np.uint8
            assert path.stat().st_size == len(pack_bitstream(header, sections))
        # multi = last + its choice section (4-byte length and payload) + ',"refs":"multi"' in the header.
        extra = coded["multi"][0].stat().st_size - coded["last"][0].stat().st_size
        assert extra == 4 + len(coded["multi"][2][2]) + len(',"refs":"multi"')
        assert coded["bidir"][1].params["refs"] == "bidir" and len(coded["bidir"][2]) == 2

    def test_bidir_blends_the_warps_of_both_key_frames_linearly(self, plugin, coded):
        _, header, sections, decoded = coded["bidir"]
        keys, warps = self.forward_warps(plugin, header, sections)
        assert keys.indices == (0, 10, 20)
        for t in (0, 10, 20):
            assert np.array_equal(decoded[t], keys.decoded[keys.indices.index(t)])
        midpoint = np.round(0.5 * warps[0, 5].astype(float) + 0.5 * warps[1, 5])
        assert np.array_equal(decoded[5], midpoint.astype(np.uint8))
        near_next = np.round(0.2 * warps[1, 18].astype(float) + 0.8 * warps[2, 18])
        assert np.array_equal(decoded[18], near_next.astype(np.uint8))

    def test_multi_animates_the_signalled_key_frame(self, plugin, coded, clip):
        from qa_platform.codec.key_frames import choice_frames, psnr, stored_references, unpack_choices

        _, header, sections, decoded = coded["multi"]
        keys, warps = self.forward_warps(plugin, header, sections)
        choices = unpack_choices(sections[2], keys.indices, 21)
        assert choice_frames(keys.indices, 21) == [11, 12, 13, 14, 15, 16, 17, 18, 19]
        for t in range(11, 20):
            stored = stored_references(keys.indices, t)
            assert np.array_equal(decoded[t], warps[stored[choices[t]], t])
            # Closed loop: the choice is the best of the stored key frames against the source.
            assert psnr(decoded[t], clip.frames[t]) == max(psnr(warps[key, t], clip.frames[t]) for key in stored)

    def test_damaged_streams_raise_bitstream_error(self, codec, coded, tmp_path):
        from qa_platform.codec.bitstream import BitstreamError, write_bitstream

        _, header, sections, _ = coded["multi"]
        for name, damaged in {"no-choices": sections[:2], "odd": [*sections[:2], b"\1\2\3"]}.items():
            path = write_bitstream(tmp_path / f"{name}.fqbs", header, damaged)
            with pytest.raises(BitstreamError):
                codec.decode([path])
        _, header, sections, _ = coded["bidir"]
        # A bidirectional stream cut after frame 19 has lost its final key frame.
        from dataclasses import replace
        path = write_bitstream(tmp_path / "long.fqbs", replace(header, frame_count=22), sections)
        with pytest.raises(BitstreamError):
            codec.decode([path])

    def test_the_label_names_the_delay_and_the_curve_the_structure(self, codec):
        params = {"q": 2.0, "key_qp": 37, "key_period": 25, "refs": "bidir"}
        assert codec.label(params) == "landmark-warp q=2.0 key_qp=37 key_period=25 refs=bidir (delay 24 frames)"
        assert codec.curve_name(params) == "landmark-warp key_period=25 refs=bidir"
        assert codec.label({"q": 2.0, "key_qp": 37}) == "landmark-warp q=2.0 key_qp=37"

    @pytest.mark.parametrize("params, message", [
        ({"q": 2.0, "key_qp": 37, "refs": "bidir"}, "needs key_period"),
        ({"q": 2.0, "key_qp": 37, "key_period": 10, "refs": "forward"}, "reference structure"),
    ])
    def test_bad_structures_are_refused(self, codec, clip, tmp_path, params, message):
        with pytest.raises(CodecError, match=message):
            codec.encode(clip, params, tmp_path)
