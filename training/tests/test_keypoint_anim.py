"""The keypoint-anim codec (codecs/keypoint_anim.py) with a tiny checkpoint trained in the test, 64 px."""
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import (
    CodecError,
    Device,
    Family,
    SourceClip,
    bitrate_kbps,
    bitstream_bytes,
)
from qa_platform.codec.bitstream import read_bitstream
from qa_platform.codec.checkpoints import ENV_VAR
from qa_platform.codec.fomm import Keypoints
from qa_platform.codec.key_frames import decode_key_frames
from qa_platform.codec.testing import CodecContract
from training.tests.conftest import blob_clip

BASE_DIR = Path(__file__).resolve().parents[2]
PLUGIN_DIRS = [BASE_DIR / "codecs"]


@pytest.fixture
def codec():
    return codec_registry.get_codec("keypoint-anim", dirs=PLUGIN_DIRS)


@pytest.fixture
def trained(tiny_checkpoint, monkeypatch):
    root, saved = tiny_checkpoint
    monkeypatch.setenv(ENV_VAR, str(root))
    return saved


@pytest.fixture
def source() -> SourceClip:
    return SourceClip(frames=blob_clip(10, seed=1), fps=Fraction(25))


def test_without_a_checkpoint_it_says_why_and_offers_no_rate_points(codec, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert "train_codec keypoint-anim" in codec.unavailable_reason()
    assert codec.default_rate_points == ()
    assert type(codec).default_rate_points == ()


def test_declares_a_generative_gpu_codec_whose_rate_points_name_the_latest_checkpoint(codec, trained):
    assert codec.family == Family.GENERATIVE and codec.device == Device.GPU
    assert codec.unavailable_reason() == "" and codec.execution_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    points = codec.default_rate_points
    assert 4 <= len(points) <= 5
    assert {p["checkpoint"] for p in points} == {trained.sha256[:16]}
    assert all(codec.check_params(p) == p for p in points)


def test_features_are_pixels_and_invert_to_the_keypoints(codec):
    plugin = sys.modules[type(codec).__module__]
    keypoints_to_features, features_to_keypoints = plugin.keypoints_to_features, plugin.features_to_keypoints
    kp = Keypoints(torch.tensor([[[-1.0, 1.0], [0.0, 0.5]]]), torch.eye(2).expand(1, 2, 2, 2).clone())
    features = keypoints_to_features(kp, width=65)
    np.testing.assert_allclose(features[0, :4], [0, 64, 32, 48])
    np.testing.assert_allclose(features[0, 4:8], [65 / 4, 0, 0, 65 / 4])
    back = features_to_keypoints(features, 2, True, 65)
    torch.testing.assert_close(back.value, kp.value)
    torch.testing.assert_close(back.jacobian, kp.jacobian)


def test_a_round_trip_counts_every_byte_and_records_the_checkpoint(codec, trained, source, tmp_path):
    """(The decode from the file alone in a fresh process is TestKeypointAnimContract's.)"""
    params = codec.default_rate_points[2]
    paths = codec.encode(source, params, tmp_path)
    assert len(paths) == 1 and sorted(tmp_path.iterdir()) == paths
    header, (keys, features) = read_bitstream(paths[0], codec="keypoint-anim", sections=2)
    assert header.params["checkpoint"] == trained.sha256[:16] and header.params["q"] == params["q"]
    assert decode_key_frames(keys).indices == (0,)
    assert 0 < len(features) < 200
    kbps = bitrate_kbps(bitstream_bytes(paths), 10, source.fps)
    assert kbps == pytest.approx(8 * paths[0].stat().st_size / 0.4 / 1000)
    decoded = codec.decode(paths)
    assert decoded.shape == source.frames.shape and decoded.dtype == np.uint8


def test_a_finer_step_costs_more_feature_bits(codec, trained, source, tmp_path):
    sizes = []
    for q in (4.0, 0.5):
        paths = codec.encode(source, {"checkpoint": trained.sha256, "q": q, "key_qp": 37}, tmp_path / str(q))
        sizes.append(len(read_bitstream(paths[0])[1][1]))
    assert sizes[0] < sizes[1]


def test_periodic_key_frames_are_sent_and_decoded(codec, trained, source, tmp_path):
    paths = codec.encode(source, {"checkpoint": trained.sha256[:16], "q": 1.0, "key_qp": 37, "key_period": 4}, tmp_path)
    assert decode_key_frames(read_bitstream(paths[0])[1][0]).indices == (0, 4, 8)
    assert codec.decode(paths).shape == source.frames.shape


def test_an_altered_checkpoint_is_refused_by_the_decoder(codec, trained, source, tmp_path, monkeypatch):
    paths = codec.encode(source, codec.default_rate_points[0], tmp_path / "bitstream")
    copy = tmp_path / "root" / "keypoint-anim" / trained.path.name
    copy.parent.mkdir(parents=True)
    data = bytearray(trained.path.read_bytes())
    data[-100] ^= 0x01
    copy.write_bytes(bytes(data))
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "root"))
    with pytest.raises(CodecError, match="altered or damaged"):
        codec.decode(paths)


def test_bad_parameters_are_refused(codec, trained, source, tmp_path):
    with pytest.raises(CodecError, match="needs parameter"):
        codec.encode(source, {"q": 1.0, "key_qp": 37}, tmp_path)
    with pytest.raises(CodecError, match="quantisation step in pixels"):
        codec.encode(source, {"checkpoint": trained.sha256, "q": 0, "key_qp": 37}, tmp_path)
    with pytest.raises(CodecError, match="no checkpoint"):
        codec.encode(source, {"checkpoint": "0" * 16, "q": 1.0, "key_qp": 37}, tmp_path)
    with pytest.raises(CodecError, match="square"):
        codec.encode(SourceClip(source.frames[:, :48], source.fps), codec.default_rate_points[0], tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("refs", ["bidir", "multi"])
def test_reference_structures_round_trip_from_the_file_alone(codec, trained, source, tmp_path, refs):
    from qa_platform.codec.bitstream import BitstreamError, pack_bitstream, write_bitstream
    from qa_platform.codec.key_frames import plan_frames, unpack_choices

    params = {"checkpoint": trained.sha256[:16], "q": 1.0, "key_qp": 37, "key_period": 4}
    paths = codec.encode(source, {**params, "refs": refs}, tmp_path / "encode")
    header, sections = read_bitstream(paths[0], codec="keypoint-anim")
    assert paths[0].stat().st_size == len(pack_bitstream(header, sections))
    keys = decode_key_frames(sections[0])
    assert keys.indices == ((0, 4, 8, 9) if refs == "bidir" else (0, 4, 8))
    assert len(sections) == (3 if refs == "multi" else 2) and header.params["refs"] == refs
    copy = tmp_path / "decode" / "stream.fqbs"
    copy.parent.mkdir()
    copy.write_bytes(paths[0].read_bytes())
    decoded = codec.decode([copy])
    assert decoded.shape == source.frames.shape and decoded.dtype == np.uint8
    for key, index in enumerate(keys.indices):  # a key frame shows its decoded picture
        assert np.array_equal(decoded[index], keys.decoded[key])
    if refs == "multi":
        choices = unpack_choices(sections[2], keys.indices, 10)
        assert all(plan.keys[0] <= 2 for plan in plan_frames(keys.indices, 10, "multi", choices))
        damaged = write_bitstream(tmp_path / "damaged.fqbs", header, [*sections[:2], b"\1\2\3"])
        with pytest.raises(BitstreamError):
            codec.decode([damaged])
    plain = codec.encode(source, params, tmp_path / "plain")[0].read_bytes()
    assert codec.encode(source, {**params, "refs": "last"}, tmp_path / "last")[0].read_bytes() == plain
    assert codec.label({**params, "refs": refs}).endswith("(delay 3 frames)") == (refs == "bidir")


class TestKeypointAnimContract(CodecContract):
    """The codec contract on keypoint-anim with the tiny checkpoint trained in the test (8 steps at 64 px):
    its quality is not promised to rise with the rate."""

    quality_rises = False

    @pytest.fixture(scope="class")
    @classmethod
    def codec(cls, tiny_checkpoint):
        root, _ = tiny_checkpoint
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(ENV_VAR, str(root))
            yield codec_registry.get_codec("keypoint-anim", dirs=PLUGIN_DIRS)

    @pytest.fixture(scope="class")
    @classmethod
    def source_clip(cls):
        return SourceClip(frames=blob_clip(10, seed=1), fps=Fraction(25))
