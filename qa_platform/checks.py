"""System checks (``manage.py check``) for what the platform needs outside Python."""
import shutil

from django.core import checks


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
