from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve


def media(request, path):
    """SRC/PVS browser copies from the data directory (read per request, so a
    test's data directory is served). Development server only; docker/ serves
    media with the web server."""
    return serve(request, path, document_root=settings.DATA_DIR)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("metrics.urls")),
    path("", include("studies.urls")),
    re_path(r"^media/(?P<path>.*)$", media),
]
