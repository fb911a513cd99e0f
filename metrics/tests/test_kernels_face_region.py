"""Full-reference metrics inside the face region."""
import numpy as np
import pytest
import torch

from metrics import compute
from metrics.kernels import face, face_region, full_reference
from metrics.registry import FACE_REGION, all_metrics
from metrics.tests.clips import blurred, noisy
from metrics.weights import WeightsMissingError

CPU = torch.device("cpu")
REGION_SPECS = [spec for spec in all_metrics().values() if spec.kind == FACE_REGION]


@pytest.fixture
def frames_and_mask(face_clip, face_clip_faces):
    """(reference uint8 (20, 256, 256, 3), its face masks bool (20, 256, 256))."""
    frames = face_clip[0]
    return frames, face.face_masks(face_clip_faces, frames.shape[1:3])


def as_tensors(distorted, reference, masks):
    return (compute.frames_to_tensor(distorted, CPU), compute.frames_to_tensor(reference, CPU),
            torch.from_numpy(masks[:, None]).float())


def spec_id(spec) -> str:
    return f"{spec.name}-with-stand-in-weights" if spec.weights else spec.name


@pytest.mark.parametrize("spec", REGION_SPECS, ids=spec_id)
def test_contract_one_float32_value_per_frame_nan_for_an_empty_mask(spec, frames_and_mask, request, no_downloads):
    if spec.weights:
        request.getfixturevalue("stand_in_weights")
    frames, masks = frames_and_mask
    masks = masks[:3].copy()
    masks[2] = False
    values = spec.load_kernel()(*as_tensors(frames[:3] // 2, frames[:3], masks))
    assert values.shape == (3,) and values.dtype == torch.float32
    assert torch.isfinite(values[:2]).all() and torch.isnan(values[2])
    with pytest.raises(ValueError, match="mask must be"):
        spec.load_kernel()(*as_tensors(frames[:3], frames[:3], masks[:2]))


def test_damage_outside_the_face_does_not_count(frames_and_mask):
    frames, masks = frames_and_mask
    damaged = frames.copy()
    damaged[~masks] = 0
    distorted, reference, mask = as_tensors(damaged, frames, masks)
    assert torch.all(face_region.face_psnr(distorted, reference, mask) == 80.0)
    assert full_reference.psnr_rgb(distorted, reference).max() < 20
    # SSIM windows centred near the region's edge reach 5 px outside it: only those see the damage.
    face_ssim = face_region.face_ssim(distorted, reference, mask)
    assert face_ssim.min() > 0.9 and face_ssim.min() > full_reference.ssim(distorted, reference).max() + 0.3


def test_face_psnr_over_a_full_mask_is_psnr_rgb(frames_and_mask):
    frames, masks = frames_and_mask
    distorted, reference, _ = as_tensors(np.clip(frames.astype(int) + 3, 0, 255).astype(np.uint8), frames, masks)
    full = torch.ones(20, 1, 256, 256)
    torch.testing.assert_close(face_region.face_psnr(distorted, reference, full),
                               full_reference.psnr_rgb(distorted, reference), rtol=1e-4, atol=1e-3)


def test_face_lpips_without_weights_raises_weights_missing(frames_and_mask, no_downloads):
    frames, masks = frames_and_mask
    with pytest.raises(WeightsMissingError, match="alexnet"):
        face_region.face_lpips(*as_tensors(frames[:1], frames[:1], masks[:1]))


def whole_frame_face_ssim(distorted: np.ndarray, reference: np.ndarray, inside: np.ndarray,
                          dtype=np.float64) -> float:
    """scikit-image's SSIM map of the whole frame in ``dtype`` (float64 by default), averaged
    over the mask: what face_ssim's crop must equal."""
    from skimage.metrics import structural_similarity

    _, full = structural_similarity((reference / 255.0).astype(dtype), (distorted / 255.0).astype(dtype),
                                    channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    return float(full.mean(axis=2, dtype=np.float64)[inside].mean())


def test_face_ssim_equals_scikit_image_on_float32_frames(frames_and_mask):
    frames, masks = frames_and_mask
    frames, masks = frames[:8], masks[:8].copy()
    masks[3] = False
    distorted = noisy(blurred(frames, 1.5), 3)
    values = face_region.face_ssim(*as_tensors(distorted, frames, masks)).numpy()
    expected = [whole_frame_face_ssim(d, r, m, np.float32) if m.any() else np.nan
                for d, r, m in zip(distorted, frames, masks)]
    # Separable float32 filtering in torch against scipy.ndimage's: float rounding only.
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-5)


def test_face_ssim_on_the_cropped_face_equals_the_whole_frame_map(frames_and_mask):
    frames, masks = frames_and_mask
    masks = masks[:4].copy()
    masks[1] = False
    masks[1, :3, 250:] = True  # a region in a corner: the crop is clipped by the frame
    masks[2] = False
    masks[2, 100:102, 120:123] = True  # a small one inside: the crop is grown to a whole window
    distorted = np.clip(frames[:4].astype(int) + np.random.default_rng(0).normal(0, 8, frames[:4].shape), 0,
                        255).astype(np.uint8)
    values = face_region.face_ssim(*as_tensors(distorted, frames[:4], masks)).numpy()
    expected = [whole_frame_face_ssim(d, r, m) for d, r, m in zip(distorted, frames[:4], masks)]
    # float32 maps against float64: the SSIM terms lose ~1e-6 each.
    np.testing.assert_allclose(values, expected, rtol=0, atol=2e-5)
    assert 0.3 < values.min() < values.max() < 0.99
