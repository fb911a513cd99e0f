"""How a training run travels through Celery: one ``training.train_codec`` job on the ``gpu`` queue."""
import time

from celery import signature
from tqdm import tqdm

from qa_platform.core.models import JobStatus
from training.models import TrainingRun

QUEUE = "gpu"
TASK = "training.train_codec"


def training_run_enqueue(run: TrainingRun):
    """Send the run's job to the broker (call it from ``transaction.on_commit``)."""
    return signature(TASK, args=[run.pk], queue=QUEUE, immutable=True).apply_async()


def training_run_wait(run_id: int, timeout: float | None = None, poll_seconds: float = 1.0) -> TrainingRun:
    """Show a progress bar (percent of the run's steps, with epoch, step and loss) until the run is done or failed.

    Returns the run as it ended. Raises ``TimeoutError`` after ``timeout``
    seconds (the run goes on).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with tqdm(total=100.0, unit="%", desc=f"training run {run_id}", bar_format="{desc}: {percentage:5.1f}%|{bar}| [{elapsed}<{remaining}{postfix}]") as bar:
        while True:
            run = TrainingRun.objects.get(pk=run_id)
            bar.update(run.percent - bar.n)
            bar.set_postfix({"status": run.status, "epoch": f"{run.epochs_done}/{run.epochs}",
                             "step": f"{run.step}/{run.total_steps or '?'}",
                             "loss": "-" if run.loss is None else f"{run.loss:.4f}"}, refresh=True)
            if run.status in (JobStatus.DONE, JobStatus.FAILED):
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"training run {run_id} is still {run.status}; it goes on (see the admin)")
            time.sleep(poll_seconds)
