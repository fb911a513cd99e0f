from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics/", include("metrics.urls")),
    path("", include("qa_platform.web_urls")),
    # Media (SRC/PVS browser copies) from the data directory. Development
    # server only; docker/ serves it with the web server.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.DATA_DIR}),
]
