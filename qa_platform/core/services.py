"""Services that change the database: ingest SRCs, create HRCs, run PVS jobs.

Commands and Celery tasks call these functions and nothing else. Files are
written atomically under ``settings.DATA_DIR`` before the row that names them
is saved, so a row never points at a half file (DESIGN.md, "Media").
"""
import shutil
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from qa_platform.codec import registry as codec_registry
from qa_platform.codec import video
from qa_platform.codec.base import (
    TARGET_KBPS,
    Codec,
    CodecError,
    SourceClip,
    bitrate_kbps,
    bitstream_bytes,
    params_key,
    split_controls,
)
from qa_platform.codec.rate_matching import fixed_params, match_rate
from qa_platform.codec.storage import sha256_file
from qa_platform.core import lifecycle
from qa_platform.core.ingest import IngestError, prepare_clip
from qa_platform.core.jobs import pvs_enqueue
from qa_platform.core.models import Hrc, Pvs, RateProbe, Source


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one file: ``ingested``, ``exists`` or ``error`` (with ``reason``)."""

    path: Path
    status: str
    source: Source | None = None
    reason: str = ""


def _data_path(relative: str) -> Path:
    return Path(settings.DATA_DIR) / relative


def _source_name(stem: str, size: int, fps: Fraction, max_frames: int, sha256: str) -> str:
    base = slugify(stem)[:60] or "src"
    for name in (base, f"{base}-{size}px-{float(fps):g}fps-{max_frames}f", f"{base}-{sha256[:12]}"):
        if not Source.objects.filter(name=name).exists():
            return name
    raise IngestError(f"no free SRC name for {stem!r}")


def source_ingest(*, path: Path, size: int = 256, fps: Fraction = Fraction(25),
                  max_frames: int = 125) -> IngestOutcome:
    """Prepare one clip as a SRC and store it (lossless FFV1/MKV and a browser MP4).

    The same file (by SHA-256) with the same size, fps and frame limit is not
    ingested twice: the existing SRC is returned with status ``exists``. A file
    that cannot become a SRC gives status ``error`` with a one-line reason and
    leaves no row and no file behind.
    """
    path = Path(path)
    fps = Fraction(fps)
    try:
        sha256 = sha256_file(path)
    except OSError as exc:
        return IngestOutcome(path, "error", reason=exc.strerror or str(exc))
    existing = Source.objects.filter(
        origin_sha256=sha256, size=size, fps_num=fps.numerator, fps_den=fps.denominator,
        max_frames=max_frames,
    ).first()
    if existing:
        return IngestOutcome(path, "exists", existing)
    try:
        clip = prepare_clip(path, size=size, fps=fps, max_frames=max_frames)
    except IngestError as exc:
        return IngestOutcome(path, "error", reason=str(exc))
    name = _source_name(path.stem, size, fps, max_frames, sha256)
    folder = Path("sources") / name
    lossless, browser = folder / "src.mkv", folder / "src.mp4"
    try:
        video.write_lossless(_data_path(str(lossless)), clip.frames, clip.fps)
        video.write_browser_copy(_data_path(str(browser)), clip.frames, clip.fps)
        source = Source.objects.create(
            name=name, origin_path=str(path.resolve()), origin_sha256=sha256, size=size,
            fps_num=fps.numerator, fps_den=fps.denominator, max_frames=max_frames,
            frame_count=len(clip.frames), crop_x=clip.crop.x, crop_y=clip.crop.y,
            crop_size=clip.crop.side, lossless_path=str(lossless), browser_path=str(browser),
        )
    except (IntegrityError, OSError, ValueError) as exc:
        shutil.rmtree(_data_path(str(folder)), ignore_errors=True)
        return IngestOutcome(path, "error", reason=f"could not store: {exc}")
    return IngestOutcome(path, "ingested", source)


def hrcs_for_codec(*, codec_name: str, rate_points: list[dict] | None = None) -> list[Hrc]:
    """Get or create the HRCs of one codec: its default rate points unless given.

    A new HRC stores the codec's label, curve (``Codec.curve_name``), family
    and version; an existing one keeps what was stored when it was made.
    Raises ``CodecError`` for an unknown codec, one that cannot run here
    (``unavailable_reason``) or a rate point it does not understand.
    """
    codec = codec_registry.get_codec(codec_name)
    unavailable = codec.unavailable_reason()
    if unavailable:
        raise CodecError(f"{codec.name} cannot run here: {unavailable}")
    points = rate_points if rate_points is not None else list(codec.default_rate_points)
    hrcs = []
    for params in points:
        params = codec.check_params(params)
        if TARGET_KBPS in params:  # what every rung shares (a checkpoint) is named in the HRC
            params = {**fixed_params(codec.rate_ladder()), **params}
        hrc, _ = Hrc.objects.get_or_create(
            codec=codec.name, params_key=params_key(params),
            defaults={"params": params, "label": codec.label(params), "curve": codec.curve_name(params),
                      "family": str(codec.family), "codec_version": codec.version},
        )
        hrcs.append(hrc)
    return hrcs


def database_build(*, codec_names: list[str], sources: list[Source] | None = None,
                   rate_points: dict[str, list[dict]] | None = None) -> list[Pvs]:
    """Create HRCs and one PVS per SRC x HRC, and queue the PVSs that need a run (``lifecycle.needs_run``:
    not done ones, and no live worker on them).

    Returns every PVS of the build (done ones included). Jobs are queued after
    the transaction commits, so a worker never reads a row that is not there yet,
    and SRC by SRC, so that a worker's next job mostly reuses the reference
    data (faces, deep features) of its last one.
    """

    sources = list(sources if sources is not None else Source.objects.all())
    rate_points = rate_points or {}
    all_pvs = []
    with transaction.atomic():
        hrcs = [hrc for codec_name in codec_names
                for hrc in hrcs_for_codec(codec_name=codec_name, rate_points=rate_points.get(codec_name))]
        for source in sources:
            for hrc in hrcs:
                pvs, _ = Pvs.objects.get_or_create(source=source, hrc=hrc)
                all_pvs.append(pvs)
        for pvs in all_pvs:
            if lifecycle.needs_run(pvs):
                task_ids = lifecycle.job_queue(pvs, steps=len(settings.FACEQA_PVS_STAGES))
                transaction.on_commit(lambda pvs=pvs, task_ids=task_ids: pvs_enqueue(pvs, task_ids))
    return all_pvs


def _pvs_folder(pvs: Pvs) -> Path:
    return Path("pvs") / str(pvs.pk)


def bitstream_files(folder: Path) -> list[Path]:
    """The files of a stored bitstream, sorted by name: what ``decode`` is given."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file())


def _is_coded(pvs: Pvs) -> bool:
    return bool(
        pvs.kbps is not None and pvs.decoded_path and _data_path(pvs.decoded_path).is_file()
        and _data_path(pvs.browser_path).is_file() and _data_path(pvs.bitstream_path).is_dir()
    )


def pvs_code(*, pvs: Pvs) -> Pvs:
    """Encode the SRC with the HRC, decode from the stored bitstream alone, store the PVS.

    An HRC's decode-time ``controls`` go to the decoder only: the encoder
    never sees them, so the bitstream is bit for bit the uncontrolled one.

    Files: ``pvs/<id>/bitstream/`` (every file the decoder reads; their total
    size gives the bitrate), ``decoded.mkv`` (lossless) and ``browser.mp4``.
    Idempotent: a PVS already coded (its files present) is returned as it is.
    Whatever an interrupted run left is removed first: only the worker that
    holds the PVS's job runs this (the coding stage claims it, see
    ``qa_platform.core.lifecycle``), so no live run's files are touched. The row
    is updated once, after every file is in place.
    """
    if _is_coded(pvs):
        return pvs
    codec = codec_registry.get_codec(pvs.hrc.codec)
    coding_params, controls = split_controls(pvs.hrc.params)
    src_frames, fps = video.read_frames(_data_path(pvs.source.lossless_path))
    if TARGET_KBPS in coding_params:
        coding_params = pvs_rate_point(pvs=pvs, codec=codec, clip=SourceClip(frames=src_frames, fps=fps))
    folder = pvs_folder_reset(pvs=pvs)
    bitstream_dir = folder / "bitstream"
    with tempfile.TemporaryDirectory(dir=folder, prefix=".encode-") as workdir:
        started = time.perf_counter()
        written = codec.encode(SourceClip(frames=src_frames, fps=fps), coding_params, Path(workdir))
        encode_seconds = time.perf_counter() - started
        for path in written:
            shutil.move(path, bitstream_dir / Path(path).name)
    stored = bitstream_files(bitstream_dir)
    started = time.perf_counter()
    decoded = codec_registry.get_codec(pvs.hrc.codec).decode_controlled(stored, controls)
    decode_seconds = time.perf_counter() - started
    if decoded.shape != src_frames.shape:
        raise ValueError(
            f"{codec.name} decoded {decoded.shape}, expected the SRC's {src_frames.shape}"
        )
    return pvs_store(pvs=pvs, decoded=decoded, fps=fps, codec_version=codec.version,
                     device=codec.execution_device(), encode_seconds=encode_seconds, decode_seconds=decode_seconds)


def pvs_folder_reset(*, pvs: Pvs) -> Path:
    """Empty the PVS's folder ``pvs/<id>/`` under the data directory, leaving an empty ``bitstream/`` in it.

    Returns the folder's absolute path. Whatever an earlier, interrupted run
    (or import) left there is removed.
    """
    folder = _data_path(str(_pvs_folder(pvs)))
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "bitstream").mkdir(parents=True)
    return folder


def pvs_store(*, pvs: Pvs, decoded: np.ndarray, fps: Fraction, **facts) -> Pvs:
    """Store a decoded PVS whose bitstream files are in place in ``pvs/<id>/bitstream/``.

    ``decoded``: uint8 (T, H, W, 3) RGB, the SRC's frame count and size; ``fps``
    the SRC's. Writes ``decoded.mkv`` (lossless FFV1) and ``browser.mp4`` (each
    atomically), then updates the row once: the paths, the bitstream's size
    (bytes, every file in ``bitstream/``) and its bitrate (kbit/s at ``fps``),
    and ``facts`` (other ``Pvs`` fields: codec version, device, timings,
    status). Raises ``ValueError`` for frames that are not uint8 (T, H, W, 3).
    """
    folder = _data_path(str(_pvs_folder(pvs)))
    n_bytes = bitstream_bytes(bitstream_files(folder / "bitstream"))
    relative = _pvs_folder(pvs)
    video.write_lossless(folder / "decoded.mkv", decoded, fps)
    video.write_browser_copy(folder / "browser.mp4", decoded, fps)
    Pvs.objects.filter(pk=pvs.pk).update(
        bitstream_path=str(relative / "bitstream"), bitstream_bytes=n_bytes,
        kbps=bitrate_kbps(n_bytes, len(decoded), fps),
        decoded_path=str(relative / "decoded.mkv"), browser_path=str(relative / "browser.mp4"), **facts,
    )
    pvs.refresh_from_db()
    return pvs


class RateNotReached(CodecError):
    """A codec cannot code a SRC within the tolerance of a target bitrate; the message gives the nearest rates."""


def pvs_rate_point(*, pvs: Pvs, codec: Codec, clip: SourceClip) -> dict:
    """The rate point of a matched-bitrate PVS: the one found before, else a search now (stored on the PVS).

    Searches bisect ``codec.rate_ladder()`` (``qa_platform.codec.rate_matching``),
    each rung with the HRC's other parameters (a key-frame period, a
    checkpoint), with encodes cached as ``RateProbe`` rows. Raises ``RateNotReached`` when
    the target cannot be met within the tolerance.
    """
    if pvs.params is not None:
        return pvs.params
    coding, _ = split_controls(pvs.hrc.params)
    target = coding.pop(TARGET_KBPS)
    ladder = [{**rung, **coding} for rung in codec.rate_ladder()]
    match = match_rate(ladder, lambda params: rate_probe(source=pvs.source, codec=codec, clip=clip,
                                                         params=params).kbps,
                       target, label=codec.label)
    if not match.reached:
        raise RateNotReached(f"{codec.name} cannot code {pvs.source.name} at {target:g} kbit/s: {match.reason}")
    Pvs.objects.filter(pk=pvs.pk).update(params=match.params)
    pvs.params = match.params
    return match.params


def rate_probe(*, source: Source, codec: Codec, clip: SourceClip, params: dict) -> RateProbe:
    """The bitrate of ``source`` coded at ``params``: a cached probe, else an encode now (then cached)."""
    key = params_key(params)
    cached = RateProbe.objects.filter(source=source, codec=codec.name, codec_version=codec.version,
                                      params_key=key).first()
    if cached:
        return cached
    with tempfile.TemporaryDirectory(prefix="faceqa-rate-") as workdir:
        n_bytes = bitstream_bytes(codec.encode(clip, params, Path(workdir)))
    probe, _ = RateProbe.objects.get_or_create(
        source=source, codec=codec.name, codec_version=codec.version, params_key=key,
        defaults={"params": params, "bitstream_bytes": n_bytes,
                  "kbps": bitrate_kbps(n_bytes, len(clip.frames), clip.fps)},
    )
    return probe
