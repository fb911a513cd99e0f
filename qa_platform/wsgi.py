"""WSGI entry point: the production server (gunicorn qa_platform.wsgi).

With DEBUG off it refuses to start without a real secret key (DJANGO_SECRET_KEY).
"""
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qa_platform.settings")
application = get_wsgi_application()


def weak_secret_key(key: str) -> bool:
    """Django's own test (check --deploy, security.W009): the development key, a generated
    ``django-insecure-`` one, fewer than 50 characters or fewer than 5 distinct ones."""
    return (key == settings.DEV_SECRET_KEY or key.startswith("django-insecure-") or len(key) < 50
            or len(set(key)) < 5)


if not settings.DEBUG and weak_secret_key(settings.SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is unset or weak, and DEBUG is off: set it to 50 or more random characters, e.g. "
        "python -c 'from django.core.management.utils import get_random_secret_key; print(get_random_secret_key())'")
