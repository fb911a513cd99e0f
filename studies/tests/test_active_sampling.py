"""ASAP active sampling, the random and full designs, and the design comparison (studies.active_sampling)."""

import time

import numpy as np
import pytest
from scipy import stats

from studies import active_sampling as sampling


def _grid_posterior_moments(counts, prior_variance):
    """Exact posterior means and variances of two Thurstone scores on a grid (for a two-stimulus check)."""
    grid = np.linspace(-5, 5, 801)
    x, y = np.meshgrid(grid, grid, indexing="ij")
    log_density = (counts[0, 1] * stats.norm.logcdf(x - y) + counts[1, 0] * stats.norm.logcdf(y - x)
                   - (x**2 + y**2) / (2 * prior_variance))
    weight = np.exp(log_density - log_density.max())
    weight /= weight.sum()
    mean = np.array([(weight * x).sum(), (weight * y).sum()])
    return mean


class TestPosterior:
    def test_no_comparison_leaves_the_prior(self):
        mean, variance = sampling.posterior(np.zeros((3, 3), dtype=int))
        np.testing.assert_array_equal(mean, 0.0)
        np.testing.assert_array_equal(variance, sampling.PRIOR_VARIANCE)

    def test_one_comparison_is_the_exact_moment_match(self):
        """After one choice the EP posterior means equal the exact posterior means (one factor: ADF is exact)."""
        counts = np.array([[0, 1], [0, 0]])
        mean, _ = sampling.posterior(counts)
        np.testing.assert_allclose(mean, _grid_posterior_moments(counts, sampling.PRIOR_VARIANCE), atol=1e-3)
        assert mean[0] > 0 > mean[1]

    @pytest.mark.parametrize("wins", [(30, 10), (300, 100)])
    def test_many_repeats_converge_to_the_map_difference(self, wins):
        """Repeated choices of one pair (undamped parallel EP diverges here) give the MAP difference."""
        counts = np.array([[0, wins[0]], [wins[1], 0]])
        mean, variance = sampling.posterior(counts)
        reference = sampling.thurstone_map(counts, prior_sd=np.sqrt(sampling.PRIOR_VARIANCE))
        assert mean[0] - mean[1] == pytest.approx(reference[0] - reference[1], abs=0.02)
        assert np.all(variance < 0.05)

    def test_warm_start_reaches_the_same_posterior(self):
        rng = np.random.default_rng(0)
        counts = rng.integers(0, 5, (6, 6))
        np.fill_diagonal(counts, 0)
        cold_mean, cold_variance, messages = sampling.propagate(counts)
        counts[0, 3] += 2
        warm = sampling.propagate(counts, messages=messages)
        cold = sampling.propagate(counts)
        np.testing.assert_allclose(warm[0] - warm[0].mean(), cold[0] - cold[0].mean(), atol=1e-4)
        np.testing.assert_allclose(warm[1], cold[1], rtol=1e-4)

    @pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.zeros((1, 1)), np.array([[0, -1], [0, 0]]),
                                     np.array([[1, 0], [0, 0]]), np.array([[0, 0.5], [0, 0]])])
    def test_bad_count_matrices_are_refused(self, bad):
        with pytest.raises(ValueError, match="comparisons"):
            sampling.posterior(bad)


class TestInformationGain:
    def test_online_gain_matches_numerical_integration(self):
        """EIG of ASAP-approx for two Gaussian scores equals the expectation computed on a grid."""
        mean, variance = np.array([0.3, -0.2]), np.array([0.4, 0.25])
        grid = np.linspace(-6, 6, 1201)
        x, y = np.meshgrid(grid, grid, indexing="ij")
        prior = stats.norm.pdf(x, mean[0], np.sqrt(variance[0])) * stats.norm.pdf(y, mean[1], np.sqrt(variance[1]))
        expected = 0.0
        for outcome in (stats.norm.cdf(x - y), stats.norm.cdf(y - x)):
            weight = prior * outcome
            probability = weight.sum() / prior.sum()
            weight /= weight.sum()
            kl = 0.0
            for values, m, v in ((x, mean[0], variance[0]), (y, mean[1], variance[1])):
                new_mean = (weight * values).sum()
                new_variance = (weight * values**2).sum() - new_mean**2
                kl += 0.5 * (np.log(v / new_variance) - 1 + new_variance / v + (new_mean - m) ** 2 / v)
            expected += probability * kl
        gain = sampling.information_gain_online(mean, variance)
        assert gain[0, 1] == pytest.approx(expected, rel=1e-3) and gain[1, 0] == gain[0, 1]

    def test_full_gain_equals_converged_message_passing(self):
        """Full ASAP's batched hypotheses rank pairs as re-running message passing to convergence does."""
        rng = np.random.default_rng(2)
        counts = rng.integers(0, 4, (5, 5))
        np.fill_diagonal(counts, 0)
        gain, _ = sampling.information_gain_full(counts)
        mean, variance = sampling.posterior(counts)
        exact = np.zeros((5, 5))
        for i in range(5):
            for j in range(5):
                if i != j:
                    more = counts.copy()
                    more[i, j] += 1
                    new_mean, new_variance = sampling.posterior(more)
                    exact[i, j] = sampling._kl_gaussian(new_mean - mean, new_variance, variance).sum()
        exact = sampling._expected(exact, mean, variance)
        upper = np.triu_indices(5, 1)
        np.testing.assert_allclose(gain[upper], exact[upper], rtol=0.02)
        assert np.argmax(gain[upper]) == np.argmax(exact[upper])

    def test_a_foregone_pair_is_worth_less_than_an_open_one(self):
        mean, variance = np.array([3.0, 0.0, 0.1]), np.full(3, 0.1)
        gain = sampling.information_gain_online(mean, variance)
        assert gain[1, 2] > 10 * gain[0, 1]


class TestPairSampler:
    @pytest.mark.parametrize("design", sampling.DESIGNS)
    def test_pairs_are_valid_and_both_orders_occur(self, design):
        rng = np.random.default_rng(0)
        sampler = sampling.PairSampler(design)
        counts = np.zeros((4, 4), dtype=int)
        shown = []
        for _ in range(30):
            i, j = sampler.next_pair(counts, rng)
            assert i != j and 0 <= i < 4 and 0 <= j < 4
            shown.append((i, j))
            counts[i, j] += 1
        assert any(i < j for i, j in shown) and any(i > j for i, j in shown)

    def test_full_design_shows_every_pair_once_before_repeating(self):
        rng = np.random.default_rng(1)
        sampler = sampling.PairSampler("full")
        counts = np.zeros((5, 5), dtype=int)
        first_round = []
        for _ in range(10):
            i, j = sampler.next_pair(counts, rng)
            first_round.append(frozenset((i, j)))
            counts[i, j] += 1
        assert len(set(first_round)) == 10

    @pytest.mark.parametrize("design", ["asap", "asap-approx"])
    def test_asap_prefers_the_undecided_pair(self, design):
        """Two stimuli far apart and well measured, one close pair barely measured: ASAP asks for the close pair."""
        counts = np.zeros((3, 3), dtype=int)
        counts[0, 1] = counts[0, 2] = 20  # 0 always beat 1 and 2
        counts[1, 2], counts[2, 1] = 1, 1
        i, j = sampling.PairSampler(design).next_pair(counts, np.random.default_rng(0))
        assert {i, j} == {1, 2}

    def test_a_choice_for_twelve_stimuli_takes_under_50_ms(self):
        rng = np.random.default_rng(3)
        counts = rng.integers(0, 8, (12, 12))
        np.fill_diagonal(counts, 0)
        sampler = sampling.PairSampler("asap")
        durations = []
        for _ in range(5):
            started = time.process_time()
            i, j = sampler.next_pair(counts, rng)
            durations.append(time.process_time() - started)
            counts[i, j] += 1
        assert np.median(durations) < 0.05

    def test_unknown_design(self):
        with pytest.raises(ValueError, match="unknown design 'asap2'"):
            sampling.PairSampler("asap2")


class TestThurstoneMap:
    def test_a_weak_prior_gives_the_maximum_likelihood_scale_of_sureal(self):
        import contextlib
        import io

        from sureal.pc_subjective_model import ThurstoneMlePairedCompSubjectiveModel

        counts = np.array([[0, 7, 9, 10], [5, 0, 6, 8], [3, 6, 0, 7], [2, 4, 5, 0]])
        ours = sampling.thurstone_map(counts, prior_sd=1e4)
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = np.asarray(ThurstoneMlePairedCompSubjectiveModel.resolve_model(counts)[0])
        np.testing.assert_allclose(ours - ours.mean(), theirs - theirs.mean(), atol=1e-3)

    def test_separated_data_stay_finite(self):
        scores = sampling.thurstone_map(np.array([[0, 5], [0, 0]]), prior_sd=2.0)
        assert np.all(np.isfinite(scores)) and scores[0] > scores[1]


class TestCompareDesigns:
    def test_active_sampling_beats_random_at_the_same_budget(self):
        """Over six simulated sessions of 8 stimuli spread over 6 units, ASAP's scale error after 48
        comparisons is lower than a random design's (measured: 0.47 vs 0.68)."""
        result = sampling.compare_designs(8, np.linspace(0, 6, 8), 48, 6, 0, baseline_factor=1, n_steps=1)
        assert result.budgets["asap"].tolist() == [48] and result.budgets["random"].tolist() == [48]
        assert result.rmse["asap"][-1] < result.rmse["random"][-1]

    def test_savings_and_table(self):
        result = sampling.DesignComparison(
            active="asap", baseline="random", true_scores=np.arange(3.0),
            budgets={"asap": np.array([10, 20]), "random": np.array([10, 20, 30, 40])},
            rmse={"asap": np.array([0.5, 0.3]), "random": np.array([0.6, 0.5, 0.4, 0.35])},
            rmse_sem={"asap": np.array([0.01, 0.01]), "random": np.full(4, 0.01)}, repeats=2, prior_sd=2.0,
        )
        assert result.savings() == [(10, 0.5, 20.0), (20, 0.3, None)]
        table = sampling.format_comparison(result)
        assert "        10    0.500 ± 0.010    0.600 ± 0.010             20     50 %" in table
        assert "> 40" in table and "> 50 %" in table

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="true_scores"):
            sampling.compare_designs(3, [0.0, 1.0], 10, 1, 0)


class TestBenchmarkCommand:
    def test_prints_the_table(self):
        from io import StringIO

        from django.core.management import call_command

        out = StringIO()
        call_command("benchmark_active_sampling", "--stimuli", "4", "--trials", "8", "--repeats", "2",
                     "--baseline-factor", "2", stdout=out)
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("4 stimuli, true scores [0.0, 1.0, 2.0, 3.0] (Thurstone unit), 2 repeats")
        assert lines[1].split() == ["comparisons", "RMSE", "asap", "RMSE", "random", "random", "needs", "saving"]
        assert [line.split()[0] for line in lines[2:-1]] == ["1", "2", "3", "4", "5", "6", "7", "8"]

    def test_same_design_twice_is_refused(self):
        from django.core.management import CommandError, call_command

        with pytest.raises(CommandError, match="must differ"):
            call_command("benchmark_active_sampling", "--active", "random", "--baseline", "random")
