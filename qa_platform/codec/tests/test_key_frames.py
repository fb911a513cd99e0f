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


class TestReferencePolicy:
    def test_last_is_the_default_and_is_left_out_of_the_parameters(self):
        policy = kf.KeyFramePolicy.from_params({"key_qp": 37, "key_period": 10, "refs": "last"})
        assert policy.refs == kf.LAST and policy.as_params() == {"key_qp": 37, "key_period": 10}
        assert kf.KeyFramePolicy.from_params({"key_qp": 37}).refs == kf.LAST

    @pytest.mark.parametrize("refs", ["bidir", "multi"])
    def test_other_structures_are_recorded(self, refs):
        policy = kf.KeyFramePolicy.from_params({"key_qp": 37, "key_period": 25, "refs": refs})
        assert policy.as_params()["refs"] == refs and kf.KeyFramePolicy.from_params(policy.as_params()) == policy

    @pytest.mark.parametrize("params, message", [
        ({"key_qp": 37, "key_period": 10, "refs": "both"}, "one of 'last', 'bidir', 'multi'"),
        ({"key_qp": 37, "key_period": 10, "refs": 2}, "reference structure"),
        ({"key_qp": 37, "refs": "bidir"}, "bidir.*needs key_period > 0"),
        ({"key_qp": 37, "key_threshold_db": 30, "refs": "bidir"}, "needs key_period"),
        ({"key_qp": 37, "refs": "multi"}, "multi.*more than one key frame"),
    ])
    def test_refuses_bad_structures_with_the_reason(self, params, message):
        with pytest.raises(CodecError, match=message):
            kf.KeyFramePolicy.from_params(params)

    def test_adaptive_multi_is_accepted(self):
        assert kf.KeyFramePolicy.from_params({"key_qp": 37, "key_threshold_db": 30, "refs": "multi"}).refs == kf.MULTI

    def test_the_delay_of_bidir_is_the_period_less_one(self):
        assert kf.KeyFramePolicy(qp=37, period=25, refs=kf.BIDIR).delay_frames == 24
        assert kf.KeyFramePolicy(qp=37, period=25, refs=kf.MULTI).delay_frames == 0
        assert kf.KeyFramePolicy(qp=37, period=25).delay_frames == 0
        assert kf.delay_note({"key_qp": 37, "key_period": 25, "refs": "bidir"}) == "(delay 24 frames)"
        assert kf.delay_note({"key_period": 2, "refs": "bidir"}) == "(delay 1 frame)"
        assert kf.delay_note({"key_qp": 37, "key_period": 25}) == kf.delay_note({"refs": "bidir"}) == ""


class TestBidirKeyFrames:
    @pytest.mark.parametrize("count, period, expected", [
        (24, 10, (0, 10, 20, 23)),
        (21, 10, (0, 10, 20)),  # the period already ends on the last frame: no extra key frame
        (24, 8, (0, 8, 16, 23)),
    ])
    def test_the_last_frame_is_a_key_frame(self, frames, count, period, expected):
        coded = kf.code_key_frames(frames[:count], FPS, kf.KeyFramePolicy(qp=37, period=period, refs=kf.BIDIR))
        assert coded.indices == expected
        assert kf.decode_key_frames(coded.payload, frame_count=count).indices == expected

    def test_weights_are_linear_in_temporal_distance(self):
        assert kf.bidir_weights(10, 20, 15) == (0.5, 0.5)
        assert kf.bidir_weights(10, 20, 12) == pytest.approx((0.8, 0.2))
        assert kf.bidir_weights(0, 25, 0) == (1.0, 0.0) and kf.bidir_weights(0, 25, 25) == (0.0, 1.0)
        with pytest.raises(ValueError, match="not between"):
            kf.bidir_weights(10, 20, 21)

    def test_plan_blends_the_neighbours_and_shows_key_frames_themselves(self):
        plans = kf.plan_frames((0, 10, 20, 23), 24, kf.BIDIR)
        assert plans[0] == kf.Blend((0,), direct=True) and plans[10] == kf.Blend((1,), direct=True)
        assert plans[5] == kf.Blend((0, 1), (0.5, 0.5))
        assert plans[22].keys == (2, 3) and plans[22].weights == pytest.approx((1 / 3, 2 / 3))

    def test_a_stream_without_its_final_key_frame_is_damage(self):
        with pytest.raises(BitstreamError, match="last key frame is frame 20"):
            kf.plan_frames((0, 10, 20), 24, kf.BIDIR)

    def test_last_plans_animate_the_key_frame_in_force_everywhere(self):
        plans = kf.plan_frames((0, 10, 20), 24, kf.LAST)
        assert [p.keys[0] for p in plans] == [kf.key_for_frame((0, 10, 20), t) for t in range(24)]
        assert not any(p.direct for p in plans)


def constant_animation(decoded, calls):
    """An animation that gives key frame k's decoded picture plus 10 x k at every frame, and records its calls."""
    def animate(key, ts):
        calls.append((key, list(ts)))
        return np.repeat(np.clip(decoded[key].astype(int) + 10 * key, 0, 255).astype(np.uint8)[None], len(ts), axis=0)
    return animate


class TestRender:
    def test_the_blend_of_a_synthetic_case_has_the_expected_weights(self):
        decoded = np.stack([np.full((2, 2, 3), value, dtype=np.uint8) for value in (0, 100, 200)])
        calls = []
        out = kf.render(kf.plan_frames((0, 4, 8), 9, kf.BIDIR), decoded, constant_animation(decoded, calls))
        # Key 0 animates to 0, key 1 to 110, key 2 to 220; frame 2 is the midpoint of 0 and 4.
        assert [int(frame[0, 0, 0]) for frame in out] == [0, 28, 55, 82, 100, 138, 165, 192, 200]
        assert out[2, 0, 0, 0] == round(0.5 * 0 + 0.5 * 110)
        assert calls == [(0, [1, 2, 3]), (1, [1, 2, 3, 5, 6, 7]), (2, [5, 6, 7])]

    def test_a_single_reference_is_copied_unchanged(self):
        decoded = np.stack([np.full((2, 2, 3), 7, dtype=np.uint8)])
        out = kf.render(kf.plan_frames((0,), 3, kf.LAST), decoded, constant_animation(decoded, []))
        assert np.array_equal(out, np.full((3, 2, 2, 3), 7, dtype=np.uint8))


class TestMultiReference:
    INDICES = (0, 4, 8, 12, 16, 20)

    def test_the_decoder_holds_the_last_four_key_frames(self):
        assert kf.stored_references(self.INDICES, 3) == [0]
        assert kf.stored_references(self.INDICES, 9) == [2, 1, 0]
        assert kf.stored_references(self.INDICES, 21) == [5, 4, 3, 2]
        assert kf.choice_frames(self.INDICES, 22) == [5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 21]

    def test_the_encoder_picks_the_key_frame_that_looks_most_like_the_source(self, frames):
        # Frames 0-3 and 8-11 show pattern A, 4-7 and 12-13 pattern B: hold-the-key animation.
        a, b = frames[0], 255 - frames[0]
        clip = np.stack([a if (t // 4) % 2 == 0 else b for t in range(14)])
        indices = (0, 4)
        decoded = clip[list(indices)]
        choices = kf.choose_references(clip, indices, lambda key, ts: np.repeat(decoded[key][None], len(ts), axis=0))
        assert list(choices) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
        plans = kf.plan_frames(indices, 14, kf.MULTI, choices)
        assert [p.keys[0] for p in plans[8:]] == [0, 0, 0, 0, 1, 1] and plans[4].direct

    def test_choices_round_trip_and_cost_what_the_range_coder_writes(self):
        rng = np.random.default_rng(1)
        choices = np.zeros(22, dtype=np.int64)
        slots = kf.choice_frames(self.INDICES, 22)
        choices[slots] = [rng.integers(0, len(kf.stored_references(self.INDICES, t))) for t in slots]
        data = kf.pack_choices(choices, self.INDICES)
        assert 0 < len(data) <= 16 and len(data) % 4 == 0
        assert np.array_equal(kf.unpack_choices(data, self.INDICES, 22), choices)

    def test_a_stream_without_choices_has_an_empty_section(self):
        assert kf.pack_choices(np.zeros(4, dtype=np.int64), (0, 3)) == b""
        assert np.array_equal(kf.unpack_choices(b"", (0, 3), 4), np.zeros(4))
        with pytest.raises(BitstreamError, match="unexpected bytes"):
            kf.unpack_choices(b"\0\0\0\0", (0, 3), 4)

    def test_damaged_choices_raise_bitstream_error(self):
        with pytest.raises(BitstreamError, match="32-bit words"):
            kf.unpack_choices(b"\1\2\3", self.INDICES, 22)
        choices = np.zeros(22, dtype=np.int64)
        choices[5] = 3  # only two key frames are held at frame 5
        damaged = kf.unpack_choices(kf.pack_choices(choices, self.INDICES), self.INDICES, 22)
        with pytest.raises(BitstreamError, match="stored key frame 3 .* of 2"):
            kf.plan_frames(self.INDICES, 22, kf.MULTI, damaged)
