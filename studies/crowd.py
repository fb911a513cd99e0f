"""Amazon Mechanical Turk's ExternalQuestion, the parts that need no Django.

An ExternalQuestion HIT shows the study's URL in a frame on MTurk's worker site and appends
``assignmentId``, ``hitId``, ``turkSubmitTo`` and ``workerId`` to it; while a worker only previews
the HIT, ``assignmentId`` is ``ASSIGNMENT_ID_NOT_AVAILABLE``. At the end the page in the frame
submits an HTML form by POST to ``{turkSubmitTo}/mturk/externalSubmit`` carrying ``assignmentId``
(and the answers). Amazon Mechanical Turk API Reference (2017-01-17), "ExternalQuestion"
(https://docs.aws.amazon.com/AWSMechTurk/latest/AWSMturkAPI/ApiReference_ExternalQuestionArticle.html);
Requester UI Guide, "How Mechanical Turk tasks are rendered" and "Submitting from JavaScript"
(https://docs.aws.amazon.com/AWSMechTurk/latest/AWSMechanicalTurkRequester/).

``turkSubmitTo`` arrives in a URL anyone can edit: it is used only when its origin is one the
settings allow, never as given (else the done page would post to any site a link names).
"""
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
MTURK_SUBMIT_PATH = "/mturk/externalSubmit"
# The query parameter that names MTurk's server to submit to.
MTURK_SUBMIT_PARAMETER = "turkSubmitTo"

_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL that names nothing beyond its origin (a path of
    ``/`` at most, no user, query or fragment), lower-cased, default port dropped.

    Raises ``ValueError`` saying what is wrong otherwise.
    """
    if not isinstance(url, str) or not url or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"{url!r} is not a URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r} carries a user name")
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(f"{url!r} is more than an origin (scheme://host[:port])")
    host = parts.hostname or ""
    if not _HOST.fullmatch(host):
        raise ValueError(f"{url!r} has no valid host name")
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError(f"{url!r} has an invalid port") from error
    return f"{scheme}://{host}" + (f":{port}" if port not in (None, _DEFAULT_PORTS[scheme]) else "")


def mturk_submit_origin(turk_submit_to: str, *, allowed: Iterable[str]) -> str:
    """The origin of ``turk_submit_to`` when it is one of ``allowed``; ``ValueError`` otherwise."""
    origin = web_origin(turk_submit_to)
    if origin not in {web_origin(item) for item in allowed}:
        raise ValueError(f"{turk_submit_to!r} is not an MTurk server this site submits to")
    return origin


def mturk_submit_url(origin: str) -> str:
    """Where the finished HIT's form posts: ``{turkSubmitTo}/mturk/externalSubmit``."""
    return web_origin(origin) + MTURK_SUBMIT_PATH
