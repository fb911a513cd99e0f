"""Metrics that need whole clips: YUV 4:2:0 PSNR, VMAF, XPSNR, temporal measures. Django-free.

Kernel contract: ``kernel(clips)`` with a ``ClipPair``; returns float64 (T,),
one value per frame, NaN on frames without a value (the first frame of a
temporal measure). The YUV 4:2:0 planes of both clips are converted once per
``ClipPair`` and shared by every kernel that reads them. The reference side
depends on the SRC alone: when the pair names the SRC's frames
(``reference_key``), its planes, luma differences (tdiff) and optical flow
(tOF) are kept across the PVSs of the SRC (``metrics.features.reference_work``).
VMAF and XPSNR cannot reuse any reference-side work: FFmpeg's libvmaf and
xpsnr filters take the two clips and compute their features (VMAF's on both
sides, XPSNR's activity weights) inside the filter, with no way to pass them in.
"""
import functools
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import cv2
import numpy as np
import torch

from metrics import features
from metrics.kernels import lavfi
from qa_platform.codec.video import check_frames, rgb_to_yuv420p

# VMAF runs on chunks of this many frames (plus one neighbour on each side for
# the motion feature), so that memory does not grow with the clip.
VMAF_CHUNK_FRAMES = 32
# OpenCV Farneback parameters of TecoGAN's tOF (Chu et al., ACM TOG 39(4), 2020):
# pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, poly_sigma 1.2.
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)


@dataclass
class ClipPair:
    """A PVS and its SRC: uint8 (T, H, W, 3) RGB each, the torch device for tensor
    work and the frame rate (frames per second; XPSNR's temporal activity
    depends on it; 25 by default, the GFVC test format's rate).
    ``reference_key`` names the SRC's frames so that reference-side work is
    kept across its PVSs (``None``: nothing is kept)."""

    distorted: np.ndarray
    reference: np.ndarray
    device: torch.device
    fps: Fraction | float = 25
    reference_key: Hashable | None = None

    def __post_init__(self):
        check_frames(self.distorted)
        check_frames(self.reference)
        if self.distorted.shape != self.reference.shape:
            raise ValueError(f"distorted {self.distorted.shape} and reference {self.reference.shape} differ")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, not {self.fps}")

    @property
    def frame_count(self) -> int:
        return len(self.reference)

    @cached_property
    def distorted_yuv(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Y, U, V uint8 planes (``qa_platform.codec.video.rgb_to_yuv420p``)."""
        return rgb_to_yuv420p(self.distorted)

    @cached_property
    def reference_yuv(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.reference_work("yuv420p", lambda: rgb_to_yuv420p(self.reference))

    def reference_work(self, name: str, compute: Callable[[], object]):
        """``compute()`` on the reference alone, kept for the SRC's later PVSs when
        ``reference_key`` is set (``metrics.features.reference_work``; ``name`` says what and how)."""
        key = None if self.reference_key is None else (self.reference_key, self.reference.shape)
        return features.reference_work(name, key, compute)


def _plane_psnr(distorted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """PSNR per frame of uint8 planes (T, h, w), peak 255: 10 log10(1 / (MSE + 1e-8)) on [0, 1] samples."""
    error = (distorted.astype(np.float64) - reference.astype(np.float64)) / 255.0
    return 10 * np.log10(1.0 / ((error ** 2).mean(axis=(1, 2)) + 1e-8))


def psnr_yuv(clips: ClipPair) -> np.ndarray:
    """PSNR-YUV as JVET reports it, (6 PSNR_Y + PSNR_U + PSNR_V) / 8, dB, per frame,
    on the BT.601 limited-range 4:2:0 planes; at most 80 dB."""
    y, u, v = (_plane_psnr(d, r) for d, r in zip(clips.distorted_yuv, clips.reference_yuv))
    return (6 * y + u + v) / 8


def vmaf(clips: ClipPair) -> np.ndarray:
    """VMAF v0.6.1 per frame by libvmaf, the reference implementation, float64 (T,) in [0, 100].

    libvmaf in the FFmpeg program of imageio-ffmpeg (``metrics.kernels.lavfi``),
    on the BT.601 limited-range YUV 4:2:0 planes (it reads the luma), with as
    many threads as torch uses here. Always on the CPU, whatever
    ``clips.device``. Raises ``lavfi.FilterMissingError`` (the metric is then
    unavailable) without FFmpeg or libvmaf, ``FFmpegError`` when it fails.
    """
    return lavfi.libvmaf_vmaf(clips.distorted_yuv, clips.reference_yuv, clips.fps,
                              threads=torch.get_num_threads())


def xpsnr_y(clips: ClipPair) -> np.ndarray:
    """Luma XPSNR per frame (Helmrich et al., ICASSP 2020), dB, float64 (T,), at most 80 dB.

    FFmpeg's ``xpsnr`` filter on the BT.601 limited-range YUV 4:2:0 planes at
    ``clips.fps``; the weights come from the reference's spatial and temporal
    activity. Errors as :func:`vmaf`.
    """
    return lavfi.xpsnr_planes(clips.distorted_yuv, clips.reference_yuv, clips.fps)[:, 0]


def vmaf_torch(clips: ClipPair) -> np.ndarray:
    """VMAF v0.6.1 per frame by vmaf-torch, on ``clips.device`` (CUDA on a gpu worker), float64 (T,).

    vmaf-torch: ADM, VIF at 4 scales and motion2 on luma, in float, the SVM of
    Netflix's vmaf_v0.6.1.json embedded; scores clipped to [0, 100] as libvmaf
    does. Luma is the BT.601 limited-range Y, the same samples :func:`vmaf` gets.
    """
    model = _vmaf_model(str(clips.device))
    reference, distorted = (
        torch.from_numpy(planes[0]).to(clips.device).float()[:, None]
        for planes in (clips.reference_yuv, clips.distorted_yuv)
    )
    scores = []
    with torch.no_grad():
        for start in range(0, clips.frame_count, VMAF_CHUNK_FRAMES):
            stop = min(start + VMAF_CHUNK_FRAMES, clips.frame_count)
            # One frame either side: motion2 of a frame looks at both neighbours.
            low, high = max(start - 1, 0), min(stop + 1, clips.frame_count)
            chunk = model(reference[low:high], distorted[low:high]).reshape(-1)
            scores.append(chunk[start - low:stop - low])
    return torch.cat(scores).double().cpu().numpy()


@functools.cache
def _vmaf_model(device: str) -> torch.nn.Module:
    from vmaf_torch import VMAF

    return VMAF(temporal_pooling=False, enable_motion=True, clip_score=True).eval().to(device)


def temporal_difference(clips: ClipPair) -> np.ndarray:
    """Temporal-gradient error per frame t >= 1: the RMS, over pixels, of
    (D_t - D_{t-1}) - (R_t - R_{t-1}) on 8-bit luma Y (BT.601 limited range),
    code values; NaN at frame 0. 0 when the PVS changes from frame to frame
    exactly as the SRC does; flicker, jitter and frozen motion raise it."""
    values = np.full(clips.frame_count, np.nan)
    reference = clips.reference_work("luma-diff-int16", lambda: _luma_change(clips.reference_yuv[0]))
    # Exact in integers: |change| <= 510, its square fits int32, the mean is float64.
    change = (_luma_change(clips.distorted_yuv[0]) - reference).astype(np.int32)
    values[1:] = np.sqrt((change ** 2).mean(axis=(1, 2)))
    return values


def _luma_change(luma: np.ndarray) -> np.ndarray:
    """Frame-to-frame change of uint8 luma (T, H, W): int16 (T - 1, H, W), code values."""
    return np.diff(luma.astype(np.int16), axis=0)


def temporal_flow_error(clips: ClipPair) -> np.ndarray:
    """tOF (Chu et al., ACM TOG 39(4), 2020), end-point form: per frame t >= 1,
    the mean over pixels of |OF(R_{t-1}, R_t) - OF(D_{t-1}, D_t)|_2, pixels,
    with OpenCV's Farneback flow on grey frames (TecoGAN's parameters); NaN at frame 0.
    The reference's flow is computed once per SRC when ``clips.reference_key`` is set."""
    values = np.full(clips.frame_count, np.nan)
    height, width = clips.reference.shape[1:3]
    flows_r = clips.reference_work(
        "farneback-flow", lambda: np.array(list(_flows(clips.reference)), np.float32).reshape(-1, height, width, 2))
    for index, (flow_d, flow_r) in enumerate(zip(_flows(clips.distorted), flows_r), start=1):
        values[index] = float(np.linalg.norm(flow_r - flow_d, axis=2).mean())
    return values


def _flows(frames: np.ndarray) -> Iterator[np.ndarray]:
    """Farneback flow (``FARNEBACK``) from each grey frame to the next: float32 (H, W, 2) each, pixels (dx, dy)."""
    greys = (cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames)
    previous = next(greys)
    for current in greys:
        yield cv2.calcOpticalFlowFarneback(previous, current, None, *FARNEBACK)
        previous = current
