"""How often one address may join a study: a fixed window per minute, counted in Django's cache."""
import time

from django.conf import settings
from django.core.cache import cache


def client_address(request) -> str:
    """The participant's IP address: REMOTE_ADDR, or behind the TLS proxy (``DJANGO_TLS_PROXY``)
    the last X-Forwarded-For entry, the one the proxy itself appended (earlier ones are the client's
    word)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.HTTPS and forwarded:
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def join_allowed(address: str) -> bool:
    """Count one join attempt from ``address``; False past ``FACEQA_JOINS_PER_MINUTE`` in this minute."""
    key = f"faceqa:joins:{address}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    return cache.incr(key) <= settings.FACEQA_JOINS_PER_MINUTE
