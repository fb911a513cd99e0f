"""Quality filters of the FFmpeg program: libvmaf (the reference VMAF) and xpsnr. Django-free.

The static FFmpeg of ``imageio-ffmpeg`` (``qa_platform.codec.ffmpeg``) runs as
a child process on the clips' 8-bit YUV 4:2:0 planes (the ones
``metrics.kernels.clip.ClipPair`` converts once, BT.601 limited range, so that
every YUV metric sees the same samples). Each filter writes its per-frame
values to a log file in a private temporary folder, which is parsed here.

How the frames reach FFmpeg: the distorted clip through the program's stdin,
the reference clip as a raw file written to the temporary folder before
FFmpeg starts. Two pipes (stdin plus a named pipe) would need a writer thread
per pipe, and FFmpeg reads its two inputs in its own order: a writer blocked on
one pipe while FFmpeg waits on the other deadlocks, and a FFmpeg that fails
early leaves a writer blocked in ``open()`` of a FIFO. With one pipe,
``subprocess.run`` feeds stdin while draining stdout and stderr, which cannot
deadlock; the file costs one clip of YUV on disk (24.6 MB for 250 frames at
256x256), is complete before FFmpeg opens it, and is deleted with the folder.

Versions: the ``imageio-ffmpeg`` wheel pins the FFmpeg program (FFmpeg
n9.0.2-17-g2a571b6068 in imageio-ffmpeg 0.8.1) and the libvmaf built into it;
libvmaf reports its version in its log, and :func:`libvmaf_vmaf` refuses a
libvmaf other than ``LIBVMAF_VERSION``, the one the registry stamps on results.
"""
import json
import re
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from metrics.spec import MetricUnavailableError
from qa_platform.codec import ffmpeg

# libvmaf's version as it reports it in its JSON log (a git commit of Netflix/vmaf),
# in the FFmpeg of imageio-ffmpeg 0.8.1. Stamped on every ``vmaf`` result.
LIBVMAF_VERSION = "86da14d"
# The VMAF model: built into libvmaf (no model file is read), selected by name.
VMAF_MODEL = "vmaf_v0.6.1"
# XPSNR of identical frames is infinite; values are capped here, like PSNR's 80 dB
# (above 80 dB the weighted error is below 6.5e-4 squared code values per sample).
XPSNR_CAP_DB = 80.0

YuvPlanes = tuple[np.ndarray, np.ndarray, np.ndarray]


class FilterMissingError(MetricUnavailableError):
    """The FFmpeg program is absent, or lacks the filter a metric needs: the metric is unavailable."""


def libvmaf_vmaf(distorted: YuvPlanes, reference: YuvPlanes, fps: Fraction | float, threads: int = 1) -> np.ndarray:
    """VMAF per frame by libvmaf with its built-in model vmaf_v0.6.1, float64 (T,), in [0, 100].

    ``distorted`` and ``reference``: Y uint8 (T, H, W), U and V uint8
    (T, ceil(H/2), ceil(W/2)) each (``qa_platform.codec.video.rgb_to_yuv420p``),
    of one shape. libvmaf reads the luma only (ADM2, VIF scales 0-3, motion2,
    integer features) and clips each frame's score to [0, 100] as the model
    says. ``threads``: libvmaf's worker threads (values do not depend on it).
    Raises ``ValueError`` for planes that do not match, ``FilterMissingError``
    when there is no FFmpeg program or it has no libvmaf, ``ffmpeg.FFmpegError``
    when FFmpeg fails, ``RuntimeError`` when libvmaf is not ``LIBVMAF_VERSION``
    or its log does not hold one score per frame.
    """
    graph = (f"[0:v][1:v]libvmaf=model=version={VMAF_MODEL}:n_threads={int(threads)}"
             f":log_fmt=json:log_path={{log}}")
    log = json.loads(_run_filter(graph, distorted, reference, fps))
    if log.get("version") != LIBVMAF_VERSION:
        raise RuntimeError(
            f"libvmaf reports version {log.get('version')!r}, the registry stamps {LIBVMAF_VERSION!r} on VMAF "
            "results: update metrics.kernels.lavfi.LIBVMAF_VERSION and the golden values with the new FFmpeg"
        )
    frames = sorted(log.get("frames", []), key=lambda frame: frame["frameNum"])
    scores = np.array([frame["metrics"]["vmaf"] for frame in frames], dtype=np.float64)
    if [frame["frameNum"] for frame in frames] != list(range(len(distorted[0]))):
        raise RuntimeError(f"libvmaf logged {len(scores)} frames, not the {len(distorted[0])} given")
    return np.clip(scores, 0.0, 100.0)


def xpsnr_planes(distorted: YuvPlanes, reference: YuvPlanes, fps: Fraction | float) -> np.ndarray:
    """XPSNR per frame and plane by FFmpeg's ``xpsnr`` filter, dB, float64 (T, 3): Y, U, V columns.

    Planes as :func:`libvmaf_vmaf`. The reference goes to the filter's first
    input, from which vf_xpsnr.c computes the perceptual weights (its
    ``org`` picture; Helmrich et al., ICASSP 2020, weight the error by the
    original's spatial and temporal activity). ``fps`` matters: below 32 fps
    the temporal activity is a first-order frame difference, from 32 fps a
    second-order one. Values are capped at ``XPSNR_CAP_DB`` (identical frames
    give infinity). As in FFmpeg, the first frame (two from 32 fps) measures
    its temporal activity against an all-zero picture, so its weights are
    small and its XPSNR high (+15 dB on the synthetic texture of the tests);
    those values are kept, as the reference implementation gives them.
    Errors as :func:`libvmaf_vmaf`.
    """
    text = _run_filter("[1:v][0:v]xpsnr=stats_file={log}", distorted, reference, fps)
    rows = re.findall(r"^n:\s*(\d+)\s+XPSNR y:\s*(\S+)\s+XPSNR u:\s*(\S+)\s+XPSNR v:\s*(\S+)", text, re.MULTILINE)
    if [int(row[0]) for row in rows] != list(range(1, len(distorted[0]) + 1)):
        raise RuntimeError(f"the xpsnr filter logged {len(rows)} frames, not the {len(distorted[0])} given")
    values = np.array([[float(value) for value in row[1:]] for row in rows], dtype=np.float64)
    return np.minimum(values, XPSNR_CAP_DB)


def _check_planes(distorted: YuvPlanes, reference: YuvPlanes) -> None:
    for name, planes in (("distorted", distorted), ("reference", reference)):
        if len(planes) != 3 or any(plane.dtype != np.uint8 or plane.ndim != 3 for plane in planes):
            raise ValueError(f"{name} must be three uint8 planes (T, h, w): Y, U, V")
    if [plane.shape for plane in distorted] != [plane.shape for plane in reference]:
        raise ValueError(f"distorted {[p.shape for p in distorted]} and reference {[p.shape for p in reference]} differ")
    frames, height, width = distorted[0].shape
    chroma = ((height + 1) // 2, (width + 1) // 2)
    if frames == 0 or distorted[1].shape[1:] != chroma or distorted[2].shape[1:] != chroma:
        raise ValueError(f"planes {[p.shape for p in distorted]} are not YUV 4:2:0 of at least one frame")


def _raw(planes: YuvPlanes) -> bytes:
    """Frames in FFmpeg's rawvideo yuv420p layout: Y, U, V of frame 0, then frame 1, ..."""
    frames = len(planes[0])
    return np.concatenate([plane.reshape(frames, -1) for plane in planes], axis=1).tobytes()


def _run_filter(graph: str, distorted: YuvPlanes, reference: YuvPlanes, fps: Fraction | float) -> str:
    """Run ``graph`` (its ``{log}`` the log file; input 0 the distorted clip, 1 the reference); return the log."""
    _check_planes(distorted, reference)
    height, width = distorted[0].shape[1:]
    rate = str(Fraction(fps).limit_denominator(1001))
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", rate, "-i"]
    with tempfile.TemporaryDirectory(prefix="faceqa-lavfi-") as folder:
        reference_path, log_path = Path(folder) / "reference.yuv", Path(folder) / "log"
        reference_path.write_bytes(_raw(reference))
        args = [*raw, "-", *raw, str(reference_path),
                "-lavfi", graph.format(log=_filter_path(log_path)), "-f", "null", "-"]
        try:
            ffmpeg.run(args, stdin=_raw(distorted))
        except ffmpeg.FFmpegError as exc:
            if "No such filter" in str(exc) or "imageio-ffmpeg has no FFmpeg" in str(exc):
                raise FilterMissingError(f"{exc}; the metric needs the FFmpeg program of imageio-ffmpeg "
                                         "(requirements.txt), with libvmaf and xpsnr") from exc
            raise
        return log_path.read_text()


def _filter_path(path: Path) -> str:
    """``path`` as a filter option value in a filter graph: escaped for the option (``\\ ' :``), then
    for the graph (``\\ ' [ ] , ;``), FFmpeg's two levels of quoting (ffmpeg-filters, "Notes on filtergraph escaping")."""
    value = re.sub(r"([\\':])", r"\\\1", str(path))
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)
