"""Our metrics against reference implementations, on real faces, with stated tolerances.

- PSNR (RGB, YUV 6:1:1) against FFmpeg's ``psnr`` filter: within 0.01 dB. Our
  PSNRs add 1e-8 to the MSE of [0, 1] samples (piq's convention, an 80 dB
  cap), which lowers a 50 dB PSNR by 0.004 dB; FFmpeg adds nothing.
- SSIM against FFmpeg's ``ssim`` filter: within 0.03, same ranking. FFmpeg
  computes SSIM on 8x8 blocks with a stride of 4 (x264's form), ours on an
  11x11 Gaussian window (Wang et al. 2004), so the values differ by design.
- VMAF's elementary features (vmaf-torch) against FFmpeg's ``vif`` and
  ``vmafmotion`` filters, both ported from libvmaf: motion within 0.006
  (FFmpeg prints it with two decimals); VIF per scale within 0.035 and in the
  same order (FFmpeg's filter is a 2017 port of libvmaf's float VIF; the gap
  grows with the distortion, 0.03 at scale 0 for blur 3 px + noise 8). The
  VMAF score itself is compared with libvmaf (the FFmpeg program of
  imageio-ffmpeg) in ``test_vmaf_libvmaf.py``, XPSNR with a port of FFmpeg's
  filter in ``test_kernels_lavfi.py``.
- LPIPS and DISTS split into features and comparison (``metrics.features``)
  against the lpips package's and piq's own forward pass, within 1e-5. Their
  ImageNet weights are not on this machine, so these run on random weights:
  they check our plumbing, not the values the metric gives with real weights.
"""
import numpy as np
import pytest
import torch

from conftest import FACES_DIR
from metrics import benchmark, compute
from metrics.kernels import clip, full_reference
from metrics.tests.ffmpeg_filters import filter_metadata
from qa_platform.codec.video import rgb_to_yuv420p

# Runs FFmpeg's filters as a program: `make test`, not `make test-unit`.
pytestmark = pytest.mark.slow

CPU = torch.device("cpu")
# Blur sigma (px) and noise (code values): mild to strong coding loss.
DEGRADATIONS = [(0.5, 1.0), (0.8, 0.5), (1.5, 3.0), (3.0, 8.0)]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """Ten 256x256 frames of a real talking head; skipped without ../shared/faces."""
    if not (FACES_DIR / "lp_d12.mp4").is_file():
        pytest.skip("../shared/faces is absent")
    return benchmark.load_clip(FACES_DIR / "lp_d12.mp4", 10, 256)


def tensors(frames: np.ndarray) -> torch.Tensor:
    return compute.frames_to_tensor(frames, CPU)


@pytest.mark.parametrize("sigma, noise", DEGRADATIONS)
def test_psnr_rgb_equals_ffmpeg_psnr_on_gbrp(reference, sigma, noise):
    distorted = benchmark.degrade(reference, sigma, noise)
    ffmpeg = [frame["lavfi.psnr.psnr_avg"] for frame in filter_metadata("psnr", distorted, reference, pix_fmt="gbrp")]
    ours = full_reference.psnr_rgb(tensors(distorted), tensors(reference)).numpy()
    np.testing.assert_allclose(ours, ffmpeg, atol=0.01)


@pytest.mark.parametrize("sigma, noise", DEGRADATIONS)
def test_psnr_yuv_equals_ffmpeg_psnr_on_yuv420p(reference, sigma, noise):
    distorted = benchmark.degrade(reference, sigma, noise)
    frames = filter_metadata("psnr", distorted, reference, pix_fmt="yuv420p")
    ffmpeg = [(6 * f["lavfi.psnr.psnr.y"] + f["lavfi.psnr.psnr.u"] + f["lavfi.psnr.psnr.v"]) / 8 for f in frames]
    ours = clip.psnr_yuv(clip.ClipPair(distorted, reference, CPU))
    np.testing.assert_allclose(ours, ffmpeg, atol=0.01)


def test_ssim_is_close_to_ffmpeg_ssim_and_ranks_alike(reference):
    ours, ffmpeg = [], []
    for sigma, noise in DEGRADATIONS:
        distorted = benchmark.degrade(reference, sigma, noise)
        ours.append(full_reference.ssim(tensors(distorted), tensors(reference)).numpy())
        ffmpeg.append([f["lavfi.ssim.All"] for f in filter_metadata("ssim", distorted, reference, pix_fmt="gbrp")])
    np.testing.assert_allclose(np.array(ours), np.array(ffmpeg), atol=0.03)
    assert np.argsort(np.mean(ours, axis=1)).tolist() == np.argsort(np.mean(ffmpeg, axis=1)).tolist()


def luma(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb_to_yuv420p(frames)[0]).float()[:, None]


def test_vmaf_vif_features_are_close_to_ffmpeg_vif_and_rank_alike(reference):
    from vmaf_torch import VMAF

    ours, ffmpeg = [], []
    for sigma, noise in DEGRADATIONS:
        distorted = benchmark.degrade(reference, sigma, noise)
        ours.append(VMAF().compute_vif_features(luma(reference), luma(distorted)).numpy())
        # Gray frames carrying our limited-range Y planes, so that both see the same luma.
        as_rgb = [np.repeat(rgb_to_yuv420p(frames)[0][..., None], 3, axis=3) for frames in (distorted, reference)]
        frames = filter_metadata("vif", *as_rgb, pix_fmt="gray")
        ffmpeg.append([[f[f"lavfi.vif.scale.{scale}"] for scale in range(4)] for f in frames])
    ours, ffmpeg = np.array(ours), np.array(ffmpeg)  # (degradation, frame, scale)
    np.testing.assert_allclose(ours, ffmpeg, atol=0.035)
    for scale in range(4):
        assert np.argsort(ours[..., scale].mean(axis=1)).tolist() == np.argsort(ffmpeg[..., scale].mean(axis=1)).tolist()


def test_vmaf_motion_equals_ffmpeg_vmafmotion(reference):
    from vmaf_torch import VMAF

    ours = VMAF().compute_motion(luma(reference)).reshape(-1).numpy()
    as_rgb = np.repeat(rgb_to_yuv420p(reference)[0][..., None], 3, axis=3)
    ffmpeg = [f["lavfi.vmafmotion.score"] for f in filter_metadata("vmafmotion", as_rgb, pix_fmt="gray")]
    np.testing.assert_allclose(ours, ffmpeg, atol=0.006)
    assert max(ffmpeg) > 0.5  # the clip moves: the comparison is not of zeros


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_split_equals_the_lpips_package_on_random_weights_plumbing_only(net, monkeypatch):
    import lpips

    torch.manual_seed(0)
    model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()
    monkeypatch.setattr(full_reference, "lpips_model", lambda name, device: model)
    distorted, reference = (torch.rand(2, 3, 64, 64) for _ in range(2))
    with torch.no_grad():
        expected = model(distorted, reference, normalize=True).reshape(-1)
        torch.testing.assert_close(full_reference.lpips_distance(net, distorted, reference), expected,
                                   rtol=1e-5, atol=1e-6)
        spatial = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, spatial=True, verbose=False).eval()
        spatial.load_state_dict(model.state_dict())
        mask = torch.zeros(2, 1, 64, 64)
        mask[:, :, 16:48, 8:40] = 1
        expected_map = spatial(distorted, reference, normalize=True)
        expected_masked = (expected_map * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))
        torch.testing.assert_close(full_reference.lpips_distance(net, distorted, reference, mask=mask),
                                   expected_masked, rtol=1e-5, atol=1e-6)


def test_dists_split_equals_piq_dists_on_random_weights_plumbing_only(stand_in_weights, no_downloads):
    distorted, reference = (torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
                            for seed in (1, 2))
    paths = full_reference.require_weights(["vgg16", "dists"])
    model = full_reference._dists_model("cpu", paths["vgg16"], paths["dists"])  # the one dists() uses
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.model.parameters():
            parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
        model.weights = [0.1 + torch.rand(w.shape, generator=generator) for w in model.weights]
        torch.testing.assert_close(full_reference.dists(distorted, reference), model(distorted, reference),
                                   rtol=1e-5, atol=1e-6)
    full_reference._dists_model.cache_clear()  # the randomised model must not serve other tests
