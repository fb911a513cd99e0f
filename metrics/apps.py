from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Objective metrics"

    def ready(self):
        from metrics import checks, tasks  # noqa: F401  (registers system checks, the weights check and Celery tasks)
