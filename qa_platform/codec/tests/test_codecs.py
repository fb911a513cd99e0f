"""One contract, run against every codec of the repository's plugin folder (as Django's
SessionTestsMixin runs against every session backend), plus the PyAV elementary-stream helper.

Codecs see a real face clip: ../shared/faces (skipped where absent), prepared
as a SRC is (fixed face crop, 256x256, 25 fps), 30 frames.
"""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from av.video.frame import PictureType

from conftest import FACES_DIR, synthetic_frames
from qa_platform.codec import anchor as pyav_codec
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import CodecError, SourceClip
from qa_platform.codec.bitstream import BitstreamError
from qa_platform.codec.testing import CodecContract
from qa_platform.core.ingest import prepare_clip

BASE_DIR = Path(__file__).resolve().parents[3]
PLUGIN_DIRS = [BASE_DIR / "codecs"]
CODEC_NAMES = sorted(codec_registry.load_codecs(PLUGIN_DIRS))
# The encoder of every anchor plugin, by FFmpeg encoder name.
STREAMS = {cls.stream.encoder: cls.stream for cls in codec_registry.load_codecs(PLUGIN_DIRS).values()
           if issubclass(cls, pyav_codec.AnchorCodec)}
LOW_DELAY_INTER = {"libvvenc": "B"}
FACE_CLIP = "lp_d18.mp4"
N_FRAMES = 30


@pytest.fixture(scope="module")
def face_src() -> SourceClip:
    if not FACES_DIR.is_dir():
        pytest.skip("../shared/faces is absent")
    prepared = prepare_clip(FACES_DIR / FACE_CLIP, max_frames=N_FRAMES)
    return SourceClip(frames=prepared.frames, fps=prepared.fps)


@pytest.mark.slow
class TestRepositoryCodecs(CodecContract):
    """The contract on every codec of codecs/ that runs here (keypoint-anim with a trained checkpoint:
    training/tests/test_keypoint_anim.py; manifest codecs through the toy program: test_manifest_codec.py)."""

    @pytest.fixture(scope="class", params=CODEC_NAMES)
    @classmethod
    def codec(cls, request):
        return codec_registry.get_codec(request.param, dirs=PLUGIN_DIRS)

    @pytest.fixture(scope="class")
    @classmethod
    def source_clip(cls, face_src):
        return face_src


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

    def test_low_delay_one_intra_frame_then_inter_frames(self, encoder):
        data = pyav_codec.encode_frames(synthetic_frames(t=30, size=64), Fraction(25), STREAMS[encoder], 30)
        types = decoded_picture_types(data, encoder)
        # VVC's low delay is B pictures with past references only (the JVET GFVC anchor's low delay B).
        assert types == ["I"] + [LOW_DELAY_INTER.get(encoder, "P")] * 29

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
