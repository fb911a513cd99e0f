"""export_bitstream and check_conformance: the stream a reference decoder reads, and FaceQA's decode against one."""
import struct
import sys
import textwrap

import av
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qa_platform.codec.bitstream import read_bitstream
from qa_platform.core.exports import reference_decoder
from qa_platform.core.services import database_build, pvs_code

pytestmark = pytest.mark.django_db

# A stand-in for VTM's DecoderApp (-b STREAM -o OUT): decodes with FFmpeg and writes the raw planes;
# with a last argument "flip" it changes one byte of picture 3. VTM itself is not installed here.
STAND_IN_DECODER = textwrap.dedent("""
    import sys
    import av
    stream, out = sys.argv[sys.argv.index("-b") + 1], sys.argv[sys.argv.index("-o") + 1]
    container = av.open(stream, format="vvc")
    data = bytearray()
    for frame in container.decode(video=0):
        for plane in frame.planes:
            sample = 2 if frame.format.name.endswith("le") else 1
            row = plane.line_size
            raw = bytes(plane)
            data += b"".join(raw[y * row:y * row + plane.width * sample] for y in range(plane.height))
    if sys.argv[-1] == "flip":
        data[3 * 64 * 64 * 3 // 2 + 10] ^= 1  # picture 3 of 64x64 8-bit 4:2:0
    open(out, "wb").write(data)
""")


def coded(source, codec, params, capture):
    with capture(execute=False):
        (pvs,) = database_build(codec_names=[codec], sources=[source], rate_points={codec: [params]})
    return pvs_code(pvs=pvs)


@pytest.fixture
def vvc_pvs(source, data_dir, django_capture_on_commit_callbacks):
    return coded(source, "vvc", {"qp": 42}, django_capture_on_commit_callbacks)


@pytest.fixture
def stand_in(tmp_path):
    script = tmp_path / "decoder.py"
    script.write_text(STAND_IN_DECODER)
    return f"{sys.executable} {script} -b {{bitstream}} -o {{output}}"


class TestExport:
    def test_a_vvc_pvs_exports_its_bare_annex_b_stream(self, vvc_pvs, data_dir, tmp_path):
        out = tmp_path / "pvs.266"
        call_command("export_bitstream", str(vvc_pvs.pk), "--out", str(out))
        stored = next((data_dir / vvc_pvs.bitstream_path).iterdir())
        _, (stream,) = read_bitstream(stored)
        assert out.read_bytes() == stream and out.read_bytes().startswith(b"\x00\x00\x00\x01")
        with av.open(str(out), format="vvc") as container:
            assert sum(1 for _ in container.decode(video=0)) == 25

    def test_av1_becomes_ivf_with_its_temporal_delimiters(self, source, data_dir, tmp_path,
                                                         django_capture_on_commit_callbacks):
        pvs = coded(source, "svtav1", {"qp": 55}, django_capture_on_commit_callbacks)
        out = tmp_path / "pvs.ivf"
        call_command("export_bitstream", str(pvs.pk), "--out", str(out))
        data = out.read_bytes()
        magic, _, header_size, fourcc, width, height, _, _, count = struct.unpack("<4sHH4sHHIII", data[:28])
        assert (magic, header_size, fourcc, width, height, count) == (b"DKIF", 32, b"AV01", 64, 64, 25)
        assert data[32 + 12:32 + 14] == b"\x12\x00"  # the first temporal unit opens with its delimiter
        with av.open(str(out)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 25

    def test_a_pvs_of_a_codec_faceqa_does_not_run_exports_its_files_as_stored(
            self, source, data_dir, tmp_path, django_capture_on_commit_callbacks):
        pvs = coded(source, "x265", {"qp": 40}, django_capture_on_commit_callbacks)
        pvs.hrc.codec = "someone-elses-codec"  # as an imported PVS: its files as given
        pvs.hrc.save()
        out = tmp_path / "copy.fqbs"
        call_command("export_bitstream", str(pvs.pk), "--out", str(out))
        stored = next((data_dir / pvs.bitstream_path).iterdir())
        assert out.read_bytes() == stored.read_bytes()

    def test_a_pvs_not_coded_yet_is_refused(self, source, tmp_path, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=False):
            (pvs,) = database_build(codec_names=["vvc"], sources=[source], rate_points={"vvc": [{"qp": 42}]})
        with pytest.raises(CommandError, match="not coded"):
            call_command("export_bitstream", str(pvs.pk), "--out", str(tmp_path / "x.266"))
        assert not (tmp_path / "x.266").exists()

    def test_an_unknown_pvs_is_refused(self, tmp_path):
        with pytest.raises(CommandError, match="no PVS with id 999"):
            call_command("export_bitstream", "999", "--out", str(tmp_path / "x"))


class TestConformance:
    def test_a_decoder_that_agrees_passes(self, vvc_pvs, stand_in, capsys):
        call_command("check_conformance", str(vvc_pvs.pk), "--decoder", stand_in)
        assert "all 25 pictures identical" in capsys.readouterr().out

    def test_one_changed_byte_is_found_in_its_picture(self, vvc_pvs, stand_in):
        with pytest.raises(CommandError, match=r"differs from FaceQA's decode: pictures 3;"):
            call_command("check_conformance", str(vvc_pvs.pk), "--decoder", f"{stand_in} flip")

    def test_a_damaged_stored_bitstream_is_a_one_line_error(self, vvc_pvs, data_dir, stand_in):
        stored = next((data_dir / vvc_pvs.bitstream_path).iterdir())
        stored.write_bytes(stored.read_bytes()[:40])
        with pytest.raises(CommandError, match=rf"PVS {vvc_pvs.pk}: .*fqbs"):
            call_command("check_conformance", str(vvc_pvs.pk), "--decoder", stand_in)

    def test_without_a_decoder_it_says_how_to_get_vtm(self, vvc_pvs, monkeypatch):
        monkeypatch.delenv("FACEQA_VTM_DECODER", raising=False)
        monkeypatch.setenv("PATH", "/nonexistent")
        with pytest.raises(CommandError, match="build VTM"):
            call_command("check_conformance", str(vvc_pvs.pk))

    def test_the_default_is_vtm_with_output_at_the_streams_bit_depth(self, monkeypatch, tmp_path):
        program = tmp_path / "DecoderAppStatic"
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
        monkeypatch.delenv("FACEQA_VTM_DECODER", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
        assert reference_decoder() == ["DecoderAppStatic", "-b", "{bitstream}", "-o", "{output}", "-d", "0"]

    def test_a_non_anchor_pvs_is_refused(self, vvc_pvs):
        vvc_pvs.hrc.codec = "landmark-warp"
        vvc_pvs.hrc.save()
        with pytest.raises(CommandError, match="not a conventional anchor"):
            call_command("check_conformance", str(vvc_pvs.pk), "--decoder", "true {bitstream} {output}")
