"""The FFmpeg program's quality filters: XPSNR (xpsnr) and the reference VMAF (libvmaf), on synthetic YUV planes.

XPSNR is checked against ``xpsnr_luma`` below, an independent NumPy port of
the luma path of FFmpeg's libavfilter/vf_xpsnr.c (8-bit, up to 2048x1152:
block size, spatial high-pass and temporal activity of the reference, the
in-line minimum smoothing of pictures up to 640x480, the picture-size scale
``a_pic``). Measured: equal to FFmpeg's 4-decimal stats file at 170x126,
256x256 (25 and 50 fps) and 64x64.
"""
import math
import tempfile

import cv2
import numpy as np
import pytest

from metrics.kernels import lavfi
from metrics.spec import MetricUnavailableError
from qa_platform.codec import ffmpeg


def drifting_luma(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture moving 3 px per frame: uint8 (T, H, W) in [16, 235]."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (height, width + 3 * frames)), (0, 0), 3)
    return np.stack([texture[:, 3 * t:3 * t + width] for t in range(frames)]).clip(16, 235).astype(np.uint8)


def with_grey_chroma(luma: np.ndarray) -> lavfi.YuvPlanes:
    frames, height, width = luma.shape
    chroma = np.full((frames, (height + 1) // 2, (width + 1) // 2), 128, np.uint8)
    return luma, chroma, chroma.copy()


def noisy_luma(luma: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, luma.shape)
    return (luma + noise).round().clip(0, 255).astype(np.uint8)


def xpsnr_luma(distorted: np.ndarray, reference: np.ndarray, fps: float) -> np.ndarray:
    """Luma XPSNR per frame, dB, as vf_xpsnr.c computes it for 8-bit pictures up to 2048x1152."""
    frames, height, width = reference.shape
    ratio = width * height / (3840.0 * 2160.0)  # of UHD
    block = 4 * int(32.0 * math.sqrt(ratio) + 0.5)
    a_pic = math.sqrt(16.0 * (1 << (2 * 8 - 9)) / math.sqrt(max(1e-5, ratio)))
    blocks_per_row = (width + block - 1) // block
    previous = [np.zeros((height, width), np.int64)] * 2  # FFmpeg starts from zero pictures
    values = []
    for index in range(frames):
        o, r = reference[index].astype(np.int64), distorted[index].astype(np.int64)
        high = np.zeros_like(o)  # |12 o - 2 (4-neighbours) - (diagonals)|, zero on the picture border
        high[1:-1, 1:-1] = np.abs(12 * o[1:-1, 1:-1] - 2 * (o[1:-1, :-2] + o[1:-1, 2:] + o[:-2, 1:-1] + o[2:, 1:-1])
                                  - (o[:-2, :-2] + o[:-2, 2:] + o[2:, :-2] + o[2:, 2:]))
        change = o - previous[0] if int(fps) < 32 else o - 2 * previous[0] + previous[1]
        temporal = 2 * np.abs(change)
        sse, weights = [], []
        for y in range(0, height, block):
            for x in range(0, width, block):
                h, w = min(block, height - y), min(block, width - x)
                sse.append(float(((o[y:y + h, x:x + w] - r[y:y + h, x:x + w]) ** 2).sum()))
                x0, y0 = int(x == 0), int(y == 0)
                x1, y1 = w - int(x + w >= width), h - int(y + h >= height)
                activity = high[y + y0:y + y1, x + x0:x + x1].sum() / ((x1 - x0) * (y1 - y0))
                activity += temporal[y:y + h, x:x + w].sum() / (w * h)
                weights.append(1.0 / max(activity, 4.0))
                if width * height <= 640 * 480:  # the minimum smoothing, in raster order as in C
                    i = len(weights) - 1
                    if x == 0:
                        floor = weights[i - 2] if i > 1 else 0
                    else:
                        floor = max(weights[i - 2], weights[i]) if x > block else weights[i]
                    if i > blocks_per_row:
                        floor = max(floor, weights[i - 1 - blocks_per_row])
                    if i > 0 and weights[i - 1] > floor:
                        weights[i - 1] = floor
                    if x + block >= width and y + block >= height and i > blocks_per_row:
                        weights[i] = min(weights[i], max(weights[i - 1], weights[i - blocks_per_row]))
        weighted = sum(s * w for s, w in zip(sse, weights))
        wsse = int(weighted * a_pic + 0.5) if weighted > 0 else 0
        values.append(math.inf if wsse == 0 else 10 * math.log10(width * height * 255 ** 2 / wsse))
        previous = [o, previous[0]]
    return np.array(values)


class TestXpsnr:
    def test_identical_clips_reach_the_cap(self):
        planes = with_grey_chroma(drifting_luma(3, 64, 96))
        np.testing.assert_array_equal(lavfi.xpsnr_planes(planes, planes, 25), lavfi.XPSNR_CAP_DB)

    def test_falls_as_noise_grows(self):
        reference = drifting_luma(4, 96, 128)
        means = [lavfi.xpsnr_planes(with_grey_chroma(noisy_luma(reference, sigma)), with_grey_chroma(reference),
                                    25)[:, 0].mean() for sigma in (1, 3, 9)]
        assert lavfi.XPSNR_CAP_DB > means[0] > means[1] > means[2] > 0

    @pytest.mark.parametrize(("height", "width", "fps"), [(126, 170, 25), (256, 256, 25), (256, 256, 50)])
    def test_equals_an_independent_port_of_vf_xpsnr(self, height, width, fps):
        # 170x126: 8-pixel blocks with partial ones at the edges; 256x256: 12-pixel blocks;
        # 50 fps: the second-order temporal difference.
        reference = drifting_luma(4, height, width)
        distorted = noisy_luma(reference, 4)
        ours = lavfi.xpsnr_planes(with_grey_chroma(distorted), with_grey_chroma(reference), fps)
        assert ours.shape == (4, 3)
        np.testing.assert_allclose(ours[:, 0], xpsnr_luma(distorted, reference, fps), atol=6e-5)  # 4 decimals

    def test_weights_come_from_the_reference(self):
        reference, distorted = drifting_luma(3, 64, 64), noisy_luma(drifting_luma(3, 64, 64), 4)
        swapped = lavfi.xpsnr_planes(with_grey_chroma(reference), with_grey_chroma(distorted), 25)[:, 0]
        assert not np.allclose(swapped, xpsnr_luma(distorted, reference, 25), atol=0.01)


class TestLibvmaf:
    def test_scores_fall_with_noise_one_per_frame(self):
        reference = drifting_luma(5, 96, 128)
        scores = [lavfi.libvmaf_vmaf(with_grey_chroma(noisy_luma(reference, sigma)), with_grey_chroma(reference), 25)
                  for sigma in (0, 4, 16)]
        assert all(score.shape == (5,) and score.dtype == np.float64 for score in scores)
        assert 100 >= scores[0].mean() > scores[1].mean() > scores[2].mean() >= 0

    def test_a_libvmaf_of_another_version_is_refused(self, monkeypatch):
        monkeypatch.setattr(lavfi, "LIBVMAF_VERSION", "0000000")
        planes = with_grey_chroma(drifting_luma(2, 32, 32))
        with pytest.raises(RuntimeError, match="update metrics.kernels.lavfi.LIBVMAF_VERSION"):
            lavfi.libvmaf_vmaf(planes, planes, 25)

    def test_a_temporary_folder_with_filter_graph_characters_works(self, tmp_path, monkeypatch):
        folder = tmp_path / "a:b,c'd[e]"
        folder.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
        planes = with_grey_chroma(drifting_luma(2, 32, 32))
        assert lavfi.libvmaf_vmaf(planes, planes, 25).shape == (2,)


class TestErrors:
    def test_planes_that_differ_are_refused(self):
        with pytest.raises(ValueError, match="differ"):
            lavfi.xpsnr_planes(with_grey_chroma(drifting_luma(2, 32, 32)), with_grey_chroma(drifting_luma(3, 32, 32)), 25)

    def test_without_the_ffmpeg_program_the_metric_is_unavailable(self, monkeypatch):
        def absent():
            raise ffmpeg.FFmpegError("imageio-ffmpeg has no FFmpeg program here (test); reinstall requirements.txt")

        monkeypatch.setattr(ffmpeg, "executable", absent)
        planes = with_grey_chroma(drifting_luma(2, 32, 32))
        with pytest.raises(MetricUnavailableError, match="imageio-ffmpeg"):
            lavfi.libvmaf_vmaf(planes, planes, 25)

    def test_a_filter_this_ffmpeg_lacks_makes_the_metric_unavailable(self):
        planes = with_grey_chroma(drifting_luma(2, 32, 32))
        with pytest.raises(lavfi.FilterMissingError, match="No such filter"):
            lavfi._run_filter("[0:v][1:v]nosuchquality=log={log}", planes, planes, 25)

    def test_other_ffmpeg_failures_are_errors_with_its_message(self):
        planes = with_grey_chroma(drifting_luma(2, 32, 32))
        with pytest.raises(ffmpeg.FFmpegError, match="FFmpeg failed"):
            lavfi._run_filter("[0:v][1:v]xpsnr=stats_file={log}:nosuchoption=1", planes, planes, 25)
