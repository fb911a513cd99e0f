from django.apps import AppConfig


class QaPlatformConfig(AppConfig):
    name = "qa_platform"
    verbose_name = "FaceQA database"

    def ready(self):
        from qa_platform import checks, tasks  # noqa: F401  (registers system checks and Celery tasks)
