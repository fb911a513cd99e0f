"""Registry entries of the full-reference metrics (``metrics.kernels.full_reference``). Django-free.

Listed in the order tables show them; ``metrics.registry`` registers them.
"""
from metrics.spec import FULL_REFERENCE, MetricSpec, package_version

_PIQ = f"piq-{package_version('piq')}"
_FR = "metrics.kernels.full_reference"

SPECS = (
    MetricSpec(
        name="psnr_rgb", label="PSNR (RGB)", unit="dB", value_range=(0.0, 80.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="PSNR = 10 log10(1 / MSE) for samples in [0, 1], MSE over the R, G and B samples "
               "of the frame; piq.psnr, whose MSE + 1e-8 caps identical frames at 80 dB",
        kernel_path=f"{_FR}:psnr_rgb",
    ),
    MetricSpec(
        name="psnr_y", label="PSNR (Y)", unit="dB", value_range=(0.0, 80.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="PSNR of full-range luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 weights); "
               "piq.psnr(convert_to_greyscale=True), capped at 80 dB",
        kernel_path=f"{_FR}:psnr_y",
    ),
    MetricSpec(
        name="ssim", label="SSIM", unit="", value_range=(0.0, 1.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="Wang et al., IEEE TIP 13(4), 2004: 11x11 Gaussian window, sigma 1.5, "
               "K1 0.01, K2 0.03, valid region, the authors' downsampling by round(min(H, W) / 256); "
               "mean of the R, G, B SSIMs (piq.ssim)",
        kernel_path=f"{_FR}:ssim",
    ),
    MetricSpec(
        name="ms_ssim", label="MS-SSIM", unit="", value_range=(0.0, 1.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="Wang, Simoncelli, Bovik, Asilomar 2003: 5 scales, weights 0.0448, 0.2856, "
               "0.3001, 0.2363, 0.1333, 2x2 average pooling; frames >= 161x161; mean over R, G, B "
               "(piq.multi_scale_ssim)",
        kernel_path=f"{_FR}:ms_ssim",
    ),
    MetricSpec(
        name="lpips_alex", label="LPIPS (AlexNet)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FULL_REFERENCE, device="gpu",
        version=f"1/lpips-{package_version('lpips')}/alex-v0.1",
        source="Zhang et al., CVPR 2018, eq. (1): AlexNet features, linear layers v0.1 (shipped in "
               "the lpips package); the official lpips package. Practical range [0, 1]",
        kernel_path=f"{_FR}:lpips_alex", weights=("alexnet",),
    ),
    MetricSpec(
        name="dists", label="DISTS", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FULL_REFERENCE, device="gpu", version=f"1/{_PIQ}",
        source="Ding et al., IEEE TPAMI 44(5), 2022: VGG16 structure and texture "
               "similarity with learned alpha, beta; piq.DISTS (frames above 256 px resized to 256)",
        kernel_path=f"{_FR}:dists", weights=("vgg16", "dists"),
    ),
)
