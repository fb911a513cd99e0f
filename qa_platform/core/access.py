"""Who may see research data: staff only, except on the loopback demo."""
import functools

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required


def researcher_only(view):
    """Staff only (a login through the admin), unless ``settings.FACEQA_OPEN_RESEARCHER_PAGES``
    (on by default only with DEBUG, as the loopback demo runs): participants and anonymous
    visitors must not read the database, the metrics, the videos or the votes."""
    protected = staff_member_required(view)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        chosen = view if settings.FACEQA_OPEN_RESEARCHER_PAGES else protected
        return chosen(request, *args, **kwargs)
    return wrapper
