"""Ingest of SRCs: crop, resample, idempotence, and bad input that leaves nothing behind."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import synthetic_frames
from qa_platform.codec import video
from qa_platform.core import ingest
from qa_platform.core.ingest import (
    CropBox,
    IngestError,
    prepare_clip,
    resample_indices,
    square_crop,
)
from qa_platform.core.models import Source
from qa_platform.core.services import source_ingest

pytestmark = pytest.mark.django_db

SMALL_FACE_CLIP = "fomm_demo_08.mp4"  # 256x256, 35 fps, 150 frames


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name != "db.sqlite3"]


class TestResample:
    def test_same_rate_keeps_every_frame(self):
        assert resample_indices(50, Fraction(25), Fraction(25)).tolist() == list(range(50))

    def test_30_to_25_fps_takes_nearest_frames(self):
        indices = resample_indices(30, Fraction(30), Fraction(25))
        assert len(indices) == 25
        # output frame i at i/25 s; nearest input frame round(i * 1.2)
        assert indices[:6].tolist() == [0, 1, 2, 4, 5, 6]

    def test_upsampling_repeats_frames(self):
        indices = resample_indices(10, Fraction(10), Fraction(20))
        assert len(indices) == 20 and indices.max() == 9


class TestSquareCrop:
    def test_crop_is_square_and_inside_the_frame(self):
        crop = square_crop(np.array([10, 20, 110, 140]), width=300, height=500)
        assert crop.x >= 0 and crop.y >= 0
        assert crop.x + crop.side <= 300 and crop.y + crop.side <= 500

    def test_crop_is_clamped_to_the_short_side(self):
        crop = square_crop(np.array([0, 0, 300, 400]), width=320, height=480)
        assert crop == CropBox(x=0, y=crop.y, side=320)

    def test_crop_grows_the_face_box_by_the_margin(self):
        crop = square_crop(np.array([400, 400, 500, 500]), width=1920, height=1080)
        assert crop.side == 180


class TestSourceIngest:
    def test_real_clip_becomes_a_src(self, faces_dir, data_dir):
        path = faces_dir / SMALL_FACE_CLIP
        outcome = source_ingest(path=path, size=128, fps=Fraction(25), max_frames=50)
        assert outcome.status == "ingested", outcome.reason
        src = outcome.source
        assert (src.size, src.frame_count, src.fps) == (128, 50, Fraction(25))
        frames, fps = video.read_frames(data_dir / src.lossless_path)
        assert frames.shape == (50, 128, 128, 3) and fps == 25
        browser, _ = video.read_frames(data_dir / src.browser_path)
        assert browser.shape == frames.shape
        # near-lossless browser copy
        assert np.abs(browser.astype(int) - frames.astype(int)).mean() < 3
        assert len(src.origin_sha256) == 64

    def test_the_same_file_is_not_ingested_twice(self, faces_dir, data_dir):
        path = faces_dir / SMALL_FACE_CLIP
        first = source_ingest(path=path, size=64, max_frames=30)
        again = source_ingest(path=path, size=64, max_frames=30)
        assert (first.status, again.status) == ("ingested", "exists")
        assert again.source.pk == first.source.pk
        other = source_ingest(path=path, size=64, max_frames=40)
        assert other.status == "ingested" and other.source.name != first.source.name
        assert Source.objects.count() == 2

    def test_portrait_odd_sized_input_is_cropped_square(self, faces_dir, data_dir, tmp_path):
        frames, fps = video.read_frames(faces_dir / SMALL_FACE_CLIP, max_frames=40)
        portrait = np.zeros((40, 517, 301, 3), dtype=np.uint8)
        portrait[:, 150:406, 20:276] = frames
        path = video.write_lossless(tmp_path / "portrait.mkv", portrait, fps)
        outcome = source_ingest(path=path, size=96, max_frames=25)
        assert outcome.status == "ingested", outcome.reason
        src = outcome.source
        assert src.crop_size <= 301
        # the face lies in rows 150..406 of the portrait frame: the crop must cover its centre
        assert src.crop_y < 278 < src.crop_y + src.crop_size

    def test_y4m_input(self, faces_dir, data_dir, tmp_path):
        frames, fps = video.read_frames(faces_dir / SMALL_FACE_CLIP, max_frames=40)
        path = tmp_path / "clip.y4m"
        import av

        with av.open(str(path), "w", format="yuv4mpegpipe") as out:
            stream = out.add_stream("rawvideo", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
            for image in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(stream.encode(None))
        assert source_ingest(path=path, size=64, max_frames=25).status == "ingested"


BAD_INPUTS = {
    "empty.mp4": (lambda p, faces: p.write_bytes(b""), "empty"),
    "text.mp4": (lambda p, faces: p.write_text("not a video at all\n" * 100), "not a readable video"),
    "truncated.mp4": (
        lambda p, faces: p.write_bytes((faces / "lp_d11.mp4").read_bytes()[:60_000]),
        "trunc",
    ),
    "noface.mkv": (
        lambda p, faces: video.write_lossless(p, synthetic_frames(t=50, size=96), Fraction(25)),
        "no face",
    ),
    "short.mkv": (
        lambda p, faces: video.write_lossless(
            p, video.read_frames(faces / SMALL_FACE_CLIP, max_frames=20)[0], Fraction(25)
        ),
        "too short",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_leaves_nothing(name, faces_dir, data_dir, tmp_path):
    make, expected = BAD_INPUTS[name]
    path = tmp_path / name
    make(path, faces_dir)
    outcome = source_ingest(path=path, size=64, max_frames=30)
    assert outcome.status == "error"
    assert expected in outcome.reason.lower()
    assert "\n" not in outcome.reason
    assert Source.objects.count() == 0
    assert _files_under(data_dir) == []


def test_only_the_frames_kept_are_decoded(faces_dir, data_dir, tmp_path):
    """A long input damaged after its first seconds is ingested: decoding stops at the frames the SRC keeps."""
    frames, _ = video.read_frames(faces_dir / SMALL_FACE_CLIP, max_frames=60)
    path = video.write_lossless(tmp_path / "long.mkv", np.concatenate([frames] * 10), Fraction(25))  # 24 s
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3] + bytes(len(data) // 3) + data[2 * len(data) // 3:])
    assert source_ingest(path=path, size=64, max_frames=25).status == "ingested"
    with pytest.raises(video.VideoError):
        video.read_frames(path)


def test_an_input_over_the_size_limit_is_refused_before_decoding(tmp_path):
    path = video.write_lossless(tmp_path / "clip.mkv", synthetic_frames(t=30, size=64), Fraction(25))
    with pytest.raises(IngestError, match=r"over the ingest limit of 0 MiB; cut the part you need first"):
        prepare_clip(path, max_bytes=100)


def test_an_input_whose_kept_frames_would_not_fit_in_memory_is_refused_after_one_frame(tmp_path, monkeypatch):
    path = video.write_lossless(tmp_path / "clip.mkv", synthetic_frames(t=30, size=64), Fraction(25))
    monkeypatch.setattr(ingest, "MAX_DECODED_BYTES", 64 * 64 * 3 * 10)  # ten frames' worth
    with pytest.raises(IngestError, match=r"^26 frames of 64x64 need 0\.0 GiB decoded, over the limit of 0\.0 GiB; "
                                          r"scale the video down first"):
        prepare_clip(path, max_frames=10)


def test_command_reports_each_file_and_goes_on(faces_dir, data_dir, tmp_path, capsys):
    bad = tmp_path / "zero.mp4"
    bad.write_bytes(b"")
    call_command("ingest_sources", str(bad), str(faces_dir / SMALL_FACE_CLIP), "--size", "64", "--frames", "30")
    out, err = capsys.readouterr()
    assert f"{bad}: file is empty" in err
    assert "ingested as SRC fomm_demo_08" in out
    assert "1 of 2 files are SRCs." in out


def test_command_fails_when_nothing_could_be_ingested(data_dir, tmp_path):
    bad = tmp_path / "zero.mp4"
    bad.write_bytes(b"")
    with pytest.raises(CommandError, match="no file could be ingested"):
        call_command("ingest_sources", str(bad))
