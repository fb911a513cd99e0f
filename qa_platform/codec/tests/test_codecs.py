"""One contract, run against every codec of the repository's plugin folder (as Django's
SessionTestsMixin runs against every session backend), plus the PyAV elementary-stream helper.

Codecs see a real face clip: ../shared/faces (skipped where absent), prepared
as a SRC is (fixed face crop, 256x256, 25 fps), 30 frames.
"""
import hashlib
import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from av.video.frame import PictureType

from conftest import FACES_DIR, synthetic_frames
from qa_platform.codec import anchor as pyav_codec
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import (
    CodecError,
    Device,
    Family,
    SourceClip,
    bitrate_kbps,
    bitstream_bytes,
)
from qa_platform.codec.bitstream import BitstreamError, pack_bitstream, read_bitstream
from qa_platform.core.ingest import prepare_clip

BASE_DIR = Path(__file__).resolve().parents[3]
PLUGIN_DIRS = [BASE_DIR / "codecs"]
CODEC_NAMES = sorted(codec_registry.load_codecs(PLUGIN_DIRS))
# The encoder of every anchor plugin, by FFmpeg encoder name.
STREAMS = {cls.stream.encoder: cls.stream for cls in codec_registry.load_codecs(PLUGIN_DIRS).values()
           if issubclass(cls, pyav_codec.AnchorCodec)}
FACE_CLIP = "lp_d18.mp4"
N_FRAMES = 30

# Decodes a bitstream in a process of its own, with nothing but the file's path,
# and prints the SHA-256 and shape of the frames.
FRESH_DECODE = """
import hashlib, json, sys
from pathlib import Path
from qa_platform.codec import registry as codec_registry
codec = codec_registry.get_codec(sys.argv[1], dirs=[Path(sys.argv[2])])
frames = codec.decode([Path(sys.argv[3])])
print(json.dumps({"sha256": hashlib.sha256(frames.tobytes()).hexdigest(), "shape": list(frames.shape)}))
"""


def psnr(decoded: np.ndarray, reference: np.ndarray) -> float:
    """PSNR over the whole clip, dB (peak 255)."""
    mse = np.mean((decoded.astype(np.float64) - reference) ** 2)
    return float(10 * np.log10(255**2 / mse))


def sha256(frames: np.ndarray) -> str:
    return hashlib.sha256(frames.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def face_src() -> SourceClip:
    if not FACES_DIR.is_dir():
        pytest.skip("../shared/faces is absent")
    prepared = prepare_clip(FACES_DIR / FACE_CLIP, max_frames=N_FRAMES)
    return SourceClip(frames=prepared.frames, fps=prepared.fps)


@pytest.fixture(scope="module", params=CODEC_NAMES)
def codec(request):
    codec = codec_registry.get_codec(request.param, dirs=PLUGIN_DIRS)
    if codec.unavailable_reason():
        pytest.skip(f"unavailable here: {codec.unavailable_reason()}")
    return codec


@pytest.fixture(scope="module")
def rate_curve(codec, face_src, tmp_path_factory) -> list[dict]:
    """Encode and decode the face clip at every default rate point, lowest first."""
    curve = []
    for index, params in enumerate(codec.default_rate_points):
        workdir = tmp_path_factory.mktemp(f"{codec.name}-{index}")
        paths = codec.encode(face_src, params, workdir)
        curve.append({"params": params, "workdir": workdir, "paths": paths, "decoded": codec.decode(paths)})
    return curve


class TestCodecContract:
    def test_declares_what_the_registry_and_router_need(self, codec):
        assert codec.version and codec.description
        assert codec.family in set(Family) and codec.device in set(Device)
        assert 4 <= len(codec.default_rate_points) <= 5
        for params in codec.default_rate_points:
            assert codec.check_params(params) == params

    def test_round_trip_returns_every_frame(self, codec, face_src, rate_curve):
        for point in rate_curve:
            assert point["decoded"].shape == face_src.frames.shape
            assert point["decoded"].dtype == np.uint8

    def test_the_bitstream_is_one_file_and_all_the_encoder_left(self, rate_curve):
        for point in rate_curve:
            assert len(point["paths"]) == 1
            assert sorted(point["workdir"].iterdir()) == sorted(point["paths"])

    def test_bitrate_is_eight_times_the_file_bytes_over_the_duration(self, face_src, rate_curve):
        for point in rate_curve:
            n_bytes = sum(len(Path(p).read_bytes()) for p in point["paths"])
            kbps = bitrate_kbps(bitstream_bytes(point["paths"]), len(face_src.frames), face_src.fps)
            assert kbps == pytest.approx(8 * n_bytes / face_src.duration_seconds / 1000)
            assert 0.5 < kbps < 500

    def test_a_fresh_process_decodes_the_same_frames_from_the_file_alone(self, codec, rate_curve, tmp_path):
        point = rate_curve[1]
        alone = tmp_path / "alone" / point["paths"][0].name
        alone.parent.mkdir()
        shutil.copy(point["paths"][0], alone)
        result = subprocess.run(
            [sys.executable, "-c", FRESH_DECODE, codec.name, str(PLUGIN_DIRS[0]), str(alone)],
            cwd=BASE_DIR, capture_output=True, text=True, timeout=120, check=True,
        )
        fresh = json.loads(result.stdout.splitlines()[-1])
        assert fresh == {"sha256": sha256(point["decoded"]), "shape": list(point["decoded"].shape)}

    def test_a_truncated_bitstream_is_refused(self, codec, rate_curve, tmp_path):
        data = rate_curve[0]["paths"][0].read_bytes()
        for length in (len(data) // 2, len(data) - 1):
            cut = tmp_path / f"cut-{length}.fqbs"
            cut.write_bytes(data[:length])
            with pytest.raises(BitstreamError, match="truncated"):
                codec.decode([cut])

    def test_another_codecs_bitstream_is_refused(self, codec, rate_curve, tmp_path):
        header, sections = read_bitstream(rate_curve[0]["paths"][0])
        foreign = tmp_path / "foreign.fqbs"
        foreign.write_bytes(pack_bitstream(type(header)(**{**vars(header), "codec": "other"}), sections))
        with pytest.raises(BitstreamError, match="written by codec 'other'"):
            codec.decode([foreign])

    def test_an_unknown_parameter_is_refused(self, codec, face_src, tmp_path):
        with pytest.raises(CodecError, match="unknown parameter"):
            codec.encode(face_src, {**codec.default_rate_points[0], "bogus": 1}, tmp_path)

    def test_rate_and_quality_rise_across_the_default_rate_points(self, face_src, rate_curve):
        kbps = [bitrate_kbps(bitstream_bytes(p["paths"]), len(face_src.frames), face_src.fps) for p in rate_curve]
        quality = [psnr(p["decoded"], face_src.frames) for p in rate_curve]
        assert kbps == sorted(kbps) and len(set(kbps)) == len(kbps), kbps
        assert quality == sorted(quality) and len(set(quality)) == len(quality), quality


def decoded_picture_types(data: bytes, encoder: str) -> list[str]:
    return [PictureType(frame.pict_type).name for frame in pyav_codec.decode_pictures(data, STREAMS[encoder])]


def smooth_clip(t: int = 5, size: int = 64) -> np.ndarray:
    """Slowly varying colours, which 4:2:0 subsampling barely changes: uint8 (t, size, size, 3)."""
    y, x = np.mgrid[0:size, 0:size] / size
    frames = np.stack([np.stack([40 + 170 * x, 60 + 150 * y, 200 - 150 * x * y + i], axis=-1) for i in range(t)])
    return frames.round().astype(np.uint8)


@pytest.mark.parametrize("encoder", sorted(STREAMS))
class TestElementaryStream:
    @pytest.mark.parametrize("count", [1, 2, 25, 125])
    def test_every_encoded_frame_is_decoded(self, encoder, count):
        frames = synthetic_frames(t=count, size=64)
        data = pyav_codec.encode_frames(frames, Fraction(25), STREAMS[encoder], 40)
        assert pyav_codec.decode_frames(data, STREAMS[encoder]).shape == frames.shape

    def test_low_delay_one_intra_frame_then_p_frames(self, encoder):
        data = pyav_codec.encode_frames(synthetic_frames(t=30, size=64), Fraction(25), STREAMS[encoder], 30)
        types = decoded_picture_types(data, encoder)
        assert types == ["I"] + ["P"] * 29

    def test_encoder_information_sei_is_not_charged(self, encoder):
        data = pyav_codec.encode_frames(synthetic_frames(t=2, size=64), Fraction(25), STREAMS[encoder], 30)
        assert b"x264 - core" not in data and b"x265 (build" not in data and b"Copy" not in data

    def test_colour_conversion_is_consistent_both_ways(self, encoder):
        frames = smooth_clip()
        finest = STREAMS[encoder].qp_range.start
        decoded = pyav_codec.decode_frames(pyav_codec.encode_frames(frames, Fraction(25), STREAMS[encoder], finest), STREAMS[encoder])
        error = decoded.astype(int) - frames
        # A range (limited/full) or matrix mismatch would shift colours by 10+ levels.
        assert abs(error.mean()) < 0.5
        assert np.abs(error).max() <= 6

    def test_odd_frame_size_is_refused(self, encoder):
        with pytest.raises(CodecError, match="even frame size"):
            pyav_codec.encode_frames(np.zeros((2, 63, 64, 3), np.uint8), Fraction(25), STREAMS[encoder], 30)

    @pytest.mark.parametrize("qp", ["below", "above", 30.0, "30", True])
    def test_qp_outside_the_formats_range_is_refused(self, encoder, qp):
        qp_range = STREAMS[encoder].qp_range
        qp = {"below": qp_range.start - 1, "above": qp_range.stop}.get(qp, qp)
        with pytest.raises(CodecError, match=f"QP must be an integer from {qp_range.start} to {qp_range.stop - 1}"):
            pyav_codec.encode_frames(synthetic_frames(t=1), Fraction(25), STREAMS[encoder], qp)

    def test_damaged_stream_is_refused(self, encoder):
        with pytest.raises(BitstreamError):
            pyav_codec.decode_frames(b"\x00\x00\x00\x01" + bytes(range(256)) * 4, STREAMS[encoder])
