"""Training runs: creating, resuming and executing them (training.services), and the train_codec command."""
import math
import shutil
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from qa_platform.codec import registry as codec_registry
from qa_platform.codec import video
from qa_platform.codec.checkpoints import ENV_VAR, codec_folder, read_checkpoint
from qa_platform.codec.fomm import load_checkpoint
from qa_platform.core.ingest import IngestError
from qa_platform.core.models import JobStatus
from qa_platform.core.services import source_ingest
from training import services
from training.fomm_training import TrainingError
from training.models import TrainingRun
from training.tasks import train_codec_task
from training.tests.conftest import TINY, blob_clip

pytestmark = pytest.mark.django_db
FACE_CLIP = "lp_d18.mp4"


@pytest.fixture(autouse=True)
def _checkpoints_in_the_data_dir(data_dir, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(autouse=True)
def _no_heartbeat_during_a_test(settings):
    """Runs train inside the test's transaction, which a heartbeat thread (a connection of its own) cannot see."""
    settings.FACEQA_JOB_HEARTBEAT_SECONDS = 3600


@pytest.fixture
def blob_folder(tmp_path):
    """A folder with one synthetic (faceless) video file."""
    folder = tmp_path / "blobs"
    folder.mkdir()
    video.write_lossless(folder / "blob.mkv", blob_clip(30), Fraction(25))
    return folder


@pytest.fixture
def face_folder(tmp_path, faces_dir):
    """A folder with one real talking-head clip."""
    folder = tmp_path / "faces"
    folder.mkdir()
    shutil.copy(faces_dir / FACE_CLIP, folder)
    return folder


def _create(django_capture_on_commit_callbacks, **kwargs) -> tuple[TrainingRun, list]:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.training_run_create(codec_name="keypoint-anim", config=TINY, **kwargs)
    return run, callbacks


def _deliver(run: TrainingRun) -> TrainingRun:
    """Deliver the run's queued message to the train_codec task (on this thread), as a worker would."""
    train_codec_task.apply(args=[run.pk], task_id=run.task_id).get()
    return TrainingRun.objects.get(pk=run.pk)


class TestTrainingRunCreate:
    def test_a_run_is_queued_once_after_commit_with_its_configuration(self, blob_folder,
                                                                      django_capture_on_commit_callbacks):
        run, callbacks = _create(django_capture_on_commit_callbacks, epochs=3, sources=str(blob_folder))
        assert len(callbacks) == 1
        run.refresh_from_db()
        assert run.status == JobStatus.QUEUED and run.queued_at is not None
        assert run.config == TINY.to_dict() and run.epochs == 3 and run.sources == str(blob_folder.resolve())

    def test_only_trainable_codecs_and_real_sources_are_accepted(self, tmp_path, django_capture_on_commit_callbacks):
        with pytest.raises(TrainingError, match="has no trainer here; trainable: keypoint-anim"):
            services.training_run_create(codec_name="x265", config=TINY, epochs=1, sources=str(tmp_path))
        with pytest.raises(TrainingError, match="unknown codec"):
            services.training_run_create(codec_name="keypoint-animm", config=TINY, epochs=1, sources=str(tmp_path))
        with pytest.raises(TrainingError, match="not a folder of video files"):
            services.training_run_create(codec_name="keypoint-anim", config=TINY, epochs=1, sources=str(tmp_path))
        with pytest.raises(TrainingError, match="no SRC yet"):
            services.training_run_create(codec_name="keypoint-anim", config=TINY, epochs=1, sources="all")
        with pytest.raises(TrainingError, match="epochs"):
            services.training_run_create(codec_name="keypoint-anim", config=TINY, epochs=0, sources=str(tmp_path))
        assert not TrainingRun.objects.exists()


class TestTrainingRunExecute:
    def test_a_run_trains_on_a_folder_and_records_progress_and_its_checkpoint(self, face_folder,
                                                                             django_capture_on_commit_callbacks):
        run, _ = _create(django_capture_on_commit_callbacks, epochs=1, sources=str(face_folder), batch_size=16)
        task_id = run.task_id
        run = _deliver(run)
        assert run.status == JobStatus.DONE and run.attempts == 1 and run.device == "cpu"
        assert run.step == run.total_steps == math.ceil(125 / 16) and run.percent == 100.0
        assert run.loss_type == "l1+ms-ssim" and run.loss > 0 and run.epochs_done == 1
        path = codec_folder("keypoint-anim") / f"{run.checkpoint_sha256}.pt"
        assert run.checkpoint_path == str(path) and read_checkpoint(path)[1] == run.checkpoint_sha256
        payload = load_checkpoint(path)
        assert [s["name"] for s in payload["sources"]] == ["lp_d18"] and len(payload["loss_history"]) == run.step
        codec = codec_registry.get_codec("keypoint-anim")
        assert {p["checkpoint"] for p in codec.default_rate_points} == {run.checkpoint_sha256[:16]}
        run.task_id = task_id  # the same message again: a done run is not trained again
        assert _deliver(run).attempts == 1

    def test_every_src_is_a_training_clip_at_the_model_size(self, faces_dir):
        outcome = source_ingest(path=faces_dir / FACE_CLIP, size=128, max_frames=25)
        clips = services.training_clips(sources="all", size=64)
        assert [c.name for c in clips] == [outcome.source.name]
        assert clips[0].frames.shape == (25, 64, 64, 3)

    def test_a_failing_run_records_its_error(self, blob_folder, django_capture_on_commit_callbacks):
        run, _ = _create(django_capture_on_commit_callbacks, epochs=1, sources=str(blob_folder))
        with pytest.raises(IngestError):
            _deliver(run)
        run.refresh_from_db()
        assert run.status == JobStatus.FAILED and run.message.startswith("IngestError") and run.finished_at
        assert run.last_error == run.message and run.attempts == 1

    def test_a_run_a_live_worker_is_training_is_left_alone(self, blob_folder, django_capture_on_commit_callbacks):
        run, _ = _create(django_capture_on_commit_callbacks, epochs=1, sources=str(blob_folder))
        TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
        assert _deliver(run).attempts == 0


class TestTrainingRunResume:
    def test_the_latest_unfinished_run_is_queued_again_and_epochs_can_only_rise(self, blob_folder,
                                                                               django_capture_on_commit_callbacks):
        first, _ = _create(django_capture_on_commit_callbacks, epochs=2, sources=str(blob_folder))
        TrainingRun.objects.filter(pk=first.pk).update(status=JobStatus.RUNNING, checkpoint_sha256="ab" * 32)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run = services.training_run_resume(codec_name="keypoint-anim", epochs=5)
        assert run.pk == first.pk and len(callbacks) == 1
        run.refresh_from_db()
        assert run.status == JobStatus.QUEUED and run.epochs == 5 and "abababab" in run.message
        with pytest.raises(TrainingError, match="can only raise"):
            services.training_run_resume(codec_name="keypoint-anim", epochs=1)
        TrainingRun.objects.update(status=JobStatus.DONE)
        with pytest.raises(TrainingError, match="no unfinished keypoint-anim run"):
            services.training_run_resume(codec_name="keypoint-anim")

    def test_a_run_with_a_fresh_heartbeat_is_not_resumed_under_its_worker(self, blob_folder,
                                                                      django_capture_on_commit_callbacks):
        run, _ = _create(django_capture_on_commit_callbacks, epochs=2, sources=str(blob_folder))
        TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
        with pytest.raises(TrainingError, match="still training"):
            services.training_run_resume(codec_name="keypoint-anim")
        assert TrainingRun.objects.get(pk=run.pk).status == JobStatus.RUNNING


class TestTrainCodecCommand:
    def test_it_needs_epochs_unless_resuming(self):
        with pytest.raises(CommandError, match="give --epochs"):
            call_command("train_codec", "keypoint-anim")

    def test_it_reports_bad_options_in_one_line(self, blob_folder):
        with pytest.raises(CommandError, match="size must be one of"):
            call_command("train_codec", "keypoint-anim", "--epochs", "1", "--size", "96", "--sources", str(blob_folder))

    def test_no_wait_queues_the_run_and_returns(self, blob_folder, django_capture_on_commit_callbacks):
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            call_command("train_codec", "keypoint-anim", "--epochs", "2", "--size", "64", "--keypoints", "4",
                         "--no-jacobians", "--sources", str(blob_folder), "--no-wait", stdout=out)
        run = TrainingRun.objects.get()
        assert f"training run {run.pk}" in out.getvalue() and len(callbacks) == 1
        assert run.config["num_kp"] == 4 and run.config["jacobians"] is False and run.config["size"] == 64
