"""External codecs described by a TOML manifest alone (VTM, vvenc, research GFVC scripts). Django-free.

A ``*.toml`` file in a codec plugin folder describes one external codec; the
registry (``qa_platform.codec_registry``) turns it into a :class:`ManifestCodec`
subclass, so it goes through ``get_codec``, the contract tests and the HRC/PVS
jobs like the ``*.py`` codecs. Manifest format (``codecs/vvenc.toml`` is a
commented example)::

    name = "vvenc"                       # unique codec name, [A-Za-z0-9._-]+
    description = "VVC (vvenc), low delay"
    family = "conventional"              # or "generative"
    device = "cpu"                       # queue: "cpu" or "gpu"
    install = "build vvenc and vvdec, put vvencapp and vvdecapp on PATH"  # hint when unavailable
    version_command = ["vvencapp", "--version"]   # its output is the codec version
    version_pattern = 'version (\\S+)'   # optional regex; group 1 (or the match) is kept
    timeout_s = 600                      # optional, per command, seconds
    requires = ["{env:GFVC_DIR}/RUN_Encoder.py"]   # optional files that must exist
    rate_points = [{qp = 52}, {qp = 47}]         # default rate points, lowest rate first

    [params.qp]                          # one table per rate parameter
    type = "int"                         # "int" or "float"
    min = 0
    max = 63

    [encode]
    input = "y4m"                        # what the encoder reads, see INPUT_FORMATS
    command = ["vvencapp", "-i", "{input}", "-o", "{bitstream}", "--qp", "{qp}"]
    bitstream = ["str.266"]              # names or globs in {workdir}: every match is bitstream

    [decode]
    output = "yuv420p"                   # what the decoder writes, see INPUT_FORMATS
    command = ["vvdecapp", "-b", "{bitstream}", "-o", "{output}"]

Commands are argument lists, run without a shell, with ``cwd`` = a fresh work
directory and the manifest's timeout. Placeholders (``{name}``, whole or inside
an argument): ``{workdir}``; ``{width}``, ``{height}`` (pixels); ``{fps}``
(an integer, else a decimal), ``{fps_num}``, ``{fps_den}``; ``{frames}``;
``{bitstream}`` (the path of the first ``bitstream`` entry, which must then be
a plain name); every declared parameter (``{qp}``); ``{manifest_dir}`` (the
folder of the manifest); ``{env:NAME}`` (an environment variable; unset makes
the codec unavailable); ``{input}`` in ``encode`` only, ``{output}`` in
``decode`` only. The version command's exit status is ignored (VTM prints its
version in the banner of ``--help``); only its output counts.

Frame formats (``encode.input``, ``decode.output``): ``y4m`` (YUV4MPEG2,
8-bit 4:2:0, read and written by PyAV's yuv4mpegpipe), ``yuv420p`` (raw
planar 8-bit Y, U, V, the VTM/HM ``.yuv`` layout), ``rgb24`` (raw interleaved
RGB), ``rgbp`` (raw planar R, G, B). RGB <-> Y'CbCr 4:2:0 uses the PyAV
anchors' conversion (``qa_platform.pyav_codec.to_yuv``/``to_rgb``: BT.601,
limited range), so every codec sees the same 4:2:0 source.

Bitstream (DESIGN.md, "bitstream"): the files the ``bitstream`` entries match,
stored as the codec wrote them (a bare VVC ``.266`` stream, as the GFVC
literature counts it), plus ``header.fqbs``: a ``qa_platform.bitstream``
container with zero sections carrying the codec name, parameters, frame size,
frame rate and frame count (39 bytes for vvenc at QP 37, 37 for vtm), which the decoder command's
placeholders need. Every file counts in the bitrate, 8 x total bytes /
duration. The decoder command runs in a fresh directory holding copies of the
codec's bitstream files only, never the source or the header.
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import numpy as np

from qa_platform.bitstream import (
    BitstreamError, BitstreamHeader, pack_uleb128, read_bitstream, read_uleb128, write_bitstream,
)
from qa_platform.codec_api import Codec, CodecError, Device, Family, SourceClip
from qa_platform.pyav_codec import check_frames, to_rgb, to_yuv

HEADER_NAME = "header.fqbs"
INPUT_FORMATS = ("y4m", "yuv420p", "rgb24", "rgbp")
DEFAULT_TIMEOUT_S = 600
VERSION_TIMEOUT_S = 30
STDERR_LINES = 20
# The fps given to a single key frame (intra_encode): an intra frame does not depend on it.
KEY_FRAME_FPS = Fraction(25)

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z_][A-Za-z0-9_]*)?)\}")
_COMMON = frozenset({"workdir", "width", "height", "fps", "fps_num", "fps_den", "frames", "bitstream",
                     "manifest_dir"})
_TOP_KEYS = frozenset({"name", "description", "family", "device", "install", "version_command",
                       "version_pattern", "timeout_s", "requires", "rate_points", "params", "encode", "decode"})
_PARAM_TYPES = {"int": int, "float": float}


class ManifestError(CodecError):
    """A manifest is not valid; the message names the file and the field."""


@dataclass(frozen=True)
class ParamSpec:
    """One rate parameter: its type ("int" or "float") and inclusive range."""

    name: str
    type: str
    min: float
    max: float

    def check(self, codec: str, value):
        """Return ``value`` when it has this type and lies in the range, else raise ``CodecError``."""
        python_type = _PARAM_TYPES[self.type]
        if isinstance(value, bool) or not isinstance(value, (int, float) if python_type is float else int):
            raise CodecError(f"{codec}: parameter {self.name} must be {self.type}, got {value!r}")
        if not self.min <= value <= self.max:
            raise CodecError(f"{codec}: parameter {self.name} must be in {self.min}..{self.max}, got {value!r}")
        return python_type(value)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest (see the module docstring for each field)."""

    path: Path
    sha256: str
    name: str
    description: str
    family: Family
    device: Device
    install: str
    version_command: tuple[str, ...]
    version_pattern: str | None
    timeout_s: float
    requires: tuple[str, ...]
    params: dict[str, ParamSpec]
    rate_points: tuple[dict, ...]
    input_format: str
    encode_command: tuple[str, ...]
    bitstream: tuple[str, ...]
    output_format: str
    decode_command: tuple[str, ...]

    def commands(self) -> list[tuple[str, ...]]:
        return [self.version_command, self.encode_command, self.decode_command]


def _fail(path: Path, field: str, problem: str):
    raise ManifestError(f"{path}: field {field!r}: {problem}")


def _get(path: Path, table: dict, key: str, kind, field: str, default=...):
    if key not in table:
        if default is ...:
            _fail(path, field, "missing")
        return default
    value = table[key]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        _fail(path, field, f"must be {names}, got {value!r}")
    return value


def _strings(path: Path, table: dict, key: str, field: str, default=...) -> tuple[str, ...]:
    value = _get(path, table, key, list, field, default)
    if not all(isinstance(item, str) for item in value):
        _fail(path, field, "must be a list of strings")
    return tuple(value)


def _choice(path: Path, table: dict, key: str, choices, field: str) -> str:
    value = _get(path, table, key, str, field)
    if value not in choices:
        _fail(path, field, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _unknown_keys(path: Path, table: dict, known, prefix: str = "") -> None:
    extra = sorted(set(table) - set(known))
    if extra:
        _fail(path, prefix + extra[0], f"unknown field (known: {', '.join(sorted(known))})")


def _params(path: Path, table: dict) -> dict[str, ParamSpec]:
    params = _get(path, table, "params", dict, "params")
    if not params:
        _fail(path, "params", "declare at least one rate parameter, e.g. [params.qp]")
    specs = {}
    for name, spec in params.items():
        field = f"params.{name}"
        if not isinstance(spec, dict):
            _fail(path, field, "must be a table with type, min and max")
        _unknown_keys(path, spec, ("type", "min", "max"), field + ".")
        kind = _choice(path, spec, "type", tuple(_PARAM_TYPES), field + ".type")
        low = _get(path, spec, "min", (int, float), field + ".min")
        high = _get(path, spec, "max", (int, float), field + ".max")
        if low > high:
            _fail(path, field, f"min {low} is above max {high}")
        specs[name] = ParamSpec(name=name, type=kind, min=low, max=high)
    return specs


def _rate_points(path: Path, table: dict, name: str, specs: dict[str, ParamSpec]) -> tuple[dict, ...]:
    points = _get(path, table, "rate_points", list, "rate_points")
    if not points:
        _fail(path, "rate_points", "give at least one default rate point")
    checked = []
    for index, point in enumerate(points):
        field = f"rate_points[{index}]"
        if not isinstance(point, dict) or set(point) != set(specs):
            _fail(path, field, f"must be a table setting exactly {', '.join(specs)}, got {point!r}")
        try:
            checked.append({key: specs[key].check(name, value) for key, value in point.items()})
        except CodecError as exc:
            _fail(path, field, str(exc))
    return tuple(checked)


def _check_placeholders(path: Path, command: tuple[str, ...], allowed: set[str], field: str) -> None:
    if not command:
        _fail(path, field, "must name a program")
    for argument in command:
        for found in _PLACEHOLDER.findall(argument):
            if found not in allowed and not found.startswith("env:"):
                _fail(path, field, f"unknown placeholder {{{found}}} (allowed here: {', '.join(sorted(allowed))}, "
                                   "{env:NAME})")


def _bitstream(path: Path, table: dict, field: str) -> tuple[str, ...]:
    patterns = _strings(path, table, "bitstream", field)
    if not patterns:
        _fail(path, field, "name at least one bitstream file")
    for pattern in patterns:
        if "/" in pattern or "\\" in pattern or pattern in ("", ".", ".."):
            _fail(path, field, f"{pattern!r} must be a file name or glob inside the work directory")
        if pattern == HEADER_NAME:
            _fail(path, field, f"{HEADER_NAME} is FaceQA's own header file; rename the codec's file")
    return patterns


def parse_manifest(text: str, path: Path) -> Manifest:
    """Validate manifest ``text`` (TOML) read from ``path``; raise ``ManifestError`` naming the field."""
    path = Path(path)
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from exc
    _unknown_keys(path, table, _TOP_KEYS)
    name = _get(path, table, "name", str, "name")
    if not _NAME.fullmatch(name):
        _fail(path, "name", f"{name!r} may hold only letters, digits, '.', '_' and '-'")
    specs = _params(path, table)
    encode = _get(path, table, "encode", dict, "encode")
    decode = _get(path, table, "decode", dict, "decode")
    _unknown_keys(path, encode, ("input", "command", "bitstream"), "encode.")
    _unknown_keys(path, decode, ("output", "command"), "decode.")
    bitstream = _bitstream(path, encode, "encode.bitstream")
    common = set(_COMMON) | set(specs)
    if any(ch in bitstream[0] for ch in "*?["):
        common.discard("bitstream")
    encode_command = _strings(path, encode, "command", "encode.command")
    decode_command = _strings(path, decode, "command", "decode.command")
    _check_placeholders(path, encode_command, common | {"input"}, "encode.command")
    _check_placeholders(path, decode_command, common | {"output"}, "decode.command")
    version_command = _strings(path, table, "version_command", "version_command")
    _check_placeholders(path, version_command, {"manifest_dir"}, "version_command")
    requires = _strings(path, table, "requires", "requires", ())
    for index, required in enumerate(requires):
        _check_placeholders(path, (required,), {"manifest_dir"}, f"requires[{index}]")
    pattern = _get(path, table, "version_pattern", str, "version_pattern", None)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            _fail(path, "version_pattern", f"not a regular expression: {exc}")
    timeout = _get(path, table, "timeout_s", (int, float), "timeout_s", DEFAULT_TIMEOUT_S)
    if timeout <= 0:
        _fail(path, "timeout_s", f"must be positive, got {timeout}")
    return Manifest(
        path=path, sha256=hashlib.sha256(text.encode()).hexdigest(), name=name,
        description=_get(path, table, "description", str, "description"),
        family=Family(_choice(path, table, "family", tuple(Family), "family")),
        device=Device(_choice(path, table, "device", tuple(Device), "device")),
        install=_get(path, table, "install", str, "install"),
        version_command=version_command, version_pattern=pattern, timeout_s=float(timeout), requires=requires,
        params=specs, rate_points=_rate_points(path, table, name, specs),
        input_format=_choice(path, encode, "input", INPUT_FORMATS, "encode.input"),
        encode_command=encode_command, bitstream=bitstream,
        output_format=_choice(path, decode, "output", INPUT_FORMATS, "decode.output"),
        decode_command=decode_command,
    )


def read_manifest(path: Path) -> Manifest:
    """Read and validate a manifest file; ``ManifestError`` naming the file and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read: {exc}") from exc
    return parse_manifest(text, path)


def substitute(argument: str, values: dict[str, str]) -> str:
    """Replace the placeholders of one argument; ``CodecError`` for an unset ``{env:NAME}``."""
    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key.startswith("env:"):
            value = os.environ.get(key[4:])
            if value is None:
                raise CodecError(f"environment variable {key[4:]} is not set")
            return value
        return values[key]

    return _PLACEHOLDER.sub(replace, argument)


def missing_requirements(manifest: Manifest) -> list[str]:
    """What this machine lacks to run the manifest's programs: one phrase per problem ([] when none)."""
    base = {"manifest_dir": str(manifest.path.parent)}
    checks = [(program, lambda path: shutil.which(path) is not None, "program {!r} not found on PATH")
              for program in dict.fromkeys(command[0] for command in manifest.commands())]
    checks += [(required, lambda path: Path(path).exists(), "required file {} does not exist")
               for required in manifest.requires]
    problems = []
    for template, present, missing in checks:
        try:
            resolved = substitute(template, base)
        except CodecError as exc:
            problems.append(str(exc))
            continue
        if not present(resolved):
            problems.append(missing.format(resolved))
    return list(dict.fromkeys(problems))


def _tail(text: bytes) -> str:
    return "\n".join(text.decode(errors="replace").strip().splitlines()[-STDERR_LINES:])


def run_command(args: list[str], cwd: Path, timeout_s: float, codec: str) -> subprocess.CompletedProcess:
    """Run one program (no shell) in ``cwd``; ``CodecError`` with the command line, exit code and stderr tail."""
    line = shlex.join(args)
    try:
        result = subprocess.run(args, check=False, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    except FileNotFoundError as exc:
        raise CodecError(f"{codec}: cannot run `{line}`: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise CodecError(f"{codec}: `{line}` ran past its {timeout_s:g} s timeout (timeout_s in the manifest)") from exc
    if result.returncode != 0:
        raise CodecError(f"{codec}: `{line}` exited with code {result.returncode}; "
                         f"last lines of stderr:\n{_tail(result.stderr) or '(empty)'}")
    return result


def program_version(manifest: Manifest) -> str:
    """The codec version: the version command's output, matched by the pattern, plus the manifest's hash.

    "unknown" stands for the program part when it cannot be run here.
    """
    tag = f"manifest sha256 {manifest.sha256[:12]}"
    if missing_requirements(manifest):
        return f"unknown ({tag})"
    args = [substitute(arg, {"manifest_dir": str(manifest.path.parent)}) for arg in manifest.version_command]
    try:
        result = subprocess.run(args, check=False, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return f"unknown ({tag})"
    output = (result.stdout + result.stderr).decode(errors="replace")
    match = re.search(manifest.version_pattern, output) if manifest.version_pattern else None
    if match:
        text = match.group(1) if match.groups() else match.group(0)
    else:
        text = next((line.strip() for line in output.splitlines() if line.strip()), "unknown")
    return f"{text} ({tag})"


def _frame_bytes(fmt: str, width: int, height: int) -> int:
    if fmt in ("y4m", "yuv420p"):
        return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    return width * height * 3


def write_frames(path: Path, frames: np.ndarray, fps: Fraction, fmt: str) -> Path:
    """Write RGB frames, uint8 (T, H, W, 3), in ``fmt`` (one of :data:`INPUT_FORMATS`) for an encoder.

    Y'CbCr formats need an even frame size (4:2:0); ``CodecError`` otherwise.
    """
    frames = check_frames(frames)
    height, width = frames.shape[1:3]
    if fmt in ("y4m", "yuv420p") and (width % 2 or height % 2):
        raise CodecError(f"{fmt} input is 4:2:0, which needs an even frame size; got {width}x{height}")
    if fmt == "y4m":
        with av.open(str(path), "w", format="yuv4mpegpipe") as container:
            stream = container.add_stream("wrapped_avframe", rate=Fraction(fps))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for index, image in enumerate(frames):
                container.mux(stream.encode(to_yuv(image, index)))
            container.mux(stream.encode(None))
        return Path(path)
    with open(path, "wb") as handle:
        for index, image in enumerate(frames):
            if fmt == "yuv420p":
                handle.write(to_yuv(image, index).to_ndarray().tobytes())
            elif fmt == "rgbp":
                handle.write(np.ascontiguousarray(image.transpose(2, 0, 1)).tobytes())
            else:
                handle.write(image.tobytes())
    return Path(path)


def read_frames(path: Path, fmt: str, frame_count: int, width: int, height: int) -> np.ndarray:
    """Read what a decoder wrote in ``fmt``: RGB uint8 (T, H, W, 3).

    Raises ``BitstreamError`` when the file is missing or does not hold exactly
    ``frame_count`` frames of ``width`` x ``height``.
    """
    path = Path(path)
    expected = f"{frame_count} frames of {width}x{height}"
    if not path.is_file():
        raise BitstreamError(f"the decoder wrote no output file {path.name}; expected {expected}")
    if fmt == "y4m":
        try:
            with av.open(str(path), format="yuv4mpegpipe") as container:
                decoded = list(container.decode(container.streams.video[0]))
        except (av.FFmpegError, IndexError) as exc:
            raise BitstreamError(f"the decoder's Y4M output is not readable: {exc}") from exc
        shapes = {(frame.height, frame.width, frame.format.name) for frame in decoded}
        if len(decoded) != frame_count or shapes != {(height, width, "yuv420p")}:
            raise BitstreamError(f"the decoder wrote {len(decoded)} Y4M frames of {sorted(shapes)}, "
                                 f"expected {expected}, yuv420p")
        return np.stack([to_rgb(frame) for frame in decoded])
    size = _frame_bytes(fmt, width, height)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size != frame_count * size:
        raise BitstreamError(f"the decoder wrote {data.size} bytes of {fmt}, expected {expected}: "
                             f"{frame_count} x {size} = {frame_count * size} bytes")
    if fmt == "yuv420p":
        planes = data.reshape(frame_count, height * 3 // 2, width)
        return np.stack([to_rgb(av.VideoFrame.from_ndarray(plane, format="yuv420p")) for plane in planes])
    if fmt == "rgbp":
        return np.ascontiguousarray(data.reshape(frame_count, 3, height, width).transpose(0, 2, 3, 1))
    return data.reshape(frame_count, height, width, 3)


def _fps_text(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.6g}"


def _placeholders(manifest: Manifest, header: BitstreamHeader, workdir: Path) -> dict[str, str]:
    fps = Fraction(header.fps)
    values = {
        "workdir": str(workdir), "width": str(header.width), "height": str(header.height),
        "fps": _fps_text(fps), "fps_num": str(fps.numerator), "fps_den": str(fps.denominator),
        "frames": str(header.frame_count), "bitstream": str(workdir / manifest.bitstream[0]),
        "manifest_dir": str(manifest.path.parent),
    }
    values.update({key: str(value) for key, value in header.params.items()})
    return values


def _matches(manifest: Manifest, folder: Path) -> dict[str, list[Path]]:
    return {pattern: sorted(p for p in folder.glob(pattern) if p.is_file()) for pattern in manifest.bitstream}


class ManifestCodec(Codec):
    """A codec run as external programs, as its manifest (class attribute ``manifest``) describes."""

    manifest: ClassVar[Manifest]

    def unavailable_reason(self) -> str:
        """Why the manifest's programs cannot run here ("" when they can), with the install hint."""
        problems = missing_requirements(self.manifest)
        return f"{self.name}: {'; '.join(problems)}. {self.manifest.install}" if problems else ""

    def execution_device(self) -> str:
        """"cuda" for a manifest declaring device = "gpu", else "cpu" (the external program's choice)."""
        return "cuda" if self.device == Device.GPU else "cpu"

    def _check_available(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise CodecError(f"codec unavailable: {reason}")

    def check_params(self, params: dict) -> dict:
        """Return ``params`` when every declared parameter is set, typed and in range, else raise ``CodecError``."""
        params = super().check_params(params)
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise CodecError(f"{self.name} needs parameter(s) {', '.join(missing)}, "
                             f"e.g. {self.default_rate_points[0]}")
        return {name: self.manifest.params[name].check(self.name, params[name]) for name in self.param_names}

    def _run(self, command: tuple[str, ...], values: dict[str, str], cwd: Path) -> None:
        try:
            args = [substitute(argument, values) for argument in command]
        except CodecError as exc:
            raise CodecError(f"{self.name}: {exc}") from exc
        run_command(args, cwd, self.manifest.timeout_s, self.name)

    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Run the encoder; move its bitstream files and ``header.fqbs`` into ``workdir``.

        Returns every stored path, sorted. Raises ``CodecError`` when the codec
        is unavailable, a parameter is wrong, the command fails or writes no
        file for a ``bitstream`` entry.
        """
        params = self.check_params(params)
        self._check_available()
        frames = check_frames(clip.frames)
        header = BitstreamHeader(codec=self.name, params=params, width=frames.shape[2], height=frames.shape[1],
                                 fps=Fraction(clip.fps), frame_count=len(frames))
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"faceqa-{self.name}-encode-") as run:
            run = Path(run)
            values = _placeholders(self.manifest, header, run)
            values["input"] = str(write_frames(run / f"input.{self.manifest.input_format}", frames, clip.fps,
                                               self.manifest.input_format))
            self._run(self.manifest.encode_command, values, run)
            matches = _matches(self.manifest, run)
            source = [pattern for pattern, found in matches.items() if Path(values["input"]) in found]
            if source:
                raise CodecError(f"{self.name}: encode.bitstream {', '.join(source)} matches the encoder's input "
                                 "(the source must never reach the decoder); name only the files the encoder writes")
            empty = [pattern for pattern, found in matches.items() if not found]
            if empty:
                raise CodecError(f"{self.name}: the encoder wrote no file matching {', '.join(empty)} "
                                 f"(encode.bitstream); it wrote {sorted(p.name for p in run.iterdir())}")
            stored = [Path(shutil.move(path, workdir / path.name))
                      for path in sorted({p for found in matches.values() for p in found})]
        stored.append(write_bitstream(workdir / HEADER_NAME, header, []))
        return sorted(stored)

    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Run the decoder on copies of the bitstream files alone: RGB uint8 (T, H, W, 3).

        Raises ``BitstreamError`` for a missing or foreign ``header.fqbs``, a
        file that is not this codec's, a missing bitstream file or output of
        the wrong size; ``CodecError`` when the codec is unavailable or the
        command fails.
        """
        paths = {Path(p).name: Path(p) for p in bitstream}
        if HEADER_NAME not in paths:
            raise BitstreamError(f"{self.name}: the bitstream has no {HEADER_NAME}; got {sorted(paths)}")
        header, _ = read_bitstream(paths.pop(HEADER_NAME), codec=self.name, sections=0)
        params = self.check_params(header.params)
        self._check_available()
        with tempfile.TemporaryDirectory(prefix=f"faceqa-{self.name}-decode-") as run:
            run = Path(run)
            for name, path in paths.items():
                shutil.copyfile(path, run / name)
            matches = _matches(self.manifest, run)
            claimed = {p.name for found in matches.values() for p in found}
            if set(paths) - claimed or not all(matches.values()):
                raise BitstreamError(
                    f"{self.name}: bitstream files {sorted(paths)} do not match encode.bitstream "
                    f"{list(self.manifest.bitstream)}: each entry needs a file and every file an entry")
            values = _placeholders(self.manifest, type(header)(**{**vars(header), "params": params}), run)
            values["output"] = str(run / f"decoded.{self.manifest.output_format}")
            self._run(self.manifest.decode_command, values, run)
            return read_frames(Path(values["output"]), self.manifest.output_format, header.frame_count,
                               header.width, header.height)


def codec_class(manifest: Manifest) -> type[ManifestCodec]:
    """A :class:`ManifestCodec` subclass for ``manifest`` (not registered; the registry does that)."""
    attributes = {
        "__module__": __name__, "__qualname__": f"ManifestCodec[{manifest.name}]",
        "__doc__": f"{manifest.description} (manifest {manifest.path}).",
        "manifest": manifest, "name": manifest.name, "version": program_version(manifest),
        "family": manifest.family, "device": manifest.device, "description": manifest.description,
        "param_names": tuple(manifest.params), "default_rate_points": manifest.rate_points,
    }
    return type("ManifestCodec_" + re.sub(r"\W", "_", manifest.name), (ManifestCodec,), attributes)


# Key frames (qa_platform/key_frames.py): one frame coded alone. A codec whose
# bitstream is one plainly named file (VTM, vvenc) gives that file's bare
# bytes. Otherwise the files are packed in name order as: count (1 byte), then
# per file its name length (1 byte), the name (UTF-8) and its size (unsigned
# LEB128), then the files' bytes in the same order: an overhead of
# 1 + sum(1 + len(name) + len(LEB128(size))) bytes, 25 for the toy codec's
# luma.bin and chroma.bin (sizes from 128 bytes to 16 kB). When the decoder command uses
# rate parameters (the toy codec's {qp}; VTM's and vvdec's do not), their
# values go first, as a JSON list after its length (1 byte): 5 bytes for
# ``[28]``.

def pack_files(files: dict[str, bytes]) -> bytes:
    """Pack bitstream files (name -> bytes) as described above."""
    names = sorted(files)
    head = [bytes([len(names)])]
    for name in names:
        encoded = name.encode()
        head += [bytes([len(encoded)]), encoded, pack_uleb128(len(files[name]))]
    return b"".join(head + [files[name] for name in names])


def unpack_files(data: bytes) -> dict[str, bytes]:
    """Inverse of :func:`pack_files`; ``BitstreamError`` for truncated or trailing bytes."""
    if not data:
        raise BitstreamError("packed key frame is empty")
    count, offset, sizes = data[0], 1, []
    for _ in range(count):
        length = data[offset] if offset < len(data) else 0
        name = data[offset + 1:offset + 1 + length].decode(errors="replace")
        size, offset = read_uleb128(data, offset + 1 + length, "size of a packed key-frame file")
        sizes.append((name, size))
    files = {}
    for name, size in sizes:
        if offset + size > len(data):
            raise BitstreamError(f"packed key frame truncated in file {name}")
        files[name], offset = bytes(data[offset:offset + size]), offset + size
    if offset != len(data):
        raise BitstreamError(f"packed key frame has {len(data) - offset} trailing bytes")
    return files


def _single_name(codec: ManifestCodec) -> str | None:
    """The bitstream's one file name when the manifest declares exactly one plain name."""
    patterns = codec.manifest.bitstream
    return patterns[0] if len(patterns) == 1 and not any(ch in patterns[0] for ch in "*?[") else None


def _decoder_params(codec: ManifestCodec) -> list[str]:
    """The rate parameters the decoder command uses, in declaration order."""
    used = {found for argument in codec.manifest.decode_command for found in _PLACEHOLDER.findall(argument)}
    return [name for name in codec.manifest.params if name in used]


def _key_frame_params(codec: ManifestCodec, qp) -> dict:
    rate = next(iter(codec.manifest.params))
    return {**codec.default_rate_points[0], rate: qp}


def intra_encode(codec: ManifestCodec, frame: np.ndarray, qp: int, workdir: Path) -> bytes:
    """Code ONE frame, uint8 (H, W, 3) RGB, with a manifest codec at rate parameter ``qp``.

    ``qp`` sets the manifest's first parameter (the others take the first
    default rate point's values). Returns the codec's bitstream file(s) and
    the parameters its decoder needs, packed as described above, without
    ``header.fqbs``. Files go through
    ``workdir``, which is left empty. Raises ``CodecError`` as ``encode`` does.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3:
        raise CodecError(f"intra_encode takes one frame, uint8 (H, W, 3); got {frame.dtype} {frame.shape}")
    params = _key_frame_params(codec, qp)
    paths = codec.encode(SourceClip(frames=frame[None], fps=KEY_FRAME_FPS), params, Path(workdir))
    files = {path.name: path.read_bytes() for path in paths if path.name != HEADER_NAME}
    for path in paths:
        path.unlink()
    single = _single_name(codec)
    body = files[single] if single else pack_files(files)
    if not _decoder_params(codec):
        return body
    values = json.dumps([params[name] for name in _decoder_params(codec)], separators=(",", ":")).encode()
    return bytes([len(values)]) + values + body


def intra_decode(codec: ManifestCodec, data: bytes, width: int, height: int, workdir: Path) -> np.ndarray:
    """Decode what :func:`intra_encode` returned: uint8 (height, width, 3) RGB.

    Raises ``BitstreamError`` for a damaged packing or a decode of the wrong
    size. ``workdir`` is left empty.
    """
    data = bytes(data)
    params = dict(codec.default_rate_points[0])
    if _decoder_params(codec):
        length = data[0] if data else 0
        try:
            values = json.loads(data[1:1 + length])
        except ValueError as exc:
            raise BitstreamError(f"packed key frame: damaged parameter values ({exc})") from exc
        if not isinstance(values, list) or len(values) != len(_decoder_params(codec)):
            raise BitstreamError(f"packed key frame: expected values of {_decoder_params(codec)}, got {values!r}")
        params.update(zip(_decoder_params(codec), values))
        data = data[1 + length:]
    workdir = Path(workdir)
    paths = [write_bitstream(workdir / HEADER_NAME, BitstreamHeader(
        codec=codec.name, params=params, width=width, height=height, fps=KEY_FRAME_FPS, frame_count=1), [])]
    single = _single_name(codec)
    for name, content in ({single: bytes(data)} if single else unpack_files(data)).items():
        if not name or Path(name).name != name or name in (HEADER_NAME, ".", ".."):
            raise BitstreamError(f"packed key frame holds a bad file name {name!r}")
        paths.append(workdir / name)
        paths[-1].write_bytes(content)
    try:
        return codec.decode(paths)[0]
    finally:
        for path in paths:
            path.unlink()
