from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed


def _configure_codec_registry(**kwargs):
    from qa_platform.codec import registry

    if kwargs.get("setting", "CODEC_PLUGIN_DIRS") == "CODEC_PLUGIN_DIRS":
        registry.configure(settings.CODEC_PLUGIN_DIRS)


class CoreConfig(AppConfig):
    """SRC, HRC and PVS: the database of coded face videos and the jobs that build it.

    The label stays ``qa_platform``: its tables and migrations were made under it.
    """

    name = "qa_platform.core"
    label = "qa_platform"
    verbose_name = "FaceQA database"

    def ready(self):
        from qa_platform.core import checks, tasks  # noqa: F401  (registers system checks and Celery tasks)

        _configure_codec_registry()
        # Tests that change the setting (override_settings, pytest-django's settings) see their folders.
        setting_changed.connect(_configure_codec_registry, dispatch_uid="faceqa-codec-plugin-dirs")
