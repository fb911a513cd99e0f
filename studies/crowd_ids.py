"""Crowd ids as stored by the block list and the qualification: a keyed hash, never the id.

``crowd_id_hash`` is HMAC-SHA256 of ``platform:id`` under a key derived from
``settings.SECRET_KEY`` (Django's ``salted_hmac``), so the stored value
cannot be turned back into an id, nor recomputed from a list of ids, without
the server's secret. Changing ``SECRET_KEY`` orphans every stored hash: the
block list and the qualifications then no longer match anyone.
"""
from django.utils.crypto import salted_hmac

KEY_SALT = "faceqa.studies.crowd-id"


def crowd_id_hash(platform: str, external_id: str) -> str:
    """The stored form of a crowd id: 64 hex digits."""
    if not external_id:
        raise ValueError("no crowd id to hash")
    return salted_hmac(KEY_SALT, f"{platform}:{external_id}", algorithm="sha256").hexdigest()
