"""System checks of the metrics app (``manage.py check``); the weights are an optional part (``optional_parts``)."""
from django.conf import settings
from django.core import checks

from metrics.registry import UnknownMetricError, all_metrics, get_metric
from metrics.weights import FETCH_COMMAND, missing_weights
from qa_platform.codec import ffmpeg
from qa_platform.core import optional_parts

# The metrics that run the FFmpeg program of imageio-ffmpeg (metrics.kernels.lavfi).
FFMPEG_METRICS = ("vmaf", "xpsnr_y")


@optional_parts.register("weights")
def metric_weights_check() -> list[checks.CheckMessage]:
    """metrics.W001 for each metric whose weight files are not installed.

    An optional part: shown by ``manage.py check``, ``fetch_weights --list`` and the demo, not before every command.
    """
    warnings = []
    for spec in all_metrics().values():
        missing = missing_weights(spec.weights)
        if missing:
            files = ", ".join(str(weight.path()) for weight in missing)
            warnings.append(checks.Warning(
                f"{spec.name} will be reported unavailable: {spec.label} weights missing ({files}).",
                hint=f"Run `{FETCH_COMMAND}` (offline: `{FETCH_COMMAND} --from DIR`).",
                id="metrics.W001",
            ))
    return warnings


@checks.register()
def ffmpeg_program_check(app_configs, **kwargs):
    """metrics.W002 when the FFmpeg program that libvmaf's VMAF and XPSNR run is missing."""
    try:
        ffmpeg.executable()
    except ffmpeg.FFmpegError as error:
        return [checks.Warning(
            f"{error}; {', '.join(FFMPEG_METRICS)} will be reported unavailable.",
            hint="pip install -r requirements.txt (imageio-ffmpeg ships the FFmpeg program).",
            id="metrics.W002",
        )]
    return []


@checks.register()
def job_metrics_check(app_configs, **kwargs):
    """metrics.E001 for each name in ``FACEQA_JOB_METRICS`` or ``FACEQA_JOB_SKIP_METRICS`` that is not a metric."""
    errors = []
    for setting in ("FACEQA_JOB_METRICS", "FACEQA_JOB_SKIP_METRICS"):
        for name in getattr(settings, setting):
            try:
                get_metric(name)
            except UnknownMetricError as error:
                errors.append(checks.Error(f"{setting}: {error.args[0]}", id="metrics.E001"))
    return errors
