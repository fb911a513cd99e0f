"""train_codec through a real Redis and a real Celery worker process, on a real clip; a worker killed
mid-training leaves a run that --resume finishes from its last checkpoint."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from qa_platform import runtime
from qa_platform.codec.fomm import load_checkpoint
from qa_platform.core.tests.test_integration import BASE_DIR, Stack

pytestmark = pytest.mark.integration
TRAIN = ["train_codec", "keypoint-anim", "--size", "64", "--keypoints", "4", "--batch-size", "16"]


@pytest.fixture
def stack(tmp_path, stack_database):
    with runtime.redis_server() as url:
        stack = Stack(tmp_path / "data", url, {}, stack_database)
        stack.manage("migrate", "--noinput")
        yield stack


def _wait_for_checkpoint(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = stack.rows("select status, checkpoint_sha256 from training_trainingrun")
        if rows and rows[0][0] == "running" and rows[0][1]:
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint appeared: {stack.rows('select status, message from training_trainingrun')}")


def test_a_killed_training_worker_leaves_a_run_that_resume_finishes(stack, faces_dir, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(faces_dir / "lp_d18.mp4", folder)
    with stack.worker(concurrency=1) as worker:
        stack.manage(*TRAIN, "--epochs", "2", "--checkpoint-every", "3", "--sources", str(folder), "--no-wait")
        _wait_for_checkpoint(stack, timeout=180)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    (status, step, total, sha, attempts), = stack.rows(
        "select status, step, total_steps, checkpoint_sha256, attempts from training_trainingrun")
    assert status == "running" and 3 <= step < total == 16 and attempts == 1
    # The dead worker's last heartbeat is recent, so --resume waits; past the stale limit it goes ahead.
    refused = subprocess.run([sys.executable, "manage.py", "train_codec", "keypoint-anim", "--resume"],
                             cwd=BASE_DIR, env=stack.env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "still training" in refused.stderr
    stack.rows("update training_trainingrun set heartbeat_at = %s", "2000-01-01 00:00:00+00:00")
    with stack.worker(concurrency=1):
        out = stack.manage("train_codec", "keypoint-anim", "--resume", timeout=600).stdout
    (status, step, sha_done, attempts, device, loss_type, path), = stack.rows(
        "select status, step, checkpoint_sha256, attempts, device, loss_type, checkpoint_path from training_trainingrun")
    assert status == "done" and step == 16 and attempts == 1 and device == "cpu" and loss_type == "l1+ms-ssim"
    assert sha_done != sha and sha_done in out
    payload = load_checkpoint(path)
    assert payload["step"] == 16 and payload["epochs_done"] == 2 and len(payload["loss_history"]) == 16
    assert path.startswith(str(stack.data_dir / "checkpoints" / "keypoint-anim"))
