"""What lets the participant pages run inside a crowd platform's frame (MTurk's ExternalQuestion
shows them in an iframe on its worker site; ``studies.crowd``), and only them.

Two view decorators:

- ``crowd_frameable``: the page may be framed by the origins of ``FACEQA_FRAME_ANCESTORS`` only
  (``Content-Security-Policy: frame-ancestors``, CSP Level 2; Django 5.2 has no CSP of its own)
  and not ``X-Frame-Options: DENY``, which every other page keeps (XFrameOptionsMiddleware).
- ``same_origin_post``: cross-site request forgery protection that needs no cookie. Inside a
  cross-site frame a browser may keep no cookie of ours at all: Chromium 156 headless stores no
  unpartitioned third-party cookie, even ``SameSite=None; Secure`` (see studies/tests/test_mturk.py),
  as Safari does by default. Django's CSRF check needs its cookie, so these views check where a
  POST comes from instead, as Go's ``net/http.CrossOriginProtection`` (Go 1.25) does: the Fetch
  Metadata header ``Sec-Fetch-Site`` when the browser sends it, else ``Origin`` against this
  site's own origin. The participant's only credential is the token in the URL, not a cookie,
  so there is no ambient authority for a forged request to borrow in any case.
"""
from functools import wraps

from django.conf import settings
from django.http import HttpResponseForbidden
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt


def frame_ancestors_policy(origins) -> str:
    """The CSP header value: ``frame-ancestors`` the given origins, or ``'none'`` when there are none."""
    return "frame-ancestors " + (" ".join(origins) or "'none'")


def crowd_frameable(view):
    """Let the origins of ``FACEQA_FRAME_ANCESTORS`` (read per response) frame this view's pages."""
    @wraps(view)
    def framed(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.headers["Content-Security-Policy"] = frame_ancestors_policy(settings.FACEQA_FRAME_ANCESTORS)
        return response

    return xframe_options_exempt(framed)


def _same_origin(request) -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")  # "none": typed or bookmarked, not sent by a page
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # browsers send Origin with every POST: this one was not sent by a web page
    return origin in {f"{request.scheme}://{request.get_host()}", *settings.CSRF_TRUSTED_ORIGINS}


def same_origin_post(view):
    """Refuse (403) a POST that another site's page sent; no CSRF cookie or token needed."""
    @wraps(view)
    def checked(request, *args, **kwargs):
        if request.method == "POST" and not _same_origin(request):
            return HttpResponseForbidden("cross-site request refused: post from this site's own pages")
        return view(request, *args, **kwargs)

    return csrf_exempt(checked)
