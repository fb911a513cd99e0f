"""System checks (``manage.py check``) for what the platform needs outside Python.

The optional parts (manifest codecs' programs) register with ``optional_parts``, not with Django.
"""
import shutil

from django.conf import settings
from django.core import checks

from qa_platform.codec import registry as codec_registry
from qa_platform.codec.manifest import ManifestCodec, missing_requirements
from qa_platform.core import optional_parts
from qa_platform.core.lifecycle import stale_seconds


@checks.register()
def redis_server_check(app_configs, **kwargs):
    if shutil.which("redis-server") is None:
        return [
            checks.Warning(
                "redis-server not found on PATH.",
                hint="`make demo` installs it (apt-get install redis-server); "
                "or point CELERY_BROKER_URL at a running Redis.",
                id="qa_platform.W001",
            )
        ]
    return []


@checks.register()
def codec_plugins_check(app_configs, **kwargs):
    """qa_platform.E002 when a file of the codec plugin folders cannot be loaded."""
    try:
        codec_registry.all_codecs()
    except codec_registry.CodecError as exc:
        return [checks.Error(str(exc), hint="Fix or remove the plugin file named above.", id="qa_platform.E002")]
    return []


@optional_parts.register("codecs")
def manifest_codec_warnings(dirs=None) -> list[checks.CheckMessage]:
    """One qa_platform.W002 warning per manifest codec that cannot run here (its reason and install hint).

    An optional part: shown by ``manage.py check``, ``list_codecs`` and the demo, not before every command.
    None when the plugin folders do not load (``codec_plugins_check`` reports that).
    """
    try:
        codecs = codec_registry.all_codecs(dirs)
    except codec_registry.CodecError:
        return []
    return [
        checks.Warning(
            f"codec {cls.name!r} is unavailable: {'; '.join(missing)}.",
            hint=cls.manifest.install, obj=str(cls.manifest.path), id="qa_platform.W002",
        )
        for cls in codecs if issubclass(cls, ManifestCodec)
        for missing in [missing_requirements(cls.manifest)] if missing
    ]


@checks.register()
def job_timing_check(app_configs, **kwargs):
    """A message the broker hands out again before a dead worker's job is stale finds it alive and is dropped."""
    visibility = int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])
    if visibility <= stale_seconds():
        return [
            checks.Warning(
                f"FACEQA_VISIBILITY_TIMEOUT ({visibility} s) is not above the job stale limit "
                f"(FACEQA_JOB_HEARTBEAT_SECONDS x FACEQA_JOB_STALE_BEATS = {stale_seconds():g} s): a job whose "
                "worker was killed would be redelivered while it still looks alive, dropped, and never run again.",
                hint="Raise FACEQA_VISIBILITY_TIMEOUT or lower the heartbeat period or the beats.",
                id="qa_platform.W003",
            )
        ]
    return []
