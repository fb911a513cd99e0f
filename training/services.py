"""Training runs of learned codecs: create, resume, execute (on a worker), record progress.

A codec is trainable here when its class declares ``training_recipe = "fomm"``
(the FOMM trainer of ``training.fomm_training``); its checkpoints go to
``qa_platform.codec.checkpoints.codec_folder(codec name)``, where the codec finds them.
"""
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from qa_platform.codec import registry as codec_registry
from qa_platform.codec import video
from qa_platform.codec.base import CodecError
from qa_platform.codec.checkpoints import codec_folder
from qa_platform.codec.fomm import FommConfig, resize_clip
from qa_platform.codec.storage import sha256_file
from qa_platform.codec.tensors import default_device
from qa_platform.core import ingest, lifecycle
from qa_platform.core.models import JobStatus, Source
from training.fomm_training import (
    Progress,
    SavedCheckpoint,
    TrainingClip,
    TrainingError,
    TrainingOptions,
    train_fomm,
)
from training.jobs import training_run_enqueue
from training.models import TrainingRun

RECIPE = "fomm"
ALL_SOURCES = "all"
# Progress is written to the row at most this often (and at every checkpoint), seconds.
PROGRESS_SECONDS = 1.0


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
    TrainingOptions(epochs=epochs, batch_size=batch_size, checkpoint_every=checkpoint_every)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            codec=_check_codec(codec_name), config=config.to_dict(), sources=_check_sources(sources),
            epochs=epochs, batch_size=batch_size, checkpoint_every=checkpoint_every,
        )
        task_ids = lifecycle.job_queue(run)
        transaction.on_commit(lambda: training_run_enqueue(run, task_ids))
    return run


def training_run_resume(*, codec_name: str, epochs: int | None = None) -> TrainingRun:
    """Queue again the latest run of ``codec_name`` that did not finish, to continue from its last checkpoint.

    With ``epochs``, the run's target becomes that many epochs (no fewer than
    it asked for). Raises ``TrainingError`` when there is no such run, or
    when a live worker still trains it (``lifecycle.is_alive``).
    """
    with transaction.atomic():
        run = TrainingRun.objects.filter(codec=_check_codec(codec_name)).exclude(status=JobStatus.DONE).first()
        if run is None:
            raise TrainingError(f"no unfinished {codec_name} run to resume; start one with --epochs N")
        if lifecycle.is_alive(run):
            seconds = (timezone.now() - run.heartbeat_at).total_seconds()
            raise TrainingError(f"run {run.pk}: {run.worker} beat {seconds:.0f} s ago: it is still training; if that "
                                f"worker died, resume once it has been silent {lifecycle.stale_seconds():.0f} s")
        if epochs is not None and epochs < run.epochs:
            raise TrainingError(f"run {run.pk} asks for {run.epochs} epochs; --epochs can only raise it")
        task_ids = lifecycle.job_queue(run)
        run.epochs = epochs or run.epochs
        run.message = f"resuming from {run.checkpoint_sha256[:16] or 'the start'}"
        run.save(update_fields=["epochs", "message"])
        transaction.on_commit(lambda: training_run_enqueue(run, task_ids))
    return run


def training_clips(*, sources: str, size: int) -> list[TrainingClip]:
    """The clips of a run, uint8 (T, size, size, 3): every SRC's stored clip, or each video file of a
    folder prepared as a SRC (``ingest.prepare_clip``). The SHA-256 is of the file read."""
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


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Train the run on this worker, from its last checkpoint if it has one; return the row as it ends.

    The step of the run's job: the ``training.train_codec`` task claims the
    run first (``lifecycle.JobTask``) and records the outcome after.
    Progress and checkpoints are written to the row as they come. Raises
    ``TrainingError``, ``IngestError`` or whatever else stops the training.
    """
    device = default_device("FOMM training runs")
    _update(run, device=device.type)
    lifecycle.job_note(run, f"preparing clips ({run.sources})")
    config = FommConfig.from_dict(run.config)
    clips = training_clips(sources=run.sources, size=config.size)
    lifecycle.job_note(run, f"training on {len(clips)} clips")
    options = TrainingOptions(epochs=run.epochs, batch_size=run.batch_size, checkpoint_every=run.checkpoint_every)
    resume_from = Path(run.checkpoint_path) if run.checkpoint_sha256 else None
    last_write = 0.0

    def progress(report: Progress) -> None:
        nonlocal last_write
        if time.monotonic() - last_write >= PROGRESS_SECONDS or report.step == report.total_steps:
            last_write = time.monotonic()
            _update(run, epochs_done=report.epoch, step=report.step, total_steps=report.total_steps,
                    loss=report.loss, percent=report.percent)

    def checkpointed(saved: SavedCheckpoint) -> None:
        _update(run, checkpoint_path=str(saved.path), checkpoint_sha256=saved.sha256, loss_type=saved.loss_type,
                epochs_done=saved.epochs_done, step=saved.step)

    saved = train_fomm(clips=clips, config=config, options=options, folder=codec_folder(run.codec),
                       resume_from=resume_from, device=device, progress=progress, on_checkpoint=checkpointed)
    _update(run, percent=100.0, epochs_done=saved.epochs_done, checkpoint_path=str(saved.path),
            checkpoint_sha256=saved.sha256, loss_type=saved.loss_type)
    run.refresh_from_db()
    return run
