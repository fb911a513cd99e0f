"""Import PVSs coded and decoded elsewhere: a research codec run on a lab's own machines.

An imported PVS is stored like a coded one (``services.pvs_folder_reset`` and
``services.pvs_store``: bitstream files copied under ``pvs/<id>/bitstream/``,
a lossless FFV1 copy and a browser copy of the decoded frames, status done),
so metrics, studies and BD-rate take it as any other. What was read is kept on
the PVS (``imported_at``, ``import_origin``, ``import_files``: each file's
original path, size and SHA-256).

Everything is checked before anything is written: a refused import leaves no
row and no file. The bitrate counts every bitstream file given (every file the
decoder reads), 8 x bytes / (SRC frames / SRC fps) / 1000 kbit/s.
"""
import csv
import json
import re
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from qa_platform.codec import video
from qa_platform.codec.base import Family, params_key
from qa_platform.codec.storage import atomic_path, sha256_file
from qa_platform.core import jvet_gfvc, services
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source

# How an imported HRC and PVS say so in their codec version (with the lab's version after it, when given).
IMPORTED = "imported"
# Decoded files read as raw planar RGB 4:4:4 (8 bits) rather than through PyAV.
RAW_RGB_SUFFIX = ".rgb"
# A container's frame rate may differ from the SRC's by this fraction (rounding in the muxer's time base).
FPS_TOLERANCE = 1e-3
CODEC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
JVET_LAYOUT = "jvet-gfvc"


class PvsImportError(ValueError):
    """An import is refused; the message says why (one line per bad entry), and nothing was written."""


@dataclass
class _Plan:
    """One PVS to import, checked: what to write."""

    source: Source
    params: dict
    decoded: Path
    bitstream: list[jvet_gfvc.BitstreamFile]
    files: list[dict]
    frames: np.ndarray | None = None  # read at check time for containers, at store time for .rgb
    label: str = ""


def parse_params(text: str | dict) -> dict:
    """The HRC parameters of ``--hrc``: a JSON object (or a dict, returned as a copy).

    Raises ``PvsImportError`` for text that is not JSON or not an object.
    """
    if isinstance(text, dict):
        return dict(text)
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PvsImportError(f"--hrc is not valid JSON ({exc.msg} at character {exc.pos}): {text!r}") from exc
    if not isinstance(params, dict):
        raise PvsImportError(f"--hrc must be a JSON object such as '{{\"qp\": 42}}', not {text!r}")
    return params


def read_source_map(path: Path) -> dict[str, str]:
    """A ``--source-map`` CSV of ``seq,src`` rows (a header row ``seq,src`` may come first): {seq: SRC name}.

    Raises ``PvsImportError`` when the file cannot be read, a row has not two
    fields, or a sequence is mapped twice.
    """
    try:
        with open(path, newline="") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PvsImportError(f"--source-map {path}: cannot be read ({exc})") from exc
    if rows and [cell.strip().lower() for cell in rows[0]] == ["seq", "src"]:
        rows = rows[1:]
    mapping = {}
    for number, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise PvsImportError(f"--source-map {path}: row {number} has {len(row)} fields, expected seq,src")
        seq, src = (cell.strip() for cell in row)
        if seq in mapping:
            raise PvsImportError(f"--source-map {path}: sequence {seq!r} is mapped twice")
        mapping[seq] = src
    return mapping


def pvs_import(*, codec: str, params: dict | str, source: str, decoded: Path, bitstream: list[Path],
               family: str = str(Family.GENERATIVE), rate_params: tuple[str, ...] = ("qp",),
               codec_version: str = "") -> Pvs:
    """Import one PVS: ``source`` (a SRC name) through HRC ``codec`` + ``params``, decoded elsewhere.

    ``decoded``: the decoded clip, any container PyAV reads (MP4, MKV, Y4M, ...)
    or raw planar RGB 4:4:4 ``.rgb`` (8 bits, per frame R, G, B planes of the
    SRC's size; frames = bytes / (3 x size x size)). It must have the SRC's
    frame size, frame count and (containers) frame rate. ``bitstream``: every
    file the decoder reads; their total size is the PVS's bitstream bytes.
    ``params``: a dict or JSON object text. ``rate_params``: the parameters
    that move the HRC along its rate–distortion curve (left out of
    ``Hrc.curve``). The HRC is found, or made with ``family``, codec version
    ``imported`` (plus ``codec_version``). Returns the stored PVS (status done).
    Raises ``PvsImportError`` (one line; nothing written) for bad JSON, a
    bad codec name or family, an unknown SRC, a missing, empty or repeated
    file, a decoded clip that does not match the SRC, or a PVS that exists
    for this SRC and HRC.
    """
    params = parse_params(params)
    _check_codec(codec, family)
    src = _source(source)
    files = [jvet_gfvc.BitstreamFile(Path(path).name, Path(path)) for path in bitstream]
    plan = _plan(src, params, Path(decoded), files)
    _check_new(codec, [plan])
    return _store(codec, [plan], origin="files", family=family, rate_params=rate_params,
                  codec_version=codec_version)[0]


def pvs_import_jvet(*, folder: Path, codec: str, params: dict | str | None = None, source: str | None = None,
                    source_map: dict[str, str] | None = None, family: str = str(Family.GENERATIVE),
                    rate_params: tuple[str, ...] = ("qp",), codec_version: str = "") -> list[Pvs]:
    """Import every run of a JVET GFVC experiment folder (``qa_platform.core.jvet_gfvc``), one PVS each.

    ``folder``: an ``Iframe_*`` folder, or a model folder holding one. Each
    ``dec/{seq}_qp{qp}.rgb`` is one PVS of HRC ``codec`` with params
    ``{"qp": qp}`` merged with ``params`` (which may not set ``qp``); its
    bitstream is what the JVET decoder reads (``jvet_gfvc.run_bitstream``).
    A sequence's SRC is ``source`` (only when the folder holds one sequence),
    else ``source_map[seq]``, else the SRC named ``seq`` (or its slug, as
    ``ingest_sources`` names SRCs). Other arguments as ``pvs_import``. Every
    run is checked before anything is written. Returns the stored PVSs,
    sorted by sequence and QP. Raises ``PvsImportError`` whose message lists
    every bad run, one line each (nothing written).
    """
    params = parse_params(params or {})
    _check_codec(codec, family)
    if "qp" in params:
        raise PvsImportError("--hrc may not set qp with --layout jvet-gfvc: each run's qp comes from its folder name")
    try:
        iframe = jvet_gfvc.iframe_folder(folder)
        runs, problems = jvet_gfvc.find_runs(iframe)
    except jvet_gfvc.LayoutError as exc:
        raise PvsImportError(str(exc)) from exc
    if not runs and not problems:
        raise PvsImportError(f"{iframe}: no decoded run in dec/ (no {{seq}}_qp{{qp}}.rgb file)")
    sequences = sorted({run.seq for run in runs})
    if source is not None and len(sequences) > 1:
        raise PvsImportError(f"--source {source} names one SRC but {iframe} holds {len(sequences)} sequences "
                             f"({', '.join(sequences)}): use --source-map")
    source_map = source_map or {}
    plans = []
    for run in runs:
        try:
            src = _source(source or source_map.get(run.seq) or _default_source(run.seq))
            count = _raw_frame_count(run.decoded, src)
            files, unread = jvet_gfvc.run_bitstream(run, count)
            plan = _plan(src, {"qp": run.qp, **params}, run.decoded, files, read_raw=False)
            plan.label = run.name
            plan.files += [_provenance("unread", path) for path in unread]
            plan.files += [_provenance("report", path) for path in run.reports]
            plans.append(plan)
        except (PvsImportError, jvet_gfvc.LayoutError) as exc:
            problems.append(f"{run.name}: {str(exc).removeprefix(f'{run.name}: ')}")
    if not problems:
        try:
            _check_new(codec, plans)
        except PvsImportError as exc:
            problems += str(exc).splitlines()
    if problems:
        raise PvsImportError(f"{len(problems)} bad entr{'y' if len(problems) == 1 else 'ies'} in {iframe}, "
                             "nothing imported:\n" + "\n".join(f"  {line}" for line in problems))
    return _store(codec, plans, origin=f"{JVET_LAYOUT} {iframe.resolve()}", family=family,
                  rate_params=rate_params, codec_version=codec_version)


def _check_codec(codec: str, family: str) -> None:
    if not CODEC_NAME.match(codec or ""):
        raise PvsImportError(f"--codec {codec!r}: use letters, digits and . _ + - (at most 100 characters)")
    if family not in {str(item) for item in Family}:
        raise PvsImportError(f"--family {family!r}: choose one of {', '.join(str(item) for item in Family)}")


def _default_source(seq: str) -> str:
    """The SRC named ``seq``, else the one named as ``ingest_sources`` names a file ``seq`` (its slug)."""
    if Source.objects.filter(name=seq).exists():
        return seq
    return slugify(seq)[:60] or seq


def _source(name: str) -> Source:
    src = Source.objects.filter(name=name).first()
    if src is None:
        raise PvsImportError(f"no SRC named {name!r} (ingest it first: manage.py ingest_sources)")
    return src


def _raw_frame_count(path: Path, src: Source) -> int:
    """Frames in a planar RGB file of the SRC's size, from its size alone."""
    if not path.is_file():
        raise PvsImportError(f"decoded file {path}: no such file")
    n_bytes, frame_bytes = path.stat().st_size, 3 * src.size * src.size
    if n_bytes == 0 or n_bytes % frame_bytes:
        raise PvsImportError(f"decoded file {path}: {n_bytes} bytes is not a whole number of {src.size}x{src.size} "
                             f"planar RGB frames ({frame_bytes} bytes each)")
    count = n_bytes // frame_bytes
    if count != src.frame_count:
        raise PvsImportError(f"decoded file {path}: {count} frames of {src.size}x{src.size}, "
                             f"the SRC {src.name} has {src.frame_count}")
    return count


def _provenance(role: str, path: Path, stored: str = "") -> dict:
    try:
        entry = {"role": role, "name": str(Path(path).resolve()), "bytes": Path(path).stat().st_size,
                 "sha256": sha256_file(path)}
    except OSError as exc:
        raise PvsImportError(f"{role} file {path}: {exc.strerror or exc}") from exc
    return {**entry, "stored": stored} if stored else entry


def _plan(src: Source, params: dict, decoded: Path, bitstream: list[jvet_gfvc.BitstreamFile],
          read_raw: bool = True) -> _Plan:
    """Check one PVS's files against its SRC; read a container's frames (a ``.rgb`` file's when ``read_raw``)."""
    if not bitstream:
        raise PvsImportError("no bitstream file given (--bitstream FILE ...: every file the decoder reads)")
    seen_paths, seen_names = set(), set()
    for item in bitstream:
        if not item.path.is_file():
            raise PvsImportError(f"bitstream file {item.path}: no such file")
        if item.path.resolve() in seen_paths:
            raise PvsImportError(f"bitstream file {item.path} is given twice (it would be counted twice)")
        if item.stored in seen_names:
            raise PvsImportError(f"two bitstream files are named {item.stored}: rename one (they are stored "
                                 "side by side)")
        seen_paths.add(item.path.resolve())
        seen_names.add(item.stored)
    if not decoded.is_file():
        raise PvsImportError(f"decoded file {decoded}: no such file")
    frames = None
    if decoded.suffix.lower() == RAW_RGB_SUFFIX:
        _raw_frame_count(decoded, src)
        if read_raw:
            frames = video.read_planar_rgb(decoded, src.size, src.size)
    else:
        frames = _read_container(decoded, src)
    files = [_provenance("bitstream", item.path, item.stored) for item in bitstream]
    if sum(entry["bytes"] for entry in files) == 0:
        raise PvsImportError("the bitstream files are all empty (0 bytes)")
    files.append(_provenance("decoded", decoded))
    return _Plan(source=src, params=params, decoded=decoded, bitstream=bitstream, files=files, frames=frames)


def _read_container(path: Path, src: Source) -> np.ndarray:
    """Decode a container's frames and check their size, count and rate against the SRC."""
    try:
        frames, fps = video.read_frames(path, max_frames=src.frame_count + 1)
    except video.VideoError as exc:
        raise PvsImportError(f"decoded file {exc}") from exc
    height, width = frames.shape[1:3]
    if (width, height) != (src.size, src.size):
        raise PvsImportError(f"decoded file {path}: frames are {width}x{height}, the SRC {src.name} is "
                             f"{src.size}x{src.size}")
    if len(frames) != src.frame_count:
        count = f"more than {src.frame_count}" if len(frames) > src.frame_count else str(len(frames))
        raise PvsImportError(f"decoded file {path}: {count} frames, the SRC {src.name} has {src.frame_count}")
    if abs(Fraction(fps) - src.fps) > FPS_TOLERANCE * src.fps:
        raise PvsImportError(f"decoded file {path}: {float(fps):g} fps ({len(frames) / float(fps):.3f} s), the SRC "
                             f"{src.name} is {float(src.fps):g} fps ({src.duration_seconds:.3f} s)")
    return frames


def _check_new(codec: str, plans: list[_Plan]) -> None:
    """Refuse PVSs that exist already or that two plans would both make; one line each."""
    problems, seen = [], {}
    for plan in plans:
        key = (plan.source.pk, params_key(plan.params))
        who = f"{plan.label}: " if plan.label else ""
        if key in seen:
            problems.append(f"{who}SRC {plan.source.name} with {codec} {params_key(plan.params)} is also "
                            f"imported from {seen[key]}")
            continue
        seen[key] = plan.label or plan.decoded
        existing = Pvs.objects.filter(source=plan.source, hrc__codec=codec,
                                      hrc__params_key=params_key(plan.params)).first()
        if existing:
            problems.append(f"{who}a PVS exists for SRC {plan.source.name} and HRC {codec} "
                            f"{params_key(plan.params)} (PVS {existing.pk}, {existing.status})")
    if problems:
        raise PvsImportError("\n".join(problems))


def _hrc(codec: str, params: dict, family: str, rate_params: tuple[str, ...], version: str) -> Hrc:
    settings_ = [f"{key}={params[key]}" for key in sorted(params)]
    curve = [f"{key}={params[key]}" for key in sorted(params) if key not in rate_params]
    hrc, _ = Hrc.objects.get_or_create(
        codec=codec, params_key=params_key(params),
        defaults={"params": params, "label": " ".join([codec, *settings_]), "curve": " ".join([codec, *curve]),
                  "family": family, "codec_version": version},
    )
    return hrc


def _copy(source: Path, destination: Path, sha256: str) -> None:
    """Copy a file atomically and check that what was copied is what was checked."""
    with atomic_path(destination) as tmp:
        shutil.copyfile(source, tmp)
        if sha256_file(tmp) != sha256:
            raise PvsImportError(f"{source} changed while it was imported (SHA-256 differs): try again")


def _store(codec: str, plans: list[_Plan], *, origin: str, family: str, rate_params: tuple[str, ...],
           codec_version: str) -> list[Pvs]:
    """Write the checked plans in one transaction; on any error remove every folder made, and re-raise."""
    version = " ".join(filter(None, [IMPORTED, codec_version]))
    folders, stored = [], []
    try:
        with transaction.atomic():
            for plan in plans:
                hrc = _hrc(codec, plan.params, family, rate_params, version)
                now = timezone.now()
                pvs = Pvs.objects.create(source=plan.source, hrc=hrc, imported_at=now, import_origin=origin,
                                         import_files=plan.files)
                folder = services.pvs_folder_reset(pvs=pvs)
                folders.append(folder)
                for item, entry in zip(plan.bitstream, plan.files[:len(plan.bitstream)], strict=True):
                    _copy(item.path, folder / "bitstream" / item.stored, entry["sha256"])
                frames = plan.frames
                if frames is None:
                    frames = video.read_planar_rgb(plan.decoded, plan.source.size, plan.source.size)
                stored.append(services.pvs_store(
                    pvs=pvs, decoded=frames, fps=plan.source.fps, codec_version=version, device="",
                    status=JobStatus.DONE, finished_at=now,
                ))
    except BaseException:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return stored
