"""Key-frame refresh and coding of the generative codecs."""
from fractions import Fraction

import numpy as np
import pytest

from conftest import REPO_CODECS, synthetic_frames
from qa_platform.codec import key_frames as kf
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import CodecError
from qa_platform.codec.bitstream import BitstreamError, pack_uleb128, read_uleb128

FPS = Fraction(25)


@pytest.fixture(autouse=True, scope="module")
def repository_codecs():
    """Key frames are coded by a loaded codec (x265, vvenc): load the repository's plugin folder."""
    codec_registry.load_codecs([REPO_CODECS])


def hold_key(decoded_key, key_index, t):
    """A decoder that shows the key frame unchanged: its quality falls as the clip moves."""
    return decoded_key


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames(t=24, size=64)


class TestPolicy:
    def test_reads_the_hrc_parameters(self):
        policy = kf.KeyFramePolicy.from_params({"key_qp": 37, "key_period": 10, "key_threshold_db": 30})
        assert policy == kf.KeyFramePolicy(qp=37, period=10, threshold_db=30.0)
        assert kf.KeyFramePolicy.from_params(policy.as_params()) == policy

    @pytest.mark.parametrize("params, message", [
        ({}, "key_qp"),
        ({"key_qp": 60}, "QP"),
        ({"key_qp": 37, "key_period": -1}, "key_period"),
        ({"key_qp": 37, "key_period": 2.5}, "key_period"),
        ({"key_qp": 37, "key_threshold_db": 5}, "key_threshold_db"),
    ])
    def test_refuses_bad_parameters_with_the_name(self, params, message):
        with pytest.raises(CodecError, match=message):
            kf.KeyFramePolicy.from_params(params)


class TestRefresh:
    def test_frame_zero_only_by_default(self, frames):
        coded = kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=37))
        assert coded.indices == (0,) and coded.decoded.shape == (1, 64, 64, 3)

    def test_fixed_period(self, frames):
        coded = kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=37, period=10))
        assert coded.indices == (0, 10, 20)

    def test_adaptive_refresh_keeps_the_decoder_above_the_threshold(self, frames):
        # A clip that brightens slowly: holding a key frame loses about 2 dB per frame.
        fading = np.clip(frames[:1].astype(int) + 2 * np.arange(24)[:, None, None, None], 0, 255).astype(np.uint8)
        threshold = 22.0  # the key frame itself is 25 dB at QP 22 on this sharp pattern
        coded = kf.code_key_frames(fading, FPS, kf.KeyFramePolicy(qp=22, threshold_db=threshold), hold_key)
        assert 1 < len(coded.indices) < len(fading) / 2
        for t, frame in enumerate(fading):
            shown = coded.decoded[kf.key_for_frame(coded.indices, t)]
            assert kf.psnr(shown, frame) >= threshold or t in coded.indices

    def test_adaptive_refresh_needs_a_reconstruction(self, frames):
        with pytest.raises(CodecError, match="reconstruction"):
            kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=37, threshold_db=30.0))

    def test_key_for_frame(self):
        assert [kf.key_for_frame((0, 10, 20), t) for t in (0, 9, 10, 19, 20, 99)] == [0, 0, 1, 1, 2, 2]


class TestPayload:
    def test_round_trip_and_every_byte_is_the_payload(self, frames):
        coded = kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=37, period=8))
        decoded = kf.decode_key_frames(coded.payload)
        assert decoded.indices == coded.indices == (0, 8, 16)
        assert np.array_equal(decoded.decoded, coded.decoded)

    def test_decoded_key_frames_are_what_the_decoder_sees_not_the_source(self, frames):
        coded = kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=45))
        assert not np.array_equal(coded.decoded[0], frames[0])

    @pytest.mark.parametrize("cut", [1, 5, -1])
    def test_a_truncated_section_is_refused(self, frames, cut):
        payload = kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=37, period=12)).payload
        with pytest.raises(BitstreamError):
            kf.decode_key_frames(payload[:cut])

    def test_trailing_bytes_are_refused(self, frames):
        payload = kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=37)).payload
        with pytest.raises(BitstreamError, match="unexpected"):
            kf.decode_key_frames(payload + b"\0")


class TestUleb128:
    @pytest.mark.parametrize("value, size", [(0, 1), (127, 1), (128, 2), (16383, 2), (16384, 3), (2**40, 6)])
    def test_round_trip_and_size(self, value, size):
        data = pack_uleb128(value)
        assert len(data) == size and read_uleb128(data + b"x", 0, "field") == (value, size)

    def test_truncation_names_the_field(self):
        with pytest.raises(BitstreamError, match="frame length"):
            read_uleb128(b"\x80", 0, "frame length")


class TestExternalIntra:
    def test_key_frames_by_a_manifest_codec_are_counted_and_decoded(self, tmp_path):
        from qa_platform.codec.tests.test_manifest_codec import (
            write_manifest,
            yuv420p_round_trip,
        )

        name = write_manifest(tmp_path)
        codec_registry.load_codecs([tmp_path])
        frames = synthetic_frames(t=6, size=32)
        policy = kf.KeyFramePolicy.from_params({"key_qp": 4, "key_period": 3, "key_codec": name})
        coded = kf.code_key_frames(frames, FPS, policy)
        decoded = kf.decode_key_frames(coded.payload, name, 32, 32)
        assert coded.indices == decoded.indices == (0, 3)
        assert np.array_equal(decoded.decoded, coded.decoded)
        # QP 4 keeps every 4:2:0 sample of the toy codec: only the colour conversion is lost.
        assert np.array_equal(coded.decoded, yuv420p_round_trip(frames[[0, 3]]))

    def test_an_unavailable_key_codec_says_why(self):
        with pytest.raises(CodecError, match="key frames by vvenc"):
            kf.code_key_frames(synthetic_frames(t=2, size=32), FPS, kf.KeyFramePolicy(qp=37, codec="vvenc"))


def test_a_key_frame_past_the_clip_is_damage(frames):
    payload = kf.code_key_frames(frames, FPS, kf.KeyFramePolicy(qp=37, period=12)).payload
    with pytest.raises(BitstreamError, match="frame 12 of a 10-frame clip"):
        kf.decode_key_frames(payload, frame_count=10)
