"""The first order motion model (FOMM): networks and training losses. Django-free.

After A. Siarohin, S. Lathuilière, S. Tulyakov, E. Ricci, N. Sebe, "First Order
Motion Model for Image Animation", NeurIPS 2019 (below "FOMM"), written for
this project from the paper; layer layouts follow the authors' public code
(AliaksandrSiarohin/first-order-model) where the paper leaves them open.

Conventions, everywhere in this module:

* images: float32 (B, 3, H, W), RGB in [0, 1];
* keypoints: ``Keypoints.value`` float32 (B, K, 2), (x, y) in [-1, 1], the
  ``grid_sample`` convention with ``align_corners=True`` (-1 is the centre of
  the first pixel, +1 of the last); ``Keypoints.jacobian`` float32
  (B, K, 2, 2) or ``None``, the local affine map d(driving -> frame) at the
  keypoint (FOMM section 3.1);
* motion fields: float32 (B, H, W, 2), for each driving-frame pixel the
  source-frame position to sample, same coordinate convention.

Section numbers below are those of the NeurIPS paper: 3.1 local affine
transformations (keypoints, Jacobians, combining local motions), 3.2
occlusion-aware image generation, 3.3 training losses; the architecture
details are in its supplementary material. The networks are FOMM's: an
hourglass (U-Net-like encoder-decoder) under the keypoint detector and the
dense motion network; the keypoint detector takes a soft-argmax of K heatmaps
and, optionally, the heatmap-weighted mean of four per-pixel Jacobian maps
(section 3.1); the dense motion network builds one sparse motion per
keypoint by the first-order Taylor expansion (section 3.1),
deforms the source by each, and predicts K + 1 softmax masks (the extra one
for the still background) and an occlusion map (sections 3.1, 3.2); the
generator encodes the source, warps its feature map by the dense motion,
multiplies by the occlusion map, and decodes to RGB through a sigmoid.
"""
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import piq
import torch
import torch.nn.functional as F
from torch import nn

SIZES = (64, 128, 256)
# FOMM trains the keypoint detector and the dense motion network on
# quarter-size frames (its supplementary material and config/vox-256.yaml).
MOTION_SCALE = 0.25
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


class FommConfigError(ValueError):
    """A FOMM configuration cannot be built (bad size, keypoint count or width)."""


@dataclass(frozen=True)
class FommConfig:
    """Hyper-parameters of one FOMM model; JSON-serialisable (``to_dict``/``from_dict``).

    size: frame side in pixels (64, 128 or 256). num_kp: keypoints K.
    jacobians: predict a 2x2 local affine map per keypoint (FOMM's first
    order terms) or keypoint positions only (zeroth order). The widths are
    the channel counts of the first block of each network; each down block
    doubles them up to the ``*_max_features`` cap. The defaults are small
    (FOMM's VoxCeleb model uses 64/32/64 and caps of 512/1024) so that
    training moves on a CPU. kp_variance: variance of the Gaussian heatmaps
    of the dense motion network, normalised units squared (FOMM 0.01).
    temperature: softmax temperature of the keypoint heatmaps (FOMM 0.1).
    """

    size: int = 64
    num_kp: int = 10
    jacobians: bool = True
    kp_block_expansion: int = 16
    kp_max_features: int = 128
    motion_block_expansion: int = 16
    motion_max_features: int = 128
    generator_block_expansion: int = 16
    generator_max_features: int = 128
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 2
    kp_variance: float = 0.01
    temperature: float = 0.1

    def __post_init__(self):
        if self.size not in SIZES:
            raise FommConfigError(f"size must be one of {SIZES} pixels, got {self.size!r}")
        if not isinstance(self.num_kp, int) or not 1 <= self.num_kp <= 64:
            raise FommConfigError(f"num_kp must be an integer from 1 to 64, got {self.num_kp!r}")
        widths = [self.kp_block_expansion, self.motion_block_expansion, self.generator_block_expansion,
                  self.num_down_blocks, self.num_bottleneck_blocks]
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise FommConfigError(f"channel widths and block counts must be positive integers, got {widths}")

    @property
    def hourglass_blocks(self) -> int:
        """Down blocks of the motion hourglasses: down to 2x2 pixels at ``MOTION_SCALE`` (5 at 256 px, as FOMM)."""
        return int(math.log2(self.size * MOTION_SCALE)) - 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FommConfig":
        """Build from a dict; ``FommConfigError`` names unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FommConfigError(f"unknown FOMM configuration key(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass
class Keypoints:
    """Keypoints of a batch: value float32 (B, K, 2) in [-1, 1]; jacobian (B, K, 2, 2) or None."""

    value: torch.Tensor
    jacobian: torch.Tensor | None = None

    def __getitem__(self, index) -> "Keypoints":
        """The keypoints of some batch items (an int, slice or index tensor along B)."""
        return Keypoints(self.value[index], None if self.jacobian is None else self.jacobian[index])

    def to(self, device) -> "Keypoints":
        return Keypoints(self.value.to(device), None if self.jacobian is None else self.jacobian.to(device))

    def expand(self, batch: int) -> "Keypoints":
        """One item's keypoints (B = 1) repeated ``batch`` times (a view)."""
        return Keypoints(self.value.expand(batch, -1, -1),
                         None if self.jacobian is None else self.jacobian.expand(batch, -1, -1, -1))


def coordinate_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel centres in normalised coordinates: (H, W, 2), (x, y) from -1 to 1 (align_corners=True)."""
    ys = torch.linspace(-1, 1, height, device=device, dtype=dtype)
    xs = torch.linspace(-1, 1, width, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)


def warp(image: torch.Tensor, motion: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``image`` (B, C, H, W) at ``motion`` (B, h, w, 2), bilinearly; (B, C, h, w).

    A motion field of another size is first resized to the image's (bilinear).
    """
    if motion.shape[1:3] != image.shape[2:]:
        motion = F.interpolate(motion.permute(0, 3, 1, 2), size=image.shape[2:], mode="bilinear",
                               align_corners=True).permute(0, 2, 3, 1)
    return F.grid_sample(image, motion, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def downsample(image: torch.Tensor, scale: float) -> torch.Tensor:
    """Anti-aliased bilinear resize by ``scale`` (torch's antialias filter); scale 1 returns ``image``."""
    if scale == 1:
        return image
    return F.interpolate(image, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)


class DownBlock(nn.Sequential):
    """3x3 convolution, batch norm, ReLU, 2x2 average pooling: halves H and W."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
                         nn.ReLU(), nn.AvgPool2d(2))


class UpBlock(nn.Sequential):
    """Nearest 2x upsampling, 3x3 convolution, batch norm, ReLU: doubles H and W."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Upsample(scale_factor=2), nn.Conv2d(in_channels, out_channels, 3, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class ResBlock(nn.Module):
    """Pre-activation residual block (BN, ReLU, 3x3 conv, twice) at constant width."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _width(expansion: int, cap: int, level: int) -> int:
    return min(cap, expansion * 2 ** level)


class Hourglass(nn.Module):
    """Encoder-decoder with skip connections (FOMM supplementary material).

    Input (B, in_channels, H, W) with H and W divisible by 2**num_blocks;
    output (B, out_channels, H, W), ``out_channels = expansion + in_channels``
    (the last skip is the input itself).
    """

    def __init__(self, in_channels: int, expansion: int, max_features: int, num_blocks: int):
        super().__init__()
        self.down = nn.ModuleList(
            DownBlock(in_channels if i == 0 else _width(expansion, max_features, i), _width(expansion, max_features, i + 1))
            for i in range(num_blocks)
        )
        self.up = nn.ModuleList(
            UpBlock((1 if i == num_blocks - 1 else 2) * _width(expansion, max_features, i + 1),
                    _width(expansion, max_features, i))
            for i in reversed(range(num_blocks))
        )
        self.out_channels = expansion + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for block in self.down:
            skips.append(block(skips[-1]))
        out = skips.pop()
        for block in self.up:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class KeypointDetector(nn.Module):
    """K keypoints (and Jacobians) of a frame (FOMM section 3.1).

    Input: images (B, 3, size, size). Output: ``Keypoints`` with value
    (B, K, 2) in [-1, 1], the soft-argmax (expected position under the
    softmax of each heatmap at ``temperature``), and, with ``jacobians``,
    (B, K, 2, 2): the heatmap-weighted mean of four Jacobian maps,
    initialised to the identity.
    """

    def __init__(self, config: FommConfig):
        super().__init__()
        self.config = config
        self.hourglass = Hourglass(3, config.kp_block_expansion, config.kp_max_features, config.hourglass_blocks)
        self.heatmaps = nn.Conv2d(self.hourglass.out_channels, config.num_kp, 7, padding=3)
        self.jacobian_maps = None
        if config.jacobians:
            self.jacobian_maps = nn.Conv2d(self.hourglass.out_channels, 4 * config.num_kp, 7, padding=3)
            nn.init.zeros_(self.jacobian_maps.weight)
            with torch.no_grad():
                self.jacobian_maps.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(config.num_kp))

    def forward(self, image: torch.Tensor) -> Keypoints:
        features = self.hourglass(downsample(image, MOTION_SCALE))
        logits = self.heatmaps(features)
        batch, count, height, width = logits.shape
        heatmap = F.softmax(logits.flatten(2) / self.config.temperature, dim=2).view(batch, count, height, width, 1)
        grid = coordinate_grid(height, width, device=image.device, dtype=image.dtype)
        value = (heatmap * grid).sum(dim=(2, 3))
        if self.jacobian_maps is None:
            return Keypoints(value)
        maps = self.jacobian_maps(features).view(batch, count, 4, height, width)
        jacobian = (heatmap.view(batch, count, 1, height, width) * maps).sum(dim=(3, 4))
        return Keypoints(value, jacobian.view(batch, count, 2, 2))


def keypoint_heatmaps(keypoints: Keypoints, height: int, width: int, variance: float) -> torch.Tensor:
    """Gaussian heatmaps exp(-|p - kp|^2 / (2 variance)) around each keypoint: (B, K, H, W)."""
    grid = coordinate_grid(height, width, device=keypoints.value.device, dtype=keypoints.value.dtype)
    offset = grid - keypoints.value[:, :, None, None, :]
    return torch.exp(-0.5 * (offset ** 2).sum(-1) / variance)


def sparse_motions(source: Keypoints, driving: Keypoints, height: int, width: int) -> torch.Tensor:
    """Per-keypoint backward motions plus the identity: (B, K + 1, H, W, 2).

    Motion k maps a driving-frame point z to the source frame by the
    first-order Taylor expansion around the keypoints (FOMM section 3.1):
    T(z) = kp_S + J_S J_D^-1 (z - kp_D), or kp_S + (z - kp_D) without
    Jacobians. Index 0 is the identity (the background does not move).
    """
    grid = coordinate_grid(height, width, device=source.value.device, dtype=source.value.dtype)
    offset = grid[None, None] - driving.value[:, :, None, None, :]
    if source.jacobian is not None:
        jacobian = source.jacobian @ torch.linalg.inv(driving.jacobian)
        offset = torch.einsum("bkij,bkhwj->bkhwi", jacobian, offset)
    motions = offset + source.value[:, :, None, None, :]
    identity = grid[None, None].expand(len(motions), 1, height, width, 2)
    return torch.cat([identity, motions], dim=1)


class DenseMotionNetwork(nn.Module):
    """Dense motion and occlusion from keypoints (FOMM sections 3.1 and 3.2).

    Input: source images (B, 3, size, size), source and driving
    ``Keypoints``. Works at ``MOTION_SCALE`` x size (s). Output dict:
    ``mask`` (B, K + 1, s, s), softmax over the K + 1 motions;
    ``deformation`` (B, s, s, 2), the mask-weighted sum of the sparse
    motions; ``occlusion`` (B, 1, s, s) in (0, 1).
    """

    def __init__(self, config: FommConfig):
        super().__init__()
        self.config = config
        channels = (config.num_kp + 1) * (3 + 1)
        self.hourglass = Hourglass(channels, config.motion_block_expansion, config.motion_max_features,
                                   config.hourglass_blocks)
        self.mask = nn.Conv2d(self.hourglass.out_channels, config.num_kp + 1, 7, padding=3)
        self.occlusion = nn.Conv2d(self.hourglass.out_channels, 1, 7, padding=3)

    def forward(self, source_image: torch.Tensor, source: Keypoints, driving: Keypoints) -> dict:
        image = downsample(source_image, MOTION_SCALE)
        batch, _, height, width = image.shape
        variance = self.config.kp_variance
        heatmaps = (keypoint_heatmaps(driving, height, width, variance)
                    - keypoint_heatmaps(source, height, width, variance))
        heatmaps = torch.cat([torch.zeros_like(heatmaps[:, :1]), heatmaps], dim=1)
        motions = sparse_motions(source, driving, height, width)
        count = motions.shape[1]
        deformed = warp(image.repeat_interleave(count, dim=0), motions.flatten(0, 1)).view(batch, count, 3, height, width)
        features = self.hourglass(torch.cat([heatmaps.unsqueeze(2), deformed], dim=2).flatten(1, 2))
        mask = F.softmax(self.mask(features), dim=1)
        deformation = (mask.unsqueeze(-1) * motions).sum(dim=1)
        return {"mask": mask, "deformation": deformation, "occlusion": torch.sigmoid(self.occlusion(features))}


class Generator(nn.Module):
    """Occlusion-aware generator (FOMM section 3.2).

    Input: source images (B, 3, size, size), source and driving
    ``Keypoints``. Output dict: ``prediction`` (B, 3, size, size) in [0, 1];
    ``deformed`` (B, 3, size, size), the source warped by the dense motion;
    and the dense motion network's outputs.
    """

    def __init__(self, config: FommConfig):
        super().__init__()
        expansion, cap, blocks = config.generator_block_expansion, config.generator_max_features, config.num_down_blocks
        self.dense_motion = DenseMotionNetwork(config)
        self.first = nn.Sequential(nn.Conv2d(3, expansion, 7, padding=3), nn.BatchNorm2d(expansion), nn.ReLU())
        self.down = nn.Sequential(*(DownBlock(_width(expansion, cap, i), _width(expansion, cap, i + 1))
                                    for i in range(blocks)))
        self.bottleneck = nn.Sequential(*(ResBlock(_width(expansion, cap, blocks))
                                          for _ in range(config.num_bottleneck_blocks)))
        self.up = nn.Sequential(*(UpBlock(_width(expansion, cap, i + 1), _width(expansion, cap, i))
                                  for i in reversed(range(blocks))))
        self.final = nn.Conv2d(expansion, 3, 7, padding=3)

    def forward(self, source_image: torch.Tensor, source: Keypoints, driving: Keypoints) -> dict:
        motion = self.dense_motion(source_image, source, driving)
        features = warp(self.down(self.first(source_image)), motion["deformation"])
        occlusion = motion["occlusion"]
        if occlusion.shape[2:] != features.shape[2:]:
            occlusion = F.interpolate(occlusion, size=features.shape[2:], mode="bilinear", align_corners=True)
        out = self.up(self.bottleneck(features * occlusion))
        return {**motion, "prediction": torch.sigmoid(self.final(out)),
                "deformed": warp(source_image, motion["deformation"])}


class Fomm(nn.Module):
    """Keypoint detector plus generator: the whole animation model of one ``FommConfig``."""

    def __init__(self, config: FommConfig):
        super().__init__()
        self.config = config
        self.kp_detector = KeypointDetector(config)
        self.generator = Generator(config)

    def forward(self, source_image: torch.Tensor, driving_image: torch.Tensor) -> dict:
        """Reconstruct ``driving_image`` from ``source_image`` (both (B, 3, size, size)); adds both Keypoints."""
        source, driving = self.kp_detector(source_image), self.kp_detector(driving_image)
        return {**self.generator(source_image, source, driving), "kp_source": source, "kp_driving": driving}


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
