import math

import cv2
import numpy as np
import piq
import pytest
import torch

from metrics import features
from metrics.kernels import full_reference
from metrics.registry import FULL_REFERENCE, all_metrics
from metrics.tests.clips import blurred, noisy
from metrics.weights import WeightsMissingError
from qa_platform.codec.tensors import frames_to_tensor

FR_SPECS = [spec for spec in all_metrics().values() if spec.kind == FULL_REFERENCE]


def spec_id(spec) -> str:
    """Test id: metrics with learned weights run here on stand-in weights, and say so."""
    return f"{spec.name}-with-stand-in-weights" if spec.weights else spec.name


def frame_pair(n=3, size=176, sigma=0.05, seed=0):
    """(distorted, reference) float32 (n, 3, size, size) in [0, 1]: smooth reference plus noise."""
    generator = torch.Generator().manual_seed(seed)
    reference = torch.nn.functional.avg_pool2d(
        torch.rand(n, 3, size + 4, size + 4, generator=generator), 5, stride=1
    )
    noise = sigma * torch.randn(reference.shape, generator=generator)
    return (reference + noise).clamp(0, 1), reference


@pytest.mark.parametrize("spec", FR_SPECS, ids=spec_id)
class TestFullReferenceContract:
    """Every registered full-reference kernel: (distorted, reference) (N, 3, H, W) → (N,)."""

    @pytest.fixture(autouse=True)
    def weights_for(self, spec, request, no_downloads):
        if spec.weights:
            request.getfixturevalue("stand_in_weights")

    def test_returns_one_float32_value_per_frame(self, spec):
        distorted, reference = frame_pair(n=2)
        values = spec.load_kernel()(distorted, reference)
        assert values.shape == (2,)
        assert values.dtype == torch.float32

    def test_frames_are_independent_of_their_batch(self, spec):
        distorted, reference = frame_pair(n=2)
        kernel = spec.load_kernel()
        together = kernel(distorted, reference)
        alone = torch.cat([kernel(distorted[i:i + 1], reference[i:i + 1]) for i in range(2)])
        torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)

    def test_mismatched_shapes_are_refused(self, spec):
        distorted, reference = frame_pair(n=2)
        with pytest.raises(ValueError, match="differ"):
            spec.load_kernel()(distorted[:1], reference)

    def test_integer_frames_are_refused(self, spec):
        distorted, reference = frame_pair(n=1)
        with pytest.raises(ValueError, match="float RGB"):
            spec.load_kernel()(distorted.mul(255).to(torch.uint8), reference.mul(255).to(torch.uint8))


class TestPsnr:
    def test_uniform_error_of_one_code_value_gives_48_13_db(self):
        reference = torch.full((2, 3, 32, 32), 0.5)
        value = full_reference.psnr_rgb(reference + 1 / 255, reference)
        # 20 log10(255) = 48.1308 dB; piq's MSE + 1e-8 takes 0.0028 dB off at this MSE.
        expected = 20 * math.log10(255)
        torch.testing.assert_close(value, torch.full((2,), expected), atol=5e-3, rtol=0)

    def test_grey_error_gives_equal_rgb_and_luma_psnr(self):
        # The BT.601 weights sum to 1: an equal error on R, G, B is the same error on Y.
        reference = torch.full((1, 3, 32, 32), 0.4)
        distorted = reference + 4 / 255
        torch.testing.assert_close(
            full_reference.psnr_y(distorted, reference), full_reference.psnr_rgb(distorted, reference)
        )

    def test_luma_psnr_ignores_an_error_with_no_bt601_luma(self):
        reference = torch.full((1, 3, 32, 32), 0.5)
        chroma_only = torch.tensor([0.587, -0.299, 0.0]).view(1, 3, 1, 1) * 0.05
        distorted = reference + chroma_only
        assert full_reference.psnr_y(distorted, reference).item() == pytest.approx(80.0, abs=0.01)
        assert full_reference.psnr_rgb(distorted, reference).item() < 40

    def test_identical_frames_reach_the_80_db_cap(self):
        _, reference = frame_pair(n=1)
        assert full_reference.psnr_rgb(reference, reference).item() == pytest.approx(80.0)


class TestSsim:
    def test_identical_frames_score_one(self):
        _, reference = frame_pair(n=2)
        torch.testing.assert_close(full_reference.ssim(reference, reference), torch.ones(2))
        torch.testing.assert_close(full_reference.ms_ssim(reference, reference), torch.ones(2))

    @pytest.mark.parametrize("kernel", [full_reference.ssim, full_reference.ms_ssim])
    def test_more_noise_scores_lower(self, kernel):
        scores = [kernel(*frame_pair(n=1, sigma=sigma)).item() for sigma in (0.01, 0.05, 0.2)]
        assert 1 > scores[0] > scores[1] > scores[2] > 0

    def test_ms_ssim_refuses_frames_below_161_pixels(self):
        with pytest.raises(ValueError, match="161x161"):
            full_reference.ms_ssim(*frame_pair(n=1, size=128))


@pytest.mark.parametrize("kernel, identical", [
    (full_reference.fsim, 1.0), (full_reference.gmsd, 0.0), (full_reference.vif, 1.0),
])
def test_structural_metrics_are_perfect_on_identical_frames_and_worsen_with_noise(kernel, identical):
    _, reference = frame_pair(n=1)
    assert kernel(reference, reference).item() == pytest.approx(identical, abs=1e-5)
    scores = [abs(kernel(*frame_pair(n=1, sigma=sigma)).item() - identical) for sigma in (0.01, 0.05, 0.2)]
    assert 0 < scores[0] < scores[1] < scores[2]


class TestWeightedMetricsWithoutWeights:
    def test_lpips_without_weights_raises_weights_missing_and_downloads_nothing(self, no_downloads):
        with pytest.raises(WeightsMissingError, match="alexnet-owt-7be5be79.pth.*fetch_weights"):
            full_reference.lpips_alex(*frame_pair(n=1))

    def test_lpips_vgg_without_weights_names_the_vgg16_file(self, no_downloads):
        with pytest.raises(WeightsMissingError, match="vgg16-397923af.pth"):
            full_reference.lpips_vgg(*frame_pair(n=1))

    def test_dists_without_weights_raises_weights_missing_naming_both_files(self, no_downloads):
        with pytest.raises(WeightsMissingError, match="vgg16-397923af.pth.*dists_weights.pt"):
            full_reference.dists(*frame_pair(n=1))


# Separable float32 filtering (ours) and piq's 11x11 one round differently. On the
# benchmark's ten face clips (256x256, blurred + noisy), against piq in float64: ours
# within 9e-6, piq's float32 within 2e-5; so the two float32 values differ by up to
# 1.3e-5 on a few frames (lp_d18), and by less than 1e-5 on this test's clip.
PIQ_TOLERANCE = 1e-5


def piq_ssim_and_ms_ssim(distorted, reference):
    return (piq.ssim(distorted, reference, reduction="none", **full_reference.SSIM_OPTIONS),
            piq.multi_scale_ssim(distorted, reference, reduction="none", **full_reference.SSIM_OPTIONS))


@pytest.mark.parametrize("size", [(256, 256), (200, 171)])
def test_ssim_and_ms_ssim_sharing_their_first_scale_equal_piq(size, monkeypatch):
    torch.manual_seed(0)
    reference = torch.rand(3, 3, *size)
    distorted = (reference + 0.1 * torch.randn_like(reference)).clamp(0, 1)
    calls, original = [], full_reference.ssim_per_channel
    monkeypatch.setattr(full_reference, "ssim_per_channel", lambda *a, **k: calls.append(1) or original(*a, **k))
    with features.batch_features(None):
        ours = full_reference.ssim(distorted, reference), full_reference.ms_ssim(distorted, reference)
    for value, piq_value in zip(ours, piq_ssim_and_ms_ssim(distorted, reference)):
        np.testing.assert_allclose(value.numpy(), piq_value.numpy(), rtol=0, atol=PIQ_TOLERANCE)
    assert len(calls) == 5  # the full-resolution scale once for both metrics, then MS-SSIM's four others


@pytest.mark.parametrize("side", [256, 512])  # 512: SSIM averages 2x2 first (piq's downsample)
def test_ssim_and_ms_ssim_equal_piq_on_real_frames(face_clip, side):
    frames = face_clip[0][:6].copy()
    if side != frames.shape[1]:
        frames = np.stack([cv2.resize(frame, (side, side), interpolation=cv2.INTER_CUBIC) for frame in frames])
    # As the pass gives them: float32 channels-last views of the decoded frames.
    distorted, reference = (frames_to_tensor(f) for f in (noisy(blurred(frames, 1.5), 3), frames))
    ours = full_reference.ssim(distorted, reference), full_reference.ms_ssim(distorted, reference)
    for value, piq_value in zip(ours, piq_ssim_and_ms_ssim(distorted, reference)):
        assert 0.5 < piq_value.min() < piq_value.max() < 0.99
        np.testing.assert_allclose(value.numpy(), piq_value.numpy(), rtol=0, atol=PIQ_TOLERANCE)


def test_ssim_and_ms_ssim_equal_piq_in_float64_up_to_float32_rounding(face_clip):
    frames = face_clip[0][:2].copy()
    distorted, reference = (frames_to_tensor(f) for f in (noisy(blurred(frames, 1.5), 3), frames))
    ours = full_reference.ssim(distorted, reference), full_reference.ms_ssim(distorted, reference)
    exact = piq_ssim_and_ms_ssim(distorted.double().contiguous(), reference.double().contiguous())
    for value, exact_value in zip(ours, exact):
        np.testing.assert_allclose(value.double().numpy(), exact_value.numpy(), rtol=0, atol=PIQ_TOLERANCE)
