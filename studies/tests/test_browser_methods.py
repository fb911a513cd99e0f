"""A whole session of every rating method in Debian's Chromium (Playwright), against a live server.

Screenshots go to /tmp/faceqa-method-*.png for a person to look at.
"""
import pytest
from django.urls import reverse

from studies import services
from studies.methods import get_method
from studies.models import Participant, Vote
from studies.tests.factories import add_codec, make_database

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000  # two 1 s clips load, play with a gap and end well within this
CLIP_SECONDS = 1.0  # make_database's clips: 25 frames at 25 fps


def _session(page, live_server, study, answers: dict[str, str], on_first_trial=None) -> Participant:
    """Join ``study`` in the lab, answer every trial with ``answers`` (dimension key -> button
    label), and return the participant once the completion page shows. ``on_first_trial(page)``
    runs once the first trial has played."""
    page.goto(f"{live_server.url}{reverse('studies:landing', args=[study.name])}")
    page.click("#consent")
    page.locator(".trial-head").wait_for()
    participant = Participant.objects.get(study=study)
    shot = False
    while not page.locator("#completion-code").count():
        page.locator("#play:enabled").click(timeout=TIMEOUT_MS)
        page.locator("button.rate:enabled").first.wait_for(timeout=TIMEOUT_MS)
        if not shot:
            page.screenshot(path=f"/tmp/faceqa-method-{study.method}.png", full_page=True)
            if on_first_trial:
                on_first_trial(page)
            shot = True
        buttons = [page.locator(f'fieldset[data-dimension="{key}"]').get_by_role("button", name=label, exact=True)
                   for key, label in answers.items()]
        for button in buttons[:-1]:
            button.click()
        if len(buttons) > 1:
            assert page.locator("#submit").is_disabled()  # not until every question is answered
        with page.expect_navigation():
            buttons[-1].click()  # one question: its answer is sent
            if len(buttons) > 1:
                page.click("#submit")
    participant.refresh_from_db()
    return participant


@pytest.fixture
def pvs(transactional_db, data_dir, live_server):
    database = make_database(data_dir)
    return database + add_codec(database)


def test_dcr_session_shows_the_reference_then_the_pvs_with_a_grey_gap(live_server, page, pvs):
    study = services.study_create(name="b-dcr", pvs=pvs, method="dcr", trials_per_participant=3, seed=1,
                                  gap_ms=600, training_count=1)
    participant = _session(page, live_server, study, {"overall": "Perceptible but not annoying"})
    votes = Vote.objects.filter(trial__participant=participant)
    assert participant.completed_at and votes.count() == participant.trials.count() == 1 + 3 + 3 + 1
    assert set(votes.values_list("score", flat=True)) == {4}
    # Played one after the other: both clips and the gap.
    assert all(v.watch_seconds >= 2 * CLIP_SECONDS + 0.6 - 0.1 for v in votes)


def test_ccr_session_side_by_side_at_native_size(live_server, page, pvs):
    study = services.study_create(name="b-ccr", pvs=pvs, method="ccr", trials_per_participant=3, seed=2,
                                  presentation="side-by-side", training_count=1, trap=False)
    sizes = []

    def measure(page):
        sizes.extend(page.evaluate("""() => ["stimulus", "stimulus-2"].map(id => {
            const v = document.getElementById(id), box = v.getBoundingClientRect();
            return [v.videoWidth, v.clientWidth, Math.round(box.top), v.ended]; })"""))

    participant = _session(page, live_server, study, {"overall": "Slightly worse"}, on_first_trial=measure)
    assert sizes[0] == sizes[1] and sizes[0][:2] == [64, 64] and sizes[0][3] is True  # level, native, both played
    votes = Vote.objects.filter(trial__participant=participant).select_related("trial")
    assert participant.completed_at and votes.count() == 1 + 3
    ccr = get_method("ccr")
    # Stored as answered (the second against the first); the pair's own order undoes the draw.
    assert {v.score for v in votes} == {-1}
    assert {ccr.canonical_score(v.score, v.trial.swapped) for v in votes if v.trial.swapped} <= {1}
    assert all(v.watch_seconds < 2 * CLIP_SECONDS for v in votes)  # side by side: played together


def test_pc_session_with_active_sampling_and_two_dimensions(live_server, page, pvs):
    study = services.study_create(name="b-pc", pvs=pvs, method="pc", trials_per_participant=4, seed=3,
                                  dimensions="overall,identity", training_count=1, gap_ms=300)
    participant = _session(page, live_server, study, {"overall": "The first video", "identity": "The second video"})
    votes = Vote.objects.filter(trial__participant=participant)
    assert participant.completed_at and votes.count() == 1 + 4 + 1  # training, 4 active pairs, the trap
    assert all(v.scores == {"overall": 1, "identity": 2} for v in votes)


def test_acr_hr_session_asks_every_dimension(live_server, page, pvs):
    study = services.study_create(name="b-acr", pvs=pvs[:6], trials_per_participant=2, seed=4, trap=False,
                                  dimensions="overall,motion", training_count=1)
    participant = _session(page, live_server, study, {"overall": "Good", "motion": "Fair"})
    votes = Vote.objects.filter(trial__participant=participant)
    assert votes.count() == 1 + 2 + 3 and all(v.scores == {"overall": 4, "motion": 3} for v in votes)
