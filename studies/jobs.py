"""Sending the studies app's jobs to Celery, after the current transaction commits."""
from functools import partial

from celery import signature
from django.db import transaction
from kombu.exceptions import OperationalError

from qa_platform.core.models import Job, JobStatus

QUEUE = "cpu"


def _send(model: type[Job], job_id: int, task: str, args: list, task_id: str | None, countdown: float) -> None:
    try:
        signature(task, args=args, queue=QUEUE, immutable=True).apply_async(
            task_id=task_id, countdown=countdown, retry=False)
    except OperationalError as error:
        model.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, message=f"the job could not be queued (is the broker running?): {error}")


def send_on_commit(job: Job, task: str, *, args: list, task_id: str | None = None, countdown: float = 0) -> None:
    """Send Celery task ``task`` with ``args`` (and the message id ``task_id``, for a job-lifecycle step)
    to the ``cpu`` queue ``countdown`` seconds after the current transaction commits. A broker that
    cannot be reached marks ``job`` failed with the reason instead of raising, so the caller's own
    work (a vote) is kept."""
    transaction.on_commit(partial(_send, type(job), job.pk, task, args, task_id, countdown))
