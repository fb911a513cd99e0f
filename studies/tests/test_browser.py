"""A whole participant session in Debian's Chromium (Playwright) against a live server.

Screenshots go to /tmp/faceqa-study-*.png for a person to look at.
"""
import pytest
from django.db import connections
from django.urls import reverse

from studies import services
from studies.analysis_store import analyses_compute
from studies.models import Participant, Platform, Vote
from studies.results import study_analysis
from studies.tests.factories import make_database

pytestmark = pytest.mark.browser
RATING_TIMEOUT_MS = 15_000  # a 1 s clip loads, plays and ends well within this


@pytest.fixture
def crowd_study(transactional_db, data_dir, live_server):
    """3 SRCs x 2 HRCs of 1 s clips; 4 test stimuli per participant; Prolific-style return URL."""
    pvs = make_database(data_dir)
    study = services.study_create(
        name="browser", pvs=pvs, votes_per_pvs=2, trials_per_participant=4, seed=5,
        completion_url=live_server.url + "/?cc={code}",
    )
    study.qualification_required = False  # the qualification stage: test_crowd_qc.py
    study.save()
    return study


def _label_of(page) -> str:
    return page.inner_text(".trial-head")


def _watch(page):
    """Wait for the whole video to load, play it, and wait until the scale unlocks."""
    page.locator("#play:enabled").click(timeout=RATING_TIMEOUT_MS)
    page.locator("button.rate:enabled").first.wait_for(timeout=RATING_TIMEOUT_MS)


def _rate(page, label: str):
    _watch(page)
    with page.expect_navigation():
        page.get_by_role("button", name=label, exact=True).click()


@pytest.mark.sqlite_too
def test_participant_completes_a_session_with_reload_and_double_vote(live_server, page, crowd_study):
    page.goto(f"{live_server.url}{reverse('studies:landing', args=['browser'])}"
              "?PROLIFIC_PID=crowd-1&STUDY_ID=s1&SESSION_ID=x1")
    page.screenshot(path="/tmp/faceqa-study-landing.png", full_page=True)
    page.click("#consent")
    page.locator(".trial-head").wait_for()  # the viewing check passed and the first trial is shown
    participant = Participant.objects.get(external_id="crowd-1")
    assert participant.platform == Platform.PROLIFIC and participant.external_session_id == "x1"
    assert participant.viewing["window_width"] == 1280 and participant.viewing["device_pixel_ratio"] == 1
    trials = list(participant.trials.select_related("stimulus"))
    assert "Practice" in _label_of(page)

    video = page.locator("#stimulus")
    _watch(page)
    assert video.evaluate("v => [v.videoWidth, v.clientWidth, v.controls, v.ended]") == [64, 64, False, True]
    page.screenshot(path="/tmp/faceqa-study-trial.png", full_page=True)
    page.reload()  # before voting: the same trial comes back
    assert "Video 1 of" in _label_of(page)
    _rate(page, "Good")

    double_click_position = 1
    _watch(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Fair", exact=True).dblclick()

    retried = page.evaluate("""async url => {
        const post = score => fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({position: 2, score})}).then(r => r.json());
        return [await post(4), await post(1)];
    }""", reverse("studies:vote", args=[participant.token]))
    assert [r["created"] for r in retried] == [True, False] and [r["score"] for r in retried] == [4, 4]
    page.reload()
    assert "Video 4 of" in _label_of(page)

    for trial in trials[3:]:
        _rate(page, "Poor" if trial.stimulus.role == "trap" else "Good")

    page.wait_for_url(f"{live_server.url}/?cc={crowd_study.completion_code}", timeout=10_000)
    votes = Vote.objects.filter(trial__participant=participant)
    assert votes.count() == len(trials) == participant.trials.count()
    assert votes.get(trial__position=double_click_position).score == 3
    assert votes.get(trial__position=2).score == 4
    participant.refresh_from_db()
    assert participant.completed_at is not None
    assert all(v.watch_seconds and v.watch_seconds > 0.5 for v in votes.exclude(trial__position=2))


def test_completion_page_shows_the_code(live_server, page, crowd_study):
    participant, _ = services.participant_join(study=crowd_study)
    participant.viewing_checked_at = participant.created_at
    participant.save()
    for trial in participant.trials.all():
        services.vote_submit(participant=participant, position=trial.position, score=3)
    crowd_study.completion_url = ""
    crowd_study.save()
    page.goto(live_server.url + reverse("studies:session", args=[participant.token]))
    assert page.inner_text("#completion-code") == crowd_study.completion_code
    page.screenshot(path="/tmp/faceqa-study-done.png", full_page=True)


def test_another_participants_session_is_not_found(live_server, page, crowd_study):
    response = page.goto(live_server.url + "/session/00000000-0000-4000-8000-000000000000/")
    assert response.status == 404


def test_dashboard_scatter_opens_the_pvs_of_a_point(live_server, page, crowd_study, settings):
    settings.FACEQA_BOOTSTRAP_RESAMPLES = 50
    services.study_simulate_ratings(study=crowd_study, participants=20, seed=2)
    analyses_compute(study=crowd_study)
    page.goto(live_server.url + reverse("studies:dashboard", args=["browser"]) + "?metric=ms_ssim")
    page.wait_for_selector("#scatter-plot .scatterlayer .trace")
    assert "SIMULATED" in page.inner_text("#simulated-banner")
    assert page.locator("#ranking tr").count() == 3  # header, ms_ssim, psnr_y
    rated = study_analysis(crowd_study).pvs.dropna(subset=["mos", "ms_ssim"])
    points = page.locator("#scatter-plot .scatterlayer .trace .points path")
    assert points.count() == len(rated) >= 3
    page.screenshot(path="/tmp/faceqa-study-dashboard.png", full_page=True)
    points.last.scroll_into_view_if_needed()
    box = points.last.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/pvs/*/")
    assert "/pvs/" in page.url


def test_a_postgresql_restart_mid_session_loses_no_vote_and_doubles_none(postgres, live_server, page, crowd_study):
    """The vote posted while PostgreSQL is down is answered 503; the page retries until the server
    is back, and every trial ends with exactly one vote."""
    if postgres is None:
        pytest.skip("needs the PostgreSQL layer: FACEQA_TEST_DATABASE=postgresql (make test runs it)")
    page.goto(f"{live_server.url}{reverse('studies:landing', args=['browser'])}")
    page.click("#consent")
    page.locator(".trial-head").wait_for()
    participant = Participant.objects.get()
    positions = list(participant.trials.values_list("position", flat=True))
    _rate(page, "Good")
    _watch(page)
    postgres.stop("fast")
    try:
        page.get_by_role("button", name="Fair", exact=True).click()
        page.get_by_text("HTTP 503").wait_for(timeout=10_000)  # the page said it is retrying
    finally:
        postgres.start()
        connections.close_all()
    page.get_by_text("Video 3 of").wait_for(timeout=30_000)
    for _ in positions[2:]:
        _rate(page, "Good")
    page.wait_for_url(f"{live_server.url}/?cc={crowd_study.completion_code}", timeout=10_000)
    votes = Vote.objects.filter(trial__participant=participant)
    assert sorted(votes.values_list("trial__position", flat=True)) == sorted(positions)
    assert votes.get(trial__position=positions[1]).score == 3  # the vote posted while the database was down
