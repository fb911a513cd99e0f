"""Study creation, joining, viewing checks and votes (services)."""
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from qa_platform.codec.video import read_frames
from qa_platform.core.models import JobStatus
from studies import services
from studies.models import Participant, Platform, StimulusRole, Vote
from studies.selectors import gold_rejections, next_trial, study_counts, votes_frame

GOOD_VIEWING = {
    "screen_width": 1920, "screen_height": 1080, "window_width": 1280, "window_height": 720,
    "device_pixel_ratio": 1.0, "zoom_estimate": 1.0, "user_agent": "test",
}


class TestStudyCreate:
    def test_stimuli_are_pvs_hidden_references_training_and_trap(self, study):
        roles = Counter(s.role for s in study.stimuli.all())
        assert roles == {StimulusRole.TEST: 9, StimulusRole.TRAINING: 3, StimulusRole.TRAP: 1}
        references = [s for s in study.stimuli.all() if s.is_reference]
        assert sorted(s.label for s in references) == ["src0/REF", "src1/REF", "src2/REF"]
        assert all(s.expected_scores == [4, 5] for s in references)

    def test_training_covers_the_quality_range_of_one_src(self, study):
        training = list(study.stimuli.filter(role=StimulusRole.TRAINING))
        assert len({s.source_id for s in training}) == 1
        assert training[0].pvs is None  # the SRC itself, the top of the range
        assert [s.pvs.kbps for s in training[1:]] == sorted((s.pvs.kbps for s in training[1:]), reverse=True)

    def test_trap_clip_shows_the_instruction(self, study):
        trap = study.stimuli.get(role=StimulusRole.TRAP)
        trap_frames, _ = read_frames(Path(settings.DATA_DIR) / trap.media_path)
        plain, _ = read_frames(Path(settings.DATA_DIR) / trap.source.browser_path)
        assert trap.expected_scores == [2]
        assert trap_frames.shape == plain.shape
        assert abs(trap_frames.astype(int) - plain).mean() > 20  # the text box covers the middle

    def test_unfinished_pvs_are_not_rated(self, database):
        for pvs in database:
            pvs.status = JobStatus.RUNNING
        with pytest.raises(services.StudyError, match="no finished PVS"):
            services.study_create(name="x", pvs=database)

    def test_name_taken_and_impossible_size_are_refused(self, study, database):
        with pytest.raises(services.StudyError, match="exists already"):
            services.study_create(name="pilot", pvs=database)
        with pytest.raises(services.StudyError, match="1..6"):
            services.study_create(name="other", pvs=database, trials_per_participant=7)
        with pytest.raises(services.StudyError, match="letters, digits"):
            services.study_create(name="gfvc.v1", pvs=database)


class TestJoin:
    def test_balanced_votes_reach_the_target(self, study):
        for _ in range(6):  # 6 x 5 = 30 >= 9 stimuli x 3 votes
            services.participant_join(study=study)
        counts = Counter(
            t.stimulus_id for p in study.participants.all() for t in p.trials.filter(stimulus__role="test")
        )
        assert len(counts) == 9 and min(counts.values()) >= 3 and max(counts.values()) - min(counts.values()) <= 1

    @pytest.mark.parametrize(("abandoned", "overlap"), [(False, 0), (True, 3)])
    def test_abandoned_participations_do_not_count(self, database, abandoned, overlap):
        small = services.study_create(name="small", pvs=database, trials_per_participant=3, seed=2)

        def drawn(participant):
            return {t.stimulus_id for t in participant.trials.filter(stimulus__role="test", stimulus__pvs__isnull=False)}

        first, _ = services.participant_join(study=small, assignment_seed=7)
        if abandoned:
            Participant.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=3))
        second, _ = services.participant_join(study=small, assignment_seed=7)  # the same draw on equal counts
        assert len(drawn(first) & drawn(second)) == overlap

    def test_playlist_training_first_trap_inside_no_repeated_src(self, study):
        participant, created = services.participant_join(study=study)
        trials = list(participant.trials.select_related("stimulus"))
        roles = [t.stimulus.role for t in trials]
        assert created and roles[:3] == ["training"] * 3 and roles.count("trap") == 1 and len(trials) == 12
        references = [t for t in trials if t.stimulus.is_reference]
        assert len(references) == 3  # every hidden reference, so every vote has a DMOS
        sources = [t.stimulus.source_id for t in trials[2:]]
        assert all(a != b for a, b in zip(sources, sources[1:]))

    def test_one_participation_per_external_id(self, study):
        first, created = services.participant_join(study=study, platform=Platform.PROLIFIC, external_id="abc")
        again, created_again = services.participant_join(study=study, platform=Platform.PROLIFIC, external_id="abc")
        assert created and not created_again and again.pk == first.pk
        assert Participant.objects.count() == 1

    def test_closed_study_takes_nobody_new(self, study):
        study.is_open = False
        study.save()
        with pytest.raises(services.StudyError, match="closed"):
            services.participant_join(study=study)


class TestViewing:
    def test_large_window_at_100_percent_passes(self, study):
        participant, _ = services.participant_join(study=study)
        assert services.participant_record_viewing(participant=participant, viewing=GOOD_VIEWING) == []
        assert participant.viewing_checked_at is not None
        assert participant.viewing["device_pixel_ratio"] == 1.0

    def test_small_window_and_zoom_are_reported(self, study):
        participant, _ = services.participant_join(study=study)
        viewing = dict(GOOD_VIEWING, window_width=90, zoom_estimate=1.25)
        problems = services.participant_record_viewing(participant=participant, viewing=viewing)
        assert len(problems) == 2 and "at least 104" in problems[0] and "125%" in problems[1]
        assert participant.viewing_checked_at is None

    def test_malformed_check_is_refused(self, study):
        participant, _ = services.participant_join(study=study)
        with pytest.raises(services.StudyError, match="screen_height"):
            services.participant_record_viewing(participant=participant, viewing={"screen_width": 1})


class TestVote:
    def test_vote_posted_twice_is_stored_once(self, study):
        participant, _ = services.participant_join(study=study)
        first, created = services.vote_submit(participant=participant, position=0, score=4, watch_seconds=1.0)
        again, created_again = services.vote_submit(participant=participant, position=0, score=1)
        assert created and not created_again and again.pk == first.pk and again.score == 4
        assert Vote.objects.count() == 1
        assert next_trial(participant).position == 1

    def test_a_trial_not_shown_yet_is_refused(self, study):
        participant, _ = services.participant_join(study=study)
        with pytest.raises(services.StudyError, match="has not been shown yet: the next trial is 0"):
            services.vote_submit(participant=participant, position=4, score=3)
        assert Vote.objects.count() == 0

    def test_trial_outside_the_playlist_is_refused(self, study):
        participant, _ = services.participant_join(study=study)
        with pytest.raises(services.TrialNotFound):
            services.vote_submit(participant=participant, position=99, score=3)
        assert Vote.objects.count() == 0

    def test_score_off_the_scale_is_refused(self, study):
        participant, _ = services.participant_join(study=study)
        with pytest.raises(services.StudyError, match="answer for overall must be one of"):
            services.vote_submit(participant=participant, position=0, score=6)

    def test_last_vote_completes_and_votes_table_has_test_trials_only(self, study):
        participant, _ = services.participant_join(study=study)
        for trial in participant.trials.all():
            services.vote_submit(participant=participant, position=trial.position, score=3)
        participant.refresh_from_db()
        frame = votes_frame(study)
        assert participant.completed_at is not None
        assert len(frame) == 8 and set(frame["vote"]) == {3}
        assert frame["is_reference"].sum() == frame["stimulus"].str.endswith("/REF").sum()
        assert study_counts(study).votes == 8

    def test_gold_failures_reject_with_reasons(self, study):
        participant, _ = services.participant_join(study=study)
        for trial in participant.trials.select_related("stimulus"):
            services.vote_submit(participant=participant, position=trial.position, score=1)
        study.gold_max_failures = 0
        rejections = gold_rejections(study)
        assert list(rejections) == [participant.anonymous_id]
        assert "TRAP answered 1, expected 2" in rejections[participant.anonymous_id]


@pytest.mark.django_db
def test_purging_external_ids_keeps_participants_and_votes(study, capsys):
    crowd, _ = services.participant_join(study=study, platform=Platform.PROLIFIC, external_id="p1",
                                        external_study_id="s1", external_session_id="x1")
    lab, _ = services.participant_join(study=study)
    call_command("purge_external_ids", "pilot")
    crowd.refresh_from_db()
    assert (crowd.external_id, crowd.external_study_id, crowd.external_session_id) == (None, "", "")
    assert study.participants.count() == 2 and crowd.trials.count() > 0
    assert "deleted from 1 participants; 2 participants" in capsys.readouterr().out
