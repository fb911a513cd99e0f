from django.urls import path

from metrics import views

app_name = "metrics"
urlpatterns = [
    path("", views.database_view, name="database"),
    path("pvs/<int:pk>/", views.pvs_view, name="pvs"),
    path("pvs/<int:pk>/frame/<int:index>/<slug:kind>.png", views.pvs_picture_view, name="pvs_picture"),
    path("metrics/rd/", views.rd_view, name="rd"),
    path("metrics/conditions/<slug:name>/", views.conditions_view, name="conditions"),
]
