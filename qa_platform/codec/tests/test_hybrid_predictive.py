"""hybrid-* and predictive-* (codecs/hybrid_predictive.py): fusion, residual mapping, closed loop, rate accounting.

The codec contract (every default rate point, fresh-process decode, refusals)
runs on them in test_codecs.py like on every codec; here what is their own.
"""
import hashlib
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import FACES_DIR, REPO_CODECS, REPO_DIR, synthetic_frames
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import Codec, CodecError, Family, SourceClip
from qa_platform.codec.bitstream import BitstreamError, pack_bitstream, read_bitstream
from qa_platform.codec.testing import FRESH_DECODE, clip_psnr
from qa_platform.core.ingest import prepare_clip

BASE = {"q": 2.0, "key_qp": 37}
HYBRID = {**BASE, "aux_qp": 45}
PREDICTIVE = {**BASE, "res_qp": 40}


@pytest.fixture(scope="module")
def plugin():
    """The plugin module, loaded by the registry with the rest of codecs/."""
    return sys.modules[codec_registry.load_codecs([REPO_CODECS])["hybrid-landmark-warp"].__module__]


def get(name: str) -> Codec:
    return codec_registry.get_codec(name, dirs=[REPO_CODECS])


def checker(size: int, amplitude: float) -> np.ndarray:
    """A one-pixel checkerboard of +-amplitude: float (size, size, 3), the highest frequency there is."""
    y, x = np.mgrid[0:size, 0:size]
    return np.repeat((amplitude * np.where((x + y) % 2, 1, -1))[..., None], 3, axis=2)


class TestFusion:
    SIZE = 64

    def test_fused_mode_takes_the_low_band_of_the_auxiliary_stream_and_the_high_band_of_the_animation(self, plugin):
        animated = (100 + checker(self.SIZE, 20)).astype(np.uint8)[None]
        auxiliary = np.full((1, self.SIZE // 2, self.SIZE // 2, 3), 150, dtype=np.uint8)
        fused = plugin.fuse(animated, auxiliary, sigma=2.0)
        expected = 150 + checker(self.SIZE, 20)
        assert np.abs(fused[0].astype(float) - expected).max() <= 1

    @pytest.mark.parametrize("mode, expected", [("ANIMATION", "animated"), ("AUXILIARY", "auxiliary")])
    def test_the_other_modes_take_one_picture_whole(self, plugin, mode, expected):
        rng = np.random.default_rng(0)
        pictures = {name: rng.integers(0, 256, size=(1, self.SIZE, self.SIZE, 3), dtype=np.uint8)
                    for name in ("animated", "auxiliary")}
        modes = np.full((1, *plugin.block_grid(self.SIZE, self.SIZE)), getattr(plugin, mode))
        out = plugin.fuse(pictures["animated"], pictures["auxiliary"], 2.0, modes)
        np.testing.assert_array_equal(out, pictures[expected])

    def test_equal_pictures_are_kept_in_every_mode(self, plugin):
        frame = synthetic_frames(t=1, size=self.SIZE)
        modes = np.random.default_rng(1).integers(0, 3, size=(1, *plugin.block_grid(self.SIZE, self.SIZE)))
        np.testing.assert_array_equal(plugin.fuse(frame, frame, 3.0, modes), frame)

    def test_the_encoder_picks_the_picture_that_matches_the_source_per_block(self, plugin):
        rng = np.random.default_rng(2)
        animated, auxiliary = (rng.integers(0, 256, size=(1, 96, 64, 3), dtype=np.uint8) for _ in range(2))
        source = animated.copy()
        source[:, 32:64] = auxiliary[:, 32:64]  # the middle row of blocks is the auxiliary picture
        modes = plugin.choose_modes(source, animated, auxiliary, 2.0)
        assert modes.shape == (1, 3, 2)
        assert (modes[0, [0, 2]] == plugin.ANIMATION).all() and (modes[0, 1] == plugin.AUXILIARY).all()

    def test_block_modes_round_trip_and_damage_is_refused(self, plugin):
        modes = np.random.default_rng(3).integers(0, 3, size=(6, 3, 5))
        data = plugin.encode_modes(modes)
        np.testing.assert_array_equal(plugin.decode_modes(data, 6, 3, 5), modes)
        with pytest.raises(BitstreamError):
            plugin.decode_modes(plugin.encode_modes(np.full((2, 3, 5), 7)), 2, 3, 5)


class TestResidualMapping:
    def test_a_residual_within_the_8_bit_range_comes_back_exactly(self, plugin):
        rng = np.random.default_rng(4)
        prediction = rng.integers(60, 190, size=(3, 16, 16, 3), dtype=np.uint8)
        source = np.clip(prediction.astype(int) + rng.integers(-60, 61, size=prediction.shape), 0, 255).astype(np.uint8)
        coded = plugin.residual_picture(source, prediction, 1.0)
        assert coded.dtype == np.uint8
        np.testing.assert_array_equal(plugin.add_residual(prediction, coded, 1.0), source)

    def test_gain_scales_the_residual_and_clips_large_ones(self, plugin):
        prediction = np.full((1, 2, 2, 3), 100, dtype=np.uint8)
        source = np.array([100, 110, 40, 255], dtype=np.uint8).reshape(1, 2, 2, 1).repeat(3, axis=3)
        coded = plugin.residual_picture(source, prediction, 2.0)
        np.testing.assert_array_equal(coded[0, ..., 0], [[128, 148], [8, 255]])
        np.testing.assert_array_equal(plugin.add_residual(prediction, coded, 2.0)[0, ..., 0], [[100, 110], [40, 164]])


class _NotAnAnchor(Codec):
    """A conventional codec that is not a PyAV anchor (as an external program is): x265 through its files."""

    name, version, family = "x265-files", "test", Family.CONVENTIONAL
    param_names = ("qp",)

    def encode(self, clip, params, workdir):
        return get("x265").encode(clip, params, workdir)

    def decode(self, bitstream):
        return get("x265").decode(bitstream)


def test_a_conventional_codec_other_than_an_anchor_travels_as_its_bitstream_file(plugin):
    frames = synthetic_frames(t=4, size=64)
    data = plugin.encode_conventional(_NotAnAnchor(), frames, Fraction(25), 40)
    assert data[:4] == b"FQBS"
    assert plugin.decode_conventional(_NotAnAnchor(), data, frames.shape).shape == frames.shape
    with pytest.raises(BitstreamError):
        plugin.decode_conventional(_NotAnAnchor(), data[:-3], frames.shape)


class TestParameters:
    def test_one_codec_per_family_and_base(self):
        names = set(codec_registry.load_codecs([REPO_CODECS]))
        assert {"hybrid-landmark-warp", "predictive-landmark-warp",
                "hybrid-keypoint-anim", "predictive-keypoint-anim"} <= names

    def test_rate_ladder_moves_the_base_and_the_conventional_qp_together(self):
        for name, qp in (("hybrid-landmark-warp", "aux_qp"), ("predictive-landmark-warp", "res_qp")):
            ladder = get(name).rate_ladder()
            assert [point[qp] for point in ladder] == list(range(51, 21, -1))
            assert [point["key_qp"] for point in ladder] == sorted((p["key_qp"] for p in ladder), reverse=True)

    def test_curves_are_the_codec_and_its_fixed_settings(self):
        hybrid = get("hybrid-landmark-warp")
        assert {hybrid.curve_name(p) for p in hybrid.default_rate_points} == {"hybrid-landmark-warp"}
        assert hybrid.curve_name({**HYBRID, "aux_scale": 4}) == "hybrid-landmark-warp aux_scale=4"
        assert get("predictive-landmark-warp").curve_name({**PREDICTIVE, "res_codec": "x264"}) == \
            "predictive-landmark-warp res_codec=x264"

    @pytest.mark.parametrize("params, message", [
        ({**BASE}, "needs aux_qp"),
        ({**HYBRID, "aux_codec": "nope"}, "not loaded"),
        ({**HYBRID, "aux_codec": "landmark-warp"}, "needs a conventional one"),
        ({**BASE, "aux_qp": 52}, "0..51"),
        ({**HYBRID, "aux_scale": 3}, "one of"),
        ({**HYBRID, "fuse_sigma": 0}, "fuse_sigma"),
        ({**HYBRID, "controls": {"mouth": 0.3}}, "no decode-time controls|unknown control"),
    ])
    def test_bad_parameters_are_refused(self, params, message, tmp_path):
        clip = SourceClip(frames=synthetic_frames(t=2, size=64), fps=Fraction(25))
        with pytest.raises(CodecError, match=message):
            get("hybrid-landmark-warp").encode(clip, params, tmp_path)
        assert list(tmp_path.iterdir()) == []

    def test_a_bad_residual_gain_is_refused(self, tmp_path):
        clip = SourceClip(frames=synthetic_frames(t=2, size=64), fps=Fraction(25))
        with pytest.raises(CodecError, match="res_gain"):
            get("predictive-landmark-warp").encode(clip, {**PREDICTIVE, "res_gain": 8}, tmp_path)


@pytest.fixture(scope="module")
def face_clip() -> SourceClip:
    """20 frames of a real face (landmark-warp needs one dlib detects); skipped without ../shared/faces."""
    if not FACES_DIR.is_dir():
        pytest.skip("../shared/faces is absent")
    clip = prepare_clip(FACES_DIR / "lp_d18.mp4", max_frames=20)
    return SourceClip(frames=clip.frames, fps=clip.fps)


@pytest.fixture(scope="module")
def coded(face_clip, tmp_path_factory) -> dict:
    """Each codec at its parameters: the files and, for the layered ones, the encoder's reconstruction."""
    out = {}
    for name, params in (("landmark-warp", BASE), ("hybrid-landmark-warp", HYBRID),
                         ("predictive-landmark-warp", PREDICTIVE)):
        workdir = tmp_path_factory.mktemp(name)
        codec = get(name)
        if name == "landmark-warp":
            paths, reconstruction = codec.encode(face_clip, params, workdir), None
        else:
            paths, reconstruction = codec.encode_reconstructed(face_clip, params, workdir)
        out[name] = {"paths": paths, "reconstruction": reconstruction, "decoded": codec.decode(paths)}
    return out


def fresh_decode(name: str, paths: list[Path], folder: Path) -> dict:
    """Decode copies of ``paths`` in a new process that sees only them: {"sha256", "shape"}."""
    folder.mkdir()
    for path in paths:
        (folder / path.name).write_bytes(path.read_bytes())
    result = subprocess.run([sys.executable, "-c", FRESH_DECODE, name, str(REPO_CODECS), str(folder)], cwd=REPO_DIR,
                            env=os.environ.copy(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hybrid-landmark-warp", "predictive-landmark-warp"])
class TestOnAFace:
    def test_the_encoders_reconstruction_is_the_decoders_output_bit_for_bit(self, coded, name, tmp_path):
        reconstruction = coded[name]["reconstruction"]
        np.testing.assert_array_equal(coded[name]["decoded"], reconstruction)
        assert fresh_decode(name, coded[name]["paths"], tmp_path / "alone") == {
            "sha256": hashlib.sha256(reconstruction.tobytes()).hexdigest(), "shape": list(reconstruction.shape)}

    def test_every_bit_is_in_the_file_the_base_sections_unchanged(self, coded, name):
        (path,) = coded[name]["paths"]
        header, sections = read_bitstream(path, codec=name)
        assert path.stat().st_size == len(pack_bitstream(header, sections))
        _, base_sections = read_bitstream(coded["landmark-warp"]["paths"][0])
        own = 2 if name.startswith("hybrid") else 1
        assert sections[:-own] == base_sections and len(sections) == len(base_sections) + own
        assert header.params == {**BASE, **({"aux_qp": 45} if own == 2 else {"res_qp": 40})}

    def test_quality_rises_over_the_pure_generative_codec_at_the_same_base_parameters(self, coded, face_clip,
                                                                                              name):
        base = clip_psnr(coded["landmark-warp"]["decoded"], face_clip.frames)
        assert clip_psnr(coded[name]["decoded"], face_clip.frames) > base + 0.5

    def test_a_damaged_conventional_stream_is_refused(self, coded, name, tmp_path):
        (path,) = coded[name]["paths"]
        header, sections = read_bitstream(path)
        own = 2 if name.startswith("hybrid") else 1
        stream = len(sections) - own
        for damaged in ([*sections[:stream], sections[stream][:40], *sections[stream + 1:]], sections[:-1]):
            target = tmp_path / path.name
            target.write_bytes(pack_bitstream(header, damaged))
            with pytest.raises(BitstreamError):
                get(name).decode([target])
