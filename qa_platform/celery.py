"""The Celery application: queues ``cpu`` and ``gpu``, configured from Django settings."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qa_platform.settings")

app = Celery("qa_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
