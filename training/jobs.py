"""How a training run travels through Celery: one ``training.train_codec`` job on the ``gpu`` queue."""
from celery import signature

from qa_platform.core.lifecycle import jobs_wait
from training.models import TrainingRun

QUEUE = "gpu"
TASK = "training.train_codec"


def training_run_enqueue(run: TrainingRun, task_ids: list[str]):
    """Send the run's job to the broker with the task id ``lifecycle.job_queue`` drew (call it from
    ``transaction.on_commit``)."""
    (task_id,) = task_ids
    return signature(TASK, args=[run.pk], queue=QUEUE, immutable=True, task_id=task_id).apply_async()


def _progress(runs: list[TrainingRun]) -> tuple[float, dict]:
    (run,) = runs
    return run.percent, {"status": run.status, "epoch": f"{run.epochs_done}/{run.epochs}",
                         "step": f"{run.step}/{run.total_steps or '?'}",
                         "loss": "-" if run.loss is None else f"{run.loss:.4f}"}


def training_run_wait(run_id: int, timeout: float | None = None) -> TrainingRun:
    """Show a progress bar (percent of the run's steps, with epoch, step and loss) until the run is done or failed.

    Returns the run as it ended. Raises ``TimeoutError`` after ``timeout``
    seconds (the run goes on).
    """
    (run,) = jobs_wait(TrainingRun, [run_id], desc=f"training run {run_id}", timeout=timeout, total=100.0, unit="%",
                       progress=_progress,
                       bar_format="{desc}: {percentage:5.1f}%|{bar}| [{elapsed}<{remaining}{postfix}]")
    return run
