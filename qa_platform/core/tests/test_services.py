"""PVS job services without Celery: building, coding, state transitions."""
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from qa_platform.codec import video
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source
from qa_platform.core.services import database_build, pvs_code

pytestmark = pytest.mark.django_db


def _build(source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        built = database_build(codec_names=["x264", "x265"], sources=[source],
                               rate_points={"x264": [{"qp": 30}], "x265": [{"qp": 30}, {"qp": 45}]})
    return built, callbacks


class TestDatabaseBuild:
    def test_one_pvs_per_src_and_hrc_queued_after_commit(self, source, django_capture_on_commit_callbacks):
        built, callbacks = _build(source, django_capture_on_commit_callbacks)
        assert len(built) == 3 and Hrc.objects.count() == 3
        assert len(callbacks) == 3
        assert set(Pvs.objects.values_list("status", flat=True)) == {JobStatus.QUEUED}

    def test_rerun_skips_done_and_running_and_reruns_failed(self, source, django_capture_on_commit_callbacks):
        built, _ = _build(source, django_capture_on_commit_callbacks)
        done, failed, running = built
        Pvs.objects.filter(pk=done.pk).update(status=JobStatus.DONE)
        Pvs.objects.filter(pk=failed.pk).update(status=JobStatus.FAILED, message="ValueError: boom", attempts=1)
        Pvs.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
        _, callbacks = _build(source, django_capture_on_commit_callbacks)
        assert len(callbacks) == 1
        failed.refresh_from_db()
        assert failed.status == JobStatus.QUEUED and failed.message == "" and failed.attempts == 0
        assert Pvs.objects.get(pk=done.pk).status == JobStatus.DONE

    def test_a_running_job_whose_worker_stopped_beating_is_queued_again_with_new_task_ids(
        self, source, django_capture_on_commit_callbacks, settings
    ):
        built, _ = _build(source, django_capture_on_commit_callbacks)
        settings.FACEQA_JOB_HEARTBEAT_SECONDS, settings.FACEQA_JOB_STALE_BEATS = 10, 3
        old_ids = {pvs.pk: pvs.task_ids for pvs in built}
        Pvs.objects.update(status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timezone.timedelta(seconds=31))
        _, callbacks = _build(source, django_capture_on_commit_callbacks)
        assert len(callbacks) == 3
        for pvs in Pvs.objects.all():
            assert pvs.status == JobStatus.QUEUED and len(pvs.task_ids) == 3 and pvs.task_id == pvs.task_ids[0]
            assert not set(pvs.task_ids) & set(old_ids[pvs.pk])

    def test_a_message_waiting_longer_than_the_visibility_timeout_is_taken_for_lost(
        self, source, django_capture_on_commit_callbacks, settings
    ):
        _build(source, django_capture_on_commit_callbacks)
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
        Pvs.objects.update(queued_at=timezone.now() - timezone.timedelta(seconds=50))
        assert len(_build(source, django_capture_on_commit_callbacks)[1]) == 0
        Pvs.objects.update(queued_at=timezone.now() - timezone.timedelta(seconds=120))
        assert len(_build(source, django_capture_on_commit_callbacks)[1]) == 3


class TestHrcFacts:
    def test_an_hrc_stores_its_label_curve_family_and_codec_version(self):
        from qa_platform.codec import registry as codec_registry
        from qa_platform.core.services import hrcs_for_codec

        plain, variant = hrcs_for_codec(codec_name="landmark-warp", rate_points=[
            {"q": 2.0, "key_qp": 37}, {"q": 2.0, "key_qp": 37, "key_period": 10}])
        stored = Hrc.objects.get(pk=variant.pk)
        assert (plain.curve, stored.curve) == ("landmark-warp", "landmark-warp key_period=10")
        assert stored.family == "generative" and stored.label == "landmark-warp q=2.0 key_qp=37 key_period=10"
        assert stored.codec_version == codec_registry.get_codec("landmark-warp").version
        (x265,) = hrcs_for_codec(codec_name="x265", rate_points=[{"qp": 30}])
        assert (x265.curve, x265.family) == ("x265", "conventional")

    def test_an_existing_hrc_keeps_what_was_stored_when_it_was_made(self):
        from qa_platform.core.services import hrcs_for_codec

        (made,) = hrcs_for_codec(codec_name="x265", rate_points=[{"qp": 30}])
        Hrc.objects.filter(pk=made.pk).update(codec_version="x265 0.1 (then)")
        (again,) = hrcs_for_codec(codec_name="x265", rate_points=[{"qp": 30}])
        assert again.pk == made.pk and again.codec_version == "x265 0.1 (then)"


class TestPvsCode:
    def test_codes_stores_and_counts_the_bytes(self, source, data_dir, django_capture_on_commit_callbacks):
        pvs = _build(source, django_capture_on_commit_callbacks)[0][1]
        pvs = pvs_code(pvs=pvs)
        files = list((data_dir / pvs.bitstream_path).iterdir())
        n_bytes = sum(p.stat().st_size for p in files)
        assert pvs.bitstream_bytes == n_bytes
        assert pvs.kbps == pytest.approx(8 * n_bytes / 1.0 / 1000)  # 25 frames at 25 fps: 1 s
        decoded, fps = video.read_frames(data_dir / pvs.decoded_path)
        assert decoded.shape == (25, 64, 64, 3) and fps == 25
        src, _ = video.read_frames(data_dir / source.lossless_path)
        assert 0 < np.abs(decoded.astype(int) - src.astype(int)).mean() < 40
        assert pvs.codec_version and pvs.encode_seconds > 0 and pvs.decode_seconds > 0
        assert not [p for p in Path(data_dir / "pvs" / str(pvs.pk)).iterdir() if p.name.startswith(".")]

    def test_coding_again_is_a_no_op(self, source, data_dir, django_capture_on_commit_callbacks):
        pvs = pvs_code(pvs=_build(source, django_capture_on_commit_callbacks)[0][0])
        mtime = (data_dir / pvs.decoded_path).stat().st_mtime_ns
        assert pvs_code(pvs=pvs).kbps == pvs.kbps
        assert (data_dir / pvs.decoded_path).stat().st_mtime_ns == mtime

    def test_a_half_written_run_is_cleared_before_coding(self, source, data_dir, django_capture_on_commit_callbacks):
        pvs = _build(source, django_capture_on_commit_callbacks)[0][0]
        leftover = data_dir / "pvs" / str(pvs.pk) / ".decoded.tmp123.mkv"
        leftover.parent.mkdir(parents=True)
        leftover.write_bytes(b"half")
        pvs_code(pvs=pvs)
        assert not leftover.exists()


class TestDecodeTimeControls:
    def test_a_controlled_hrc_has_the_bitstream_of_the_plain_one_and_other_pictures(
        self, data_dir, faces_dir, django_capture_on_commit_callbacks
    ):
        from qa_platform.core.ingest import prepare_clip

        clip = prepare_clip(faces_dir / "lp_d18.mp4", max_frames=15)
        video.write_lossless(data_dir / "sources" / "face" / "src.mkv", clip.frames, clip.fps)
        face = Source.objects.create(
            name="face", origin_path="/dev/null", origin_sha256="1" * 64, size=256, fps_num=25,
            max_frames=15, frame_count=15, crop_x=0, crop_y=0, crop_size=256,
            lossless_path="sources/face/src.mkv", browser_path="sources/face/src.mp4",
        )
        plain = {"q": 2.0, "key_qp": 37}
        with django_capture_on_commit_callbacks(execute=False):
            built = database_build(codec_names=["landmark-warp"], sources=[face], rate_points={
                "landmark-warp": [plain, {**plain, "controls": {"mouth": 0.3, "rotate": 5.0}}]})
        coded = [pvs_code(pvs=pvs) for pvs in built]
        assert coded[1].hrc.label == "landmark-warp q=2.0 key_qp=37 mouth=0.3 rotate=5.0"
        bitstreams = [[p.read_bytes() for p in sorted((data_dir / pvs.bitstream_path).iterdir())] for pvs in coded]
        assert bitstreams[0] == bitstreams[1] and coded[0].kbps == coded[1].kbps
        pictures = [video.read_frames(data_dir / pvs.decoded_path)[0] for pvs in coded]
        assert np.abs(pictures[0].astype(int) - pictures[1]).mean() > 1
