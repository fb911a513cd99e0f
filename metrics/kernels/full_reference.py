"""Full-reference metrics, frame by frame, on torch tensors. Django-free.

Every kernel here has one contract: ``kernel(distorted, reference)`` with
float32 tensors (N, 3, H, W), RGB in [0, 1], same shape and device, and
returns a float32 tensor (N,) on that device, one value per frame. Inputs that
break the contract raise ``ValueError``. The formulas are the libraries'
(piq 0.8, lpips 0.1.4); each kernel's registry entry cites its source.

Kernels with learned weights (LPIPS, DISTS) build their model only after
``metrics.weights.require_weights`` found every file where torchvision and piq
read it (``$TORCH_HOME/hub/checkpoints``), so the libraries load the local file
and never download; missing files raise ``WeightsMissingError`` instead. They
split the library's forward pass into its feature extraction and its
comparison, with the library's own modules, so that features are shared
(``metrics.features``); a test checks the split against the library's forward.
"""
import functools
import warnings
from pathlib import Path

import lpips
import piq
import torch
import torch.nn.functional as F
from piq.functional import gaussian_filter
from piq.utils import _validate_input

from metrics import features
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


# MS-SSIM's scale weights (Wang et al. 2003), piq.multi_scale_ssim's default.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ssim(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004), mean of the R, G, B values, (N,), 1 for identical frames.

    piq.ssim's computation (downsampling, then ``ssim_per_channel``); on frames
    that piq does not downsample (min(H, W) < 384, e.g. 256x256) its
    per-channel values are the first scale of MS-SSIM, shared with ``ms_ssim``
    in a batch (``_first_scale``).
    """
    check_pair(distorted, reference)
    factor = _ssim_downsampling(distorted)
    if factor > 1:
        _validate_input([distorted, reference], dim_range=(4, 4), data_range=(0, SSIM_OPTIONS["data_range"]))
        pooled = (F.avg_pool2d(t, kernel_size=factor) for t in (distorted, reference))
        return ssim_per_channel(*pooled)[0].mean(1)
    return _first_scale(distorted, reference)[0].mean(1)


def ms_ssim(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """MS-SSIM (Wang et al. 2003), 5 scales, mean over R, G, B, (N,) in [0, 1].

    piq.multi_scale_ssim's computation (piq.ms_ssim._multi_scale_ssim, piq
    0.8.0): per scale, the contrast-structure term cs (N, C) of
    ``ssim_per_channel``, the SSIM at the last; then 2x2 average pooling
    (replicate-padded to even sides); value = mean over channels of
    prod_s relu(term_s) ** weight_s. Its first scale comes from
    ``_first_scale``, which ``ssim`` shares; a test checks equality with
    piq.multi_scale_ssim. Raises ``ValueError`` for frames smaller than
    161x161 (five scales of an 11-tap window).
    """
    check_pair(distorted, reference)
    size = (SSIM_OPTIONS["kernel_size"] - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1
    if min(distorted.shape[2:]) < size:
        raise ValueError(f"MS-SSIM needs frames of at least {size}x{size}; got {tuple(distorted.shape[2:])}")
    ssim_value, cs = _first_scale(distorted, reference)
    x, y = distorted, reference
    terms = [cs]
    for _ in MS_SSIM_WEIGHTS[1:]:
        x, y = _next_scale(x), _next_scale(y)
        ssim_value, cs = ssim_per_channel(x, y)
        terms.append(cs)
    terms[-1] = ssim_value
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=x.dtype, device=x.device)
    return torch.prod(torch.relu(torch.stack(terms)) ** weights.view(-1, 1, 1), dim=0).mean(1)


def _next_scale(frames: torch.Tensor) -> torch.Tensor:
    """piq.multi_scale_ssim's step between scales: 2x2 average pooling of (N, C, H, W), after
    replicating the first row and column when a side is odd (no copy when both are even)."""
    padding = max(frames.shape[2] % 2, frames.shape[3] % 2)
    if padding:
        frames = F.pad(frames, pad=[padding, 0, padding, 0], mode="replicate")
    return F.avg_pool2d(frames, kernel_size=2)


def _ssim_downsampling(frames: torch.Tensor) -> int:
    """piq.ssim's averaging factor f = max(1, round(min(H, W) / 256)) (the authors' MATLAB code)."""
    return max(1, round(min(frames.shape[2:]) / 256))


def _first_scale(distorted: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``ssim_per_channel`` at full resolution, as piq.ssim and piq.multi_scale_ssim compute it
    (inputs range-checked as they do; data_range 1, so no rescaling): (SSIM, cs), each (N, C).
    Computed once per batch for both metrics (``features.shared``)."""
    def compute():
        _validate_input([distorted, reference], dim_range=(4, 4), data_range=(0, SSIM_OPTIONS["data_range"]))
        return ssim_per_channel(distorted, reference)
    return features.shared("ssim-full-resolution", (distorted, reference), compute)


def ssim_per_channel(distorted: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """piq.ssim._ssim_per_channel (piq 0.8.0) with data_range 1: the means over the
    valid region of the SSIM and contrast-structure maps (``ssim_maps``), each (N, C)."""
    ssim_map, cs_map = ssim_maps(distorted, reference)
    return ssim_map.mean(dim=(-1, -2)), cs_map.mean(dim=(-1, -2))


def ssim_maps(distorted: torch.Tensor, reference: torch.Tensor, padding: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and contrast-structure maps (Wang et al., IEEE TIP 13(4), 2004, eq. 13 and
    the cs term of MS-SSIM), float (N, C, H', W') for frames (N, C, H, W) in [0, 1].

    Local statistics under the 11x11 Gaussian window (sigma 1.5), population
    covariance, C1 = (0.01)^2, C2 = (0.03)^2: the formula of
    piq.ssim._ssim_per_channel and of skimage.metrics.structural_similarity.
    ``padding`` 0: the valid region (H' = H - 10), as piq; 5 (the window's
    radius): the frames mirrored at their edges first (edge sample repeated,
    scipy.ndimage's ``reflect``), a map of the whole frame, as scikit-image.
    """
    mu_x, mu_y, xx, yy, xy = _gaussian_moments(distorted, reference, padding)
    mu_xx, mu_yy, mu_xy = mu_x ** 2, mu_y ** 2, mu_x * mu_y
    c1, c2 = SSIM_OPTIONS["k1"] ** 2, SSIM_OPTIONS["k2"] ** 2
    cs = (2. * (xy - mu_xy) + c2) / ((xx - mu_xx) + (yy - mu_yy) + c2)
    return (2. * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs, cs


def _gaussian_moments(x: torch.Tensor, y: torch.Tensor, padding: int) -> tuple[torch.Tensor, ...]:
    """x, y, x^2, y^2 and x y under the SSIM window: five tensors (N, C, H', W').

    The 11x11 Gaussian is separable: piq's 2-D window
    (piq.functional.gaussian_filter) is the outer product of its marginal with
    itself, so one 11-tap pass along the rows, then one along the columns,
    equals piq's 11x11 convolution up to float rounding (tests compare the
    SSIM values with piq's, in float32 and float64, on real frames) at 22
    instead of 121 products per sample. The five images are filtered in one
    depthwise convolution, channels-last, where torch's CPU convolution
    (oneDNN) runs several times faster than on 3 channels at a time: this is
    for speed only (pytorch-msssim filters separably too, but each image
    alone, NCHW: barely faster than piq here).
    """
    channels = x.size(1)
    if padding:
        x, y = _mirror(x, padding), _mirror(y, padding)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1).contiguous(memory_format=torch.channels_last)
    row = _ssim_window_marginal(x).repeat(5 * channels, 1, 1, 1)
    filtered = F.conv2d(F.conv2d(stack, row, groups=5 * channels), row.transpose(2, 3), groups=5 * channels)
    return filtered.split(channels, dim=1)


def _ssim_window_marginal(frames: torch.Tensor) -> torch.Tensor:
    """The 1-D factor of piq.ssim's 11x11 Gaussian window (size 11, sigma 1.5): (1, 1, 1, 11)."""
    window = gaussian_filter(SSIM_OPTIONS["kernel_size"], SSIM_OPTIONS["kernel_sigma"],
                             device=frames.device, dtype=frames.dtype)
    return window.sum(dim=1).view(1, 1, 1, -1)


def _mirror(frames: torch.Tensor, width: int) -> torch.Tensor:
    """``frames`` (N, C, H, W) padded by ``width`` on every side with their mirror image,
    edge sample included (d c b a | a b c d), as scipy.ndimage's ``reflect`` mode;
    channels-last (N, C, H + 2 width, W + 2 width)."""
    rows = _mirror_indices(frames.shape[2], width, frames.device)
    columns = _mirror_indices(frames.shape[3], width, frames.device)
    return frames.permute(0, 2, 3, 1).index_select(1, rows).index_select(2, columns).permute(0, 3, 1, 2)


def _mirror_indices(size: int, width: int, device: torch.device) -> torch.Tensor:
    inside = torch.arange(size, device=device)
    return torch.cat([inside[:width].flip(0), inside, inside[size - width:].flip(0)])


def fsim(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """FSIMc (Zhang et al., IEEE TIP 20(8), 2011): phase congruency and gradient
    similarity with chrominance, (N,), 1 for identical frames (piq.fsim)."""
    check_pair(distorted, reference)
    return piq.fsim(distorted, reference, data_range=1.0, reduction="none", chromatic=True)


def gmsd(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """GMSD (Xue et al., IEEE TIP 23(2), 2014) on the YIQ luma, (N,), 0 for identical frames (piq.gmsd)."""
    check_pair(distorted, reference)
    return piq.gmsd(distorted, reference, data_range=1.0, reduction="none")


def vif(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Pixel-domain VIF (Sheikh & Bovik, IEEE TIP 15(2), 2006), (N,), 1 for
    identical frames, above 1 for contrast enhancement (piq.vif_p, sigma_n^2 = 2)."""
    check_pair(distorted, reference)
    return piq.vif_p(distorted, reference, data_range=1.0, reduction="none")


def lpips_alex(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """LPIPS v0.1 with AlexNet (Zhang et al. 2018), (N,), 0 for identical frames.

    Raises ``WeightsMissingError`` when the AlexNet ImageNet weights are not installed.
    """
    return lpips_distance("alex", distorted, reference)


def lpips_vgg(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """LPIPS v0.1 with VGG16 (Zhang et al. 2018), (N,), 0 for identical frames.

    Raises ``WeightsMissingError`` when the VGG16 ImageNet weights are not installed.
    """
    return lpips_distance("vgg", distorted, reference)


LPIPS_BACKBONES = {"alex": "alexnet", "vgg": "vgg16"}  # lpips net name -> weight entry


def lpips_distance(net: str, distorted: torch.Tensor, reference: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """LPIPS v0.1 on ``net`` (``alex`` or ``vgg``), (N,).

    Without ``mask``: ``lpips.LPIPS(net)(distorted, reference, normalize=True)``,
    the mean of each layer's map. With a float mask (N, 1, H, W): each layer's
    map upsampled to (H, W) as ``spatial=True`` does, summed, then averaged
    over the mask. Raises ``WeightsMissingError`` without the backbone weights.
    """
    check_pair(distorted, reference)
    model = lpips_model(net, str(distorted.device))
    extractor = f"lpips-{net}"
    feats_d = features.features(extractor, distorted, features.DISTORTED, functools.partial(_lpips_features, model))
    feats_r = features.features(extractor, reference, features.REFERENCE, functools.partial(_lpips_features, model))
    layers = [lin((d - r) ** 2) for lin, d, r in zip(model.lins, feats_d, feats_r)]
    if mask is None:
        return sum(lpips.spatial_average(layer) for layer in layers).reshape(-1)
    spatial = sum(lpips.upsample(layer, out_HW=distorted.shape[2:]) for layer in layers)
    return (spatial * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3)).clamp(min=1.0)


def lpips_model(net: str, device: str) -> lpips.LPIPS:
    """The lpips package's model on ``net``, in eval mode on ``device``; raises
    ``WeightsMissingError`` when its backbone weights are not installed."""
    paths = require_weights([LPIPS_BACKBONES[net]])
    return _lpips_model(net, device, paths[LPIPS_BACKBONES[net]])


def _lpips_features(model: lpips.LPIPS, frames: torch.Tensor) -> list[torch.Tensor]:
    # lpips.LPIPS.forward(normalize=True), version 0.1, up to the unit-normalised features.
    outputs = model.net.forward(model.scaling_layer(2 * frames - 1))
    return [lpips.normalize_tensor(output) for output in outputs]


def dists(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """DISTS (Ding et al. 2022), (N,) in [0, 1], 0 for identical frames.

    piq.DISTS: frames whose short side exceeds 256 are resized to 256 first.
    Raises ``WeightsMissingError`` when the VGG16 or DISTS weights are not installed.
    """
    check_pair(distorted, reference)
    paths = require_weights(["vgg16", "dists"])
    model = _dists_model(str(distorted.device), paths["vgg16"], paths["dists"])
    short_side = min(distorted.shape[2:])
    if short_side > 256:
        distorted, reference = (
            torch.nn.functional.interpolate(x, scale_factor=256 / short_side, recompute_scale_factor=False,
                                            mode="bilinear")
            for x in (distorted, reference)
        )
    feats_d = features.features("dists-vgg16", distorted, features.DISTORTED, model.get_features)
    feats_r = features.features("dists-vgg16", reference, features.REFERENCE, model.get_features)
    # piq's ContentLoss.forward after its get_features, then DISTS's 1 - similarity.
    distances = model.compute_distance(feats_d, feats_r)
    similarity = torch.cat([(d * w.to(d)).mean(dim=[2, 3]) for d, w in zip(distances, model.weights)], dim=1)
    return 1 - similarity.sum(dim=1)


# The weight paths are part of the cache key: a model is rebuilt when the
# files it was built from are not the ones installed now.
@functools.cache
def _lpips_model(net: str, device: str, backbone: Path) -> lpips.LPIPS:
    with warnings.catch_warnings():
        # torchvision's notice that lpips still passes ``pretrained=True``.
        warnings.filterwarnings("ignore", message=".*(pretrained|weights).*", category=UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", verbose=False)
    return model.eval().to(device)


@functools.cache
def _dists_model(device: str, backbone: Path, alpha_beta: Path) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(pretrained|weights).*", category=UserWarning)
        model = piq.DISTS(reduction="none")
    return model.eval().to(device)
