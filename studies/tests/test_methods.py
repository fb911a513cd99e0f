"""DCR, CCR and PC studies and rating dimensions: stimuli, playlists, votes, simulated panels."""
import pytest
from django.core.management import call_command
from django.urls import reverse

from studies import services
from studies.methods import METHODS, get_method
from studies.models import Method, PairDesign, StimulusRole, Vote
from studies.selectors import next_trial, participant_progress
from studies.tests.factories import add_codec


@pytest.fixture
def two_codecs(database):
    """The 3 SRCs x x264 at 2 QPs, plus x265 at 2 QPs on the same SRCs: 12 PVSs."""
    return database + add_codec(database)


def _mark_media(study, data_dir):
    """Give every pair's A and B a file of its own whose bytes name it ("A<id>", "B<id>")."""
    for stimulus in study.stimuli.filter(is_pair=True):
        for side, field in (("A", "media_path"), ("B", "companion_media_path")):
            relative = f"marks/{side}{stimulus.pk}.mp4"
            (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            (data_dir / relative).write_bytes(f"{side}{stimulus.pk}".encode())
            setattr(stimulus, field, relative)
        stimulus.save()


def _served(client, participant, trial) -> list[str]:
    """The files served as the trial's first and second video."""
    return [b"".join(client.get(reverse("studies:video", args=[participant.token, trial.position, slot]))
                     .streaming_content).decode() for slot in (1, 2)]


def _answer_all(participant, answer):
    """Answer every trial with ``answer(trial)``; return the trials answered in order."""
    done = []
    while (trial := next_trial(participant)) is not None:
        services.vote_submit(participant=participant, position=trial.position, score=answer(trial))
        done.append(trial)
    return done


class TestDcr:
    def test_pairs_every_pvs_with_its_src_and_the_src_with_itself(self, database):
        study = services.study_create(name="dcr", pvs=database, method=Method.DCR, seed=2, trap=False)
        test = list(study.stimuli.filter(role=StimulusRole.TEST))
        assert all(s.is_pair and s.companion_pvs_id is None for s in test)
        assert sorted(s.pvs_id for s in test if s.pvs_id) == sorted(p.pk for p in database)
        references = [s for s in test if s.is_reference]
        assert len(references) == 3 and all(s.expected_scores == [4, 5] for s in references)

    def test_reference_is_served_first_and_the_pvs_second(self, client, database, data_dir):
        study = services.study_create(name="dcr", pvs=database, method=Method.DCR, seed=2, training_count=0,
                                      trap=False)
        _mark_media(study, data_dir)
        participant, _ = services.participant_join(study=study)
        trial = next_trial(participant)
        assert not trial.swapped
        assert _served(client, participant, trial) == [f"B{trial.stimulus.pk}", f"A{trial.stimulus.pk}"]
        assert client.get(reverse("studies:video", args=[participant.token, trial.position, 3])).status_code == 404

    def test_impairment_scale_bounds(self, database):
        study = services.study_create(name="dcr", pvs=database, method=Method.DCR, seed=2, trap=False)
        participant, _ = services.participant_join(study=study)
        with pytest.raises(services.StudyError, match="must be one of"):
            services.vote_submit(participant=participant, position=0, score=0)


class TestCcr:
    def test_same_rate_pairs_match_codecs_rung_by_rung(self, two_codecs):
        study = services.study_create(name="ccr", pvs=two_codecs, method=Method.CCR, seed=3, trap=False,
                                      pair_set="same-rate")
        pairs = list(study.stimuli.filter(role=StimulusRole.TEST).select_related("pvs__hrc", "companion_pvs__hrc"))
        assert len(pairs) == 3 * 2  # per SRC: (x264 lowest rate, x265 lowest), (x264 highest, x265 highest)
        for pair in pairs:
            assert {pair.pvs.hrc.codec, pair.companion_pvs.hrc.codec} == {"x264", "x265"}
            assert pair.pvs.source_id == pair.companion_pvs.source_id == pair.source_id
        rungs = {(p.pvs.hrc.label, p.companion_pvs.hrc.label) for p in pairs}
        assert rungs == {("x264 qp=45", "x265 qp=40"), ("x264 qp=30", "x265 qp=28")}

    def test_same_rate_over_one_codec_is_refused(self, database):
        with pytest.raises(services.StudyError, match="at least two codecs"):
            services.study_create(name="ccr", pvs=database, method=Method.CCR, seed=3, pair_set="same-rate")

    def test_default_pairs_give_every_pvs_a_reference_pair_and_the_matched_rate_pairs(self, two_codecs):
        study = services.study_create(name="ccr", pvs=two_codecs, method=Method.CCR, seed=3, trap=False)
        pairs = list(study.stimuli.filter(role=StimulusRole.TEST))
        with_reference = sorted(p.pvs_id for p in pairs if p.companion_pvs_id is None)
        assert with_reference == sorted(p.pk for p in two_codecs)
        assert sum(1 for p in pairs if p.companion_pvs_id is not None) == 3 * 2

    def test_order_is_drawn_per_trial_stored_and_undone_by_canonical_score(self, two_codecs, client, data_dir):
        study = services.study_create(name="ccr", pvs=two_codecs, method=Method.CCR, pair_set="all", seed=3,
                                      training_count=0, trap=False)
        swaps = []
        for _ in range(4):
            participant, _ = services.participant_join(study=study)
            swaps += list(participant.trials.values_list("swapped", flat=True))
        assert 0.25 < sum(swaps) / len(swaps) < 0.75
        _mark_media(study, data_dir)
        trial = next_trial(participant)
        a, b = f"A{trial.stimulus.pk}", f"B{trial.stimulus.pk}"
        assert _served(client, participant, trial) == ([b, a] if trial.swapped else [a, b])
        services.vote_submit(participant=participant, position=trial.position, score=-2)
        vote = Vote.objects.get(trial=trial)
        canonical = get_method("ccr").canonical_score(vote.score, trial.swapped)
        assert canonical == (2 if trial.swapped else -2)

    def test_scale_is_minus_three_to_three(self, two_codecs):
        study = services.study_create(name="ccr", pvs=two_codecs, method=Method.CCR, seed=3, trap=False)
        participant, _ = services.participant_join(study=study)
        vote, _ = services.vote_submit(participant=participant, position=0, score=-3)
        assert vote.score == -3 and vote.scores == {"overall": -3}
        with pytest.raises(services.StudyError, match="must be one of"):
            services.vote_submit(participant=participant, position=1, score=4)


class TestPairComparison:
    def test_active_sampling_chooses_each_pair_when_due(self, database):
        study = services.study_create(name="pc", pvs=database, method=Method.PC, seed=4, training_count=2,
                                      trials_per_participant=5)
        assert study.pair_design == PairDesign.ACTIVE
        participant, _ = services.participant_join(study=study)
        stored = participant.trials.count()
        assert stored == 2 + 1 + 1  # training, the first pair, the trap at its place
        assert participant_progress(participant).total == 2 + 5 + 1
        answered = _answer_all(participant, lambda trial: 1)
        assert len(answered) == 2 + 5 + 1
        test = [t for t in answered if t.stimulus.role == StimulusRole.TEST]
        assert len(test) == 5
        # No SRC twice in a row while another has fewer comparisons.
        assert all(a.stimulus.source_id != b.stimulus.source_id for a, b in zip(test, test[1:]))
        participant.refresh_from_db()
        assert participant.completed_at is not None

    def test_active_sampling_avoids_a_pair_already_settled(self, database):
        """Pairs answered many times one way carry little information: the next pair is another."""
        study = services.study_create(name="pc", pvs=database, method=Method.PC, seed=4, training_count=0,
                                      trials_per_participant=3, trap=False)
        chosen = []
        for _ in range(6):
            participant, _ = services.participant_join(study=study)
            chosen += [t.stimulus_id for t in _answer_all(participant, lambda trial: 1)]
        per_pair = {pk: chosen.count(pk) for pk in set(chosen)}
        n_pairs = study.stimuli.filter(role=StimulusRole.TEST).count()
        assert len(per_pair) >= n_pairs - 2, per_pair  # 18 comparisons spread over the 9 pairs

    def test_full_design_gives_every_pair(self, database):
        study = services.study_create(name="pc", pvs=database, method=Method.PC, seed=4, training_count=0,
                                      pair_design=PairDesign.FULL, trap=False)
        participant, _ = services.participant_join(study=study)
        assert participant.trials.count() == study.stimuli.filter(role=StimulusRole.TEST).count() == 3 * 3


class TestDesignChecks:
    def test_full_design_takes_no_trials_per_participant(self, database):
        with pytest.raises(services.StudyError, match="every participant every pair"):
            services.study_create(name="pc", pvs=database, method=Method.PC, pair_design=PairDesign.FULL,
                                  trials_per_participant=2)

    def test_active_sampling_takes_no_consistency_repeats(self, database):
        with pytest.raises(services.StudyError, match="consistency repeats need the playlist"):
            services.study_create(name="pc", pvs=database, method=Method.PC, consistency_repeats=2)

    def test_a_side_by_side_pair_needs_room_for_two_videos(self, database):
        study = services.study_create(name="sbs", pvs=database, method=Method.DCR, presentation="side-by-side",
                                      trap=False)
        participant, _ = services.participant_join(study=study)
        wide_enough_for_one = {"screen_width": 1920, "screen_height": 1080, "window_width": 64 + 40 + 30,
                               "window_height": 800, "device_pixel_ratio": 1.0, "zoom_estimate": 1.0,
                               "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}
        problems = services.participant_record_viewing(participant=participant, viewing=wide_enough_for_one)
        assert problems and "at least 192 x" in problems[0]  # 2 x 64 + 24 between + 40 margin

    def test_a_huge_integer_in_a_vote_is_a_400(self, client, database):
        study = services.study_create(name="ccr", pvs=database, method=Method.CCR, pair_set="reference", trap=False)
        participant, _ = services.participant_join(study=study)
        for body in ({"position": 0, "score": 10**400}, {"position": 0, "scores": {"overall": -10**400}},
                     {"position": 10**400, "score": 1}):
            response = client.post(reverse("studies:vote", args=[participant.token]), body,
                                   content_type="application/json")
            assert response.status_code == 400, body
        assert not Vote.objects.exists()


class TestDimensions:
    def test_every_dimension_must_be_answered_on_the_scale(self, database):
        study = services.study_create(name="dims", pvs=database, seed=5, trap=False, training_count=0,
                                      dimensions="overall,identity,lighting=how natural the lighting is")
        assert [d["key"] for d in study.dimensions] == ["overall", "identity", "lighting"]
        participant, _ = services.participant_join(study=study)
        with pytest.raises(services.StudyError, match="send every answer"):
            services.vote_submit(participant=participant, position=0, score=4)
        with pytest.raises(services.StudyError, match="answers must be given for"):
            services.vote_submit(participant=participant, position=0, scores={"overall": 4, "identity": 2})
        vote, _ = services.vote_submit(participant=participant, position=0,
                                       scores={"overall": 4, "identity": 2, "lighting": 5})
        assert vote.score == 4 and vote.scores == {"overall": 4, "identity": 2, "lighting": 5}

    def test_unknown_dimension_is_refused_with_the_known_ones(self, database):
        with pytest.raises(services.StudyError, match="known are overall, identity"):
            services.study_create(name="dims", pvs=database, dimensions="overall,sharpness")


@pytest.mark.parametrize("method", list(METHODS))
def test_simulated_panel_completes_every_method(method, two_codecs):
    study = services.study_create(name=f"sim-{method}", pvs=two_codecs, method=method, seed=6,
                                  trials_per_participant=4, dimensions="overall,identity")
    report = services.study_simulate_ratings(study=study, participants=3, seed=1)
    assert len(report.participants) == 3
    votes = Vote.objects.filter(trial__participant__study=study)
    assert votes.count() == report.votes and all(set(v.scores) == {"overall", "identity"} for v in votes)
    assert all(v.score in get_method(method).values for v in votes)
    assert all(p.completed_at for p in report.participants)


def test_careful_simulated_observers_prefer_the_higher_rate_in_pc(two_codecs):
    study = services.study_create(name="pc-sim", pvs=two_codecs, method=Method.PC, seed=7, trap=False,
                                  pair_set="reference", pair_design=PairDesign.FULL, training_count=0)
    services.study_simulate_ratings(study=study, participants=4, seed=2)
    pc = get_method("pc")
    chose_reference = [pc.canonical_score(v.score, v.trial.swapped) == 2
                       for v in Vote.objects.filter(trial__participant__study=study).select_related("trial")]
    assert sum(chose_reference) / len(chose_reference) > 0.6


def test_create_study_takes_method_dimensions_and_presentation(two_codecs, capsys):
    call_command("create_study", "cli-ccr", "--method", "ccr", "--dimensions", "overall,motion",
                 "--presentation", "side-by-side", "--gap-ms", "500", "--no-trap", "--seed", "1")
    out = capsys.readouterr().out
    assert "CCR" in out and "Overall quality, Motion naturalness" in out and "18 pairs" in out
    assert "hidden reference" not in out  # a CCR study has none; its pairs carry the SRC


def test_create_study_says_active_sampling_needs_fewer_than_the_full_count(two_codecs, capsys):
    call_command("create_study", "cli-pc", "--method", "pc", "--no-trap", "--seed", "1")
    out = capsys.readouterr().out
    assert "active sampling does not need every pair" in out and "hidden reference" not in out
