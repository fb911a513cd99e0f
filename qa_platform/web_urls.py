from django.urls import path

from qa_platform import views

app_name = "qa_platform"
urlpatterns = [
    path("", views.database_view, name="database"),
    path("pvs/<int:pk>/", views.pvs_view, name="pvs"),
]
