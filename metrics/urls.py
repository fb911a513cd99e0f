from django.urls import path

from metrics import views

app_name = "metrics"
urlpatterns = [
    path("rd/", views.rd_view, name="rd"),
]
