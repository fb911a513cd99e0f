"""Training runs of learned codecs: one row per run, a job (``qa_platform.core.lifecycle``) of ``training.train_codec``."""
from django.db import models

from qa_platform.core.models import Job


class TrainingRun(Job):
    """One training run of a learned codec, resumable from its last checkpoint.

    ``config`` is the model configuration (``qa_platform.codec.fomm.FommConfig``
    as a dict); ``sources`` says what it trains on ("all" SRCs or a folder of
    video files). Progress fields are written by the worker while it trains;
    ``checkpoint_path`` and ``checkpoint_sha256`` name the last checkpoint,
    the one ``--resume`` continues from and an HRC names by its hash.
    """

    codec = models.CharField(max_length=100)
    config = models.JSONField()
    sources = models.CharField(max_length=1000, help_text='"all" (every SRC) or a folder of video files.')
    epochs = models.PositiveIntegerField(help_text="Epochs asked for.")
    batch_size = models.PositiveIntegerField(default=8)
    checkpoint_every = models.PositiveIntegerField(default=100, help_text="Steps between checkpoints in an epoch.")
    epochs_done = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0, help_text="Steps done (all epochs).")
    total_steps = models.PositiveIntegerField(default=0, help_text="Steps of the whole run (0 until it starts).")
    loss = models.FloatField(null=True, blank=True, help_text="Loss of the last step.")
    percent = models.FloatField(default=0.0)
    loss_type = models.CharField(max_length=40, blank=True, help_text="Reconstruction loss: vgg19-perceptual or l1+ms-ssim.")
    device = models.CharField(max_length=16, blank=True, help_text="Where it trains: cpu or cuda.")
    checkpoint_path = models.CharField(max_length=1000, blank=True)
    checkpoint_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.codec} run {self.pk} ({self.status})"
