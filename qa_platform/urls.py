from django.conf import settings
from django.contrib import admin
from django.http import Http404
from django.urls import include, path, re_path
from django.views.static import serve

from qa_platform.core.access import researcher_only

# Only the browser copies are served: never the database, bitstreams or exports
# that share the data directory.
MEDIA_FOLDERS = ("sources/", "pvs/")


@researcher_only
def media(request, path):
    """SRC/PVS browser copies (MP4) from the data directory, for the researcher pages (read per
    request, so a test's data directory is served). Participants get theirs by token (studies)."""
    if not (path.startswith(MEDIA_FOLDERS) and path.endswith(".mp4")):
        raise Http404("not a browser copy")
    return serve(request, path, document_root=settings.DATA_DIR)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("metrics.urls")),
    path("", include("studies.urls")),
    re_path(r"^media/(?P<path>.*)$", media),
]
