"""Crowd quality control through the services and pages: block list, qualification (acuity test and
questionnaire), display checks, consistency repeats, screening flags; one browser session."""
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from studies import services
from studies.admin import BlockedCrowdIdForm
from studies.analysis_store import analyses_compute
from studies.crowd_ids import crowd_id_hash
from studies.export import dataset_export
from studies.models import BlockedCrowdId, Participant, Platform, Qualification, StimulusRole
from studies.results import participant_table, screening_flags, study_analysis
from studies.selectors import votes_frame
from studies.tests.factories import make_database
from studies.tests.test_services import GOOD_VIEWING

WRONG = {"right": "left", "left": "right", "up": "down", "down": "up"}


def _join(client, name: str, pid: str) -> Participant:
    response = client.post(reverse("studies:landing", args=[name]), {"PROLIFIC_PID": pid, "SESSION_ID": "s"})
    assert response.status_code == 302, response.content
    return Participant.objects.get(study__name=name, external_id=pid)


def _answers(participant, *, right=True) -> list[str]:
    key = [k["orientation"] for k in services.participant_acuity_key(participant)]
    return key if right else [WRONG[k] for k in key]


def _questionnaire(participant, pick=0) -> dict:
    return {q["key"]: q["choices"][pick] for q in participant.study.questionnaire}


def _qualify(client, participant, **body):
    return client.post(reverse("studies:qualification", args=[participant.token]), json.dumps(body),
                       content_type="application/json")


@pytest.fixture
def second_study(database):
    return services.study_create(name="second", pvs=database, votes_per_pvs=3, trials_per_participant=5, seed=2)


class TestBlockList:
    def test_a_blocked_crowd_id_cannot_join_any_study_and_is_stored_hashed(self, client, study, second_study):
        participant = _join(client, "pilot", "crowd-raw-id")
        call_command("block_participant", "pilot", participant.anonymous_id, "--reason", "scripted votes")
        row = BlockedCrowdId.objects.get()
        assert row.id_hash == crowd_id_hash(Platform.PROLIFIC, "crowd-raw-id") and len(row.id_hash) == 64
        assert "crowd-raw-id" not in json.dumps(list(BlockedCrowdId.objects.values()), default=str)
        refused = Client().post(reverse("studies:landing", args=["second"]), {"PROLIFIC_PID": "crowd-raw-id"})
        page = refused.content.decode()
        assert refused.status_code == 403 and "cannot take part" in page
        assert "scripted" not in page and "block" not in page.lower()
        assert second_study.participants.count() == 0
        session = client.get(reverse("studies:session", args=[participant.token]))
        assert session.status_code == 403  # the started participation stops too
        assert Client().post(reverse("studies:landing", args=["second"]), {"PROLIFIC_PID": "other"}).status_code == 302

    def test_the_command_needs_a_crowd_id_and_a_known_participant(self, study):
        lab, _ = services.participant_join(study=study)
        with pytest.raises(CommandError, match="no crowd id"):
            call_command("block_participant", "pilot", lab.anonymous_id, "--reason", "x")
        with pytest.raises(CommandError, match="no participant 'P999'"):
            call_command("block_participant", "pilot", "P999", "--reason", "x")

    def test_blocking_the_same_crowd_id_twice_is_a_form_error(self, db):
        data = {"platform": Platform.MTURK, "crowd_id": "A1B2", "reason": "bot"}
        BlockedCrowdIdForm(data=data).save()
        again = BlockedCrowdIdForm(data=data)
        assert not again.is_valid() and "blocked already" in str(again.errors)

    def test_the_admin_form_stores_the_hash_only(self, db):
        form = BlockedCrowdIdForm(data={"platform": Platform.MTURK, "crowd_id": "A1B2", "reason": "bot"})
        assert form.is_valid(), form.errors
        row = form.save()
        assert row.id_hash == crowd_id_hash(Platform.MTURK, "A1B2")
        assert services.crowd_id_blocked(platform=Platform.MTURK, external_id="A1B2")


class TestQualification:
    def test_the_page_draws_masks_and_nothing_else_is_reachable_before_it(self, client, study):
        participant = _join(client, "pilot", "p1")
        page = client.get(reverse("studies:session", args=[participant.token])).content.decode()
        assert 'id="optotype"' in page and "Your age" in page
        config = page.split('id="acuity-config" type="application/json">')[1].split("</script>")[0]
        assert all(set(o) == {"stroke_px", "mask"} for o in json.loads(config)["optotypes"])  # no key in the page
        viewing = client.post(reverse("studies:viewing", args=[participant.token]), json.dumps(GOOD_VIEWING),
                              content_type="application/json")
        vote = client.post(reverse("studies:vote", args=[participant.token]),
                           json.dumps({"position": 0, "score": 3}), content_type="application/json")
        assert viewing.status_code == vote.status_code == 403
        assert client.get(reverse("studies:video", args=[participant.token, 0, 1])).status_code == 404

    def test_a_wrong_key_fails_and_cannot_be_retaken(self, client, study, second_study):
        participant = _join(client, "pilot", "p1")
        answer = _qualify(client, participant, acuity=_answers(participant, right=False),
                          questionnaire=_questionnaire(participant))
        assert answer.status_code == 200 and answer.json()["passed"] is False
        assert client.get(reverse("studies:session", args=[participant.token])).status_code == 403
        again = _qualify(client, participant, acuity=_answers(participant), questionnaire=_questionnaire(participant))
        assert again.json()["passed"] is False and Qualification.objects.count() == 1
        other = _join(client, "second", "p1")  # the failed qualification follows the crowd id
        assert client.get(reverse("studies:session", args=[other.token])).status_code == 403

    def test_a_passed_crowd_id_is_not_asked_again_in_a_second_study(self, client, study, second_study):
        participant = _join(client, "pilot", "p1")
        answer = _qualify(client, participant, acuity=_answers(participant), questionnaire=_questionnaire(participant))
        assert answer.json() == {"passed": True, "next": reverse("studies:session", args=[participant.token])}
        page = client.get(reverse("studies:session", args=[participant.token])).content.decode()
        assert "Checking your screen" in page
        qualification = Qualification.objects.get()
        assert qualification.acuity["passed"] and qualification.questionnaire["age"] == "18-24"
        assert qualification.id_hash == crowd_id_hash(Platform.PROLIFIC, "p1")
        other = _join(client, "second", "p1")
        assert "Checking your screen" in client.get(reverse("studies:session", args=[other.token])).content.decode()
        other.refresh_from_db()
        assert other.qualification == qualification and Qualification.objects.count() == 1

    @pytest.mark.parametrize("body", [{}, {"acuity": ["up"]}, {"acuity": "up", "questionnaire": {}},
                                      {"acuity": None, "questionnaire": None}])
    def test_unreadable_answers_are_a_400(self, client, study, body):
        participant = _join(client, "pilot", "p1")
        assert _qualify(client, participant, **body).status_code == 400
        assert Qualification.objects.count() == 0

    def test_a_bad_questionnaire_answer_is_a_400(self, client, study):
        participant = _join(client, "pilot", "p1")
        response = _qualify(client, participant, acuity=_answers(participant),
                            questionnaire=dict(_questionnaire(participant), age="12"))
        assert response.status_code == 400 and "Your age" in response.content.decode()

    def test_lab_participants_and_studies_without_it_skip_it(self, client, study):
        lab = client.post(reverse("studies:landing", args=["pilot"]))
        assert "Checking your screen" in client.get(lab.url).content.decode()
        study.qualification_required = False
        study.save()
        participant = _join(Client(), "pilot", "p2")
        assert not services.qualification_due(participant)


class TestQuestionnaireAggregate:
    def test_counts_on_the_analysis_page_and_in_the_dataset_card(self, client, study, settings, tmp_path):
        settings.FACEQA_BOOTSTRAP_RESAMPLES = 20
        for pid, pick in (("p1", 0), ("p2", 0), ("p3", 1)):
            browser = Client()
            participant = _join(browser, "pilot", pid)
            assert _qualify(browser, participant, acuity=_answers(participant),
                            questionnaire=_questionnaire(participant, pick)).json()["passed"]
        services.study_simulate_ratings(study=study, participants=6, seed=1)
        analyses_compute(study=study)
        page = client.get(reverse("studies:analysis", args=["pilot"])).content.decode()
        table = page.split('id="questionnaire"')[1].split("</table>")[0]
        assert "18-24: 2" in table and "25-34: 1" in table and "65 or over: 0" in table
        assert "p1" not in table
        card = (dataset_export(study=study, out_dir=tmp_path / "out", include_simulated=True).folder
                / "README.md").read_text()
        assert "- Your age: 18-24 2, 25-34 1" in card and "- Your gender: woman 2, man 1" in card


class TestDisplayChecks:
    @pytest.fixture
    def participant(self, study):
        return services.participant_join(study=study)[0]

    def test_measured_values_are_stored(self, participant):
        viewing = dict(GOOD_VIEWING, refresh_hz=59.9, pointer_coarse=False)
        assert services.participant_record_viewing(participant=participant, viewing=viewing) == []
        assert participant.viewing["refresh_hz"] == 59.9 and participant.viewing["device_class"] == "desktop"

    def test_a_display_slower_than_the_videos_is_refused(self, participant):
        problems = services.participant_record_viewing(participant=participant,
                                                       viewing=dict(GOOD_VIEWING, refresh_hz=20.0))
        assert len(problems) == 1 and "cannot show every frame" in problems[0]
        assert participant.viewing_checked_at is None

    def test_phones_are_refused_unless_the_study_allows_them(self, participant):
        phone = dict(GOOD_VIEWING, user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36",
                     pointer_coarse=True, refresh_hz=60.0)
        assert "cannot be done on a phone" in services.participant_record_viewing(
            participant=participant, viewing=phone)[0]
        participant.study.allow_phones = True
        participant.study.save()
        assert services.participant_record_viewing(participant=participant, viewing=phone) == []
        assert participant.viewing["device_class"] == "phone"

    @pytest.mark.parametrize("extra", [{"refresh_hz": 0}, {"refresh_hz": "fast"}, {"pointer_coarse": "yes"},
                                       {"refresh_hz": 10**400}, {"window_width": 10**400}])
    def test_malformed_display_values_are_a_400(self, client, participant, extra):
        response = client.post(reverse("studies:viewing", args=[participant.token]),
                               json.dumps(dict(GOOD_VIEWING, **extra)), content_type="application/json")
        assert response.status_code == 400


class TestConsistencyRepeats:
    def test_repeats_are_apart_out_of_the_mos_and_measured(self, study):
        study.consistency_repeats = 2
        study.save()
        participant, _ = services.participant_join(study=study)
        trials = list(participant.trials.select_related("stimulus"))
        repeats = [t for t in trials if t.repeat == 1]
        assert len(repeats) == 2 and len(trials) == 3 + 8 + 1 + 2
        for repeat in repeats:
            first = next(t for t in trials if t.stimulus_id == repeat.stimulus_id and t.repeat == 0)
            assert abs(repeat.position - first.position) >= 2 and not repeat.stimulus.is_reference
        for trial in trials:
            score = 2 if trial.stimulus.role == StimulusRole.TRAP else (1 if trial.repeat else 4)
            services.vote_submit(participant=participant, position=trial.position, score=score)
        assert len(votes_frame(study)) == 8 and set(votes_frame(study)["repetition"]) == {0}
        assert len(votes_frame(study, include_repeats=True)) == 10
        flags = screening_flags(study)[participant.anonymous_id]
        assert [f.rule for f in flags] == ["straight-lining", "consistency"]
        services.study_simulate_ratings(study=study, participants=6, seed=3)
        analysis = study_analysis(study, model="mos")
        row = analysis.participants.set_index("subject").loc[participant.anonymous_id]
        assert row["consistency"] == 3.0 and "consistency: rated repeated videos 3.00" in row["flags"]
        assert not row["rejected"]  # flags alone do not exclude by default
        assert (analysis.votes["repetition"] == 0).all()
        study.screening_excludes = True
        study.save()
        row = study_analysis(study, model="mos").participants.set_index("subject").loc[participant.anonymous_id]
        assert row["rejected"] and "straight-lining" in row["reason"]

    def test_the_flags_column_needs_no_flags(self, study):
        participant, _ = services.participant_join(study=study)
        no_fit = pd.DataFrame(columns=["subject", "rejected", "reason", "bias", "inconsistency"])
        table = participant_table(study, no_fit, include_simulated=True)
        assert table.set_index("subject").loc[participant.anonymous_id, "flags"] == ""


@pytest.mark.browser
def test_a_crowd_participant_passes_the_acuity_test_and_questionnaire_and_reaches_the_first_trial(
        live_server, page, transactional_db, data_dir):
    services.study_create(name="qualified", pvs=make_database(data_dir), votes_per_pvs=2, trials_per_participant=4,
                          seed=5)
    page.goto(f"{live_server.url}{reverse('studies:landing', args=['qualified'])}?PROLIFIC_PID=crowd-q&SESSION_ID=x")
    page.click("#consent")
    page.locator("#optotype").wait_for()
    participant = Participant.objects.get(external_id="crowd-q")
    size = page.locator("#optotype").evaluate("c => [c.width, c.clientWidth, window.devicePixelRatio]")
    assert size[0] == size[1] * size[2]  # one canvas pixel per device pixel
    page.screenshot(path="/tmp/faceqa-study-acuity.png", full_page=True)
    for orientation in _answers(participant):
        page.click(f"#orientations button[data-orientation={orientation}]")
    for question in participant.study.questionnaire:
        page.check(f"input[name={question['key']}] >> nth=1")
    page.screenshot(path="/tmp/faceqa-study-questionnaire.png", full_page=True)
    page.click("#qualification-submit")
    page.locator(".trial-head").wait_for()  # the viewing check passed and the first trial is shown
    participant.refresh_from_db()
    assert participant.qualification.passed and participant.qualification.questionnaire["gender"] == "man"
    assert participant.viewing["device_class"] == "desktop" and participant.viewing["refresh_hz"] >= 24
