"""Training runs of learned codecs: create, resume, execute (on a worker), record progress.

A codec is trainable here when its class declares ``training_recipe = "fomm"``
(the FOMM trainer of ``training.fomm_training``); its checkpoints go to
``qa_platform.codec.checkpoints.codec_folder(codec name)``, where the codec finds them.
"""
import logging
import socket
import time
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from qa_platform.codec import registry as codec_registry
from qa_platform.codec import video
from qa_platform.codec.base import CodecError
from qa_platform.codec.checkpoints import codec_folder
from qa_platform.codec.fomm import FommConfig, resize_clip
from qa_platform.codec.storage import sha256_file
from qa_platform.codec.tensors import default_device
from qa_platform.core import ingest
from qa_platform.core.models import JobStatus, Source
from training.fomm_training import (
    Progress,
    SavedCheckpoint,
    TrainingClip,
    TrainingError,
    TrainingOptions,
    train_fomm,
)
from training.models import TrainingRun

RECIPE = "fomm"
ALL_SOURCES = "all"
# Progress is written to the row at most this often (and at every checkpoint), seconds.
PROGRESS_SECONDS = 1.0
# A running run that reported progress more recently than this is being trained
# by a live worker: a second delivery of its job (Redis redelivers unacknowledged
# jobs after the visibility timeout) leaves it alone.
LIVE_WORKER_SECONDS = 300
# --resume refuses a run that reported progress more recently than this: its worker may be alive.
RESUME_GUARD_SECONDS = 30

logger = logging.getLogger(__name__)


def trainable_codecs() -> list[str]:
    """Names of the registered codecs this app can train."""
    return [cls.name for cls in codec_registry.all_codecs() if getattr(cls, "training_recipe", None) == RECIPE]


def _check_codec(codec_name: str) -> str:
    try:
        codec = codec_registry.get_codec(codec_name)
    except CodecError as exc:
        raise TrainingError(str(exc)) from exc
    if getattr(codec, "training_recipe", None) != RECIPE:
        raise TrainingError(f"codec {codec_name} has no trainer here; trainable: {', '.join(trainable_codecs()) or 'none'}")
    return codec.name


def _check_sources(sources: str) -> str:
    if sources == ALL_SOURCES:
        if not Source.objects.exists():
            raise TrainingError("no SRC yet: run `python manage.py ingest_sources PATH`, or give --sources DIR")
        return sources
    folder = Path(sources).resolve()
    if not folder.is_dir() or not ingest.expand_paths([folder]):
        raise TrainingError(f"--sources {sources}: not a folder of video files ({', '.join(ingest.VIDEO_SUFFIXES)}), "
                            "nor 'all'")
    return str(folder)


def training_run_create(*, codec_name: str, config: FommConfig, epochs: int, sources: str = ALL_SOURCES,
                        batch_size: int = 8, checkpoint_every: int = 100) -> TrainingRun:
    """Create a run and queue its job (on the ``gpu`` queue, after the transaction commits).

    Raises ``TrainingError`` for a codec without a trainer, no SRC, a folder
    without videos, or bad training options.
    """
    from training.jobs import (
        training_run_enqueue,  # the Celery side, imported when used
    )

    TrainingOptions(epochs=epochs, batch_size=batch_size, checkpoint_every=checkpoint_every)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            codec=_check_codec(codec_name), config=config.to_dict(), sources=_check_sources(sources),
            epochs=epochs, batch_size=batch_size, checkpoint_every=checkpoint_every,
            status=JobStatus.QUEUED, queued_at=timezone.now(),
        )
        transaction.on_commit(lambda: training_run_enqueue(run))
    return run


def training_run_resume(*, codec_name: str, epochs: int | None = None) -> TrainingRun:
    """Queue again the latest run of ``codec_name`` that did not finish, to continue from its last checkpoint.

    With ``epochs``, the run's target becomes that many epochs (no fewer than
    it asked for). Raises ``TrainingError`` when there is no such run.
    """
    from training.jobs import training_run_enqueue

    with transaction.atomic():
        run = TrainingRun.objects.filter(codec=_check_codec(codec_name)).exclude(status=JobStatus.DONE).first()
        if run is None:
            raise TrainingError(f"no unfinished {codec_name} run to resume; start one with --epochs N")
        if _progress_within(run, RESUME_GUARD_SECONDS):
            seconds = (timezone.now() - run.progress_at).total_seconds()
            raise TrainingError(f"run {run.pk} reported progress {seconds:.0f} s ago on {run.worker or 'a worker'}: "
                                f"it is still training; if that worker died, resume after {RESUME_GUARD_SECONDS} s")
        if epochs is not None and epochs < run.epochs:
            raise TrainingError(f"run {run.pk} asks for {run.epochs} epochs; --epochs can only raise it")
        run.epochs = epochs or run.epochs
        run.status, run.queued_at, run.finished_at = JobStatus.QUEUED, timezone.now(), None
        run.message = f"resuming from {run.checkpoint_sha256[:16] or 'the start'}"
        run.save(update_fields=["epochs", "status", "queued_at", "finished_at", "message"])
        transaction.on_commit(lambda: training_run_enqueue(run))
    return run


def training_clips(*, sources: str, size: int) -> list[TrainingClip]:
    """The clips of a run, uint8 (T, size, size, 3): every SRC's stored clip, or each video file of a
    folder prepared as a SRC (``ingest.prepare_clip``). The SHA-256 is of the file read."""
    from django.conf import settings

    if sources == ALL_SOURCES:
        clips = []
        for source in Source.objects.all():
            path = Path(settings.DATA_DIR) / source.lossless_path
            frames, _ = video.read_frames(path)
            clips.append(TrainingClip(source.name, sha256_file(path), resize_clip(frames, size)))
        return clips
    return [TrainingClip(path.stem, sha256_file(path), ingest.prepare_clip(path, size=size).frames)
            for path in ingest.expand_paths([Path(sources)])]


def _update(run: TrainingRun, **fields) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(**fields)


def _progress_within(run: TrainingRun, seconds: float) -> bool:
    recent = timezone.now() - timedelta(seconds=seconds)
    return run.status == JobStatus.RUNNING and run.progress_at is not None and run.progress_at > recent


def _claim(run: TrainingRun, device: str) -> bool:
    """Mark the run as trained by this worker, in one conditional UPDATE; False when it is done or a
    live worker (progress in the last LIVE_WORKER_SECONDS) has it, so two deliveries never both train."""
    now = timezone.now()
    live = Q(status=JobStatus.RUNNING, progress_at__gt=now - timedelta(seconds=LIVE_WORKER_SECONDS))
    return bool(TrainingRun.objects.filter(pk=run.pk).exclude(status=JobStatus.DONE).exclude(live).update(
        status=JobStatus.RUNNING, worker=socket.gethostname(), started_at=now, attempts=F("attempts") + 1,
        device=device, progress_at=now, message=f"preparing clips ({run.sources})"))


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Train the run on this worker, from its last checkpoint if it has one; return the row as it ends.

    A run already done, or being trained by a live worker, is returned as it
    is. Progress and checkpoints are written to the row as they come; an
    error marks the run failed (with the error) and is raised again.
    """
    run.refresh_from_db()
    device = default_device("FOMM training runs")
    if not _claim(run, device.type):
        run.refresh_from_db()
        return run
    try:
        config = FommConfig.from_dict(run.config)
        clips = training_clips(sources=run.sources, size=config.size)
        _update(run, message=f"training on {len(clips)} clips")
        options = TrainingOptions(epochs=run.epochs, batch_size=run.batch_size,
                                  checkpoint_every=run.checkpoint_every)
        resume_from = Path(run.checkpoint_path) if run.checkpoint_sha256 else None
        last_write = 0.0

        def progress(report: Progress) -> None:
            nonlocal last_write
            if time.monotonic() - last_write >= PROGRESS_SECONDS or report.step == report.total_steps:
                last_write = time.monotonic()
                _update(run, epochs_done=report.epoch, step=report.step, total_steps=report.total_steps,
                        loss=report.loss, percent=report.percent, progress_at=timezone.now())

        def checkpointed(saved: SavedCheckpoint) -> None:
            _update(run, checkpoint_path=str(saved.path), checkpoint_sha256=saved.sha256, loss_type=saved.loss_type,
                    epochs_done=saved.epochs_done, step=saved.step, progress_at=timezone.now())

        saved = train_fomm(clips=clips, config=config, options=options, folder=codec_folder(run.codec),
                           resume_from=resume_from, device=device, progress=progress, on_checkpoint=checkpointed)
    except Exception as exc:  # the job's boundary: whatever stops the run is recorded on it
        _update(run, status=JobStatus.FAILED, message=f"{type(exc).__name__}: {exc}", finished_at=timezone.now())
        raise
    _update(run, status=JobStatus.DONE, finished_at=timezone.now(), percent=100.0, epochs_done=saved.epochs_done,
            checkpoint_path=str(saved.path), checkpoint_sha256=saved.sha256, loss_type=saved.loss_type,
            message=f"trained {saved.epochs_done} epochs ({saved.step} steps); checkpoint {saved.sha256[:16]}")
    run.refresh_from_db()
    return run
