"""The codec class of a manifest: encode and decode by running its programs. Django-free."""
import re
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np

from qa_platform.codec.anchor import check_frames
from qa_platform.codec.base import Codec, CodecError, Device, SourceClip
from qa_platform.codec.bitstream import (
    BitstreamError,
    BitstreamHeader,
    read_bitstream,
    write_bitstream,
)
from qa_platform.codec.manifest import intra
from qa_platform.codec.manifest.programs import (
    missing_requirements,
    program_version,
    run_command,
)
from qa_platform.codec.manifest.raw_frames import read_raw_frames, write_raw_frames
from qa_platform.codec.manifest.schema import HEADER_NAME, Manifest, substitute


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

    def intra_encode(self, frame: np.ndarray, fps: Fraction, qp: int) -> bytes:
        """One frame, uint8 (H, W, 3) RGB, coded alone at rate parameter ``qp`` (:func:`.intra.intra_encode`)."""
        with tempfile.TemporaryDirectory(prefix=f"faceqa-{self.name}-key-") as workdir:
            return intra.intra_encode(self, frame, qp, Path(workdir))

    def intra_decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        """The frame of :meth:`intra_encode`'s bytes: uint8 (height, width, 3) RGB (:func:`.intra.intra_decode`)."""
        with tempfile.TemporaryDirectory(prefix=f"faceqa-{self.name}-key-") as workdir:
            return intra.intra_decode(self, data, width, height, Path(workdir))

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
            values["input"] = str(write_raw_frames(run / f"input.{self.manifest.input_format}", frames, clip.fps,
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
            return read_raw_frames(Path(values["output"]), self.manifest.output_format, header.frame_count,
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


