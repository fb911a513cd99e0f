"""SRC, HRC and PVS: the three nouns of a compressed face-video database.

Vocabulary as in ITU-T P.910 / VQEG practice (DESIGN.md): a SRC is a prepared
source clip, an HRC one codec at one parameter set, a PVS one SRC through one
HRC. File fields hold paths relative to ``settings.DATA_DIR``.
"""
from fractions import Fraction

from django.db import models

from qa_platform.codec.base import Family


class JobStatus(models.TextChoices):
    PENDING = "pending", "pending"
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class Job(models.Model):
    """A long-running unit of work run by Celery tasks, one or more steps per delivery.

    Its state moves only through ``qa_platform.core.lifecycle`` (queue, claim,
    heartbeat, release, fail), which says what each field means to a worker.
    """

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    message = models.TextField(blank=True, help_text="What the running step does, or why the job failed.")
    last_error = models.TextField(
        blank=True, help_text="Why the last attempt ended badly (an error, or a worker that stopped beating).",
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="Deliveries claimed since the job was queued (capped by FACEQA_JOB_MAX_ATTEMPTS).",
    )
    worker = models.CharField(max_length=200, blank=True, help_text="Host and process of the last claim.")
    task_ids = models.JSONField(
        default=list, blank=True, help_text="Celery task ids of the delivery's steps, in order.",
    )
    task_id = models.CharField(max_length=64, blank=True, help_text="The step due or running (empty once ended).")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the worker running a step (empty between steps).",
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the current attempt began.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Source(models.Model):
    """A SRC: a face-centred, square, pristine clip stored losslessly."""

    name = models.SlugField(max_length=120, unique=True)
    origin_path = models.CharField(max_length=1000)
    origin_sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField(help_text="Width and height, pixels.")
    fps_num = models.PositiveIntegerField()
    fps_den = models.PositiveIntegerField(default=1)
    max_frames = models.PositiveIntegerField(help_text="Frames asked for at ingest (the clip may have fewer).")
    frame_count = models.PositiveIntegerField(help_text="Frames stored.")
    crop_x = models.IntegerField(help_text="Left edge of the square crop in the origin, pixels.")
    crop_y = models.IntegerField(help_text="Top edge of the square crop in the origin, pixels.")
    crop_size = models.PositiveIntegerField(help_text="Side of the square crop in the origin, pixels.")
    lossless_path = models.CharField(max_length=500)
    browser_path = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["origin_sha256", "size", "fps_num", "fps_den", "max_frames"],
                name="unique_source_preparation",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    @property
    def duration_seconds(self) -> float:
        return float(self.frame_count / self.fps)


class Hrc(models.Model):
    """An HRC: one codec with one parameter set (one rate point).

    What the codec said of the HRC when it was made is stored with it
    (``label``, ``curve``, ``family``, ``codec_version``), so pages group and
    filter HRCs without loading codec plugins, and a later plugin cannot
    move an HRC to another curve.
    """

    codec = models.CharField(max_length=100)
    params = models.JSONField()
    params_key = models.CharField(max_length=500, help_text="Canonical JSON of params.")
    label = models.CharField(max_length=200)
    curve = models.CharField(
        max_length=300,
        help_text="The rate–distortion curve this HRC is a point of (Codec.curve_name): the codec and its "
                  "parameters that do not set the rate, e.g. 'landmark-warp key_period=10'. "
                  "HRCs on one curve differ in rate only.",
    )
    family = models.CharField(
        max_length=16, blank=True, choices=[(str(family), str(family)) for family in Family],
        help_text="The codec's family; blank when its plugin was missing when the HRC was recorded.",
    )
    codec_version = models.CharField(max_length=100, blank=True,
                                     help_text="The codec's version when the HRC was made.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["codec", "label"]
        verbose_name = "HRC"
        constraints = [
            models.UniqueConstraint(fields=["codec", "params_key"], name="unique_hrc")
        ]

    def __str__(self):
        return self.label


class Pvs(Job):
    """A PVS: one SRC coded and decoded by one HRC."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="pvs_set")
    hrc = models.ForeignKey(Hrc, on_delete=models.CASCADE, related_name="pvs_set")
    params = models.JSONField(
        null=True, blank=True,
        help_text="The rate point used, when the HRC is a matched-bitrate one (found per SRC).",
    )
    codec_version = models.CharField(max_length=100, blank=True)
    device = models.CharField(max_length=32, blank=True, help_text="Where it was coded: cpu or cuda.")
    bitstream_path = models.CharField(max_length=500, blank=True)
    bitstream_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    kbps = models.FloatField(
        null=True, blank=True,
        help_text="8 x bitstream bytes / duration / 1000, kbit/s at the SRC's fps.",
    )
    decoded_path = models.CharField(max_length=500, blank=True)
    browser_path = models.CharField(max_length=500, blank=True)
    encode_seconds = models.FloatField(null=True, blank=True)
    decode_seconds = models.FloatField(null=True, blank=True)
    imported_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the PVS was imported from a codec run elsewhere (manage.py import_pvs); "
                  "empty when FaceQA coded it.",
    )
    import_origin = models.CharField(
        max_length=1000, blank=True,
        help_text="Where an imported PVS came from: 'files' or the layout and folder, e.g. 'jvet-gfvc /runs/DAC/Iframe_YUV420'.",
    )
    import_files = models.JSONField(
        default=list, blank=True,
        help_text="The files of an imported PVS as they were read: a list of {role: bitstream | decoded | unread | report, "
                  "name: original path, stored: name under bitstream/ (bitstream files), bytes, sha256}.",
    )

    class Meta:
        ordering = ["source__name", "hrc__codec", "hrc__label"]
        verbose_name = "PVS"
        verbose_name_plural = "PVSs"
        constraints = [
            models.UniqueConstraint(fields=["source", "hrc"], name="unique_pvs")
        ]

    def __str__(self):
        return f"{self.source.name} / {self.hrc.label}"


class RateProbe(models.Model):
    """One encode of a matched-bitrate search: a SRC at one rate point and the bitrate it gave.

    Searches read these first, so a rate point is encoded once per SRC and
    codec version whatever the targets.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="rate_probes")
    codec = models.CharField(max_length=100)
    codec_version = models.CharField(max_length=100)
    params_key = models.CharField(max_length=500, help_text="Canonical JSON of the rate point.")
    params = models.JSONField()
    bitstream_bytes = models.PositiveBigIntegerField()
    kbps = models.FloatField(help_text="8 x bitstream bytes / duration / 1000, kbit/s at the SRC's fps.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "codec", "codec_version", "params_key"],
                                    name="unique_rate_probe")
        ]

    def __str__(self):
        return f"{self.source.name} / {self.codec} {self.params_key}: {self.kbps:.2f} kbit/s"
