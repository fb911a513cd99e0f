"""Simulated observers: the model (pure) and the service that lets them rate a study."""
import numpy as np
import pytest
from scipy import stats
from django.core.management import call_command
from django.core.management.base import CommandError

from studies import services
from studies.models import Participant, Platform
from studies.selectors import gold_rejections, votes_frame
from studies.simulation import (
    Observer,
    ObserverModel,
    draw_observer,
    latent_quality,
    simulate_ccr_vote,
    simulate_dcr_vote,
    simulate_pair_choice,
    simulate_vote,
)


class TestObserverModel:
    def test_latent_quality_follows_the_metric_direction(self):
        model = ObserverModel()
        assert list(latent_quality([10, 30, 20], higher_is_better=True, model=model).argsort()) == [0, 2, 1]
        lower = latent_quality([10, 30, 20], higher_is_better=False, model=model)
        assert lower[0] == lower.max() and 1.3 < lower.min() < lower.max() < 4.7

    def test_non_finite_values_are_refused(self):
        with pytest.raises(ValueError, match="finite"):
            latent_quality([1.0, np.nan], higher_is_better=True, model=ObserverModel())

    def test_votes_are_on_the_scale_and_centred_on_quality_plus_bias(self):
        rng = np.random.default_rng(0)
        observer = draw_observer(ObserverModel(), rng)
        votes = np.array([simulate_vote(observer, 3.0, rng) for _ in range(4000)])
        assert set(votes) <= {1, 2, 3, 4, 5}
        assert abs(votes.mean() - (3.0 + observer.bias)) < 0.1

    def test_careless_observer_ignores_quality(self):
        rng = np.random.default_rng(1)
        observer = draw_observer(ObserverModel(), rng, careless=True)
        votes = [simulate_vote(observer, 5.0, rng) for _ in range(2000)]
        assert abs(np.mean(votes) - 3.0) < 0.15



class TestComparisonObservers:
    """DCR, CCR and pair-comparison answers follow the documented observer model (pure, no database)."""

    def test_dcr_votes_fall_one_grade_per_grade_of_impairment(self):
        rng = np.random.default_rng(5)
        observer = Observer(bias=0.2, inconsistency=0.3, careless=False)
        votes = np.array([simulate_dcr_vote(observer, 4.6, 2.6, rng) for _ in range(4000)])
        assert set(votes) <= {1, 2, 3, 4, 5}
        assert abs(votes.mean() - (5 - 2.0 + 0.2)) < 0.05
        worse = np.mean([simulate_dcr_vote(observer, 4.6, 1.6, rng) for _ in range(4000)])
        assert abs(votes.mean() - worse - 1.0) < 0.1

    def test_dcr_of_an_unimpaired_stimulus_is_imperceptible(self):
        rng = np.random.default_rng(6)
        observer = Observer(bias=0.0, inconsistency=0.3, careless=False)
        votes = [simulate_dcr_vote(observer, 4.6, 4.6, rng) for _ in range(2000)]
        assert np.mean(np.equal(votes, 5)) > 0.45 and min(votes) >= 3

    def test_ccr_votes_are_the_difference_b_minus_a(self):
        rng = np.random.default_rng(7)
        observer = Observer(bias=1.0, inconsistency=0.4, careless=False)  # a bias cancels in a comparison
        votes = np.array([simulate_ccr_vote(observer, 2.0, 3.0, rng) for _ in range(4000)])
        assert set(votes) <= {-3, -2, -1, 0, 1, 2, 3}
        assert abs(votes.mean() - 1.0) < 0.05
        reversed_mean = np.mean([simulate_ccr_vote(observer, 3.0, 2.0, rng) for _ in range(4000)])
        assert abs(reversed_mean + 1.0) < 0.05

    def test_pair_choice_is_thurstone_case_v(self):
        rng = np.random.default_rng(8)
        observer = Observer(bias=0.5, inconsistency=0.6, careless=False)
        chosen = np.mean([simulate_pair_choice(observer, 3.0, 2.5, rng) for _ in range(20000)])
        assert abs(chosen - stats.norm.cdf(0.5 / (np.sqrt(2) * 0.6))) < 0.01  # 0.72

    def test_careless_observers_answer_at_random(self):
        rng = np.random.default_rng(9)
        careless = Observer(bias=0.0, inconsistency=0.5, careless=True)
        assert abs(np.mean([simulate_pair_choice(careless, 5.0, 1.0, rng) for _ in range(4000)]) - 0.5) < 0.03
        assert abs(np.mean([simulate_ccr_vote(careless, 1.0, 5.0, rng) for _ in range(4000)])) < 0.1
        assert abs(np.mean([simulate_dcr_vote(careless, 4.6, 4.6, rng) for _ in range(4000)]) - 3.0) < 0.1

class TestSimulateRatings:
    def test_simulated_panel_completes_and_is_flagged(self, study):
        report = services.study_simulate_ratings(study=study, participants=6, seed=3, careless=1)
        frame = votes_frame(study)
        assert len(report.participants) == 6 and all(p.is_simulated for p in report.participants)
        assert all(p.completed_at for p in Participant.objects.filter(platform=Platform.SIMULATED))
        assert frame["simulated"].all() and len(frame) == 6 * (5 + 3)
        assert votes_frame(study, include_simulated=False).empty
        assert report.careless == [report.participants[-1].anonymous_id]

    def test_same_seed_same_playlists_and_votes(self, study, database):
        twin = services.study_create(name="twin", pvs=database, votes_per_pvs=3, trials_per_participant=5, seed=1)
        for each in (study, twin):
            services.study_simulate_ratings(study=each, participants=3, seed=9)
        columns = ["subject", "stimulus", "vote"]
        first, second = (votes_frame(each)[columns].sort_values(columns) for each in (study, twin))
        assert len(first) == 3 * (5 + 3)
        assert first["vote"].tolist() == second["vote"].tolist()
        assert first["stimulus"].tolist() == second["stimulus"].tolist()

    def test_pvs_without_the_latent_metric_is_reported(self, study):
        with pytest.raises(services.StudyError, match="no dists value"):
            services.study_simulate_ratings(study=study, participants=1, seed=0, latent_metric="dists")

    def test_careful_observers_pass_gold_trials_mostly(self, study):
        services.study_simulate_ratings(study=study, participants=8, seed=4, careless=2)
        rejected = gold_rejections(study)
        participants = [p.anonymous_id for p in Participant.objects.order_by("pk")]
        assert sum(subject in rejected for subject in participants[6:]) >= 1
        assert sum(subject in rejected for subject in participants[:6]) <= 1


class TestCommands:
    def test_create_study_prints_the_participant_url(self, database, capsys):
        call_command("create_study", "cmd", "--pvs", "codec=x264;src=src0,src1", "--votes-per-pvs", "4",
                     "--trials-per-participant", "3", "--seed", "2")
        out = capsys.readouterr().out
        assert "4 PVSs and 2 hidden references" in out and "6 participants give 4 votes per PVS" in out
        assert "Participant URL: http://127.0.0.1:8000/study/cmd/" in out

    def test_create_study_takes_chosen_training_pvs(self, database, capsys):
        call_command("create_study", "trained", "--training-pvs", "src=src2;codec=x264", "--no-trap")
        assert "2 training, 0 trap" in capsys.readouterr().out

    def test_create_study_reports_a_bad_filter(self, database):
        with pytest.raises(CommandError, match="cannot read 'codecs=x264'"):
            call_command("create_study", "bad", "--pvs", "codecs=x264")

    def test_simulate_ratings_says_simulated(self, study, capsys):
        call_command("simulate_ratings", "pilot", "--participants", "2", "--seed", "1")
        assert capsys.readouterr().out.startswith("SIMULATED: 2 participants, 24 votes")
