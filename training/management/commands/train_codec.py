from django.core.management.base import BaseCommand, CommandError

from qa_platform.codec.fomm import FommConfig, FommConfigError
from qa_platform.core.models import JobStatus
from training import services
from training.fomm_training import TrainingError
from training.jobs import training_run_wait


class Command(BaseCommand):
    help = (
        "Train a learned codec (keypoint-anim: a first order motion model) on a Celery gpu worker and show "
        "its progress until the run ends; --resume continues the last unfinished run from its last checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("codec", help="The codec to train (e.g. keypoint-anim).")
        parser.add_argument("--epochs", type=int, help="Epochs to train (with --resume: a new, higher target).")
        parser.add_argument("--size", type=int, default=FommConfig.size, help="Model frame side: 64, 128 or 256 px.")
        parser.add_argument("--keypoints", type=int, default=FommConfig.num_kp, help="Keypoints K.")
        parser.add_argument("--no-jacobians", action="store_true", help="Keypoint positions only (no local affines).")
        parser.add_argument("--sources", default=services.ALL_SOURCES,
                            help='"all" (every SRC in the database) or a folder of video files.')
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--checkpoint-every", type=int, default=100, help="Steps between checkpoints.")
        parser.add_argument("--resume", action="store_true", help="Continue the latest unfinished run of the codec.")
        parser.add_argument("--no-wait", action="store_true", help="Queue the run and return.")
        parser.add_argument("--timeout", type=float, default=None, help="Stop waiting after this many seconds.")

    def handle(self, *args, codec, epochs, size, keypoints, no_jacobians, sources, batch_size, checkpoint_every,
               resume, no_wait, timeout, **options):
        try:
            if resume:
                run = services.training_run_resume(codec_name=codec, epochs=epochs)
            elif epochs is None:
                raise CommandError("give --epochs N (or --resume to continue an interrupted run)")
            else:
                config = FommConfig(size=size, num_kp=keypoints, jacobians=not no_jacobians)
                run = services.training_run_create(codec_name=codec, config=config, epochs=epochs, sources=sources,
                                                   batch_size=batch_size, checkpoint_every=checkpoint_every)
        except (TrainingError, FommConfigError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"training run {run.pk}: {run.codec}, {run.epochs} epochs, {run.config}, queued on gpu")
        if no_wait:
            return
        try:
            run = training_run_wait(run.pk, timeout=timeout)
        except TimeoutError as exc:
            raise CommandError(str(exc)) from exc
        if run.status == JobStatus.FAILED:
            raise CommandError(f"training run {run.pk} failed: {run.message}")
        self.stdout.write(f"training run {run.pk} done: {run.epochs_done} epochs, {run.step} steps on {run.device}; "
                          f"last loss {_loss(run.loss)} ({run.loss_type}); checkpoint {run.checkpoint_sha256}")


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
