"""The job lifecycle (qa_platform.core.lifecycle): claim, heartbeat, stale rule, attempts cap, release, wait."""
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from qa_platform.core import lifecycle
from qa_platform.core.lifecycle import (
    job_claim,
    job_fail,
    job_queue,
    job_release,
    run_step,
)
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source
from qa_platform.core.tests.test_integration import BASE_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture
def timing(settings):
    """Heartbeat every 10 s, stale after 3 missed beats (30 s), 3 attempts at most."""
    settings.FACEQA_JOB_HEARTBEAT_SECONDS, settings.FACEQA_JOB_STALE_BEATS = 10, 3
    settings.FACEQA_JOB_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def pvs() -> Pvs:
    source = Source.objects.create(
        name="src", origin_path="/dev/null", origin_sha256="0" * 64, size=64, fps_num=25, max_frames=25,
        frame_count=25, crop_x=0, crop_y=0, crop_size=64, lossless_path="src.mkv", browser_path="src.mp4",
    )
    hrc = Hrc.objects.create(codec="x264", params={"qp": 30}, params_key='{"qp": 30}', label="x264 qp=30")
    return Pvs.objects.create(source=source, hrc=hrc)


def _age_heartbeat(job, seconds: float) -> None:
    """What a killed worker leaves: its last heartbeat, ``seconds`` ago."""
    type(job).objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def _row(job):
    return type(job).objects.get(pk=job.pk)


class TestClaim:
    def test_a_queued_job_is_claimed_once_and_counts_an_attempt(self, pvs, timing):
        first, _, _ = job_queue(pvs, steps=3)
        assert job_claim(Pvs, pvs.pk, task_id=first, worker="a")
        row = _row(pvs)
        assert row.status == JobStatus.RUNNING and row.attempts == 1 and row.worker == "a"
        assert row.heartbeat_at is not None and row.started_at is not None

    def test_a_fresh_heartbeat_refuses_a_second_claim_and_changes_nothing(self, pvs, timing):
        first = job_queue(pvs, steps=3)[0]
        assert job_claim(Pvs, pvs.pk, task_id=first, worker="a")
        before = _row(pvs)
        _age_heartbeat(pvs, 29)
        assert not job_claim(Pvs, pvs.pk, task_id=first, worker="b")
        after = _row(pvs)
        assert (after.worker, after.attempts, after.status, after.started_at) == ("a", 1, "running", before.started_at)

    def test_a_stale_heartbeat_lets_the_next_delivery_claim_it_and_count_an_attempt(self, pvs, timing):
        first = job_queue(pvs, steps=3)[0]
        job_claim(Pvs, pvs.pk, task_id=first, worker="a")
        Pvs.objects.filter(pk=pvs.pk).update(message="coding")
        _age_heartbeat(pvs, 31)
        assert lifecycle.needs_run(_row(pvs))
        assert job_claim(Pvs, pvs.pk, task_id=first, worker="b")
        row = _row(pvs)
        assert row.worker == "b" and row.attempts == 2 and not lifecycle.is_dead(row)
        assert row.last_error.startswith("attempt 1: a stopped beating at ") and "during 'coding'" in row.last_error

    def test_past_the_cap_the_claim_ends_the_job_failed_naming_the_cap_and_the_last_error(self, pvs, timing):
        timing.FACEQA_JOB_MAX_ATTEMPTS = 1
        first = job_queue(pvs, steps=3)[0]
        job_claim(Pvs, pvs.pk, task_id=first, worker="a")
        _age_heartbeat(pvs, 31)
        assert not job_claim(Pvs, pvs.pk, task_id=first, worker="b")
        row = _row(pvs)
        assert row.status == JobStatus.FAILED and row.attempts == 1 and row.finished_at and row.task_id == ""
        assert row.message.startswith("gave up after 1 attempts, the cap (FACEQA_JOB_MAX_ATTEMPTS = 1); "
                                      "last error: attempt 1: a stopped beating")

    def test_a_message_that_is_not_the_step_due_or_of_an_ended_job_is_dropped(self, pvs, timing):
        old = job_queue(pvs, steps=2)
        new = job_queue(pvs, steps=2)
        assert not job_claim(Pvs, pvs.pk, task_id=old[0], worker="a")  # an earlier delivery
        assert not job_claim(Pvs, pvs.pk, task_id=new[1], worker="a")  # a later step, before its turn
        assert _row(pvs).status == JobStatus.QUEUED and _row(pvs).attempts == 0
        for task_id in new:
            assert job_claim(Pvs, pvs.pk, task_id=task_id, worker="a")
            assert job_release(Pvs, pvs.pk, task_id=task_id, worker="a")
        assert not job_claim(Pvs, pvs.pk, task_id=new[0], worker="b")  # a redelivery after the end
        assert _row(pvs).status == JobStatus.DONE


class TestSteps:
    def test_each_step_hands_the_job_on_without_an_attempt_and_the_last_ends_it_done(self, pvs, timing):
        ids = job_queue(pvs, steps=3)
        for position, task_id in enumerate(ids):
            assert job_claim(Pvs, pvs.pk, task_id=task_id, worker=f"w{position}")
            assert job_release(Pvs, pvs.pk, task_id=task_id, worker=f"w{position}")
            row = _row(pvs)
            assert row.attempts == 1 and row.heartbeat_at is None
            assert row.task_id == (ids[position + 1] if position < 2 else "")
        assert row.status == JobStatus.DONE and row.finished_at and row.message == ""

    def test_only_the_holder_may_release_or_fail_the_job(self, pvs, timing):
        first = job_queue(pvs, steps=2)[0]
        job_claim(Pvs, pvs.pk, task_id=first, worker="a")
        assert not job_release(Pvs, pvs.pk, task_id=first, worker="b")
        assert not job_fail(Pvs, pvs.pk, task_id=first, worker="b", error=ValueError("not mine"))
        assert _row(pvs).task_id == first and _row(pvs).status == JobStatus.RUNNING

    def test_a_step_of_a_job_queued_again_meanwhile_hands_nothing_on(self, pvs, timing):
        first = job_queue(pvs, steps=2)[0]
        job_claim(Pvs, pvs.pk, task_id=first, worker="a")
        new = job_queue(pvs, steps=2)
        assert not job_release(Pvs, pvs.pk, task_id=first, worker="a")
        assert _row(pvs).status == JobStatus.QUEUED and _row(pvs).task_id == new[0]

    def test_an_error_ends_the_job_failed_with_its_error_and_is_raised(self, pvs, timing):
        first = job_queue(pvs, steps=2)[0]

        def work():
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            run_step(Pvs, pvs.pk, task_id=first, work=work)
        row = _row(pvs)
        assert row.status == JobStatus.FAILED and row.message == row.last_error == "ValueError: boom"
        assert row.task_id == "" and row.heartbeat_at is None

    def test_a_refused_step_does_not_run_its_work(self, pvs, timing):
        job_queue(pvs, steps=1)
        assert run_step(Pvs, pvs.pk, task_id="stranger", work=pytest.fail) == (False, None)
        assert run_step(Pvs, pvs.pk, task_id=None, work=pytest.fail) == (False, None)


def test_a_job_killed_three_times_ends_failed_with_its_reason(pvs, timing, monkeypatch):
    """Three deliveries whose worker dies (claimed, then silent past the stale limit); the fourth
    delivery, through the real stage task, finds the cap reached, ends the job failed and codes nothing."""
    from qa_platform.core import services
    from qa_platform.core.tasks import pvs_code_task

    first = job_queue(pvs, steps=3)[0]
    for kill in range(3):
        assert job_claim(Pvs, pvs.pk, task_id=first, worker=f"worker-{kill + 1}")
        lifecycle.job_note(pvs, "coding")
        _age_heartbeat(pvs, 31)  # killed: no beat since
    monkeypatch.setattr(services, "pvs_code", pytest.fail)
    assert pvs_code_task.apply(args=[pvs.pk], task_id=first).get() is None
    row = _row(pvs)
    assert row.status == JobStatus.FAILED and row.attempts == 3
    assert row.message.startswith("gave up after 3 attempts, the cap (FACEQA_JOB_MAX_ATTEMPTS = 3); "
                                  "last error: attempt 3: worker-3 stopped beating at ")
    assert row.message.endswith(" UTC during 'coding' (killed, or cut off from the database)")


@pytest.mark.django_db(transaction=True)
def test_a_running_step_beats_and_a_step_taken_from_it_stops_beating(pvs, settings):
    settings.FACEQA_JOB_HEARTBEAT_SECONDS = 0.05
    first = job_queue(pvs, steps=1)[0]
    job_claim(Pvs, pvs.pk, task_id=first, worker="a")
    _age_heartbeat(pvs, 60)
    beat = lifecycle.Heartbeat(Pvs, pvs.pk, task_id=first, worker="a", period=0.05)
    beat.start()
    time.sleep(0.3)
    assert (timezone.now() - _row(pvs).heartbeat_at).total_seconds() < 1
    Pvs.objects.filter(pk=pvs.pk).update(worker="b")  # taken for dead by another worker
    time.sleep(0.3)
    assert beat.lost and not beat.is_alive()
    beat.stop()


class TestWait:
    def test_it_returns_the_jobs_once_all_have_ended(self, pvs):
        Pvs.objects.filter(pk=pvs.pk).update(status=JobStatus.FAILED)
        (ended,) = lifecycle.jobs_wait(Pvs, [pvs.pk], desc="PVS jobs", poll_seconds=0.01)
        assert ended.status == JobStatus.FAILED
        assert lifecycle.status_counts([ended])[JobStatus.FAILED] == 1

    def test_it_gives_up_after_the_timeout(self, pvs):
        job_queue(pvs)
        with pytest.raises(TimeoutError, match="PVS jobs: 1 still queued or running"):
            lifecycle.jobs_wait(Pvs, [pvs.pk], desc="PVS jobs", timeout=0.05, poll_seconds=0.01)


def test_the_same_pvs_message_delivered_to_two_workers_at_once_gives_one_encode_and_loses_no_file(tmp_path):
    """Two threads run the real coding task on the same message at once, against a file database
    (SQLite, WAL, as workers share it), in a process of their own (``two_deliveries.py``)."""
    env = {**os.environ, "FACEQA_DATA_DIR": str(tmp_path / "data"), "FACEQA_JOB_METRICS": "psnr_y",
           "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env,
                   check=True, timeout=300)
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                             "from qa_platform.core.tests.two_deliveries import main; main()"],
                            cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["encodes"] == 1 and sorted(report["returned"], key=str) == ["1", "None"]
    (dropped,) = report["dropped"]
    assert "runs it (heartbeat" in dropped or "another worker claimed it first" in dropped
    assert report["status"] == "done" and report["attempts"] == 1
    assert report["bitstream_bytes"] == report["bytes_on_disk"] > 0
    assert report["decoded_frames"] == 25 and report["browser_mp4"] and report["psnr_y"] == "ok"


def test_a_visibility_timeout_within_the_stale_limit_is_warned_about(settings):
    from qa_platform.core.checks import job_timing_check

    settings.FACEQA_JOB_HEARTBEAT_SECONDS, settings.FACEQA_JOB_STALE_BEATS = 30, 4
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1800}
    assert job_timing_check(None) == []
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 120}
    (warning,) = job_timing_check(None)
    assert warning.id == "qa_platform.W003" and "(120 s) is not above the job stale limit" in warning.msg
