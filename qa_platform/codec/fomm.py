"""The first order motion model (FOMM): networks, and the checkpoints the codec and the trainer share. Django-free.

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
import io
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qa_platform.codec.checkpoints import CheckpointError, read_checkpoint

SIZES = (64, 128, 256)
# FOMM trains the keypoint detector and the dense motion network on
# quarter-size frames (its supplementary material and config/vox-256.yaml).
MOTION_SCALE = 0.25
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


# Checkpoints: ``torch.save`` of a dict with these two keys, stored content-addressed
# by ``qa_platform.codec.checkpoints`` (the trainer, training.fomm_training, writes them).
FORMAT = "faceqa-fomm"
FORMAT_VERSION = 1


def resize_clip(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (T, size, size, 3) (cv2 area filter down, bicubic up)."""
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise FommConfigError(f"training clips must be uint8 (T, H, W, 3) RGB, got {frames.dtype} {frames.shape}")
    if frames.shape[1:3] == (size, size):
        return frames
    interpolation = cv2.INTER_AREA if min(frames.shape[1:3]) >= size else cv2.INTER_CUBIC
    return np.stack([cv2.resize(frame, (size, size), interpolation=interpolation) for frame in frames])


def serialise(payload: dict) -> bytes:
    """``torch.save`` bytes of a checkpoint dict."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_checkpoint(path: Path) -> dict:
    """A FOMM checkpoint, its hash checked (``qa_platform.codec.checkpoints.read_checkpoint``).

    Returns the dict written by ``train_fomm`` (keys ``config``, ``loss``,
    ``options``, ``epochs_done``, ``step``, ``sources``, ``loss_history``,
    ``epoch_losses``, ``model``, ``optimizer``, ...) plus ``sha256``. Raises
    ``CheckpointError`` for an altered file or one that is not a FOMM
    checkpoint of this format version.
    """
    data, digest = read_checkpoint(path)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint of format version {FORMAT_VERSION}")
    return {**payload, "sha256": digest}


def model_from_checkpoint(payload: dict, device: torch.device | str = "cpu") -> Fomm:
    """The FOMM model of a loaded checkpoint, in eval mode on ``device``."""
    model = Fomm(FommConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["model"])
    return model.to(device).eval()


