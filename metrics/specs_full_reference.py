"""Registry entries of the full-reference metrics. Django-free.

Frame metrics (``metrics.kernels.full_reference``) and the whole-clip ones
(``metrics.kernels.clip``: YUV PSNR, XPSNR, VMAF, temporal measures), listed in
the order tables show them; ``metrics.registry`` registers them.

VMAF has two entries, one implementation each, so that a stored value always
says which made it (its name and version): ``vmaf`` is libvmaf, Netflix's
reference implementation, on the ``cpu`` stage; ``vmaf_torch`` is vmaf-torch,
a PyTorch port, on the ``gpu`` stage (CUDA where the worker has it). A study
compares PVSs under one name, so one worker's choice of device never mixes the
two implementations in one column. ``metrics/tests/test_vmaf_libvmaf.py``
measures how far apart they are on real face clips.
"""
from metrics.kernels.lavfi import LIBVMAF_VERSION, VMAF_MODEL
from metrics.spec import CLIP, FULL_REFERENCE, MetricSpec, package_version

_PIQ = f"piq-{package_version('piq')}"
_LPIPS = f"lpips-{package_version('lpips')}"
_FR = "metrics.kernels.full_reference"
_CLIP = "metrics.kernels.clip"
_FFMPEG = f"imageio-ffmpeg-{package_version('imageio-ffmpeg')}"  # pins the FFmpeg program (n9.0.2 in 0.8.1)
_YUV = "BT.601 limited-range YUV 4:2:0 from the RGB frames by FFmpeg's swscale (its default, as the anchors' encoders get them)"

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
        name="psnr_yuv", label="PSNR (YUV 6:1:1)", unit="dB", value_range=(0.0, 80.0),
        higher_is_better=True, kind=CLIP, device="cpu", version="1/swscale-bt601",
        source="(6 PSNR_Y + PSNR_U + PSNR_V) / 8 per frame, as JVET common test conditions report "
               f"PSNR-YUV; each plane's PSNR with peak 255 on the {_YUV}; capped at 80 dB like psnr_rgb",
        kernel_path=f"{_CLIP}:psnr_yuv",
    ),
    MetricSpec(
        name="xpsnr_y", label="XPSNR (Y)", unit="dB", value_range=(0.0, 80.0),
        higher_is_better=True, kind=CLIP, device="cpu", version=f"1/{_FFMPEG}",
        source="Helmrich et al., \"XPSNR: A Low-Complexity Extension of the Perceptually Weighted PSNR "
               "for High-Resolution Video Quality Assessment\", ICASSP 2020: block SSE weighted by the "
               "reference's spatial (high-pass) and temporal activity (as FFmpeg computes it: a "
               "first-order frame difference below 32 fps, second-order from 32 fps); FFmpeg's xpsnr "
               "filter (Fraunhofer HHI), its luma value per frame (FFmpeg reports Y, U, V and their "
               f"minimum, no weighted combination); peak 255 on the {_YUV}; capped at 80 dB like psnr_rgb",
        kernel_path=f"{_CLIP}:xpsnr_y",
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
        name="fsim", label="FSIMc", unit="", value_range=(0.0, 1.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="Zhang, Zhang, Mou, Zhang, IEEE TIP 20(8), 2011: phase congruency (4 scales, 4 "
               "orientations) and gradient magnitude, with chrominance (FSIMc); piq.fsim, after the "
               "authors' MATLAB code",
        kernel_path=f"{_FR}:fsim",
    ),
    MetricSpec(
        name="gmsd", label="GMSD", unit="", value_range=(0.0, 0.5),
        higher_is_better=False, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="Xue, Zhang, Mou, Bovik, IEEE TIP 23(2), 2014: standard deviation of the gradient "
               "magnitude similarity map (Prewitt, c = 170/255^2) of the YIQ luma after 2x2 "
               "average downsampling; piq.gmsd. At most 0.5",
        kernel_path=f"{_FR}:gmsd",
    ),
    MetricSpec(
        name="vif", label="VIF (pixel)", unit="", value_range=(0.0, 1.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="Sheikh & Bovik, IEEE TIP 15(2), 2006, pixel-domain form (4 scales, sigma_n^2 = 2) "
               "of the authors' code; piq.vif_p on luma. 1 for identical frames, above 1 for "
               "contrast enhancement",
        kernel_path=f"{_FR}:vif",
    ),
    MetricSpec(
        name="lpips_alex", label="LPIPS (AlexNet)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FULL_REFERENCE, device="gpu",
        version=f"1/{_LPIPS}/alex-v0.1",
        source="Zhang et al., CVPR 2018, eq. (1): AlexNet features, linear layers v0.1 (shipped in "
               "the lpips package); the official lpips package. Practical range [0, 1]",
        kernel_path=f"{_FR}:lpips_alex", weights=("alexnet",),
    ),
    MetricSpec(
        name="lpips_vgg", label="LPIPS (VGG)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FULL_REFERENCE, device="gpu", version=f"1/{_LPIPS}/vgg-v0.1",
        source="Zhang et al., CVPR 2018, eq. (1): VGG16 features, linear layers v0.1 (shipped in "
               "the lpips package); the official lpips package. Practical range [0, 1]",
        kernel_path=f"{_FR}:lpips_vgg", weights=("vgg16",),
    ),
    MetricSpec(
        name="dists", label="DISTS", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FULL_REFERENCE, device="gpu", version=f"1/{_PIQ}",
        source="Ding et al., IEEE TPAMI 44(5), 2022: VGG16 structure and texture "
               "similarity with learned alpha, beta; piq.DISTS (frames above 256 px resized to 256)",
        kernel_path=f"{_FR}:dists", weights=("vgg16", "dists"),
    ),
    MetricSpec(
        name="vmaf", label="VMAF", unit="", value_range=(0.0, 100.0),
        higher_is_better=True, kind=CLIP, device="cpu",
        version=f"2/libvmaf-{LIBVMAF_VERSION}/{_FFMPEG}/{VMAF_MODEL}",
        source="Li et al., Netflix tech blog 2016; libvmaf, Netflix's reference implementation (the "
               "libvmaf filter of the FFmpeg program in imageio-ffmpeg), with its built-in model "
               "vmaf_v0.6.1 (ADM2, VIF scales 0-3, motion2, integer features, SVM); per-frame scores "
               f"clipped to [0, 100]; luma of the {_YUV}",
        kernel_path=f"{_CLIP}:vmaf",
    ),
    MetricSpec(
        name="vmaf_torch", label="VMAF (vmaf-torch)", unit="", value_range=(0.0, 100.0),
        higher_is_better=True, kind=CLIP, device="gpu",
        version=f"1/vmaf-torch-{package_version('vmaf-torch')}/{VMAF_MODEL}",
        source="VMAF vmaf_v0.6.1 as vmaf_torch computes it: a float PyTorch port of libvmaf (SVM of "
               "vmaf_v0.6.1.json embedded), for GPU workers; its authors report it within 0.03 of "
               "libvmaf on the Netflix public dataset, and metrics/tests/test_vmaf_libvmaf.py measures "
               f"it against libvmaf (the vmaf metric) on x265-coded face clips; luma of the {_YUV}",
        kernel_path=f"{_CLIP}:vmaf_torch",
    ),
    MetricSpec(
        name="tdiff", label="Temporal difference error", unit="code values", value_range=(0.0, 30.0),
        higher_is_better=False, kind=CLIP, device="cpu", version="1",
        source="RMS over pixels of (D_t - D_t-1) - (R_t - R_t-1), the error of the frame-to-frame "
               f"change, on 8-bit luma of the {_YUV}; frame 0 has no value. Catches flicker, "
               "jitter and frozen motion that frame metrics miss. Practical range [0, 30]",
        kernel_path=f"{_CLIP}:temporal_difference",
    ),
    MetricSpec(
        name="tof", label="tOF (temporal flow error)", unit="px", value_range=(0.0, 5.0),
        higher_is_better=False, kind=CLIP, device="cpu", version=f"1/opencv-{package_version('opencv-python-headless')}",
        source="tOF of Chu et al., ACM TOG 39(4), 2020 (TecoGAN), end-point form: mean over pixels of "
               "|OF(R_t-1, R_t) - OF(D_t-1, D_t)|, OpenCV Farneback flow on grey frames with TecoGAN's "
               "parameters; frame 0 has no value. Practical range [0, 5] px",
        kernel_path=f"{_CLIP}:temporal_flow_error",
    ),
)
