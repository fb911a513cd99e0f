from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Learned codec training"

    def ready(self):
        from training import tasks  # noqa: F401  (registers the Celery task)
