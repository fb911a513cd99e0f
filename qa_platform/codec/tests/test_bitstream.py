"""The bitstream container: round trips, a small header, and clear refusals of damaged files."""
from fractions import Fraction

import pytest

from qa_platform.codec.bitstream import (
    MAGIC,
    BitstreamError,
    BitstreamHeader,
    only_file,
    pack_bitstream,
    read_bitstream,
    unpack_bitstream,
    write_bitstream,
)

HEADER = BitstreamHeader(codec="x265", params={"qp": 51}, width=256, height=256, fps=Fraction(25), frame_count=125)
SECTIONS = [b"\x00\x00\x00\x01key frame", b"", b"feature stream" * 10]


class TestContainer:
    def test_pack_and_unpack_give_back_header_and_sections(self):
        header, sections = unpack_bitstream(pack_bitstream(HEADER, SECTIONS))
        assert header == HEADER
        assert sections == SECTIONS

    def test_ntsc_frame_rate_and_float_params_survive(self):
        original = BitstreamHeader(codec="landmark-warp", params={"q": 0.1 + 0.2, "key_qp": 37},
                                   width=640, height=480, fps=Fraction(30000, 1001), frame_count=70000)
        header, _ = unpack_bitstream(pack_bitstream(original, []))
        assert header == original
        assert header.params["q"] == 0.1 + 0.2

    def test_header_stays_small(self):
        # Every header byte is charged to the PVS bitrate: 42 bytes here, 0.07 kbit/s over 5 s.
        overhead = len(pack_bitstream(HEADER, [b"stream"])) - len(b"stream")
        assert overhead <= 48

    def test_file_round_trip_leaves_no_temporary_file(self, tmp_path):
        path = write_bitstream(tmp_path / "a.fqbs", HEADER, SECTIONS)
        assert read_bitstream(path) == (HEADER, SECTIONS)
        assert [p.name for p in tmp_path.iterdir()] == ["a.fqbs"]


class TestRefusals:
    def test_every_truncation_is_refused(self):
        data = pack_bitstream(HEADER, SECTIONS)
        for length in range(len(data)):
            with pytest.raises(BitstreamError, match="truncated|not a FaceQA"):
                unpack_bitstream(data[:length])

    def test_trailing_bytes_are_refused(self):
        with pytest.raises(BitstreamError, match="unexpected bytes"):
            unpack_bitstream(pack_bitstream(HEADER, SECTIONS) + b"\x00")

    def test_wrong_magic_is_refused(self, tmp_path):
        path = tmp_path / "video.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(64))
        with pytest.raises(BitstreamError, match="not a FaceQA bitstream"):
            read_bitstream(path)

    def test_unknown_version_is_refused(self):
        data = bytearray(pack_bitstream(HEADER, SECTIONS))
        data[len(MAGIC)] = 99
        with pytest.raises(BitstreamError, match="version 99 is not supported"):
            unpack_bitstream(bytes(data))

    def test_damaged_parameters_are_refused(self):
        data = pack_bitstream(HEADER, []).replace(b'{"qp":51}', b'{"qp":5}}')
        with pytest.raises(BitstreamError, match="damaged"):
            unpack_bitstream(data)

    def test_another_codecs_bitstream_is_refused(self, tmp_path):
        path = write_bitstream(tmp_path / "a.fqbs", HEADER, SECTIONS)
        with pytest.raises(BitstreamError, match="written by codec 'x265'"):
            read_bitstream(path, codec="x264")

    def test_missing_file_is_refused(self, tmp_path):
        with pytest.raises(BitstreamError, match="no such bitstream file"):
            read_bitstream(tmp_path / "absent.fqbs")

    def test_values_that_do_not_fit_are_refused(self):
        too_wide = BitstreamHeader(codec="x", params={}, width=70000, height=1, fps=Fraction(25), frame_count=1)
        with pytest.raises(BitstreamError, match="does not fit"):
            pack_bitstream(too_wide, [])

    def test_zero_frame_count_is_refused(self):
        empty = BitstreamHeader(codec="x", params={}, width=2, height=2, fps=Fraction(25), frame_count=0)
        with pytest.raises(BitstreamError, match="zero"):
            unpack_bitstream(pack_bitstream(empty, []))

    def test_is_a_value_error(self):
        assert issubclass(BitstreamError, ValueError)

    def test_only_file_wants_exactly_one(self, tmp_path):
        assert only_file([tmp_path / "a"]) == tmp_path / "a"
        with pytest.raises(BitstreamError, match="exactly one"):
            only_file([tmp_path / "a", tmp_path / "b"])
        with pytest.raises(BitstreamError, match="exactly one"):
            only_file([])

    def test_a_wrong_section_count_is_refused(self, tmp_path):
        path = write_bitstream(tmp_path / "a.fqbs", HEADER, SECTIONS)
        with pytest.raises(BitstreamError, match="hold 2 section"):
            read_bitstream(path, sections=2)
