"""Training a FOMM model (``qa_platform.codec.fomm``) on face clips, with checkpoints and resume. Django-free.

Data: each training example is a (source, driving) pair of frames of the
same clip (FOMM section 3: the model learns to reconstruct the driving
frame from the source). An epoch visits every frame of every clip once as
the driving frame, in a random order; its source is a random frame of the
same clip. Optimiser: Adam (lr 2e-4, betas (0.5, 0.999): FOMM's vox-256.yaml).

Randomness is reproducible without hidden state: the order of epoch e comes
from a generator seeded by (seed, e), the source frames and the equivariance
transforms of global step s from one seeded by (seed, s), and the weights'
initialisation from ``seed``. A checkpoint therefore holds all the RNG state
a resumed run needs (the seed and the step counter), and a resumed run
computes the same losses as an uninterrupted one.

Checkpoints (``qa_platform.codec.checkpoints``): ``torch.save`` of a dict, stored
content-addressed as ``<sha256>.pt``, every ``checkpoint_every`` steps and at
the end of every epoch; a checkpoint taken inside an epoch is deleted once a
later one of the same run is stored and reported to ``on_checkpoint`` (epoch
ends are kept as versions).
"""
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from qa_platform.codec.checkpoints import store_checkpoint
from qa_platform.codec.fomm import (
    FORMAT,
    FORMAT_VERSION,
    Fomm,
    FommConfig,
    load_checkpoint,
    serialise,
)
from qa_platform.codec.tensors import default_device, frames_to_tensor
from training.fomm_losses import FommLoss, perceptual_backbone

ADAM_BETAS = (0.5, 0.999)

logger = logging.getLogger(__name__)


class TrainingError(ValueError):
    """Training cannot start or resume as asked; the message says why."""


@dataclass(frozen=True)
class TrainingClip:
    """One clip to train on: ``frames`` uint8 (T, size, size, 3) RGB; ``sha256`` of the file it came from."""

    name: str
    sha256: str
    frames: np.ndarray


@dataclass(frozen=True)
class TrainingOptions:
    """epochs: epochs the run ends after (a resumed run may ask for more). batch_size: pairs per step.
    checkpoint_every: steps between checkpoints inside an epoch. seed: see the module docstring."""

    epochs: int
    batch_size: int = 8
    learning_rate: float = 2e-4
    checkpoint_every: int = 100
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1 or not self.learning_rate > 0:
            raise TrainingError(f"epochs, batch_size and checkpoint_every must be >= 1 and the learning rate > 0: {self}")


@dataclass(frozen=True)
class Progress:
    """Where a run is after a step: epoch (0-based) of ``epochs``, step (global, 1-based) of ``total_steps``,
    that step's loss, and the percentage done."""

    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float

    @property
    def percent(self) -> float:
        return 100.0 * self.step / self.total_steps


@dataclass(frozen=True)
class SavedCheckpoint:
    """A stored checkpoint: path, hex SHA-256, the counters it holds, whether the run is complete,
    and the reconstruction loss it was trained with (``FommLoss.description["type"]``)."""

    path: Path
    sha256: str
    epochs_done: int
    step: int
    complete: bool
    loss_type: str


@dataclass
class _State:
    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0
    loss_history: list = field(default_factory=list)
    epoch_losses: list = field(default_factory=list)


def _generator(seed: int, kind: int, index: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, kind, index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def steps_per_epoch(clips: list[TrainingClip], batch_size: int) -> int:
    """ceil(frames of all clips / batch_size)."""
    return math.ceil(sum(len(c.frames) for c in clips) / batch_size)


def _pairs(lengths: list[int], seed: int, epoch: int, step_in_epoch: int, step: int,
           batch_size: int) -> tuple[np.ndarray, torch.Generator]:
    """(clip index, source frame, driving frame) rows int (B, 3) of one step, and the step's generator."""
    offsets = np.cumsum([0, *lengths])
    order = torch.randperm(int(offsets[-1]), generator=_generator(seed, 0, epoch)).numpy()
    items = order[step_in_epoch * batch_size:(step_in_epoch + 1) * batch_size]
    clip = np.searchsorted(offsets, items, side="right") - 1
    generator = _generator(seed, 1, step)
    source = (torch.rand(len(items), generator=generator).numpy() * np.asarray(lengths)[clip]).astype(np.int64)
    return np.stack([clip, source, items - offsets[clip]], axis=1), generator


def _sources(clips: list[TrainingClip]) -> list[dict]:
    return [{"name": c.name, "sha256": c.sha256, "frames": len(c.frames)} for c in clips]


def _check_resumable(payload: dict, config: FommConfig, clips: list[TrainingClip], options: TrainingOptions,
                     loss: dict) -> None:
    problems = []
    if payload["loss"] != loss:
        problems.append(f"it was trained with the loss {payload['loss']}, this run would use {loss} "
                        "(VGG-19 weights installed or removed since?)")
    if payload["config"] != config.to_dict():
        problems.append(f"its model configuration is {payload['config']}, not {config.to_dict()}")
    if payload["sources"] != _sources(clips):
        problems.append("it was trained on other clips: " + ", ".join(s["name"] for s in payload["sources"]))
    if payload["options"]["batch_size"] != options.batch_size or payload["options"]["seed"] != options.seed:
        problems.append(f"its batch size and seed are {payload['options']['batch_size']} and {payload['options']['seed']}")
    if problems:
        raise TrainingError("cannot resume from this checkpoint: " + "; ".join(problems) + "; start a new run instead")


def train_fomm(*, clips: list[TrainingClip], config: FommConfig, options: TrainingOptions, folder: Path,
               resume_from: Path | None = None, device: torch.device | None = None,
               progress: Callable[[Progress], None] | None = None,
               on_checkpoint: Callable[[SavedCheckpoint], None] | None = None) -> SavedCheckpoint:
    """Train (or resume training) a FOMM model; return the final checkpoint.

    clips: at least one, frames uint8 (T, config.size, config.size, 3), T >= 2.
    folder: where checkpoints are stored. resume_from: a checkpoint of an
    earlier, interrupted run with the same configuration, clips, batch size
    and seed; training continues after its step with its weights, Adam state
    and loss history. device: default ``default_device()``. ``progress`` is
    called after every step, ``on_checkpoint`` after every checkpoint; an
    exception from either stops the run (what was checkpointed stays).
    Raises ``TrainingError`` for unusable clips or a checkpoint that does not
    match, ``CheckpointError`` for an altered checkpoint.
    """
    if not clips:
        raise TrainingError("no training clips: give at least one clip of two frames or more")
    for clip in clips:
        if clip.frames.shape[1:] != (config.size, config.size, 3) or len(clip.frames) < 2:
            raise TrainingError(f"clip {clip.name}: frames {clip.frames.shape}, expected (T >= 2, {config.size}, "
                                f"{config.size}, 3); resize with resize_clip")
    device = device or default_device("FOMM training runs")
    torch.manual_seed(options.seed)
    model = Fomm(config).to(device).train()
    criterion = FommLoss(config, perceptual_backbone()).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate, betas=ADAM_BETAS)
    state = _State()
    if resume_from is not None:
        payload = load_checkpoint(resume_from)
        _check_resumable(payload, config, clips, options, criterion.description)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        state = _State(payload["epochs_done"], payload["step_in_epoch"], payload["step"],
                       list(payload["loss_history"]), list(payload["epoch_losses"]))
    per_epoch = steps_per_epoch(clips, options.batch_size)
    lengths = [len(c.frames) for c in clips]
    previous: SavedCheckpoint | None = None
    if resume_from is not None:
        previous = SavedCheckpoint(Path(resume_from), payload["sha256"], state.epoch, state.step,
                                   complete=state.epoch >= options.epochs, loss_type=payload["loss"]["type"])
        if previous.complete:
            return previous

    def checkpoint() -> SavedCheckpoint:
        nonlocal previous
        payload = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "config": config.to_dict(),
            "loss": criterion.description,
            "options": {"batch_size": options.batch_size, "learning_rate": options.learning_rate,
                        "adam_betas": list(ADAM_BETAS), "checkpoint_every": options.checkpoint_every,
                        "seed": options.seed},
            "epochs_target": options.epochs, "epochs_done": state.epoch, "step_in_epoch": state.step_in_epoch,
            "step": state.step, "steps_per_epoch": per_epoch, "sources": _sources(clips),
            "loss_history": state.loss_history, "epoch_losses": state.epoch_losses,
            "device": device.type, "torch": str(torch.__version__),
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        }
        path, digest = store_checkpoint(serialise(payload), folder)
        saved = SavedCheckpoint(path, digest, state.epoch, state.step, complete=state.epoch >= options.epochs,
                                loss_type=criterion.description["type"])
        if on_checkpoint:
            on_checkpoint(saved)
        if previous is not None and previous.path != path and previous.step % per_epoch:
            previous.path.unlink(missing_ok=True)
        previous = saved
        return saved

    total = options.epochs * per_epoch
    while state.epoch < options.epochs:
        while state.step_in_epoch < per_epoch:
            rows, generator = _pairs(lengths, options.seed, state.epoch, state.step_in_epoch, state.step,
                                     options.batch_size)
            source = frames_to_tensor(np.stack([clips[c].frames[s] for c, s, _ in rows]), device)
            driving = frames_to_tensor(np.stack([clips[c].frames[d] for c, _, d in rows]), device)
            losses = criterion(model, source, driving, generator)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            optimizer.step()
            state.step_in_epoch += 1
            state.step += 1
            state.loss_history.append(float(losses["total"].detach()))
            if progress:
                progress(Progress(state.epoch, options.epochs, state.step, total, state.loss_history[-1]))
            if state.step_in_epoch < per_epoch and state.step % options.checkpoint_every == 0:
                checkpoint()
        state.epoch_losses.append(float(np.mean(state.loss_history[-per_epoch:])))
        state.epoch, state.step_in_epoch = state.epoch + 1, 0
        saved = checkpoint()
    return saved
