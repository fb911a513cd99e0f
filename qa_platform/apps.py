import os
from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class ProjectConfig(AppConfig):
    """The project shell as an app: the base template, the stylesheet and ``run_demo``.

    Its label is ``faceqa``: the label ``qa_platform`` belongs to the core app
    (``qa_platform.core``), which owns the SRC/HRC/PVS tables and migrations.
    """

    name = "qa_platform"
    label = "faceqa"
    verbose_name = "FaceQA"

    def ready(self):
        # Service start-up, kept out of the settings module so that reading settings changes nothing.
        Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # WhiteNoise serves it (empty before collectstatic)
        os.environ.setdefault("TORCH_HOME", str(settings.TORCH_HOME))
        # The Celery app, made current here (not in qa_platform/__init__) so that
        # importing the codec package loads neither Celery nor Django.
        from qa_platform.celery import app  # noqa: F401
