"""Whole-clip metrics: YUV PSNR, VMAF, temporal measures."""
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
        clip.psnr_yuv(clips), clip.temporal_difference(clips)


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
    def test_scores_fall_with_blur(self, talker):
        scores = [clip.vmaf(pair(blurred(talker, sigma), talker)).mean() for sigma in (0.5, 1.5, 3.0)]
        assert 100 >= scores[0] > scores[1] > scores[2] >= 0

    def test_chunks_give_the_same_scores_as_the_whole_clip(self, talker, monkeypatch):
        distorted = noisy(blurred(talker, 1.0), 2)
        whole = clip.vmaf(pair(distorted, talker))
        monkeypatch.setattr(clip, "VMAF_CHUNK_FRAMES", 6)  # 20 frames: chunks of 6, 6, 6, 2
        np.testing.assert_allclose(clip.vmaf(pair(distorted, talker)), whole, rtol=1e-5, atol=1e-4)


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
