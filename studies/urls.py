from django.urls import path

from studies.views import participant, results

app_name = "studies"
urlpatterns = [
    path("study/<slug:name>/", participant.landing_view, name="landing"),
    path("session/<uuid:token>/", participant.session_view, name="session"),
    path("session/<uuid:token>/qualification/", participant.qualification_view, name="qualification"),
    path("session/<uuid:token>/viewing/", participant.viewing_view, name="viewing"),
    path("session/<uuid:token>/vote/", participant.vote_view, name="vote"),
    path("session/<uuid:token>/video/<int:position>-<int:slot>.mp4", participant.video_view, name="video"),
    path("session/<uuid:token>/done/", participant.done_view, name="done"),
    path("studies/", results.study_list_view, name="list"),
    path("studies/<slug:name>/", results.dashboard_view, name="dashboard"),
    path("studies/<slug:name>/analysis/", results.analysis_view, name="analysis"),
    path("studies/<slug:name>/recompute/", results.recompute_view, name="recompute"),
    path("studies/<slug:name>/export/", results.export_view, name="export"),
    path("studies/<slug:name>/export.zip", results.export_download_view, name="export_download"),
]
