"""Importing PVSs coded elsewhere: one PVS from its files, or a JVET GFVC experiment folder (manage.py import_pvs)."""
import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from qa_platform.codec import video
from qa_platform.codec.base import bitrate_kbps
from qa_platform.core import imports, jvet_gfvc
from qa_platform.core.imports import PvsImportError, pvs_import, pvs_import_jvet
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source

pytestmark = pytest.mark.django_db


def _src_frames(data_dir, source) -> np.ndarray:
    return video.read_frames(data_dir / source.lossless_path)[0]


def _noisy(frames: np.ndarray, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-12, 13, size=frames.shape)
    return np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)


def _write_rgb(path: Path, frames: np.ndarray) -> Path:
    """Planar RGB 4:4:4 as the JVET decoders write it: per frame a 3 x H x W uint8 array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(frames.transpose(0, 3, 1, 2)).tofile(path)
    return path


def _write_y4m(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    y, u, v = video.rgb_to_yuv420p(frames)
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{frames.shape[2]} H{frames.shape[1]} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        handle.writelines(b"FRAME\n" + y[index].tobytes() + u[index].tobytes() + v[index].tobytes() for index in range(len(frames)))
    return path


def _random_file(path: Path, n_bytes: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes())
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def bitstreams(tmp_path) -> list[Path]:
    return [_random_file(tmp_path / "run" / "key.bin", 1500, 1), _random_file(tmp_path / "run" / "kp.bin", 333, 2)]


def assert_nothing_written(data_dir, pvs_count=0, hrc_count=0):
    assert Pvs.objects.count() == pvs_count
    assert Hrc.objects.count() == hrc_count
    folders = sorted((data_dir / "pvs").iterdir()) if (data_dir / "pvs").is_dir() else []
    assert len(folders) == pvs_count, folders


class TestImportOnePvs:
    def test_an_mp4_is_stored_as_a_coded_pvs_with_its_bits_and_provenance(self, source, data_dir, tmp_path,
                                                                          bitstreams):
        decoded = video.write_browser_copy(tmp_path / "run" / "dec.mp4", _noisy(_src_frames(data_dir, source)),
                                           Fraction(25))
        pvs = pvs_import(codec="DAC", params='{"qp": 42}', source="synthetic", decoded=decoded, bitstream=bitstreams)

        assert pvs.status == JobStatus.DONE and pvs.imported_at is not None and pvs.finished_at is not None
        assert pvs.bitstream_bytes == 1833
        assert pvs.kbps == pytest.approx(bitrate_kbps(1833, 25, Fraction(25))) == pytest.approx(14.664)
        stored = sorted((data_dir / pvs.bitstream_path).iterdir())
        assert [p.name for p in stored] == ["key.bin", "kp.bin"]
        assert [p.read_bytes() for p in stored] == [b.read_bytes() for b in bitstreams]
        frames, fps = video.read_frames(data_dir / pvs.decoded_path)
        assert fps == 25 and np.array_equal(frames, video.read_frames(decoded)[0])
        assert (data_dir / pvs.browser_path).stat().st_size > 0
        assert pvs.hrc.codec == "DAC" and pvs.hrc.params == {"qp": 42} and pvs.hrc.family == "generative"
        assert pvs.hrc.label == "DAC qp=42" and pvs.hrc.curve == "DAC" and pvs.hrc.codec_version == "imported"
        assert pvs.codec_version == "imported" and pvs.import_origin == "files"
        assert pvs.import_files == [
            {"role": "bitstream", "name": str(bitstreams[0].resolve()), "stored": "key.bin", "bytes": 1500,
             "sha256": _sha(bitstreams[0])},
            {"role": "bitstream", "name": str(bitstreams[1].resolve()), "stored": "kp.bin", "bytes": 333,
             "sha256": _sha(bitstreams[1])},
            {"role": "decoded", "name": str(decoded.resolve()), "bytes": decoded.stat().st_size,
             "sha256": _sha(decoded)},
        ]
        assert not [p for p in (data_dir / "pvs" / str(pvs.pk)).rglob(".*")]  # no temporary file left

    def test_a_y4m_is_read_through_pyav(self, source, data_dir, tmp_path, bitstreams):
        decoded = _write_y4m(tmp_path / "dec.y4m", _noisy(_src_frames(data_dir, source)))
        pvs = pvs_import(codec="CoFaCo", params={"rate": 3}, source="synthetic", decoded=decoded,
                         bitstream=bitstreams, rate_params=("rate",), family="conventional",
                         codec_version="v1.2")
        frames, _ = video.read_frames(data_dir / pvs.decoded_path)
        assert frames.shape == (25, 64, 64, 3) and np.array_equal(frames, video.read_frames(decoded)[0])
        assert pvs.hrc.family == "conventional" and pvs.hrc.codec_version == "imported v1.2"

    def test_a_planar_rgb_file_is_stored_bit_exact(self, source, data_dir, tmp_path, bitstreams):
        expected = _noisy(_src_frames(data_dir, source))
        decoded = _write_rgb(tmp_path / "dec.rgb", expected)
        pvs = pvs_import(codec="HDAC", params={"qp": 22, "gop": 32}, source="synthetic", decoded=decoded,
                         bitstream=bitstreams)
        assert np.array_equal(video.read_frames(data_dir / pvs.decoded_path)[0], expected)
        assert pvs.hrc.curve == "HDAC gop=32" and pvs.hrc.label == "HDAC gop=32 qp=22"

    def test_an_imported_pvs_gets_metrics_from_its_stored_file(self, source, data_dir, tmp_path, bitstreams):
        from metrics.services import pvs_compute_metrics

        expected = _noisy(_src_frames(data_dir, source))
        pvs = pvs_import(codec="DAC", params={"qp": 42}, source="synthetic",
                         decoded=_write_rgb(tmp_path / "dec.rgb", expected), bitstream=bitstreams)
        (result,) = pvs_compute_metrics(pvs=pvs, metric_names=["psnr_rgb"])
        mse = np.mean((expected.astype(float) - _src_frames(data_dir, source)) ** 2, axis=(1, 2, 3))
        assert result.status == "ok" and result.value == pytest.approx(np.mean(10 * np.log10(255 ** 2 / mse)),
                                                                       rel=1e-3)

    def test_the_pvs_page_shows_the_provenance(self, source, data_dir, tmp_path, bitstreams, admin_client,
                                               settings):
        settings.FACEQA_OPEN_RESEARCHER_PAGES = False
        decoded = _write_rgb(tmp_path / "dec.rgb", _src_frames(data_dir, source))
        pvs = pvs_import(codec="DAC", params={"qp": 42}, source="synthetic", decoded=decoded, bitstream=bitstreams)
        page = admin_client.get(reverse("metrics:pvs", args=[pvs.pk])).content.decode()
        assert "Provenance: imported" in page
        for path in [*bitstreams, decoded]:
            assert str(path.resolve()) in page and _sha(path) in page
        assert "<td class=\"num\">1500</td>" in page and f"<td class=\"num\">{decoded.stat().st_size}</td>" in page

    def test_a_coded_pvs_page_shows_no_provenance(self, source, admin_client, data_dir):
        hrc = Hrc.objects.create(codec="x265", params={"qp": 30}, params_key='{"qp":30}', label="x265 qp=30",
                                 curve="x265")
        pvs = Pvs.objects.create(source=source, hrc=hrc)
        assert "Provenance" not in admin_client.get(reverse("metrics:pvs", args=[pvs.pk])).content.decode()


class TestRefusals:
    """Every bad import is refused with one line and writes no row and no file."""

    @pytest.mark.parametrize("case, message", [
        ("mp4_short", "24 frames, the SRC synthetic has 25"),
        ("mp4_long", "more than 25 frames, the SRC synthetic has 25"),
        ("mp4_size", "frames are 32x32, the SRC synthetic is 64x64"),
        ("mp4_fps", "30 fps (0.833 s), the SRC synthetic is 25 fps (1.000 s)"),
        ("rgb_short", "24 frames of 64x64, the SRC synthetic has 25"),
        ("rgb_partial", "is not a whole number of 64x64 planar RGB frames"),
        ("decoded_missing", "no such file"),
        ("not_a_video", "not a readable video"),
    ])
    def test_a_decoded_file_that_does_not_match_the_src(self, case, message, source, data_dir, tmp_path,
                                                        bitstreams):
        frames = _src_frames(data_dir, source)
        path = tmp_path / "dec.mp4"
        if case == "mp4_short":
            video.write_browser_copy(path, frames[:24], Fraction(25))
        elif case == "mp4_long":
            video.write_browser_copy(path, np.concatenate([frames, frames[:3]]), Fraction(25))
        elif case == "mp4_size":
            video.write_browser_copy(path, frames[:, :32, :32], Fraction(25))
        elif case == "mp4_fps":
            video.write_browser_copy(path, frames, Fraction(30))
        elif case == "rgb_short":
            path = _write_rgb(tmp_path / "dec.rgb", frames[:24])
        elif case == "rgb_partial":
            path = _write_rgb(tmp_path / "dec.rgb", frames)
            path.write_bytes(path.read_bytes()[:-7])
        elif case == "not_a_video":
            _random_file(path, 5000)
        with pytest.raises(CommandError) as error:
            call_command("import_pvs", "--codec", "DAC", "--hrc", '{"qp": 42}', "--source", "synthetic",
                         "--decoded", str(path), "--bitstream", *map(str, bitstreams))
        assert message in str(error.value) and "\n" not in str(error.value)
        assert_nothing_written(data_dir)

    @pytest.mark.parametrize("change, message", [
        ({"params": "{qp: 42}"}, "--hrc is not valid JSON"),
        ({"params": "[42]"}, "--hrc must be a JSON object"),
        ({"source": "nobody"}, "no SRC named 'nobody'"),
        ({"codec": "two words"}, "--codec 'two words'"),
        ({"bitstream": "missing"}, "no such file"),
        ({"bitstream": "twice"}, "is given twice"),
        ({"bitstream": "same_name"}, "two bitstream files are named key.bin"),
        ({"bitstream": "empty"}, "all empty"),
    ])
    def test_bad_arguments(self, change, message, source, data_dir, tmp_path, bitstreams):
        decoded = _write_rgb(tmp_path / "dec.rgb", _src_frames(data_dir, source))
        files = {
            None: bitstreams, "missing": [bitstreams[0], tmp_path / "gone.bin"], "twice": [bitstreams[0]] * 2,
            "same_name": [bitstreams[0], _random_file(tmp_path / "other" / "key.bin", 9)],
            "empty": [_random_file(tmp_path / "empty.bin", 0)],
        }[change.get("bitstream")]
        arguments = {"codec": "DAC", "params": '{"qp": 42}', "source": "synthetic", **change,
                     "decoded": decoded, "bitstream": files}
        with pytest.raises(PvsImportError, match=message) as error:
            pvs_import(**arguments)
        assert "\n" not in str(error.value)
        assert_nothing_written(data_dir)

    def test_a_pvs_that_exists_for_the_src_and_hrc(self, source, data_dir, tmp_path, bitstreams):
        decoded = _write_rgb(tmp_path / "dec.rgb", _src_frames(data_dir, source))
        first = pvs_import(codec="DAC", params={"qp": 42}, source="synthetic", decoded=decoded, bitstream=bitstreams)
        with pytest.raises(PvsImportError, match=f"a PVS exists for SRC synthetic and HRC DAC .*PVS {first.pk}"):
            pvs_import(codec="DAC", params={"qp": 42}, source="synthetic", decoded=decoded, bitstream=bitstreams[:1])
        assert_nothing_written(data_dir, pvs_count=1, hrc_count=1)
        assert Pvs.objects.get().bitstream_bytes == 1833

    def test_a_failure_while_storing_leaves_no_row_and_no_file(self, source, data_dir, tmp_path, bitstreams,
                                                               monkeypatch):
        def broken(path, frames, fps):
            raise OSError("disk full")

        monkeypatch.setattr(video, "write_browser_copy", broken)
        decoded = _write_rgb(tmp_path / "dec.rgb", _src_frames(data_dir, source))
        with pytest.raises(OSError, match="disk full"):
            pvs_import(codec="DAC", params={"qp": 42}, source="synthetic", decoded=decoded, bitstream=bitstreams)
        assert_nothing_written(data_dir)


# --- the JVET GFVC experiment folder ------------------------------------------------------------------

def _jvet_run(iframe: Path, seq: str, qp: int, frames: np.ndarray, key_frames=(0, 10), refreshed=(10,),
              seed: int = 0) -> int:
    """Write one run as the JVET software does; return the bytes its decoder reads."""
    rng = np.random.default_rng(seed)
    name = f"{seq}_qp{qp}"
    enc, kp = iframe / "enc" / name, iframe / "kp" / name
    counted = 0
    for index in key_frames:
        counted += _random_file(enc / f"frame{index:04d}.bin", int(rng.integers(300, 900)), seed + index).stat().st_size
        for suffix in ("_org.yuv", "_rec.yuv", "_dec.yuv", ".log"):  # the coder's working files: not counted
            _random_file(enc / f"frame{index:04d}{suffix}", 6144, index)
    _random_file(enc / "enc_video.mp4", 4000)
    for index in range(len(frames)):
        if index in key_frames and index not in refreshed:
            continue
        size = _random_file(kp / f"frame{index:04d}.bin", int(rng.integers(2, 9)), seed + 100 + index).stat().st_size
        (kp / f"frame{index}.txt").write_text("[0.1, 0.2]")
        if index not in key_frames:
            counted += size
    counted += _random_file(kp / "metadata.bin", 3, seed).stat().st_size
    _write_rgb(iframe / "dec" / f"{name}.rgb", frames)
    _random_file(iframe / "dec" / f"{name}.mp4", 2000)  # imageio's copy: ignored
    (iframe / "resultBit").mkdir(exist_ok=True)
    (iframe / "resultBit" / f"{name}_th30.txt").write_text(f"{counted * 8:.5f}\n1.0\n0.5\n")
    return counted


@pytest.fixture
def second_source(data_dir) -> Source:
    frames = _noisy(video.read_frames(data_dir / "sources" / "synthetic" / "src.mkv")[0], seed=9)
    video.write_lossless(data_dir / "sources" / "vox" / "src.mkv", frames, Fraction(25))
    return Source.objects.create(
        name="voxceleb_002_64x64_25_8bit_444", origin_path="/dev/null", origin_sha256="2" * 64, size=64,
        fps_num=25, max_frames=25, frame_count=25, crop_x=0, crop_y=0, crop_size=64,
        lossless_path="sources/vox/src.mkv", browser_path="sources/vox/src.mp4",
    )


@pytest.fixture
def experiment(tmp_path, data_dir, source, second_source):
    """experiment/DAC/Iframe_YUV420 with two sequences at QP 32 and 42: {(seq, qp): (bytes, decoded frames)}."""
    iframe = tmp_path / "experiment" / "DAC" / "Iframe_YUV420"
    runs = {}
    for seed, (seq, src) in enumerate([("synthetic", source), ("VOXCELEB_002_64x64_25_8bit_444", second_source)]):
        for qp in (32, 42):
            frames = _noisy(_src_frames(data_dir, src), seed=seed * 100 + qp)
            runs[seq, qp] = (_jvet_run(iframe, seq, qp, frames, seed=seed * 100 + qp), frames)
    return iframe, runs


class TestImportJvetFolder:
    def test_every_run_is_imported_with_exactly_the_bits_its_decoder_reads(self, experiment, data_dir):
        iframe, runs = experiment
        imported = pvs_import_jvet(folder=iframe.parent, codec="DAC", params={"num_kp": 10})
        assert [(p.source.name, p.hrc.params) for p in imported] == [  # sorted by sequence: upper case first
            ("voxceleb_002_64x64_25_8bit_444", {"qp": 32, "num_kp": 10}),
            ("voxceleb_002_64x64_25_8bit_444", {"qp": 42, "num_kp": 10}),
            ("synthetic", {"qp": 32, "num_kp": 10}), ("synthetic", {"qp": 42, "num_kp": 10}),
        ]
        for pvs, ((seq, qp), (n_bytes, frames)) in zip(imported, sorted(runs.items()), strict=True):
            assert pvs.bitstream_bytes == n_bytes and pvs.kbps == bitrate_kbps(n_bytes, 25, Fraction(25))
            stored = sorted(p.name for p in (data_dir / pvs.bitstream_path).iterdir())
            assert stored == ["enc-frame0000.bin", "enc-frame0010.bin",
                              *(f"kp-frame{i:04d}.bin" for i in range(1, 25) if i != 10), "kp-metadata.bin"]
            assert sum((data_dir / pvs.bitstream_path / name).stat().st_size for name in stored) == n_bytes
            assert np.array_equal(video.read_frames(data_dir / pvs.decoded_path)[0], frames)
            roles = [entry["role"] for entry in pvs.import_files]
            assert roles == ["bitstream"] * 26 + ["decoded", "unread", "report"]
            unread = pvs.import_files[27]
            assert unread["name"] == str((iframe / "kp" / f"{seq}_qp{qp}" / "frame0010.bin").resolve())
            assert pvs.import_origin == f"jvet-gfvc {iframe.resolve()}"
            assert pvs.hrc.curve == "DAC num_kp=10" and pvs.status == JobStatus.DONE
        assert Hrc.objects.count() == 2

    def test_bad_runs_are_listed_one_line_each_and_nothing_is_written(self, experiment, data_dir):
        iframe, runs = experiment
        (iframe / "kp" / "synthetic_qp32" / "frame0007.bin").unlink()
        rgb = iframe / "dec" / "VOXCELEB_002_64x64_25_8bit_444_qp42.rgb"
        rgb.write_bytes(rgb.read_bytes()[: 3 * 64 * 64 * 20])
        _write_rgb(iframe / "dec" / "synthetic_qp22_bqp30.rgb", runs["synthetic", 32][1])
        _random_file(iframe / "enc" / "synthetic_qp42" / "frame012.bin", 10)
        with pytest.raises(PvsImportError) as error:
            pvs_import_jvet(folder=iframe, codec="DAC")
        lines = str(error.value).splitlines()
        assert lines[0] == f"4 bad entries in {iframe}, nothing imported:"
        assert sorted(lines[1:]) == sorted([
            ("  dec/synthetic_qp22_bqp30.rgb: not a {seq}_qp{qp}.rgb name (HDAC base-layer runs, "
             "{seq}_qp{qp}_bqp{bl_qp}, are not supported)"),
            ("  synthetic_qp32: frame 7 has no bitstream (neither enc/synthetic_qp32/frame0007.bin nor "
             "kp/synthetic_qp32/frame0007.bin)"),
            ("  synthetic_qp42: enc/synthetic_qp42/frame012.bin is not a frame{NNNN}.bin bitstream "
             "(reference frames coded by a learned image codec are not supported)"),
            (f"  VOXCELEB_002_64x64_25_8bit_444_qp42: decoded file {rgb}: 20 frames of 64x64, the SRC "
             "voxceleb_002_64x64_25_8bit_444 has 25"),
        ])
        assert_nothing_written(data_dir)

    def test_runs_of_existing_pvss_or_unknown_srcs_are_refused(self, experiment, data_dir):
        iframe, _ = experiment
        pvs_import(codec="DAC", params={"qp": 42}, source="synthetic",
                   decoded=iframe / "dec" / "synthetic_qp42.rgb", bitstream=[iframe / "kp" / "synthetic_qp42" /
                                                                            "metadata.bin"])
        Source.objects.filter(name="voxceleb_002_64x64_25_8bit_444").update(name="renamed")
        with pytest.raises(PvsImportError) as error:
            pvs_import_jvet(folder=iframe, codec="DAC")
        message = str(error.value)
        assert "VOXCELEB_002_64x64_25_8bit_444_qp32: no SRC named 'voxceleb_002_64x64_25_8bit_444'" in message
        assert "VOXCELEB_002_64x64_25_8bit_444_qp42: no SRC named" in message
        assert_nothing_written(data_dir, pvs_count=1, hrc_count=1)

    def test_a_pvs_that_exists_is_refused_once_the_runs_are_good(self, experiment, data_dir):
        iframe, _ = experiment
        pvs_import(codec="DAC", params={"qp": 42}, source="synthetic",
                   decoded=iframe / "dec" / "synthetic_qp42.rgb",
                   bitstream=[iframe / "kp" / "synthetic_qp42" / "metadata.bin"])
        with pytest.raises(PvsImportError, match=r"1 bad entry .*\n  synthetic_qp42: a PVS exists for SRC synthetic"):
            pvs_import_jvet(folder=iframe, codec="DAC")
        assert_nothing_written(data_dir, pvs_count=1, hrc_count=1)

    def test_source_names_one_src_only_for_a_folder_of_one_sequence(self, experiment, data_dir, tmp_path):
        iframe, _ = experiment
        with pytest.raises(PvsImportError, match="--source other names one SRC but .* holds 2 sequences"):
            pvs_import_jvet(folder=iframe, codec="DAC", source="other")
        with pytest.raises(PvsImportError, match="--hrc may not set qp"):
            pvs_import_jvet(folder=iframe, codec="DAC", params='{"qp": 1}')
        assert_nothing_written(data_dir)

    def test_the_command_with_a_source_map(self, experiment, data_dir, tmp_path, capsys):
        iframe, runs = experiment
        Source.objects.filter(name="synthetic").update(name="alice")
        mapping = tmp_path / "map.csv"
        mapping.write_text("seq,src\nsynthetic,alice\n")
        call_command("import_pvs", "--layout", "jvet-gfvc", str(iframe), "--codec", "DAC", "--hrc",
                     '{"num_kp": 10}', "--source-map", str(mapping))
        out = capsys.readouterr().out
        assert "4 PVSs imported" in out and Pvs.objects.filter(source__name="alice").count() == 2
        n_bytes = runs["synthetic", 32][0]
        assert f"alice / DAC num_kp=10 qp=32: {n_bytes} bytes, {bitrate_kbps(n_bytes, 25, 25):.2f} kbit/s" in out

    def test_the_command_refuses_a_folder_without_its_map(self, experiment, data_dir):
        iframe, _ = experiment
        Source.objects.filter(name="synthetic").update(name="alice")
        with pytest.raises(CommandError, match="2 bad entries") as error:
            call_command("import_pvs", "--layout", "jvet-gfvc", str(iframe), "--codec", "DAC")
        assert "synthetic_qp32: no SRC named 'synthetic'" in str(error.value)
        assert_nothing_written(data_dir)


class TestJvetLayout:
    def test_a_frame_index_without_the_decoders_zero_padding_is_refused(self, tmp_path):
        iframe = tmp_path / "Iframe_RGB444"
        frames = np.zeros((3, 8, 8, 3), dtype=np.uint8)
        _jvet_run(iframe, "s", 1, frames, key_frames=(0,), refreshed=())
        (iframe / "kp" / "s_qp1" / "frame0002.bin").rename(iframe / "kp" / "s_qp1" / "frame2.bin")
        (run,), problems = jvet_gfvc.find_runs(iframe)
        assert problems == [] and (run.seq, run.qp) == ("s", 1)
        with pytest.raises(jvet_gfvc.LayoutError, match="kp/s_qp1/frame2.bin is not a frame{NNNN}.bin"):
            jvet_gfvc.run_bitstream(run, 3)

    def test_the_folder_may_be_the_model_folder_with_one_iframe_folder(self, tmp_path):
        (tmp_path / "DAC" / "Iframe_YUV420" / "dec").mkdir(parents=True)
        assert jvet_gfvc.iframe_folder(tmp_path / "DAC") == tmp_path / "DAC" / "Iframe_YUV420"
        (tmp_path / "DAC" / "Iframe_RGB444" / "dec").mkdir(parents=True)
        with pytest.raises(jvet_gfvc.LayoutError, match="found Iframe_RGB444, Iframe_YUV420"):
            jvet_gfvc.iframe_folder(tmp_path / "DAC")

    def test_the_source_map_csv(self, tmp_path):
        path = tmp_path / "map.csv"
        path.write_text("seq,src\na_qp,alice\n\nb,bob\n")
        assert imports.read_source_map(path) == {"a_qp": "alice", "b": "bob"}
        path.write_text("a,alice\na,bob\n")
        with pytest.raises(PvsImportError, match="mapped twice"):
            imports.read_source_map(path)
