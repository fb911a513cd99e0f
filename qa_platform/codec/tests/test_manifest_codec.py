"""Manifest codecs: a real external program (tests/external_codec/toy_codec.py) driven through a TOML manifest."""
import re
import subprocess
import sys
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_frames
from qa_platform.codec import manifest as manifest_codec
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.anchor import to_rgb, to_yuv
from qa_platform.codec.base import CodecError, SourceClip, bitrate_kbps, bitstream_bytes
from qa_platform.codec.bitstream import BitstreamError, read_bitstream
from qa_platform.codec.registry import PluginError
from qa_platform.codec.testing import CodecContract
from qa_platform.core.checks import manifest_codec_warnings

# Every test here runs the toy external program: `make test`, not `make test-unit`.
pytestmark = pytest.mark.slow

TOY = Path(__file__).resolve().parent / "external_codec" / "toy_codec.py"
REPO_CODECS = Path(__file__).resolve().parents[3] / "codecs"
SIZE = ("--width", "{width}", "--height", "{height}", "--qp", "{qp}")


def toml_list(items) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def write_manifest(folder: Path, *, program: str = sys.executable, input_format: str = "y4m",
                   output_format: str = "yuv420p", encode_extra=(), decode_frames: str = "{frames}",
                   replace: tuple[str, str] = ("", "")) -> str:
    """Write a toy-codec manifest under a fresh codec name into ``folder``; return the name."""
    name = f"toy-{uuid.uuid4().hex[:8]}"
    encode = [program, str(TOY), "encode", *SIZE, "--frames", "{frames}", "--format", input_format,
              "--input", "{input}", "--out-dir", "{workdir}", *encode_extra]
    decode = [program, str(TOY), "decode", *SIZE, "--frames", decode_frames, "--format", output_format,
              "--in-dir", "{workdir}", "--output", "{output}", "--only", "luma.bin", "chroma.bin"]
    text = f"""
name = "{name}"
description = "toy external codec for the tests"
family = "conventional"
device = "cpu"
install = "it is in qa_platform/codec/tests/external_codec"
version_command = {toml_list([program, str(TOY), "--version"])}
version_pattern = 'toy-codec (\\S+)'
timeout_s = 60
rate_points = [{{qp = 40}}, {{qp = 28}}, {{qp = 16}}, {{qp = 4}}]

[params.qp]
type = "int"
min = 0
max = 63

[encode]
input = "{input_format}"
command = {toml_list(encode)}
bitstream = ["luma.bin", "chroma.bin"]

[decode]
output = "{output_format}"
command = {toml_list(decode)}
""".replace(*replace)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(text)
    return name


def yuv420p_round_trip(frames: np.ndarray) -> np.ndarray:
    """What a lossless 4:2:0 codec returns: RGB -> yuv420p -> RGB with the anchors' conversion."""
    return np.stack([to_rgb(to_yuv(image, index)) for index, image in enumerate(frames)])


@pytest.fixture
def clip() -> SourceClip:
    return SourceClip(frames=synthetic_frames(t=5, size=32), fps=Fraction(25))


@pytest.fixture
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    return codec_registry.get_codec(write_manifest(folder), dirs=[folder])


class TestRoundTrip:
    @pytest.mark.parametrize(("input_format", "output_format"), [("y4m", "yuv420p"), ("yuv420p", "y4m")])
    def test_qp_4_is_lossless_on_the_4_2_0_samples(self, tmp_path, clip, input_format, output_format):
        # Qstep(4) = 1: the toy codec keeps every sample, so only the colour conversion remains.
        folder = tmp_path / "plugins"
        codec = codec_registry.get_codec(
            write_manifest(folder, input_format=input_format, output_format=output_format), dirs=[folder])
        paths = codec.encode(clip, {"qp": 4}, tmp_path / "out")
        decoded = codec.decode(paths)
        assert decoded.dtype == np.uint8 and decoded.shape == clip.frames.shape
        assert np.array_equal(decoded, yuv420p_round_trip(clip.frames))

    def test_registry_lists_the_manifest_codec_with_its_version(self, toy):
        assert isinstance(toy, manifest_codec.ManifestCodec)
        assert toy.version.startswith("1.0 (manifest sha256 ")
        assert toy.param_names == ("qp",) and toy.default_rate_points[0] == {"qp": 40}
        assert toy.unavailable_reason() == ""

    def test_rate_falls_and_error_rises_with_qp(self, toy, clip, tmp_path):
        sizes, errors = [], []
        for qp in (4, 28, 40):
            paths = toy.encode(clip, {"qp": qp}, tmp_path / str(qp))
            sizes.append(bitstream_bytes(paths))
            errors.append(np.abs(toy.decode(paths).astype(int) - clip.frames).mean())
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 3, sizes
        assert errors == sorted(errors) and len(set(errors)) == 3, errors


class TestBitstream:
    def test_every_file_the_codec_wrote_is_stored_and_counted(self, toy, clip, tmp_path):
        paths = toy.encode(clip, {"qp": 28}, tmp_path)
        assert [p.name for p in paths] == ["chroma.bin", "header.fqbs", "luma.bin"]
        assert sorted(tmp_path.iterdir()) == paths
        n_bytes = sum(len(p.read_bytes()) for p in paths)
        assert bitstream_bytes(paths) == n_bytes
        assert bitrate_kbps(bitstream_bytes(paths), 5, clip.fps) == pytest.approx(8 * n_bytes / 0.2 / 1000)

    def test_the_header_is_a_few_tens_of_bytes_and_carries_what_the_decoder_needs(self, toy, clip, tmp_path):
        paths = toy.encode(clip, {"qp": 28}, tmp_path)
        header_path = tmp_path / manifest_codec.HEADER_NAME
        header, sections = read_bitstream(header_path, codec=toy.name)
        assert sections == [] and header_path.stat().st_size < 64
        assert (header.width, header.height, header.frame_count, header.fps, header.params) == (
            32, 32, 5, Fraction(25), {"qp": 28})
        assert len(paths) == 3

    def test_the_decoder_sees_only_the_bitstream_files(self, toy, clip, tmp_path):
        # The manifest runs the toy decoder with --only luma.bin chroma.bin: it exits 3
        # when its directory holds anything else, so a decode that succeeds saw nothing else.
        paths = toy.encode(clip, {"qp": 28}, tmp_path / "bitstream")
        assert toy.decode(paths).shape == clip.frames.shape
        stranger = tmp_path / "bitstream" / "source.y4m"
        stranger.write_bytes(b"not for the decoder")
        with pytest.raises(BitstreamError, match="do not match encode.bitstream"):
            toy.decode(paths + [stranger])

    def test_the_toy_decoder_refuses_a_directory_holding_other_files(self, toy, clip, tmp_path):
        toy.encode(clip, {"qp": 28}, tmp_path)
        result = subprocess.run(
            [sys.executable, str(TOY), "decode", "--width", "32", "--height", "32", "--qp", "28", "--frames", "5",
             "--format", "yuv420p", "--in-dir", str(tmp_path), "--output", str(tmp_path / "out.yuv"),
             "--only", "luma.bin", "chroma.bin"], capture_output=True, text=True, check=False)
        assert result.returncode == 1 and "header.fqbs" in result.stderr

    def test_a_missing_header_or_bitstream_file_is_refused(self, toy, clip, tmp_path):
        paths = toy.encode(clip, {"qp": 28}, tmp_path)
        with pytest.raises(BitstreamError, match="no header.fqbs"):
            toy.decode([p for p in paths if p.name != "header.fqbs"])
        with pytest.raises(BitstreamError, match="do not match encode.bitstream"):
            toy.decode([p for p in paths if p.name != "luma.bin"])

    def test_a_decoded_frame_count_mismatch_is_a_bitstream_error(self, tmp_path, clip):
        folder = tmp_path / "plugins"
        codec = codec_registry.get_codec(write_manifest(folder, decode_frames="3"), dirs=[folder])
        paths = codec.encode(clip, {"qp": 28}, tmp_path / "out")
        with pytest.raises(BitstreamError, match=r"wrote 4608 bytes of yuv420p, expected 5 frames of 32x32"):
            codec.decode(paths)


class TestFailures:
    def test_a_failing_command_gives_the_command_exit_code_and_stderr(self, tmp_path, clip):
        folder = tmp_path / "plugins"
        codec = codec_registry.get_codec(write_manifest(folder, encode_extra=["--bogus"]), dirs=[folder])
        with pytest.raises(CodecError) as caught:
            codec.encode(clip, {"qp": 28}, tmp_path / "out")
        message = str(caught.value)
        assert "toy_codec.py encode" in message and "--bogus" in message
        assert "exited with code 2" in message and "unrecognized arguments: --bogus" in message
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

    def test_a_bitstream_pattern_that_catches_the_source_is_refused(self, tmp_path, clip):
        folder = tmp_path / "plugins"
        codec = codec_registry.get_codec(
            write_manifest(folder, replace=('bitstream = ["luma.bin", "chroma.bin"]', 'bitstream = ["*"]')),
            dirs=[folder])
        with pytest.raises(CodecError, match="matches the encoder's input"):
            codec.encode(clip, {"qp": 28}, tmp_path / "out")
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

    def test_a_parameter_out_of_range_is_refused_before_running(self, toy, clip, tmp_path):
        with pytest.raises(CodecError, match=r"qp must be in 0..63, got 64"):
            toy.encode(clip, {"qp": 64}, tmp_path)
        with pytest.raises(CodecError, match="needs parameter"):
            toy.encode(clip, {}, tmp_path)

    def test_a_missing_program_makes_the_codec_unavailable_with_a_warning(self, tmp_path, clip):
        folder = tmp_path / "plugins"
        name = write_manifest(folder, program="no-such-encoder-app")
        codec = codec_registry.get_codec(name, dirs=[folder])
        assert "program 'no-such-encoder-app' not found on PATH" in codec.unavailable_reason()
        assert codec.version.startswith("unknown (manifest sha256 ")
        with pytest.raises(CodecError, match="codec unavailable: .*no-such-encoder-app"):
            codec.encode(clip, {"qp": 28}, tmp_path / "out")
        (warning,) = manifest_codec_warnings(dirs=[folder])
        assert warning.id == "qa_platform.W002" and name in warning.msg and "no-such-encoder-app" in warning.msg
        assert warning.hint == "it is in qa_platform/codec/tests/external_codec"

    def test_the_shipped_manifests_are_listed_and_unavailable_here(self):
        codecs = codec_registry.load_codecs([REPO_CODECS])
        for name, program in (("vvenc", "vvencapp"), ("vtm", "EncoderAppStatic"),
                              ("example-research-gfvc", "GFVC_SOFTWARE_DIR")):
            assert program in codecs[name]().unavailable_reason()


class TestMalformedManifests:
    @pytest.mark.parametrize(("replace", "field"), [
        (('family = "conventional"', 'family = "neural"'), "family"),
        (('bitstream = ["luma.bin", "chroma.bin"]', ""), "encode.bitstream"),
        (("'--only'", "'{input}'"), "decode.command"),
        (("{qp = 40}", "{qp = 99}"), "rate_points[0]"),
        (("timeout_s = 60", "timout_s = 60"), "timout_s"),
        (('min = 0', 'min = "zero"'), "params.qp.min"),
        (('bitstream = ["luma.bin"', 'bitstream = ["../luma.bin"'), "encode.bitstream"),
    ])
    def test_a_broken_manifest_is_a_plugin_error_naming_the_file_and_field(self, tmp_path, replace, field):
        write_manifest(tmp_path, replace=replace)
        with pytest.raises(PluginError, match=re.escape(f".toml: field '{field}'")):
            codec_registry.load_codecs([tmp_path])

    def test_invalid_toml_names_the_file(self, tmp_path):
        (tmp_path / "broken.toml").write_text("name = \n")
        with pytest.raises(PluginError, match="broken.toml: not valid TOML"):
            codec_registry.load_codecs([tmp_path])

    def test_a_name_declared_twice_is_refused(self, tmp_path):
        name = write_manifest(tmp_path / "a")
        codec_registry.load_codecs([tmp_path / "a"])
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "other.toml").write_text((tmp_path / "a" / f"{name}.toml").read_text())
        with pytest.raises(PluginError, match=f"codec name '{name}' is declared in both"):
            codec_registry.load_codecs([tmp_path / "a", tmp_path / "b"])


class TestKeyFrames:
    def test_one_frame_round_trip_with_packed_files(self, toy, clip, tmp_path):
        frame = clip.frames[0]
        data = manifest_codec.intra_encode(toy, frame, 4, tmp_path)
        assert list(tmp_path.iterdir()) == []
        assert data[:4] == b"\x03[4]"
        files = manifest_codec.unpack_files(data[4:])
        assert sorted(files) == ["chroma.bin", "luma.bin"]
        assert all(128 <= len(content) < 16384 for content in files.values())  # two-byte LEB128 sizes
        assert len(data) == 4 + sum(map(len, files.values())) + 25  # "[4]" with its length byte, then the packing
        decoded = manifest_codec.intra_decode(toy, data, 32, 32, tmp_path)
        assert list(tmp_path.iterdir()) == []
        assert decoded.shape == (32, 32, 3) and np.array_equal(decoded, yuv420p_round_trip(frame[None])[0])

    def test_a_damaged_packing_is_refused(self, toy, clip, tmp_path):
        data = manifest_codec.intra_encode(toy, clip.frames[0], 28, tmp_path)
        with pytest.raises(BitstreamError, match="truncated"):
            manifest_codec.intra_decode(toy, data[:-1], 32, 32, tmp_path)
        with pytest.raises(BitstreamError, match="trailing"):
            manifest_codec.unpack_files(data[5:] + b"\x00")


@pytest.mark.django_db
class TestPvsCode:
    def test_a_manifest_codec_codes_a_real_pvs(self, tmp_path, data_dir, settings, django_capture_on_commit_callbacks):
        from qa_platform.codec import video
        from qa_platform.core.models import Source
        from qa_platform.core.services import database_build, pvs_code

        folder = tmp_path / "plugins"
        name = write_manifest(folder)
        settings.CODEC_PLUGIN_DIRS = [folder]
        frames = synthetic_frames(t=25, size=64)
        video.write_lossless(data_dir / "sources" / "synthetic" / "src.mkv", frames, Fraction(25))
        source = Source.objects.create(
            name="synthetic", origin_path="/dev/null", origin_sha256="0" * 64, size=64,
            fps_num=25, max_frames=25, frame_count=25, crop_x=0, crop_y=0, crop_size=64,
            lossless_path="sources/synthetic/src.mkv", browser_path="sources/synthetic/src.mp4",
        )
        with django_capture_on_commit_callbacks(execute=False):
            (pvs,) = database_build(codec_names=[name], sources=[source], rate_points={name: [{"qp": 28}]})
        pvs = pvs_code(pvs=pvs)
        stored = sorted((data_dir / pvs.bitstream_path).iterdir())
        assert [p.name for p in stored] == ["chroma.bin", "header.fqbs", "luma.bin"]
        n_bytes = sum(p.stat().st_size for p in stored)
        assert pvs.bitstream_bytes == n_bytes and pvs.kbps == pytest.approx(8 * n_bytes / 1000)
        assert pvs.codec_version.startswith("1.0 (manifest") and pvs.device == "cpu"
        decoded, _ = video.read_frames(data_dir / pvs.decoded_path)
        assert decoded.shape == frames.shape
        assert 0 < np.abs(decoded.astype(int) - frames).mean() < 10


def test_list_codecs_shows_an_unavailable_codec_with_its_reason(tmp_path, settings):
    from io import StringIO

    from django.core.management import call_command

    name = write_manifest(tmp_path, program="no-such-encoder-app")
    settings.CODEC_PLUGIN_DIRS = [tmp_path]
    out = StringIO()
    call_command("list_codecs", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1].split()[0] == name and lines[1].split()[-1] == "no"
    assert lines[2].startswith(f"{tmp_path / name}.toml: (qa_platform.W002) codec '{name}' is unavailable: "
                               "program 'no-such-encoder-app' not found on PATH")
    assert lines[3] == "\tHINT: it is in qa_platform/codec/tests/external_codec"


class TestToyExternalCodecContract(CodecContract):
    """The codec contract on a manifest codec: the toy external program, two bitstream files plus the header."""

    kbps_range = (0.5, 5000.0)

    @pytest.fixture(scope="class")
    @classmethod
    def codec(cls, tmp_path_factory):
        folder = tmp_path_factory.mktemp("toy-plugin")
        name = write_manifest(folder)
        return codec_registry.get_codec(name, dirs=[folder])

    @pytest.fixture(scope="class")
    @classmethod
    def source_clip(cls):
        return SourceClip(frames=synthetic_frames(t=10, size=64), fps=Fraction(25))
