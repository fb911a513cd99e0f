"""One lifecycle for every job: a model that subclasses ``qa_platform.core.models.Job`` and runs as Celery tasks.

A job runs as one *delivery*: one or more *steps*, each a Celery task whose
id is drawn when the job is queued (``job_queue``) and stored on the row
(``task_ids``; ``task_id`` is the step due now). A step runs on a worker
only when it claims the job (``job_claim``), in one conditional UPDATE that
succeeds for one claimant at most: the message must be the step due, the job
queued or running, and no live worker holding it. While a step runs, a
thread of its worker refreshes ``heartbeat_at`` every
``FACEQA_JOB_HEARTBEAT_SECONDS``; a job whose heartbeat is older than
``FACEQA_JOB_STALE_BEATS`` periods counts as dead (its worker was killed) and
the next delivery of the step's message claims it again. A step that ends
releases the job to the next step (or ends it done); an error ends it failed.

States: pending → queued → running → done | failed. Between two steps the
job stays running with no heartbeat. ``attempts`` counts deliveries: the
claim of a queued job and every claim of a dead one; a claim that would pass
``FACEQA_JOB_MAX_ATTEMPTS`` ends the job failed instead, naming the cap and
the last error. A message that is not the step due (a redelivery of a step
that already ran, of an older delivery, or of a job that ended) or that
finds a live worker holding the job is dropped: logged, nothing touched.

Times come from each machine's clock: hosts that share a database are
assumed to keep their clocks in step (NTP) to well within the stale limit.
"""
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from celery import Task
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from qa_platform.core.models import Job, JobStatus
from qa_platform.progress import progress_bar

logger = logging.getLogger(__name__)
T = TypeVar("T")
ENDED = (JobStatus.DONE, JobStatus.FAILED)


def heartbeat_seconds() -> float:
    """Seconds between two heartbeats of a running step (``FACEQA_JOB_HEARTBEAT_SECONDS``)."""
    return float(settings.FACEQA_JOB_HEARTBEAT_SECONDS)


def stale_seconds() -> float:
    """Seconds without a heartbeat after which a running job counts as dead."""
    return heartbeat_seconds() * settings.FACEQA_JOB_STALE_BEATS


def worker_name() -> str:
    """Who runs a step here: host name and process id (several pool processes share a host)."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def is_dead(job: Job, now=None) -> bool:
    """Whether a worker holds ``job`` but its heartbeat is older than ``stale_seconds()``."""
    now = now or timezone.now()
    return job.heartbeat_at is not None and job.heartbeat_at < now - timedelta(seconds=stale_seconds())


def is_alive(job: Job, now=None) -> bool:
    """Whether a worker holds ``job`` and beat within ``stale_seconds()``."""
    return job.status == JobStatus.RUNNING and job.heartbeat_at is not None and not is_dead(job, now)


def needs_run(job: Job, now=None) -> bool:
    """Whether queuing ``job`` again is due: never for a done job; always for a pending or failed one;
    for a running one whose worker died; and for one whose next message has waited in the broker
    longer than its visibility timeout (the message was lost)."""
    now = now or timezone.now()
    if job.status == JobStatus.DONE:
        return False
    if job.status in (JobStatus.PENDING, JobStatus.FAILED):
        return True
    if job.heartbeat_at is not None:
        return is_dead(job, now)
    lost_after = timedelta(seconds=int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]))
    return job.queued_at is None or job.queued_at < now - lost_after


def job_queue(job: Job, *, steps: int = 1) -> list[str]:
    """Start a new delivery of ``job``: queued, no attempt yet, no error; return the task ids of its ``steps``.

    Send the steps with these ids (``JobTask`` messages) after the transaction
    commits. Messages of an earlier delivery find their ids gone and are dropped.
    """
    ids = [str(uuid.uuid4()) for _ in range(steps)]
    fields = dict(status=JobStatus.QUEUED, queued_at=timezone.now(), started_at=None, finished_at=None,
                  heartbeat_at=None, message="", last_error="", attempts=0, task_ids=ids, task_id=ids[0])
    type(job).objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)
    return ids


def _refusal(job: Job, task_id: str, now) -> str:
    """Why the message ``task_id`` may not run ``job`` now ("" when it may)."""
    if job.status in ENDED:
        return f"the job is {job.status}"
    if job.task_id != task_id:
        return "the message is not the job's step due (it ran already, or belongs to an earlier delivery)"
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return f"the job is {job.status}"
    if is_alive(job, now):
        age = (now - job.heartbeat_at).total_seconds()
        return f"{job.worker} runs it (heartbeat {age:.0f} s ago)"
    return ""


def job_claim(model: type[Job], pk: int, *, task_id: str, worker: str) -> bool:
    """Claim job ``pk`` for the step ``task_id`` on ``worker``; return whether this worker now holds it.

    One conditional UPDATE (compare-and-set on the state read), so of two
    workers claiming at once one wins. A claim that starts a delivery (the
    job was queued, or its worker is dead) counts an attempt; past
    ``FACEQA_JOB_MAX_ATTEMPTS`` it ends the job failed instead. A claim that
    is refused is logged and changes nothing.
    """
    now = timezone.now()
    job = model.objects.filter(pk=pk).first()
    refusal = "no such job" if job is None else _refusal(job, task_id, now)
    if refusal:
        logger.warning("%s %s: message %s dropped: %s", model.__name__, pk, task_id, refusal)
        return False
    fields: dict[str, Any] = dict(status=JobStatus.RUNNING, worker=worker, heartbeat_at=now)
    if job.status == JobStatus.QUEUED or job.heartbeat_at is not None:  # a new delivery
        fields.update(attempts=job.attempts + 1, started_at=now)
        if job.heartbeat_at is not None:
            fields["last_error"] = (f"attempt {job.attempts}: {job.worker} stopped beating at "
                                    f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC during {job.message or 'its step'!r} "
                                    "(killed, or cut off from the database)")
        cap = settings.FACEQA_JOB_MAX_ATTEMPTS
        if job.attempts >= cap:
            last = fields.get("last_error", job.last_error) or "none recorded"
            fields = dict(status=JobStatus.FAILED, finished_at=now, heartbeat_at=None, task_id="",
                          last_error=last, message=f"gave up after {job.attempts} attempts, the cap "
                          f"(FACEQA_JOB_MAX_ATTEMPTS = {cap}); last error: {last}")
    claimed = model.objects.filter(pk=pk, status=job.status, task_id=task_id, heartbeat_at=job.heartbeat_at,
                                   attempts=job.attempts).update(**fields)
    if not claimed:
        logger.warning("%s %s: message %s dropped: another worker claimed it first", model.__name__, pk, task_id)
    elif fields["status"] == JobStatus.FAILED:
        logger.error("%s %s: %s", model.__name__, pk, fields["message"])
    return bool(claimed) and fields["status"] == JobStatus.RUNNING


def _held(model: type[Job], pk: int, task_id: str, worker: str):
    return model.objects.filter(pk=pk, status=JobStatus.RUNNING, task_id=task_id, worker=worker)


def job_beat(model: type[Job], pk: int, *, task_id: str, worker: str) -> bool:
    """Refresh the heartbeat of a job this worker holds; False when it no longer holds it."""
    return bool(_held(model, pk, task_id, worker).update(heartbeat_at=timezone.now()))


def job_note(job: Job, text: str) -> None:
    """Say what the running step of ``job`` is doing (its ``message``): call it at stage and progress points."""
    type(job).objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(message=text)
    job.message = text


def job_release(model: type[Job], pk: int, *, task_id: str, worker: str) -> bool:
    """End the step ``task_id``: hand the job to its next step, or end it done after the last one.

    Returns False (and changes nothing) when this worker no longer holds the job.
    """
    ids = model.objects.values_list("task_ids", flat=True).get(pk=pk)
    if task_id not in ids:  # queued again meanwhile: a new delivery owns the job
        return False
    position = ids.index(task_id)
    if position + 1 < len(ids):
        fields = dict(task_id=ids[position + 1], heartbeat_at=None)
    else:
        fields = dict(status=JobStatus.DONE, task_id="", heartbeat_at=None, message="", finished_at=timezone.now())
    return bool(_held(model, pk, task_id, worker).update(**fields))


def job_fail(model: type[Job], pk: int, *, task_id: str, worker: str, error: BaseException) -> bool:
    """End a job this worker holds failed with ``error`` (its type and text, in ``message`` and ``last_error``)."""
    text = f"{type(error).__name__}: {error}"
    return bool(_held(model, pk, task_id, worker).update(
        status=JobStatus.FAILED, message=text, last_error=text, task_id="", heartbeat_at=None,
        finished_at=timezone.now()))


class Heartbeat(threading.Thread):
    """A daemon thread that refreshes a held job's heartbeat every ``period`` seconds until ``stop()``.

    When the job is no longer this worker's (it was taken for dead) it logs
    an error and stops beating; ``lost`` tells.
    """

    def __init__(self, model: type[Job], pk: int, *, task_id: str, worker: str, period: float):
        super().__init__(name=f"heartbeat {model.__name__} {pk}", daemon=True)
        self.model, self.pk, self.task_id, self.worker, self.period = model, pk, task_id, worker, period
        self.lost = False
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.period):
                try:
                    held = job_beat(self.model, self.pk, task_id=self.task_id, worker=self.worker)
                except DatabaseError as exc:  # busy or unreachable: the next beat may get through
                    logger.warning("%s %s: heartbeat not written: %s", self.model.__name__, self.pk, exc)
                    continue
                if not held:
                    self.lost = True
                    logger.error("%s %s: no longer held by %s (queued again, or taken for dead); its step goes "
                                 "on unrecorded",
                                 self.model.__name__, self.pk, self.worker)
                    return
        finally:
            connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def run_step(model: type[Job], pk: int, *, task_id: str | None, work: Callable[[], T]) -> tuple[bool, T | None]:
    """Run ``work`` as the step ``task_id`` of job ``pk`` on this worker; return (whether it ran and the
    job moved on, what ``work`` returned).

    Claims the job (``job_claim``; a refused claim returns ``(False, None)``
    at once), beats while ``work`` runs, then releases the job to its next
    step (``job_release``). An exception from ``work`` ends the job failed
    (``job_fail``) and is raised again.
    """
    worker = worker_name()
    if not task_id:
        logger.warning("%s %s: a step called without a Celery message does not run", model.__name__, pk)
        return False, None
    if not job_claim(model, pk, task_id=task_id, worker=worker):
        return False, None
    heartbeat = Heartbeat(model, pk, task_id=task_id, worker=worker, period=heartbeat_seconds())
    heartbeat.start()
    try:
        try:
            result = work()
        finally:
            heartbeat.stop()
    except Exception as exc:
        job_fail(model, pk, task_id=task_id, worker=worker, error=exc)
        raise
    return job_release(model, pk, task_id=task_id, worker=worker), result


class JobTask(Task):
    """Celery base of every job step: ``@shared_task(base=JobTask, job_model="app_label.Model")``.

    The task's first argument is the job's primary key. Each delivery runs
    through ``run_step``; a delivery that is refused, or whose job was taken
    from it meanwhile, returns None and stops its chain there (the job's
    holder sends the next steps). A worker process killed mid-step (a pool
    process lost, e.g. to the OOM killer) sends the message again after the
    stale limit, when the job counts as dead, so that the retry claims it
    (counting an attempt); a whole worker killed leaves the message to the
    broker's visibility timeout.
    """

    job_model = ""
    retry_on_worker_lost = True
    max_retries = None  # the job's attempts are capped by the claim (FACEQA_JOB_MAX_ATTEMPTS)

    @property
    def default_retry_delay(self) -> int:
        """Seconds before a step whose worker process was lost is sent again: past the stale limit."""
        return int(stale_seconds() + heartbeat_seconds()) + 1

    def __call__(self, job_id: int, *args, **kwargs):
        ran, result = run_step(apps.get_model(self.job_model), job_id, task_id=self.request.id,
                               work=lambda: self.run(job_id, *args, **kwargs))
        if not ran:
            self.request.chain = None
        return result


def status_counts(jobs: list[Job]) -> dict[str, int]:
    """Number of jobs per status, every status present as a key."""
    counts = Counter(job.status for job in jobs)
    return {status: counts.get(status, 0) for status in JobStatus.values}


def ended_count(jobs: list[Job]) -> tuple[float, dict]:
    """The default progress of ``jobs_wait``: jobs ended, and the count per status."""
    counts = status_counts(jobs)
    return counts[JobStatus.DONE] + counts[JobStatus.FAILED], {status: n for status, n in counts.items() if n}


def jobs_wait(model: type[Job], ids: list[int], *, desc: str, timeout: float | None = None,
              poll_seconds: float = 1.0, total: float | None = None, unit: str = "job",
              progress: Callable[[list[Job]], tuple[float, dict]] = ended_count, **bar) -> list[Job]:
    """Show a progress bar until every job in ``ids`` is done or failed; return the jobs as they ended.

    ``progress`` gives the bar's position (out of ``total``, default the
    number of jobs) and its postfix from the jobs read; ``bar`` goes to tqdm (``progress_bar``).
    Polls every ``poll_seconds``. Raises ``TimeoutError`` after ``timeout``
    seconds (the jobs go on).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    # miniters=0: every poll may refresh the bar (its postfix changes when no job ended), as often as
    # progress_bar allows: each poll on a terminal, every 30 s in a log.
    with progress_bar(total=len(ids) if total is None else total, unit=unit, desc=desc, miniters=0, **bar) as shown:
        while True:
            jobs = list(model.objects.filter(pk__in=ids))
            position, postfix = progress(jobs)
            shown.set_postfix(postfix, refresh=False)
            shown.update(position - shown.n)
            running = [job for job in jobs if job.status not in ENDED]
            if not running:
                return jobs
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{desc}: {len(running)} still queued or running; they go on (see the admin)")
            time.sleep(poll_seconds)
