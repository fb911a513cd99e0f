"""The codec API: one contract for conventional anchors and generative codecs.

Django-free. A codec plugin (a ``*.py`` file in a codec plugin folder, see
DESIGN.md) subclasses :class:`Codec` and registers itself with
:func:`register_codec`; the registry in ``qa_platform.codec.registry`` loads
the folders. Plugins import ``qa_platform.codec`` (the package's public API)
and libraries, nothing else of FaceQA.

Rate accounting (issue 2, DESIGN.md "bitstream"): everything the decoder reads
is in the files ``encode`` returns, and the PVS bitrate is
8 x (their total size in bytes) / duration, in kbit/s.
"""
import enum
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np

from qa_platform.codec.rate_matching import moving_params


class Family(enum.StrEnum):
    CONVENTIONAL = "conventional"
    GENERATIVE = "generative"


class Device(enum.StrEnum):
    CPU = "cpu"
    GPU = "gpu"


class CodecError(ValueError):
    """A codec was asked for something it cannot do (bad parameters, bad input)."""


@dataclass(frozen=True)
class SourceClip:
    """What an encoder sees of a SRC.

    frames: uint8 (T, H, W, 3), RGB. fps: frames per second.
    """

    frames: np.ndarray
    fps: Fraction

    @property
    def duration_seconds(self) -> float:
        return float(len(self.frames) / self.fps)


class Codec(ABC):
    """One codec or codec family.

    Class attributes declare what the registry and the job router need:
    ``name`` (unique, used in HRCs), ``version`` (stored with every PVS),
    ``family``, ``device`` (queue the job goes to), ``default_rate_points``
    (parameter dicts, lowest rate first) and ``param_names`` (the parameters
    ``encode`` understands).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    family: ClassVar[Family]
    device: ClassVar[Device] = Device.CPU
    description: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    default_rate_points: ClassVar[tuple[dict, ...]] = ()
    control_names: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Encode ``clip`` with ``params``; write the bitstream file(s) into ``workdir``.

        Returns the paths of every file the decoder will read. Raises
        ``CodecError`` for parameters it does not understand.
        """

    @abstractmethod
    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Decode from the bitstream files alone: uint8 (T, H, W, 3), RGB."""

    def decode_controlled(self, bitstream: list[Path], controls: dict) -> np.ndarray:
        """Decode with decode-time edits of a semantic feature stream: uint8 (T, H, W, 3), RGB.

        controls: {name: strength} over ``control_names`` (interactive and
        controllable face video coding, e.g. IFVC, CoFaCo). The bitstream is
        the one ``encode`` wrote without them. Codecs with controls override
        this; without controls it is ``decode``.
        """
        controls = self.check_controls(controls)
        if controls:
            raise CodecError(f"{self.name} has no decode-time controls")
        return self.decode(bitstream)

    def check_controls(self, controls: dict) -> dict:
        """Return ``controls`` when every name is one of ``control_names`` with a number, else ``CodecError``."""
        if not isinstance(controls, dict):
            raise CodecError(f"{self.name}: controls are a JSON object of name: strength, got {controls!r}")
        unknown = sorted(set(controls) - set(self.control_names))
        if unknown:
            known = ", ".join(self.control_names) or "none"
            raise CodecError(f"{self.name}: unknown control(s) {', '.join(unknown)}; its controls: {known}")
        for name, strength in controls.items():
            if isinstance(strength, bool) or not isinstance(strength, (int, float)):
                raise CodecError(f"{self.name}: control {name} takes a number, got {strength!r}")
        return dict(controls)

    def intra_encode(self, frame: np.ndarray, fps: Fraction, qp: int) -> bytes:
        """Code ONE frame alone, uint8 (H, W, 3) RGB, at quantiser ``qp``: a generative codec's key frame.

        Returns the bytes :meth:`intra_decode` reads (every one is counted in
        the bitrate of the codec that sends them). Codecs that can code key
        frames override it (the PyAV anchors, manifest codecs); the default
        raises ``CodecError``.
        """
        raise CodecError(f"{self.name} cannot code key frames")

    def intra_decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        """Decode what :meth:`intra_encode` returned: uint8 (height, width, 3) RGB; ``BitstreamError`` when damaged."""
        raise CodecError(f"{self.name} cannot decode key frames")

    def export_streams(self, bitstream: list[Path]) -> dict[str, bytes]:
        """What a decoder outside FaceQA reads, by file name: ``{name: bytes}``.

        The default is the bitstream files as stored. Anchors override it to
        give their bare elementary stream (e.g. ``vvc.266``, what VTM's
        DecoderApp reads), without FaceQA's container. Raises
        ``BitstreamError`` when a file is missing or damaged.
        """
        return {Path(path).name: Path(path).read_bytes() for path in bitstream}

    def unavailable_reason(self) -> str:
        """Why this codec cannot run in this process ("" when it can).

        E.g. an external program missing from PATH, or a learned codec without
        a trained checkpoint. Listings show the reason; jobs refuse to start.
        """
        return ""

    def feature_residuals(self, clip: SourceClip, params: dict) -> tuple[np.ndarray, np.ndarray] | None:
        """What a generative codec's feature stream codes, for ``benchmark_codecs``.

        Returns the integer residuals int64 (T, D) the encoder gives the
        feature coder (``qa_platform.codec.feature_coding``) and their context groups
        int (D,); None (the default) for codecs without a feature stream.
        """
        return None

    def rate_ladder(self) -> list[dict]:
        """Parameter dicts whose bitrate rises from first to last, for matched-bitrate searches.

        Empty (the default) when the codec has none; ``build_database
        --target-kbps`` then refuses it.
        """
        return []

    def curve_name(self, params: dict) -> str:
        """The rate–distortion curve an HRC of this codec is a point of.

        The codec's name plus the parameters that do not move along its rate
        ladder (or, without one, its default rate points) and the decode-time
        controls: ``x265``, ``landmark-warp key_period=10``,
        ``landmark-warp mouth=0.3``. HRCs on one curve differ in rate only.
        """
        coding, controls = split_controls(params)
        moving = self.rate_params()
        settings = [f"{key}={coding[key]}" for key in self.param_names if key in coding and key not in moving]
        return " ".join([self.name, *settings, *(f"{key}={controls[key]}" for key in sorted(controls))])

    def rate_params(self) -> set[str]:
        """The parameters that move an HRC along its curve: those that change along the rate ladder
        (or, without one, the default rate points), and ``target_kbps``.

        :meth:`curve_name` leaves them out. A codec whose ladder depends on
        what is installed (a learned codec's checkpoint) overrides this with
        what its class knows, so that its curves are the same everywhere.
        """
        return moving_params(self.rate_ladder() or list(self.default_rate_points)) | {TARGET_KBPS}

    def execution_device(self) -> str:
        """Where this process runs the codec: "cpu" or "cuda" (recorded with every PVS).

        Codecs on the ``gpu`` queue override it; the default is the CPU.
        """
        return "cpu"

    def check_params(self, params: dict) -> dict:
        """Return ``params`` if every key is one this codec understands, else raise ``CodecError``.

        Besides ``param_names`` an HRC may hold ``controls`` (checked by
        :meth:`check_controls`) and ``target_kbps`` (a matched-bitrate HRC:
        the codec needs a rate ladder, and the parameters the ladder moves
        are left to the search).
        """
        unknown = sorted(set(params) - set(self.param_names) - {CONTROLS, TARGET_KBPS})
        if unknown:
            raise CodecError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                f"expected {', '.join(self.param_names)}"
            )
        if CONTROLS in params:
            self.check_controls(params[CONTROLS])
        if TARGET_KBPS in params:
            target = params[TARGET_KBPS]
            if isinstance(target, bool) or not isinstance(target, (int, float)) or target <= 0:
                raise CodecError(f"{self.name}: {TARGET_KBPS} is a bitrate in kbit/s, got {target!r}")
            ladder = self.rate_ladder()
            if not ladder:
                raise CodecError(f"{self.name} has no rate ladder, so it cannot be matched to a bitrate; "
                                 "give its rate points instead")
            chosen = sorted(set(params) & moving_params(ladder))
            if chosen:
                raise CodecError(f"{self.name}: with {TARGET_KBPS} the search chooses {', '.join(chosen)}; "
                                 "leave them out")
        return dict(params)

    def label(self, params: dict) -> str:
        """A short human name for one rate point, e.g. ``x265 qp=37``."""
        controls = params.get(CONTROLS, {})
        target = [f"@ {params[TARGET_KBPS]:g} kbit/s"] if TARGET_KBPS in params else []
        return " ".join([self.name] + target + [f"{k}={params[k]}" for k in self.param_names if k in params]
                        + [f"{k}={controls[k]}" for k in sorted(controls)])


# The HRC parameter that holds decode-time controls ({name: strength}); never given to the encoder.
CONTROLS = "controls"
# The HRC parameter of a matched-bitrate HRC: each PVS gets the rate point found for its SRC.
TARGET_KBPS = "target_kbps"


def split_controls(params: dict) -> tuple[dict, dict]:
    """An HRC's parameters as (what the encoder gets, the decode-time controls)."""
    coding = {key: value for key, value in params.items() if key != CONTROLS}
    return coding, dict(params.get(CONTROLS, {}))


def params_key(params: dict) -> str:
    """Canonical JSON of a parameter dict (sorted keys, no spaces): its identity."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def bitstream_bytes(paths: list[Path]) -> int:
    """Total size of the bitstream files, bytes."""
    return sum(Path(p).stat().st_size for p in paths)


def bitrate_kbps(n_bytes: int, frame_count: int, fps: Fraction) -> float:
    """PVS bitrate: 8 x bytes / duration, kbit/s (1 kbit = 1000 bits) at ``fps``."""
    if frame_count <= 0:
        raise ValueError("frame_count must be positive")
    return 8 * n_bytes / float(frame_count / Fraction(fps)) / 1000


_REGISTRY: dict[str, type[Codec]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Class decorator: add a codec to the registry under ``cls.name``.

    Raises ``CodecError`` when another class already holds the name (a name is
    declared once, in the class).
    """
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise CodecError(f"codec name {cls.name!r} is registered twice ({existing} and {cls})")
    _REGISTRY[cls.name] = cls
    return cls


def registered_codecs() -> dict[str, type[Codec]]:
    """The classes registered so far, by name (the registry loads plugins first)."""
    return dict(_REGISTRY)
