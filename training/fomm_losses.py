"""The FOMM training losses and the equivariance augmentation (FOMM section 3.3). Django-free.

After A. Siarohin et al., "First Order Motion Model for Image Animation",
NeurIPS 2019 (below "FOMM"); conventions as in ``qa_platform.codec.fomm``.
"""
import math
from pathlib import Path

import piq
import torch
import torch.nn.functional as F
from torch import nn

from qa_platform.codec.fomm import (
    Fomm,
    FommConfig,
    coordinate_grid,
    downsample,
)

# Image pyramid of the reconstruction loss (FOMM section 3.3).
PYRAMID_SCALES = (1.0, 0.5, 0.25, 0.125)
# Loss weights of FOMM's published VoxCeleb configuration (config/vox-256.yaml).
PERCEPTUAL_WEIGHT = 10.0
EQUIVARIANCE_WEIGHT = 10.0
# Random transform of the equivariance loss (FOMM section 3.3, vox-256.yaml):
# affine noise and thin-plate-spline noise standard deviations, control points per side.
SIGMA_AFFINE = 0.05
SIGMA_TPS = 0.005
TPS_POINTS = 5
# After the L1 + MS-SSIM mixture of H. Zhao, O. Gallo, I. Frosio, J. Kautz, "Loss
# Functions for Image Restoration with Neural Networks", IEEE TCI 2017 (section
# 3.3): alpha x (1 - MS-SSIM) + (1 - alpha) x L1 with their alpha = 0.84; our L1
# is the plain mean over the image pyramid (theirs is Gaussian-weighted).
MIX_ALPHA = 0.84
MS_SSIM_KERNEL = 11
# piq's default MS-SSIM scale weights (Wang, Simoncelli, Bovik, Asilomar 2003, table).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# VGG-19 layers of the perceptual loss (relu1_1 ... relu5_1): ends of torchvision's ``features`` slices.
VGG_SLICE_ENDS = (2, 7, 12, 21, 30)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)



class RandomTps:
    """A random affine + thin-plate-spline warp per batch item (FOMM section 3.3).

    theta = I + N(0, sigma_affine^2) (2x3 affine) and a TPS over a
    ``TPS_POINTS`` x ``TPS_POINTS`` control grid with weights
    N(0, sigma_tps^2), kernel U(r) = r^2 log r (F. L. Bookstein, "Principal
    Warps", IEEE TPAMI 1989). Drawn from ``generator`` (a ``torch.Generator``).
    """

    def __init__(self, batch: int, generator: torch.Generator, device=None):
        self.theta = torch.eye(2, 3) + SIGMA_AFFINE * torch.randn(batch, 2, 3, generator=generator)
        self.control = coordinate_grid(TPS_POINTS, TPS_POINTS).view(1, 1, -1, 2)
        self.weights = SIGMA_TPS * torch.randn(batch, 1, TPS_POINTS ** 2, generator=generator)
        self.theta, self.control, self.weights = (t.to(device) for t in (self.theta, self.control, self.weights))

    def warp_coordinates(self, points: torch.Tensor) -> torch.Tensor:
        """Map points (B, N, 2) through the transform: (B, N, 2)."""
        affine = points @ self.theta[:, :, :2].transpose(1, 2) + self.theta[:, None, :, 2]
        distance = (points.unsqueeze(2) - self.control).norm(dim=-1)
        kernel = distance ** 2 * torch.log(distance + 1e-6)
        return affine + (kernel * self.weights).sum(dim=2, keepdim=True)

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """d warp / d point at each point (B, N, 2), by autograd (kept in the graph): (B, N, 2, 2)."""
        warped = self.warp_coordinates(points)
        rows = [torch.autograd.grad(warped[..., axis].sum(), points, create_graph=True)[0] for axis in range(2)]
        return torch.stack(rows, dim=-2)

    def warp_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) resampled through the transform (reflection at the borders)."""
        batch, _, height, width = images.shape
        grid = coordinate_grid(height, width, device=images.device, dtype=images.dtype).view(1, -1, 2)
        grid = self.warp_coordinates(grid.expand(batch, -1, -1)).view(batch, height, width, 2)
        return F.grid_sample(images, grid, padding_mode="reflection", align_corners=True)


def vgg19_weights_path() -> Path:
    """Where torchvision keeps its ImageNet VGG-19 weights: ``$TORCH_HOME/hub/checkpoints/vgg19-*.pth``."""
    from torchvision.models import VGG19_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]


class Vgg19Features(nn.Module):
    """Frozen ImageNet VGG-19 features relu1_1 ... relu5_1 of images (B, 3, H, W) in [0, 1].

    Loads the weights from ``path`` (never downloads); ``FileNotFoundError`` when absent.
    """

    def __init__(self, path: Path):
        super().__init__()
        from torchvision.models import vgg19

        if not Path(path).is_file():
            raise FileNotFoundError(f"VGG-19 weights not found at {path}")
        network = vgg19(weights=None)
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        starts = (0, *VGG_SLICE_ENDS[:-1])
        self.slices = nn.ModuleList(network.features[a:b] for a, b in zip(starts, VGG_SLICE_ENDS))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        out, features = (images - self.mean) / self.std, []
        for block in self.slices:
            out = block(out)
            features.append(out)
        return features


def ms_ssim_levels(size: int) -> int:
    """MS-SSIM scales that fit a ``size`` frame with an 11-tap window: piq needs (11 - 1) 2^(n-1) + 1 <= size.

    5 at 256 px (the standard), 4 at 128, 3 at 64.
    """
    return min(len(MS_SSIM_WEIGHTS), int(math.log2((size - 1) / (MS_SSIM_KERNEL - 1))) + 1)


class FommLoss(nn.Module):
    """FOMM's training objective for a batch of (source, driving) pairs.

    Reconstruction (FOMM section 3.3): over the image pyramid
    ``PYRAMID_SCALES`` of prediction and driving frame, either the VGG-19
    perceptual loss (mean absolute feature difference at relu1_1 ... relu5_1,
    weight ``PERCEPTUAL_WEIGHT`` each, summed over layers and scales:
    ``type = "vgg19-perceptual"``) when ``vgg`` is given, or the L1 + MS-SSIM
    mixture of Zhao et al. 2017 (``MIX_ALPHA`` x (1 - MS-SSIM) at full size,
    with ``ms_ssim_levels`` scales, plus (1 - MIX_ALPHA) x the mean over the
    pyramid of the L1 distance: ``type = "l1+ms-ssim"``). Equivariance
    (section 3.3): keypoints of the driving frame warped by a
    ``RandomTps`` must be the warp of its keypoints, and the Jacobians must
    compose to the identity, each |.|_1 with weight ``EQUIVARIANCE_WEIGHT``.

    ``forward`` returns a dict of scalar tensors: ``total`` (what is
    minimised) and each term.
    """

    def __init__(self, config: FommConfig, vgg: Vgg19Features | None = None):
        super().__init__()
        self.config = config
        self.vgg = vgg
        weights = torch.tensor(MS_SSIM_WEIGHTS[:ms_ssim_levels(config.size)])
        self.register_buffer("ms_ssim_weights", weights / weights.sum())

    @property
    def description(self) -> dict:
        """What is minimised, as stored in checkpoints."""
        reconstruction = "vgg19-perceptual" if self.vgg is not None else "l1+ms-ssim"
        return {"type": reconstruction, "pyramid_scales": list(PYRAMID_SCALES),
                "equivariance": "value+jacobian" if self.config.jacobians else "value",
                "equivariance_weight": EQUIVARIANCE_WEIGHT,
                **({"perceptual_weight": PERCEPTUAL_WEIGHT} if self.vgg is not None else
                   {"mix_alpha": MIX_ALPHA, "ms_ssim_levels": len(self.ms_ssim_weights)})}

    def forward(self, model: Fomm, source: torch.Tensor, driving: torch.Tensor, generator: torch.Generator) -> dict:
        out = model(source, driving)
        terms = {"reconstruction": self.reconstruction(out["prediction"], driving)}
        transform = RandomTps(len(driving), generator, device=driving.device)
        warped_kp = model.kp_detector(transform.warp_images(driving))
        kp = out["kp_driving"]
        terms["equivariance_value"] = EQUIVARIANCE_WEIGHT * (
            kp.value - transform.warp_coordinates(warped_kp.value)).abs().mean()
        if kp.jacobian is not None:
            composed = torch.linalg.inv(kp.jacobian) @ (transform.jacobian(warped_kp.value) @ warped_kp.jacobian)
            identity = torch.eye(2, device=composed.device, dtype=composed.dtype)
            terms["equivariance_jacobian"] = EQUIVARIANCE_WEIGHT * (identity - composed).abs().mean()
        return {"total": sum(terms.values()), **terms}

    def reconstruction(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The reconstruction term for (B, 3, H, W) images in [0, 1]: a scalar tensor."""
        pairs = [(downsample(prediction, s), downsample(target, s)) for s in PYRAMID_SCALES]
        if self.vgg is not None:
            return PERCEPTUAL_WEIGHT * sum(
                (a - b.detach()).abs().mean()
                for x, y in pairs for a, b in zip(self.vgg(x), self.vgg(y))
            )
        l1 = sum((x - y).abs().mean() for x, y in pairs) / len(pairs)
        ms_ssim = piq.multi_scale_ssim(prediction.clamp(0, 1), target, data_range=1.0, kernel_size=MS_SSIM_KERNEL,
                                       scale_weights=self.ms_ssim_weights)
        return MIX_ALPHA * (1 - ms_ssim) + (1 - MIX_ALPHA) * l1


def perceptual_backbone() -> Vgg19Features | None:
    """The VGG-19 feature extractor when its ImageNet weights are installed, else ``None`` (no download)."""
    path = vgg19_weights_path()
    return Vgg19Features(path) if path.is_file() else None
