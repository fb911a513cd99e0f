"""The manifest of an external codec: its format, parsing and validation. Django-free.

External codecs described by a TOML manifest alone (VTM, vvenc, research GFVC scripts). Django-free.

A ``*.toml`` file in a codec plugin folder describes one external codec; the
registry (``qa_platform.codec.registry``) turns it into a :class:`ManifestCodec`
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
    input = "y4m"                        # what the encoder reads, see raw_frames.FRAME_FORMATS
    command = ["vvencapp", "-i", "{input}", "-o", "{bitstream}", "--qp", "{qp}"]
    bitstream = ["str.266"]              # names or globs in {workdir}: every match is bitstream

    [decode]
    output = "yuv420p"                   # what the decoder writes, see raw_frames.FRAME_FORMATS
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
anchors' conversion (``qa_platform.codec.anchor.to_yuv``/``to_rgb``: BT.601,
limited range), so every codec sees the same 4:2:0 source.

Bitstream (DESIGN.md, "bitstream"): the files the ``bitstream`` entries match,
stored as the codec wrote them (a bare VVC ``.266`` stream, as the GFVC
literature counts it), plus ``header.fqbs``: a ``qa_platform.codec.bitstream``
container with zero sections carrying the codec name, parameters, frame size,
frame rate and frame count (39 bytes for vvenc at QP 37, 37 for vtm), which the decoder command's
placeholders need. Every file counts in the bitrate, 8 x total bytes /
duration. The decoder command runs in a fresh directory holding copies of the
codec's bitstream files only, never the source or the header.
"""
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from qa_platform.codec.base import CodecError, Device, Family
from qa_platform.codec.manifest.raw_frames import FRAME_FORMATS

DEFAULT_TIMEOUT_S = 600
# FaceQA's own header file, written next to every manifest codec's bitstream files.
HEADER_NAME = "header.fqbs"
_NAME = re.compile(r"[A-Za-z0-9._-]+")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z_][A-Za-z0-9_]*)?)\}")
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
        for found in PLACEHOLDER.findall(argument):
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
        input_format=_choice(path, encode, "input", FRAME_FORMATS, "encode.input"),
        encode_command=encode_command, bitstream=bitstream,
        output_format=_choice(path, decode, "output", FRAME_FORMATS, "decode.output"),
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

    return PLACEHOLDER.sub(replace, argument)


