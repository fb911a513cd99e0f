"""Whole-clip metrics: YUV PSNR, VMAF (libvmaf and vmaf-torch), XPSNR, temporal measures."""
import numpy as np
import pytest
import torch

from metrics.kernels import clip
from metrics.tests.clips import blurred, noisy, shifted

CPU = torch.device("cpu")


@pytest.fixture
def talker(face_clip) -> np.ndarray:
    """20 frames, 256x256, of a real talking head."""
    return face_clip[0]


def pair(distorted, reference) -> clip.ClipPair:
    return clip.ClipPair(distorted, reference, CPU)


class TestClipPair:
    def test_shapes_must_match(self, talker):
        with pytest.raises(ValueError, match="differ"):
            pair(talker[:5], talker)

    def test_yuv_planes_are_converted_once(self, talker, monkeypatch):
        clips = pair(talker, talker)
        clips.reference_yuv, clips.distorted_yuv
        monkeypatch.setattr(clip, "rgb_to_yuv420p", lambda frames: pytest.fail("converted again"))
        clip.psnr_yuv(clips), clip.temporal_difference(clips), clip.vmaf(clips), clip.xpsnr_y(clips)

    def test_fps_must_be_positive(self, talker):
        with pytest.raises(ValueError, match="fps"):
            clip.ClipPair(talker, talker, CPU, fps=0)


class TestPsnrYuv:
    def test_identical_clips_reach_the_cap(self, talker):
        np.testing.assert_allclose(clip.psnr_yuv(pair(talker, talker)), 80.0)

    def test_weights_luma_six_times_the_chroma(self, talker):
        distorted = noisy(talker, 4)
        values = clip.psnr_yuv(pair(distorted, talker))
        planes = [clip._plane_psnr(d, r) for d, r in zip(pair(distorted, talker).distorted_yuv,
                                                          pair(distorted, talker).reference_yuv)]
        np.testing.assert_allclose(values, (6 * planes[0] + planes[1] + planes[2]) / 8)
        assert values.shape == (20,) and 30 < values.mean() < 50


class TestVmaf:
    @pytest.mark.parametrize("kernel", [clip.vmaf, clip.vmaf_torch])
    def test_scores_fall_with_blur(self, talker, kernel):
        scores = [kernel(pair(blurred(talker, sigma), talker)) for sigma in (0.5, 1.5, 3.0)]
        assert all(score.shape == (20,) for score in scores)
        assert 100 >= scores[0].mean() > scores[1].mean() > scores[2].mean() >= 0

    def test_vmaf_torch_chunks_give_the_same_scores_as_the_whole_clip(self, talker, monkeypatch):
        distorted = noisy(blurred(talker, 1.0), 2)
        whole = clip.vmaf_torch(pair(distorted, talker))
        monkeypatch.setattr(clip, "VMAF_CHUNK_FRAMES", 6)  # 20 frames: chunks of 6, 6, 6, 2
        np.testing.assert_allclose(clip.vmaf_torch(pair(distorted, talker)), whole, rtol=1e-5, atol=1e-4)


class TestXpsnr:
    def test_luma_xpsnr_falls_with_noise_and_depends_on_the_frame_rate(self, talker):
        values = [clip.xpsnr_y(pair(noisy(talker, sigma), talker)) for sigma in (2, 6)]
        assert values[0].shape == (20,) and values[0].mean() > values[1].mean()
        at_50 = clip.xpsnr_y(clip.ClipPair(noisy(talker, 2), talker, CPU, fps=50))
        assert not np.allclose(at_50, values[0])  # second-order temporal activity from 32 fps


class TestTemporal:
    @pytest.mark.parametrize("kernel", [clip.temporal_difference, clip.temporal_flow_error])
    def test_identical_clips_are_zero_after_frame_0(self, talker, kernel):
        values = kernel(pair(talker, talker))
        assert np.isnan(values[0]) and values.shape == (20,)
        np.testing.assert_allclose(values[1:], 0.0, atol=1e-9)

    def test_a_constant_brightness_offset_is_not_a_temporal_error(self, talker):
        brighter = np.clip(talker.astype(int) + 10, 0, 255).astype(np.uint8)
        offset = clip.temporal_difference(pair(brighter, talker))[1:].mean()
        jitter = np.stack([shifted(talker[i:i + 1], 2 * (i % 2))[0] for i in range(len(talker))])
        assert offset < 0.5 * clip.temporal_difference(pair(jitter, talker))[1:].mean()

    def test_frozen_frames_show_as_lost_motion(self, talker):
        frozen = np.repeat(talker[::4], 4, axis=0)[:len(talker)]  # each frame held four times
        values = clip.temporal_flow_error(pair(frozen, talker))
        moving = clip.temporal_flow_error(pair(talker, talker))
        assert np.nanmean(values) > 0.05 and np.nanmean(values) > 10 * (np.nanmean(moving) + 1e-3)

    def test_temporal_difference_in_integers_equals_the_float_formula(self, talker):
        clips = pair(noisy(talker, 4), talker)
        luma_d, luma_r = (planes[0].astype(np.float64) for planes in (clips.distorted_yuv, clips.reference_yuv))
        change = np.diff(luma_d, axis=0) - np.diff(luma_r, axis=0)
        np.testing.assert_array_equal(clip.temporal_difference(clips)[1:], np.sqrt((change ** 2).mean(axis=(1, 2))))
