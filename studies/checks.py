"""System checks of the studies app (``manage.py check``)."""
from django.conf import settings
from django.core import checks

from studies.crowd import web_origin


@checks.register(checks.Tags.security)
def crowd_origins_check(app_configs, **kwargs):
    """studies.E001 for each entry of ``FACEQA_FRAME_ANCESTORS`` or ``FACEQA_MTURK_SUBMIT_ORIGINS``
    that is not an origin (``https://host[:port]``), and studies.W001 for one on plain http."""
    problems = []
    for setting in ("FACEQA_FRAME_ANCESTORS", "FACEQA_MTURK_SUBMIT_ORIGINS"):
        for entry in getattr(settings, setting):
            try:
                origin = web_origin(entry)
            except ValueError as error:
                problems.append(checks.Error(f"{setting}: {error}", hint="List origins: https://host[:port].",
                                             id="studies.E001"))
                continue
            if origin != entry.rstrip("/").lower():
                problems.append(checks.Error(f"{setting}: write {entry!r} as {origin!r}", id="studies.E001"))
            elif origin.startswith("http:"):
                problems.append(checks.Warning(f"{setting}: {entry!r} is plain http (fine for a local test only)",
                                               id="studies.W001"))
    return problems
