"""The VVC anchor (codecs/vvc.py): the JVET GFVC low-delay B structure, what the stream carries,
the 8- and 10-bit pictures and their conversion to the 8-bit RGB that metrics and raters see,
and VVC-coded key frames of the generative codecs."""
import re
from fractions import Fraction

import av
import numpy as np
import pytest

from conftest import REPO_CODECS, synthetic_frames
from qa_platform.codec import anchor, ffmpeg
from qa_platform.codec import key_frames as kf
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import CodecError, SourceClip
from qa_platform.codec.bitstream import read_bitstream

FPS = Fraction(25)
# VVC NAL unit types (ITU-T H.266 Table 5): IDR_N_LP, SPS, PPS, AUD, prefix and suffix SEI.
IDR_N_LP, SPS_NUT, PPS_NUT, AUD_NUT, PREFIX_SEI, SUFFIX_SEI = 8, 15, 16, 20, 23, 24
VCL_END = 12  # types 0..11 are coded slices of pictures


@pytest.fixture(scope="module")
def vvc_module():
    codec_registry.load_codecs([REPO_CODECS])
    return codec_registry.get_codec("vvc", dirs=[REPO_CODECS])


def nal_unit_types(data: bytes) -> list[int]:
    """nal_unit_type of every NAL unit of an Annex B stream (H.266 7.3.1.2: bits 3..7 of the second byte)."""
    return [(data[match.end() + 1] >> 3) & 0x1F for match in re.finditer(b"\x00\x00\x01", data)]


def stream(vvc, frames, qp=42, bit_depth=8) -> bytes:
    return anchor.encode_frames(frames, FPS, vvc.stream_for({"bit_depth": bit_depth}), qp)


def yuv_frame(y: int, cb: int, cr: int, size: int = 16, pix_fmt: str = "yuv420p10le") -> av.VideoFrame:
    """A flat Y'CbCr 4:2:0 picture with the given sample values."""
    planes = np.concatenate([np.full((size, size), y), np.full((size // 4, size), cb), np.full((size // 4, size), cr)])
    return av.VideoFrame.from_ndarray(planes.astype(np.uint16 if pix_fmt.endswith("le") else np.uint8), format=pix_fmt)


def bt601_limited_to_rgb(y: float, cb: float, cr: float, bits: int) -> np.ndarray:
    """ITU-R BT.601 limited-range Y'CbCr at ``bits`` bits -> full-range 8-bit R'G'B', rounded (BT.601-7 Table 3)."""
    scale = 2 ** (bits - 8)
    luma = (y / scale - 16) / 219
    blue, red = (cb / scale - 128) / 224, (cr / scale - 128) / 224
    kr, kb = 0.299, 0.114
    r = luma + 2 * (1 - kr) * red
    b = luma + 2 * (1 - kb) * blue
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.round(np.array([r, g, b]) * 255), 0, 255)


class TestLowDelayB:
    def test_the_stream_has_no_delimiters_no_sei_and_one_intra_picture(self, vvc_module):
        types = nal_unit_types(stream(vvc_module, synthetic_frames(t=20, size=64)))
        assert types[:2] == [SPS_NUT, PPS_NUT]
        assert not {AUD_NUT, PREFIX_SEI, SUFFIX_SEI} & set(types)
        pictures = [nal_type for nal_type in types if nal_type < VCL_END]
        assert pictures[0] == IDR_N_LP and len(pictures) == 20 and pictures.count(IDR_N_LP) == 1

    def test_the_libvvenc_version_recorded_is_the_one_that_runs(self, vvc_module):
        _, log = ffmpeg.run_with_log(["-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", "64x64", "-i", "-",
                                      "-c:v", "libvvenc", "-f", "vvc", "-"],
                                     stdin=bytes(64 * 64 * 3))
        running = re.search(r"libvvenc version: (\S+)", log).group(1)
        assert f"libvvenc {running}" in vvc_module.version

    def test_qp_reaches_the_encoder(self, vvc_module):
        frames = synthetic_frames(t=10, size=64)
        assert len(stream(vvc_module, frames, qp=52)) < len(stream(vvc_module, frames, qp=27))

    @pytest.mark.parametrize("qp", [-1, 64])
    def test_qp_outside_0_to_63_is_refused(self, vvc_module, qp):
        with pytest.raises(CodecError, match="from 0 to 63"):
            stream(vvc_module, synthetic_frames(t=1), qp=qp)

    def test_a_bit_depth_other_than_8_or_10_is_refused(self, vvc_module, tmp_path):
        clip = SourceClip(frames=synthetic_frames(t=2), fps=FPS)
        with pytest.raises(CodecError, match="bit_depth is 8 or 10"):
            vvc_module.encode(clip, {"qp": 42, "bit_depth": 12}, tmp_path)


class TestPictures:
    @pytest.mark.parametrize("bit_depth, pix_fmt", [(8, "yuv420p"), (10, "yuv420p10le")])
    def test_the_decoded_pictures_have_the_internal_bit_depth(self, vvc_module, bit_depth, pix_fmt):
        fmt = vvc_module.stream_for({"bit_depth": bit_depth})
        pictures = anchor.decode_pictures(stream(vvc_module, synthetic_frames(t=3), bit_depth=bit_depth), fmt)
        assert {picture.format.name for picture in pictures} == {pix_fmt}

    def test_the_encoder_gets_the_8_bit_picture_times_4(self):
        frames = synthetic_frames(t=2, size=16)
        eight = np.frombuffer(anchor.yuv420_planes(frames), np.uint8)
        ten = np.frombuffer(anchor.yuv420_planes(frames, "yuv420p10le"), "<u2")
        np.testing.assert_array_equal(ten, eight.astype(np.uint16) * 4)

    @pytest.mark.parametrize("y, cb, cr", [(64, 512, 512), (940, 512, 512), (502, 320, 700), (700, 900, 150),
                                           (301, 601, 459)])
    def test_10_bit_pictures_become_rgb_by_bt601_limited_range_rounded(self, y, cb, cr):
        rgb = anchor.to_rgb(yuv_frame(y, cb, cr))
        expected = bt601_limited_to_rgb(y, cb, cr, bits=10)
        # libswscale's fixed-point matrix: at most one code from the rounded exact value.
        assert np.abs(rgb.astype(int) - expected).max() <= 1, (rgb[0, 0], expected)

    def test_a_10_bit_picture_of_an_8_bit_one_gives_the_same_rgb_within_one_code(self):
        for y, cb, cr in [(16, 128, 128), (235, 128, 128), (120, 90, 200), (81, 90, 240)]:
            eight = anchor.to_rgb(yuv_frame(y, cb, cr, pix_fmt="yuv420p")).astype(int)
            ten = anchor.to_rgb(yuv_frame(4 * y, 4 * cb, 4 * cr)).astype(int)
            assert np.abs(eight - ten).max() <= 1

    def test_a_pvs_decodes_from_its_bitstream_file(self, vvc_module, tmp_path):
        frames = synthetic_frames(t=12, size=64)
        (path,) = vvc_module.encode(SourceClip(frames=frames, fps=FPS), {"qp": 27, "bit_depth": 10}, tmp_path)
        header, _ = read_bitstream(path, codec="vvc", sections=1)
        assert header.params == {"qp": 27, "bit_depth": 10}
        decoded = vvc_module.decode([path])
        assert decoded.shape == frames.shape
        assert kf.psnr(decoded, frames) > 25


class TestKeyFrames:
    def test_generative_key_frames_coded_by_vvc_intra(self, vvc_module):
        frames = synthetic_frames(t=12, size=64)
        policy = kf.KeyFramePolicy.from_params({"key_qp": 32, "key_period": 5, "key_codec": "vvc"})
        sent = kf.code_key_frames(frames, FPS, policy)
        assert sent.indices == (0, 5, 10)
        received = kf.decode_key_frames(sent.payload, "vvc", 64, 64, frame_count=12)
        np.testing.assert_array_equal(received.decoded, sent.decoded)
        assert all(kf.psnr(received.decoded[k], frames[t]) > 25 for k, t in enumerate(sent.indices))
