"""The participant's and the researcher's pages through Django's test client."""
import json
import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from conftest import REPO_DIR
from qa_platform.core.models import JobStatus, Pvs
from studies import services
from studies.models import Platform, Vote


@pytest.fixture
def participant(study):
    joined, _ = services.participant_join(study=study)
    return joined


def _vote(client, participant, **body):
    return client.post(reverse("studies:vote", args=[participant.token]), json.dumps(body),
                       content_type="application/json")


class TestVideo:
    def test_trial_video_is_served_under_an_opaque_url(self, client, participant):
        url = reverse("studies:video", args=[participant.token, 0, 1])
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "video/mp4"
        assert b"ftyp" in b"".join(response.streaming_content)[:64]
        assert "sources" not in url and "pvs" not in url and "trap" not in url

    def test_the_video_has_a_neutral_name(self, client, participant):
        response = client.get(reverse("studies:video", args=[participant.token, 0, 1]))
        assert response["Content-Disposition"] == 'inline; filename="trial.mp4"'

    def test_only_the_trial_being_shown_is_served(self, client, participant):
        assert client.get(reverse("studies:video", args=[participant.token, 1, 1])).status_code == 404
        assert _vote(client, participant, position=0, score=4).status_code == 201
        assert client.get(reverse("studies:video", args=[participant.token, 0, 1])).status_code == 404
        assert client.get(reverse("studies:video", args=[participant.token, 1, 1])).status_code == 200

    def test_position_outside_the_playlist_is_not_found(self, client, participant):
        assert client.get(reverse("studies:video", args=[participant.token, 99, 1])).status_code == 404

    def test_media_route_serves_browser_copies_only(self, client, participant, data_dir):
        (data_dir / "db.sqlite3").write_bytes(b"secret")
        assert client.get("/media/db.sqlite3").status_code == 404
        assert client.get("/media/studies/pilot/" + "trap-src1.mp4").status_code == 404
        assert client.get("/media/sources/src0.mp4").status_code == 200


class TestVote:
    def test_stored_once_and_answered_with_the_stored_vote(self, client, participant):
        first = _vote(client, participant, position=0, score=4, watch_seconds=1.2, stall_count=0)
        again = _vote(client, participant, position=0, score=1)
        assert first.status_code == 201 and again.status_code == 200
        assert again.json()["score"] == 4 and Vote.objects.count() == 1

    @pytest.mark.parametrize("body", [{"position": 0, "score": 4.5}, {"position": 0, "score": 4, "replays": -1},
                                      {"position": 0}, {"position": "x", "score": 3}])
    def test_malformed_vote_is_refused(self, client, participant, body):
        assert _vote(client, participant, **body).status_code == 400
        assert Vote.objects.count() == 0

    @pytest.mark.parametrize("raw", ['{"position": Infinity, "score": 3}', '{"position": 1e300, "score": 3}',
                                     '{"position": 1e400, "score": 3}', '{"position": NaN, "score": 3}',
                                     '{"position": 0, "score": 3, "watch_seconds": 1e308}',
                                     '{"position": 0, "score": true}', '[0, 3]', '{"position": 0, "score": 3'])
    def test_a_vote_with_numbers_out_of_bounds_or_not_json_is_a_400_never_a_500(self, client, participant, raw):
        url = reverse("studies:vote", args=[participant.token])
        assert client.post(url, raw, content_type="application/json").status_code == 400
        assert Vote.objects.count() == 0

    def test_vote_for_a_trial_not_shown_yet_is_refused(self, client, participant):
        response = _vote(client, participant, position=3, score=4)
        assert response.status_code == 409 and b"next trial is 0" in response.content

    def test_unknown_token_is_not_found(self, client, participant):
        response = client.post("/session/00000000-0000-4000-8000-000000000000/vote/",
                               json.dumps({"position": 0, "score": 3}), content_type="application/json")
        assert response.status_code == 404

    def test_a_vote_that_loses_the_database_is_a_503_to_retry_and_stores_nothing(self, client, participant,
                                                                                 monkeypatch):
        def database_gone(**kwargs):
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(services, "vote_submit", database_gone)
        response = _vote(client, participant, position=0, score=4)
        assert response.status_code == 503 and response["Retry-After"] == "5"
        assert b"database is unavailable" in response.content and Vote.objects.count() == 0


class TestLanding:
    def test_crowd_ids_join_once(self, client, study):
        url = reverse("studies:landing", args=["pilot"])
        params = {"PROLIFIC_PID": "p1", "STUDY_ID": "s", "SESSION_ID": "a"}
        first = client.post(url, params)
        second = client.post(url, dict(params, SESSION_ID="b"))
        assert first.url == second.url
        assert study.participants.get().platform == Platform.PROLIFIC

    def test_a_crowd_id_resumes_only_in_the_browser_that_started_it(self, client, study):
        url = reverse("studies:landing", args=["pilot"])
        params = {"PROLIFIC_PID": "p1", "STUDY_ID": "s", "SESSION_ID": "a"}  # MTurk: studies/tests/test_mturk.py
        first = client.post(url, params)
        other = Client().post(url, params)
        assert other.status_code == 409 and "Prolific id is already taking part" in other.content.decode()
        assert client.post(url, params).url == first.url and study.participants.count() == 1

    def test_joins_from_one_address_are_rate_limited(self, client, study, settings):
        settings.FACEQA_JOINS_PER_MINUTE = 2
        url = reverse("studies:landing", args=["pilot"])
        codes = [Client().post(url, {"PROLIFIC_PID": f"p{i}"}).status_code for i in range(3)]
        assert codes == [302, 302, 429] and study.participants.count() == 2

    def test_a_full_study_says_so(self, client, study):
        study.max_participants = 1
        study.save()
        url = reverse("studies:landing", args=["pilot"])
        assert Client().post(url, {"PROLIFIC_PID": "p1"}).status_code == 302
        refused = Client().post(url, {"PROLIFIC_PID": "p2"})
        assert refused.status_code == 409 and "is full: 1 of 1 people" in refused.content.decode()
        services.study_simulate_ratings(study=study, participants=2, seed=1)  # simulated observers are not capped

    def test_lab_browser_resumes_or_starts_a_new_participant(self, client, study):
        url = reverse("studies:landing", args=["pilot"])
        first = client.post(url)
        assert client.post(url).url == first.url
        assert "new-participant" in client.get(url).content.decode()
        assert client.post(url, {"new": "1"}).url != first.url
        assert study.participants.count() == 2

    def test_mturk_preview_does_not_join(self, client, study):
        page = client.get(reverse("studies:landing", args=["pilot"]) + "?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
        assert "This is a preview" in page.content.decode() and study.participants.count() == 0


class TestResearcherPages:
    @pytest.mark.parametrize("name", ["studies:list", "studies:dashboard", "studies:analysis", "studies:export",
                                      "studies:export_download"])
    def test_staff_only_when_not_open(self, client, study, settings, name):
        settings.FACEQA_OPEN_RESEARCHER_PAGES = False
        url = reverse(name) if name == "studies:list" else reverse(name, args=["pilot"])
        assert client.get(url).status_code == 302  # to the admin login
        User.objects.create_user("r", password="pw", is_staff=True)
        client.login(username="r", password="pw")
        assert client.get(url).status_code in (200, 404)  # 404: the download before any export

    def test_the_database_metrics_pictures_and_videos_are_staff_only_when_not_open(self, client, participant,
                                                                                     settings):
        settings.FACEQA_OPEN_RESEARCHER_PAGES = False
        pvs = Pvs.objects.filter(status=JobStatus.DONE).first()
        urls = [reverse("metrics:database"), reverse("metrics:rd"), reverse("metrics:pvs", args=[pvs.pk]),
                reverse("metrics:pvs_picture", args=[pvs.pk, 0, "reference"]), "/media/sources/src0.mp4"]
        assert [client.get(url).status_code for url in urls] == [302] * len(urls)  # to the admin login
        User.objects.create_user("r", password="pw", is_staff=True)
        client.login(username="r", password="pw")
        assert [client.get(url).status_code for url in urls] == [200] * len(urls)


PRODUCTION = {
    "DJANGO_SECRET_KEY": "k" * 20 + "FaceQA-production-test-key-0123456789",
    "DJANGO_ALLOWED_HOSTS": "faceqa.example.org", "DJANGO_CSRF_TRUSTED_ORIGINS": "https://faceqa.example.org",
    "DJANGO_TLS_PROXY": "1", "DJANGO_HSTS_SECONDS": "31536000", "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_HSTS_PRELOAD": "1",
}


def _run(args, **env):
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "FACEQA_OPEN"))}
    return subprocess.run([sys.executable, *args], env={**clean, **env}, cwd=REPO_DIR, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # spawns Django in processes of their own
class TestSecureDefaults:
    def test_pages_are_closed_by_default_without_debug(self):
        result = _run(["-c", "import qa_platform.settings as s; print(s.DEBUG, s.FACEQA_OPEN_RESEARCHER_PAGES)"])
        assert result.stdout.split() == ["False", "False"]

    def test_the_production_server_refuses_to_start_without_a_real_secret_key(self):
        refused = _run(["-c", "import qa_platform.wsgi"])
        assert refused.returncode != 0 and "DJANGO_SECRET_KEY is unset or weak" in refused.stderr
        assert _run(["-c", "import qa_platform.wsgi"], **PRODUCTION).returncode == 0

    def test_check_deploy_is_clean_with_production_settings(self):
        """Django's security checks (--tag security: the deploy ones among them); FaceQA's own warnings
        (qa_platform.W002 codec programs, metrics.W001 weights) describe this machine, not the settings."""
        args = ["manage.py", "check", "--deploy", "--fail-level", "WARNING", "--tag", "security"]
        result = _run(args, **PRODUCTION)
        assert result.returncode == 0 and "no issues" in result.stdout, result.stdout + result.stderr
        assert _run(args, **{**PRODUCTION, "DJANGO_HSTS_SECONDS": "0"}).returncode != 0
