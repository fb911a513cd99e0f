"""Sending the studies app's jobs to Celery, after the current transaction commits."""
from functools import partial

from celery import signature
from django.db import transaction
from kombu.exceptions import OperationalError

from qa_platform.core.models import Job, JobStatus

QUEUE = "cpu"


def _send(model: type[Job], job_id: int, task: str, study_id: int, countdown: float) -> None:
    try:
        signature(task, args=[study_id], queue=QUEUE, immutable=True).apply_async(countdown=countdown, retry=False)
    except OperationalError as error:
        model.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, message=f"the job could not be queued (is the broker running?): {error}")


def send_on_commit(job: Job, task: str, *, study_id: int, countdown: float = 0) -> None:
    """Send Celery task ``task`` (argument: ``study_id``) to the ``cpu`` queue
    ``countdown`` seconds after the current transaction commits. A broker
    that cannot be reached marks ``job`` failed with the reason instead of
    raising, so the caller's own work (a vote) is kept."""
    transaction.on_commit(partial(_send, type(job), job.pk, task, study_id, countdown))
