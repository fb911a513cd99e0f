"""The codec contract as an importable test class, run against every codec (as Django's SessionTestsMixin).

Django-free; needs pytest. A test module subclasses :class:`CodecContract`
and gives two class-scoped fixtures, ``codec`` (an instance) and
``source_clip`` (a :class:`~qa_platform.codec.SourceClip` the codec can code).
The contract encodes and decodes the clip at every default rate point and
checks what every codec promises: its declared properties, a decode of every
frame from the bitstream files alone (in a fresh process that sees only
those files), every file the encoder left counted in the bitrate, damaged and
foreign bitstreams refused, unknown parameters refused, and rate (and,
unless the subclass says otherwise, quality) rising across the rate points.

A lab runs it against its private plugin folder::

    import pytest
    from qa_platform.codec import SourceClip, registry
    from qa_platform.codec.testing import CodecContract

    class TestMyCodec(CodecContract):
        @pytest.fixture(scope="class")
        @classmethod
        def codec(cls):
            return registry.get_codec("my-codec", dirs=["/lab/codecs"])

        @pytest.fixture(scope="class")
        @classmethod
        def source_clip(cls):
            return SourceClip(frames=..., fps=25)   # uint8 (T, H, W, 3), RGB
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from qa_platform.codec import registry
from qa_platform.codec.base import (
    CodecError,
    Device,
    Family,
    bitrate_kbps,
    bitstream_bytes,
)
from qa_platform.codec.bitstream import (
    SUFFIX,
    BitstreamError,
    pack_bitstream,
    read_bitstream,
)

# The folder holding the qa_platform package: a fresh decoding process runs there.
_IMPORT_ROOT = Path(__file__).resolve().parents[2]

# Decodes the files of a folder in a process of its own, the codec loaded from its plugin
# folder alone, and prints the SHA-256 and shape of the frames.
FRESH_DECODE = """
import hashlib, json, sys
from pathlib import Path
from qa_platform.codec import registry
codec = registry.get_codec(sys.argv[1], dirs=[Path(sys.argv[2])])
frames = codec.decode(sorted(Path(sys.argv[3]).iterdir()))
print(json.dumps({"sha256": hashlib.sha256(frames.tobytes()).hexdigest(), "shape": list(frames.shape)}))
"""


def clip_psnr(decoded: np.ndarray, reference: np.ndarray) -> float:
    """PSNR over the whole clip, RGB, peak 255, dB."""
    mse = np.mean((decoded.astype(np.float64) - reference) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


class CodecContract:
    """What every codec promises (see the module docstring). Subclasses give ``codec`` and ``source_clip``.

    Class attributes a subclass may change: ``kbps_range`` (bounds of a sane
    bitrate for its clip, kbit/s) and ``quality_rises`` (False for a codec
    whose quality is not promised to rise with rate, e.g. a learned codec
    whose checkpoint was trained for seconds in the test).
    """

    kbps_range: ClassVar[tuple[float, float]] = (0.5, 500.0)
    quality_rises: ClassVar[bool] = True

    @pytest.fixture(scope="class")
    @classmethod
    def rate_curve(cls, codec, source_clip, tmp_path_factory) -> list[dict]:
        """The clip encoded and decoded at every default rate point, lowest rate first."""
        if codec.unavailable_reason():
            pytest.skip(f"unavailable here: {codec.unavailable_reason()}")
        curve = []
        for index, params in enumerate(codec.default_rate_points):
            workdir = tmp_path_factory.mktemp(f"{codec.name}-{index}")
            paths = codec.encode(source_clip, params, workdir)
            curve.append({"params": params, "workdir": workdir, "paths": paths, "decoded": codec.decode(paths)})
        return curve

    def test_declares_what_the_registry_and_router_need(self, codec, rate_curve):
        assert codec.name and codec.version and codec.description
        assert codec.family in set(Family) and codec.device in set(Device)
        assert 4 <= len(codec.default_rate_points) <= 5
        for params in codec.default_rate_points:
            assert codec.check_params(params) == params

    def test_round_trip_returns_every_frame(self, source_clip, rate_curve):
        for point in rate_curve:
            assert point["decoded"].shape == source_clip.frames.shape
            assert point["decoded"].dtype == np.uint8

    def test_the_bitstream_is_every_file_the_encoder_left(self, rate_curve):
        for point in rate_curve:
            assert point["paths"] and sorted(point["workdir"].iterdir()) == sorted(point["paths"])

    def test_bitrate_is_eight_times_the_file_bytes_over_the_duration(self, source_clip, rate_curve):
        low, high = self.kbps_range
        for point in rate_curve:
            n_bytes = sum(len(Path(p).read_bytes()) for p in point["paths"])
            kbps = bitrate_kbps(bitstream_bytes(point["paths"]), len(source_clip.frames), source_clip.fps)
            assert kbps == pytest.approx(8 * n_bytes / source_clip.duration_seconds / 1000)
            assert low < kbps < high

    def test_a_fresh_process_decodes_the_same_frames_from_the_files_alone(self, codec, rate_curve, tmp_path):
        point = rate_curve[1]
        alone = tmp_path / "alone"
        alone.mkdir()
        for path in point["paths"]:
            shutil.copy(path, alone / Path(path).name)
        result = subprocess.run(
            [sys.executable, "-c", FRESH_DECODE, codec.name, str(registry.declared_in(codec.name).parent), str(alone)],
            cwd=_IMPORT_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300, check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        fresh = json.loads(result.stdout.splitlines()[-1])
        digest = hashlib.sha256(point["decoded"].tobytes()).hexdigest()
        assert fresh == {"sha256": digest, "shape": list(point["decoded"].shape)}

    def test_a_truncated_bitstream_file_is_refused(self, codec, rate_curve, tmp_path):
        for original in rate_curve[0]["paths"]:
            data = Path(original).read_bytes()
            for length in (len(data) // 2, len(data) - 1):
                paths = self._copies(rate_curve[0]["paths"], tmp_path / f"{Path(original).name}-{length}")
                cut = paths[[p.name for p in paths].index(Path(original).name)]
                cut.write_bytes(data[:length])
                with pytest.raises((BitstreamError, CodecError)):
                    codec.decode(paths)

    def test_another_codecs_bitstream_is_refused(self, codec, rate_curve, tmp_path):
        paths = self._copies(rate_curve[0]["paths"], tmp_path / "foreign")
        container = next(p for p in paths if p.suffix == SUFFIX)
        header, sections = read_bitstream(container)
        container.write_bytes(pack_bitstream(type(header)(**{**vars(header), "codec": "other"}), sections))
        with pytest.raises(BitstreamError, match="written by codec 'other'"):
            codec.decode(paths)

    def test_an_unknown_parameter_is_refused(self, codec, source_clip, rate_curve, tmp_path):
        with pytest.raises(CodecError, match="unknown parameter"):
            codec.encode(source_clip, {**codec.default_rate_points[0], "bogus": 1}, tmp_path)

    def test_rate_and_quality_rise_across_the_default_rate_points(self, source_clip, rate_curve):
        kbps = [bitrate_kbps(bitstream_bytes(p["paths"]), len(source_clip.frames), source_clip.fps)
                for p in rate_curve]
        assert kbps == sorted(kbps) and len(set(kbps)) == len(kbps), kbps
        if self.quality_rises:
            quality = [clip_psnr(p["decoded"], source_clip.frames) for p in rate_curve]
            assert quality == sorted(quality) and len(set(quality)) == len(quality), quality

    @staticmethod
    def _copies(paths: list[Path], folder: Path) -> list[Path]:
        folder.mkdir(parents=True)
        return sorted(Path(shutil.copy(path, folder / Path(path).name)) for path in paths)
