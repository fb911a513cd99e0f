from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed

from qa_platform.codec import checkpoints, registry


def _configure_codec_package(setting: str | None = None, **kwargs) -> None:
    """Give the Django-free codec package its folders from the settings (at start and when a test changes them)."""
    if setting in (None, "CODEC_PLUGIN_DIRS"):
        registry.configure(settings.CODEC_PLUGIN_DIRS)
    if setting in (None, "DATA_DIR"):
        checkpoints.configure(Path(settings.DATA_DIR) / "checkpoints")


class CoreConfig(AppConfig):
    """SRC, HRC and PVS: the database of coded face videos and the jobs that build it.

    The label stays ``qa_platform``: its tables and migrations were made under it.
    """

    name = "qa_platform.core"
    label = "qa_platform"
    verbose_name = "FaceQA database"

    def ready(self):
        from qa_platform.core import checks, tasks  # noqa: F401  (registers system checks and Celery tasks)

        _configure_codec_package()
        # Tests that change a setting (override_settings, pytest-django's settings) see their folders.
        setting_changed.connect(_configure_codec_package, dispatch_uid="faceqa-codec-package")
