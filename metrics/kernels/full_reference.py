"""Full-reference metrics, frame by frame, on torch tensors. Django-free.

Every kernel here has one contract: ``kernel(distorted, reference)`` with
float32 tensors (N, 3, H, W), RGB in [0, 1], same shape and device, and
returns a float32 tensor (N,) on that device, one value per frame. Inputs that
break the contract raise ``ValueError``. The formulas are the libraries'
(piq 0.8, lpips 0.1.4); each kernel's registry entry cites its source.

Kernels with learned weights (LPIPS, DISTS) build their model only after
``metrics.weights.require_weights`` found every file where torchvision and piq
read it (``$TORCH_HOME/hub/checkpoints``), so the libraries load the local file
and never download; missing files raise ``WeightsMissingError`` instead.
"""
import functools
import warnings
from pathlib import Path

import lpips
import piq
import torch

from metrics.weights import require_weights

# SSIM and MS-SSIM as in piq (Wang et al. 2004, 2003): 11x11 Gaussian window,
# sigma 1.5, K1 = 0.01, K2 = 0.03. SSIM averages frames down by
# f = round(min(H, W) / 256) first, as the authors' MATLAB code recommends
# (no change for 256x256 GFVC frames).
SSIM_OPTIONS = {"data_range": 1.0, "kernel_size": 11, "kernel_sigma": 1.5, "k1": 0.01, "k2": 0.03}


def check_pair(distorted: torch.Tensor, reference: torch.Tensor) -> None:
    """Raise ``ValueError`` unless both are float tensors (N, 3, H, W) of one shape and device."""
    for name, tensor in (("distorted", distorted), ("reference", reference)):
        if not torch.is_tensor(tensor) or tensor.ndim != 4 or tensor.shape[1] != 3:
            raise ValueError(f"{name} must be a tensor (N, 3, H, W); got {getattr(tensor, 'shape', type(tensor))}")
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must be float RGB in [0, 1]; got {tensor.dtype}")
    if distorted.shape != reference.shape or distorted.device != reference.device:
        raise ValueError(
            f"distorted {tuple(distorted.shape)} on {distorted.device} and reference "
            f"{tuple(reference.shape)} on {reference.device} differ"
        )


def psnr_rgb(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """PSNR over R, G and B, dB, (N,): 10 log10(1 / (MSE + 1e-8)), so at most 80 dB."""
    check_pair(distorted, reference)
    return piq.psnr(distorted, reference, data_range=1.0, reduction="none")


def psnr_y(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """PSNR of luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 weights, full range), dB, (N,)."""
    check_pair(distorted, reference)
    return piq.psnr(distorted, reference, data_range=1.0, reduction="none", convert_to_greyscale=True)


def ssim(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004), mean of the R, G, B values, (N,), 1 for identical frames."""
    check_pair(distorted, reference)
    return piq.ssim(distorted, reference, reduction="none", downsample=True, **SSIM_OPTIONS)


def ms_ssim(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """MS-SSIM (Wang et al. 2003), 5 scales, mean over R, G, B, (N,) in [0, 1].

    Raises ``ValueError`` for frames smaller than 161x161 (five scales of an
    11-tap window).
    """
    check_pair(distorted, reference)
    return piq.multi_scale_ssim(distorted, reference, reduction="none", **SSIM_OPTIONS)


def lpips_alex(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """LPIPS v0.1 with AlexNet (Zhang et al. 2018), (N,), 0 for identical frames.

    Raises ``WeightsMissingError`` when the AlexNet ImageNet weights are not installed.
    """
    check_pair(distorted, reference)
    paths = require_weights(["alexnet"])
    model = _lpips_model(str(distorted.device), paths["alexnet"])
    return model(distorted, reference, normalize=True).reshape(-1)


def dists(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """DISTS (Ding et al. 2022), (N,) in [0, 1], 0 for identical frames.

    Raises ``WeightsMissingError`` when the VGG16 or DISTS weights are not installed.
    """
    check_pair(distorted, reference)
    paths = require_weights(["vgg16", "dists"])
    model = _dists_model(str(distorted.device), paths["vgg16"], paths["dists"])
    return model(distorted, reference)


# The weight paths are part of the cache key: a model is rebuilt when the
# files it was built from are not the ones installed now.
@functools.cache
def _lpips_model(device: str, backbone: Path) -> torch.nn.Module:
    with warnings.catch_warnings():
        # torchvision's notice that lpips still passes ``pretrained=True``.
        warnings.filterwarnings("ignore", message=".*(pretrained|weights).*", category=UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", verbose=False)
    return model.eval().to(device)


@functools.cache
def _dists_model(device: str, backbone: Path, alpha_beta: Path) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(pretrained|weights).*", category=UserWarning)
        model = piq.DISTS(reduction="none")
    return model.eval().to(device)
