from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "Rating studies"

    def ready(self):
        from studies import checks  # noqa: F401  (registers system checks)
