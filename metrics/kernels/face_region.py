"""Full-reference metrics inside the face region only. Django-free.

Kernel contract: ``kernel(distorted, reference, mask)`` with float32 tensors
(N, 3, H, W), RGB in [0, 1], and a float32 mask (N, 1, H, W) in {0, 1}: the
reference's face region (``metrics.kernels.face.face_masks``: the convex hull
of its 68 landmarks, dilated). Returns a float32 tensor (N,) on the device of
the inputs; a frame whose mask is empty gives NaN. The background and the
body, which a generative decoder may not even try to reproduce, do not count.
"""
import numpy as np
import torch
from skimage.metrics import structural_similarity

from metrics.kernels.full_reference import check_pair, lpips_distance

# SSIM's Gaussian window, sigma 1.5 px: scikit-image truncates it at 3.5 sigma, a radius of
# int(3.5 * 1.5 + 0.5) = 5 px as scipy.ndimage computes it (an 11 x 11 window).
SSIM_SIGMA = 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)


def _check_mask(distorted: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> None:
    check_pair(distorted, reference)
    expected = (distorted.shape[0], 1, *distorted.shape[2:])
    if tuple(mask.shape) != expected or mask.device != distorted.device:
        raise ValueError(f"mask must be (N, 1, H, W) = {expected} on {distorted.device}; got {tuple(mask.shape)}")


def _empty_to_nan(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.sum(dim=(1, 2, 3)) > 0, values, torch.full_like(values, float("nan")))


def face_psnr(distorted: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR over the R, G, B samples inside the mask, dB, (N,):
    10 log10(1 / (MSE + 1e-8)) as ``psnr_rgb``, so at most 80 dB."""
    _check_mask(distorted, reference, mask)
    squared = ((distorted - reference) ** 2 * mask).sum(dim=(1, 2, 3))
    mse = squared / (3 * mask.sum(dim=(1, 2, 3))).clamp(min=1.0)
    return _empty_to_nan(10 * torch.log10(1.0 / (mse + 1e-8)), mask)


def face_ssim(distorted: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SSIM map (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03;
    scikit-image), mean of R, G, B, averaged over the mask, (N,). Windows
    centred near the region's edge reach up to 5 px outside it.

    The map is computed in float32 (scikit-image keeps float32 input in
    float32) on the mask's bounding box grown by the window's radius
    (``SSIM_RADIUS``): inside the mask its values are those of the whole
    frame's map, since no window there reaches the crop's edge (scikit-image
    reflects at the edges, the frame's edges stay the crop's).
    """
    _check_mask(distorted, reference, mask)
    pairs = zip(_as_numpy(distorted), _as_numpy(reference), mask[:, 0].cpu().numpy() > 0.5)
    values = [_masked_ssim(d, r, inside) for d, r, inside in pairs]
    return torch.tensor(values, dtype=torch.float32, device=distorted.device)


def _as_numpy(frames: torch.Tensor) -> np.ndarray:
    """float32 (N, H, W, 3)."""
    return frames.permute(0, 2, 3, 1).float().cpu().numpy()


def _masked_ssim(distorted: np.ndarray, reference: np.ndarray, inside: np.ndarray) -> float:
    if not inside.any():
        return float("nan")
    box = tuple(_span(np.flatnonzero(inside.any(axis=other)), size) for other, size in ((1, inside.shape[0]),
                                                                                        (0, inside.shape[1])))
    _, full = structural_similarity(
        reference[box], distorted[box], channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=SSIM_SIGMA,
        use_sample_covariance=False, full=True,
    )
    return float(full.mean(axis=2, dtype=np.float64)[inside[box]].mean())


def _span(indices: np.ndarray, size: int) -> slice:
    """Rows (or columns) ``indices[0]..indices[-1]`` grown by ``SSIM_RADIUS`` on each side within
    ``0..size``, and at least one window (2 ``SSIM_RADIUS`` + 1) wide where the frame is."""
    window = 2 * SSIM_RADIUS + 1
    start = max(0, min(int(indices[0]) - SSIM_RADIUS, size - window))
    return slice(start, min(size, max(int(indices[-1]) + 1 + SSIM_RADIUS, start + window)))


def face_lpips(distorted: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """LPIPS v0.1 (AlexNet) spatial map (Zhang et al. 2018, ``spatial=True``)
    averaged over the mask, (N,). Raises ``WeightsMissingError`` without the
    AlexNet weights."""
    _check_mask(distorted, reference, mask)
    return _empty_to_nan(lpips_distance("alex", distorted, reference, mask=mask), mask)
