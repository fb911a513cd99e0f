"""Per-PVS metric results: a sequence value and the per-frame values it pools."""
import numpy as np
from django.db import models

from qa_platform.core.models import Pvs


class MetricStatus(models.TextChoices):
    OK = "ok", "ok"
    UNAVAILABLE = "unavailable", "unavailable"
    FAILED = "failed", "failed"


class MetricResult(models.Model):
    """One metric on one PVS.

    ``value`` is the sequence value (``pooling`` of the per-frame values), in
    the metric's unit as its registry entry declares. When the metric could not
    be computed (``unavailable``: missing weights; ``failed``: an error),
    ``value`` is null and ``reason`` says why.
    """

    pvs = models.ForeignKey(Pvs, on_delete=models.CASCADE, related_name="metric_results")
    metric = models.CharField(max_length=64)
    version = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=MetricStatus.choices)
    value = models.FloatField(null=True, blank=True)
    pooling = models.CharField(max_length=32, default="mean")
    per_frame_f32 = models.BinaryField(
        blank=True, default=b"", help_text="Per-frame values, float32 little-endian."
    )
    reason = models.TextField(blank=True)
    device = models.CharField(max_length=32, blank=True)
    seconds = models.FloatField(
        null=True, blank=True,
        help_text="Wall seconds of this metric's kernel in its PVS job; work shared with other metrics is "
                  "counted in the metric that did it first.",
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pvs_id", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["pvs", "metric"], name="unique_metric_result")
        ]

    def __str__(self):
        return f"{self.metric} on PVS {self.pvs_id}: {self.value if self.status == 'ok' else self.status}"

    @property
    def per_frame(self) -> np.ndarray:
        """Per-frame values, float32 (T,); NaN where a frame had no value."""
        return np.frombuffer(bytes(self.per_frame_f32), dtype="<f4")

    @per_frame.setter
    def per_frame(self, values) -> None:
        self.per_frame_f32 = np.asarray(values, dtype="<f4").tobytes()
