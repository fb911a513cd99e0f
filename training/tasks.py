"""Celery task of the training app: a thin shell that loads the row and calls one service.

A step of the run's lifecycle (``lifecycle.JobTask``): it trains only when it
claims the run, and ends it done, or failed with the error.
"""
from celery import shared_task

from qa_platform.core.lifecycle import JobTask
from training import services
from training.models import TrainingRun


@shared_task(base=JobTask, job_model="training.TrainingRun", name="training.train_codec")
def train_codec_task(run_id: int) -> int:
    """Train a learned codec (one ``TrainingRun``), continuing from its last checkpoint if it has one."""
    services.training_run_execute(run=TrainingRun.objects.get(pk=run_id))
    return run_id
