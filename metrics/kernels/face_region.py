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

from metrics.kernels.full_reference import SSIM_OPTIONS, check_pair, lpips_distance, ssim_maps

# SSIM's Gaussian window, sigma 1.5 px: scikit-image truncates it at 3.5 sigma, a radius of
# int(3.5 * 1.5 + 0.5) = 5 px as scipy.ndimage computes it (an 11 x 11 window, piq's).
SSIM_RADIUS = int(3.5 * SSIM_OPTIONS["kernel_sigma"] + 0.5)


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
    scikit-image's, mirrored at the frame's edges), mean of R, G, B, averaged
    over the mask, (N,). Windows centred near the region's edge reach up to 5 px
    outside it.

    ``full_reference.ssim_maps`` with scikit-image's edge handling: the value of
    skimage.metrics.structural_similarity(full=True) on float32 frames (a test
    checks it), in one batch. The map is computed on the bounding box of the
    batch's masks grown by the window's radius (``SSIM_RADIUS``): inside the
    masks its values are those of the whole frame's map, since no window there
    reaches the crop's edge (the frame's edges stay the crop's).
    """
    _check_mask(distorted, reference, mask)
    inside = mask[:, 0] > 0.5
    union = inside.any(dim=0).cpu().numpy()
    if not union.any():
        return torch.full((len(mask),), float("nan"), dtype=torch.float32, device=distorted.device)
    rows, columns = (_span(np.flatnonzero(union.any(axis=other)), size)
                     for other, size in ((1, union.shape[0]), (0, union.shape[1])))
    ssim_map, _ = ssim_maps(distorted[..., rows, columns], reference[..., rows, columns], padding=SSIM_RADIUS)
    inside = inside[:, rows, columns]
    values = (ssim_map.double().mean(dim=1) * inside).sum(dim=(1, 2)) / inside.sum(dim=(1, 2)).clamp(min=1)
    return _empty_to_nan(values.float(), mask)


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
