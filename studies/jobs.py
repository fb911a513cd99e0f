"""Sending the studies app's jobs to Celery, after the current transaction commits."""
import time
from functools import partial

from celery import signature
from django.db import transaction
from kombu.exceptions import OperationalError

from qa_platform.core.models import Job, JobStatus

QUEUE = "cpu"
# After a send finds the broker unreachable, this process sends nothing for this long: each
# attempt costs seconds (redis-py retries the connection), and the vote that triggers it waits.
BROKER_PAUSE_SECONDS = 30.0


class BrokerPause:
    """When this process last found the broker unreachable (time.monotonic()), and why."""

    def __init__(self):
        self.until, self.reason = 0.0, ""

    def active(self) -> bool:
        return time.monotonic() < self.until

    def start(self, reason: str) -> None:
        self.until, self.reason = time.monotonic() + BROKER_PAUSE_SECONDS, reason


broker_pause = BrokerPause()


def _fail(model: type[Job], job_id: int, reason: str) -> None:
    model.objects.filter(pk=job_id).update(
        status=JobStatus.FAILED, message=f"the job could not be queued (is the broker running?): {reason}")


def _send(model: type[Job], job_id: int, task: str, args: list, task_id: str | None, countdown: float) -> None:
    if broker_pause.active():
        _fail(model, job_id, f"{broker_pause.reason} (a send failed less than {BROKER_PAUSE_SECONDS:g} s ago)")
        return
    try:
        signature(task, args=args, queue=QUEUE, immutable=True).apply_async(
            task_id=task_id, countdown=countdown, retry=False)
    except OperationalError as error:
        broker_pause.start(str(error))
        _fail(model, job_id, str(error))


def send_on_commit(job: Job, task: str, *, args: list, task_id: str | None = None, countdown: float = 0) -> None:
    """Send Celery task ``task`` with ``args`` (and the message id ``task_id``, for a job-lifecycle step)
    to the ``cpu`` queue ``countdown`` seconds after the current transaction commits. A broker that
    cannot be reached marks ``job`` failed with the reason instead of raising, so the caller's own
    work (a vote) is kept; for ``BROKER_PAUSE_SECONDS`` after that, this process does not try the
    broker again (the job is marked failed at once), so votes do not wait on it one after another."""
    transaction.on_commit(partial(_send, type(job), job.pk, task, args, task_id, countdown))
