"""The codec benchmark behind ``manage.py benchmark_codecs``: speed and rate of every codec. Django-free.

For each codec and each of its default rate points, every clip is encoded
and then decoded from the written files alone, timed separately (wall clock,
``time.perf_counter``), with the bits taken from the bytes written. For
codecs with a feature stream (``Codec.feature_residuals``) the same residuals
are also costed as the JVET GFVC reference software codes them
(``feature_coding.jvet_frame_bits``), beside this platform's coder.
"""
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_platform.codec import feature_coding
from qa_platform.codec.base import Codec, CodecError, SourceClip, bitstream_bytes
from qa_platform.codec.bitstream import BitstreamError


@dataclass(frozen=True)
class CodecTiming:
    """One codec at one rate point over the clips.

    frames: frames coded in all. encode_fps, decode_fps: frames per second of
    wall time. bits_per_frame: bitstream bits / frames. kbps: mean bitrate,
    kbit/s. feature_bits_per_frame, jvet_bits_per_frame: the feature stream
    alone, by this platform's coder and as the JVET GFVC software codes it
    (None without a feature stream). device: where the codec ran.
    """

    codec: str
    label: str
    device: str
    frames: int
    encode_fps: float
    decode_fps: float
    bits_per_frame: float
    kbps: float
    feature_bits_per_frame: float | None
    jvet_bits_per_frame: float | None


def time_codec(codec: Codec, params: dict, clips: list[SourceClip]) -> CodecTiming:
    """Encode and decode ``clips`` with ``codec`` at ``params``; see :class:`CodecTiming`.

    One untimed encode and decode of the first clip's first two frames comes
    first, so that loading models (dlib, a checkpoint) is not counted.
    """
    _warm_up(codec, params, clips[0])
    encode_seconds = decode_seconds = 0.0
    bits = frames = duration = 0
    feature_bits, jvet_bits = [], []
    for clip in clips:
        with tempfile.TemporaryDirectory(prefix="faceqa-bench-") as workdir:
            started = time.perf_counter()
            paths = codec.encode(clip, params, Path(workdir))
            encode_seconds += time.perf_counter() - started
            started = time.perf_counter()
            codec.decode(paths)
            decode_seconds += time.perf_counter() - started
            bits += 8 * bitstream_bytes(paths)
        frames += len(clip.frames)
        duration += clip.duration_seconds
        features = codec.feature_residuals(clip, params)
        if features is not None:
            residuals, groups = features
            feature_bits.append(feature_coding.encode_residuals(residuals, groups).total_bits)
            jvet_bits.append(int(feature_coding.jvet_frame_bits(residuals).sum()))
    return CodecTiming(
        codec=codec.name, label=codec.label(params), device=codec.execution_device(), frames=frames,
        encode_fps=frames / encode_seconds, decode_fps=frames / decode_seconds,
        bits_per_frame=bits / frames, kbps=bits / duration / 1000,
        feature_bits_per_frame=sum(feature_bits) / frames if feature_bits else None,
        jvet_bits_per_frame=sum(jvet_bits) / frames if jvet_bits else None,
    )


def benchmark(codecs: list[Codec], clips: list[SourceClip], progress=iter) -> tuple[list[CodecTiming], list[str]]:
    """Time every available codec at each of its default rate points on ``clips``.

    Returns the timings and one note per codec that cannot run here or HRC
    that failed (``CodecError``, ``BitstreamError``), with the reason.
    ``progress`` wraps the list of HRCs (e.g. ``tqdm``).
    """
    notes, runnable = [], []
    for codec in codecs:
        reason = codec.unavailable_reason()
        if reason:
            notes.append(f"{codec.name}: unavailable here ({reason})")
        else:
            runnable += [(codec, params) for params in codec.default_rate_points]
    rows = []
    for codec, params in progress(runnable):
        try:
            rows.append(time_codec(codec, params, clips))
        except (CodecError, BitstreamError) as exc:
            notes.append(f"{codec.label(params)}: failed ({exc})")
    return rows, notes


def _warm_up(codec: Codec, params: dict, clip: SourceClip) -> None:
    with tempfile.TemporaryDirectory(prefix="faceqa-bench-") as workdir:
        codec.decode(codec.encode(SourceClip(frames=clip.frames[:2], fps=clip.fps), params, Path(workdir)))


def timing_table(rows: list[CodecTiming]) -> str:
    """The benchmark as a plain-text table, one line per codec and rate point."""
    width = max([len("HRC"), *(len(row.label) for row in rows)])
    lines = [f"{'HRC':<{width}} {'device':<6} {'enc fps':>8} {'dec fps':>8} {'bits/frame':>10} {'kbit/s':>8} "
             f"{'feature bits/frame: ours':>24} {'JVET-style':>10} {'ratio':>6}"]
    for row in rows:
        feature = ("-", "-", "-") if row.feature_bits_per_frame is None else (
            f"{row.feature_bits_per_frame:.1f}", f"{row.jvet_bits_per_frame:.1f}",
            f"{row.feature_bits_per_frame / row.jvet_bits_per_frame:.2f}")
        lines.append(f"{row.label:<{width}} {row.device:<6} {row.encode_fps:>8.1f} {row.decode_fps:>8.1f} "
                     f"{row.bits_per_frame:>10.1f} {row.kbps:>8.2f} {feature[0]:>24} {feature[1]:>10} "
                     f"{feature[2]:>6}")
    return "\n".join(lines)


def mean_ratio(rows: list[CodecTiming]) -> float | None:
    """Mean over the rows with a feature stream of ours / JVET-style bits (None when there are none)."""
    ratios = [row.feature_bits_per_frame / row.jvet_bits_per_frame for row in rows
              if row.feature_bits_per_frame is not None]
    return float(np.mean(ratios)) if ratios else None


@dataclass(frozen=True)
class ReferenceResult:
    """One clip coded with one reference structure (``refs``, ``qa_platform.codec.key_frames``).

    clip: its position in the list given. refs: "last", "bidir" or "multi".
    key_frames: key frames sent. kbps: bitrate of the whole bitstream, kbit/s.
    psnr_db: mean over frames of the RGB PSNR (peak 255), dB. ssim: mean over
    frames of piq's SSIM (RGB in [0, 1], 11x11 Gaussian window).
    """

    clip: int
    refs: str
    key_frames: int
    kbps: float
    psnr_db: float
    ssim: float


def compare_references(codec: Codec, params: dict, clips: list[SourceClip],
                       modes: tuple[str, ...] = ("last", "bidir", "multi")) -> list[ReferenceResult]:
    """Code every clip at ``params`` once per reference structure in ``modes`` and measure what the decoder shows.

    For the same key frames in every mode, give clips of ``k x key_period + 1``
    frames: "bidir"'s final key frame then falls on a periodic one.
    """
    import piq
    import torch

    from qa_platform.codec.bitstream import read_bitstream
    from qa_platform.codec.key_frames import decode_key_frames, psnr

    results = []
    for number, clip in enumerate(clips):
        reference = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255
        for refs in modes:
            with tempfile.TemporaryDirectory(prefix="faceqa-refs-") as workdir:
                paths = codec.encode(clip, {**params, "refs": refs}, Path(workdir))
                decoded = codec.decode(paths)
                keys = decode_key_frames(read_bitstream(paths[0])[1][0]).indices
                n_bytes = bitstream_bytes(paths)
            shown = torch.from_numpy(decoded).permute(0, 3, 1, 2).float() / 255
            results.append(ReferenceResult(
                clip=number, refs=refs, key_frames=len(keys), kbps=8 * n_bytes / clip.duration_seconds / 1000,
                psnr_db=float(np.mean([psnr(a, b) for a, b in zip(decoded, clip.frames)])),
                ssim=float(piq.ssim(shown, reference, data_range=1.0, reduction="mean"))))
    return results
