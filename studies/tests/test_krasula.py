"""Krasula et al. (QoMEX 2016) measures and the resolving power, against Netflix vmaf's published test values.

vmaf's values are those of ``python/test/perf_metric_test.py`` (Netflix/vmaf,
commit f85a853692a8c730d0270cd733c8bb30b5b93b7c), computed there by
``AucPerfMetric`` and ``ResolvingPowerPerfMetric``. Its inputs are drawn with
``np.random.seed(k)`` and ``np.random.normal``, i.e. the legacy Mersenne
Twister stream, which ``np.random.RandomState(k)`` reproduces bit for bit
(NumPy keeps that stream fixed across versions).
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies import krasula
from studies.krasula import (
    KrasulaError,
    PairOutcomes,
    auc_difference_p,
    delong,
    krasula_performance,
    pair_outcomes,
    proportion_difference_p,
    resolving_power,
    score_differences,
)

DATA = Path(__file__).parent / "data"
VMAF_PLACES = 5e-7  # vmaf's assertAlmostEqual(..., places=6)


def vmaf_votes(seed: int, scale: float, shape: tuple[int, int], means) -> np.ndarray:
    """``np.random.normal(0, scale, shape) + means`` per row, as vmaf's tests build ``groundtruths``."""
    return np.random.RandomState(seed).normal(0, scale, shape) + np.asarray(means, dtype=float)[:, None]


class TestVmafPublishedAucValues:
    """test_auc_perf_metric, test_auc_perf_single_metric_in_list, test_auc_perf_multiple_metrics."""

    votes = vmaf_votes(1, 1.0, (4, 10), [1, 2, 3, 4])

    def vmaf_like(self, scores):
        # vmaf's AucPerfMetric: |z| > 2 decides, over all 16 ordered pairs including each stimulus with itself
        return krasula.krasula(list(self.votes), scores, test="z2", pairs="ordered")

    def test_one_metric(self):
        result = self.vmaf_like([1, 2, 3, 4])
        assert result.auc_bw[0] == pytest.approx(0.9999999999999999, abs=VMAF_PLACES)
        assert result.auc_ds[0] == pytest.approx(0.9375, abs=VMAF_PLACES)
        assert result.cc0[0] == pytest.approx(1.0, abs=VMAF_PLACES)
        assert result.thr[0] == pytest.approx(1.0, abs=VMAF_PLACES)

    def test_two_metrics_and_their_tests(self):
        result = self.vmaf_like([[1, 2, 3, 4], [3, 1, 2, 4]])
        np.testing.assert_allclose(result.auc_bw, [0.9999999999999999, 0.8125], atol=VMAF_PLACES)
        np.testing.assert_allclose(result.auc_ds, [0.9375, 0.6250], atol=VMAF_PLACES)
        np.testing.assert_allclose(result.cc0, [1.0, 0.75], atol=VMAF_PLACES)
        np.testing.assert_allclose(result.thr, [1.0, 2.0], atol=VMAF_PLACES)
        assert result.p_ds[0, 1] == pytest.approx(0.02746864, abs=VMAF_PLACES)
        assert result.p_bw[0, 1] == pytest.approx(0.06136883, abs=VMAF_PLACES)
        assert result.p_cc0[0, 1] == pytest.approx(0.03250944, abs=VMAF_PLACES)
        for p in (result.p_ds, result.p_bw, result.p_cc0):
            np.testing.assert_array_equal(p, p.T)
            np.testing.assert_array_equal(np.diag(p), [1.0, 1.0])

    def test_unordered_pairs_keep_auc_bw_and_cc0_but_drop_the_self_pairs_from_auc_ds(self):
        ordered = self.vmaf_like([[1, 2, 3, 4], [3, 1, 2, 4]])
        unordered = krasula.krasula(list(self.votes), [[1, 2, 3, 4], [3, 1, 2, 4]], test="z2")
        np.testing.assert_allclose(unordered.auc_bw, ordered.auc_bw)
        np.testing.assert_allclose(unordered.cc0, ordered.cc0)
        assert (unordered.n_different, unordered.n_similar) == (ordered.n_different // 2,
                                                                (ordered.n_similar - 4) // 2)
        assert unordered.auc_ds[0] < ordered.auc_ds[0]  # the 4 zero self-differences were easy negatives
        assert unordered.p_bw[0, 1] > ordered.p_bw[0, 1]  # counted once, each pair weighs less


def _toyama():
    """(5, 14028) score differences and (14028,) verdicts of the Toyama pairs, in vmaf's pair order."""
    scores = pd.read_csv(DATA / "toyama_krasula_scores.csv", comment="#").set_index("image")
    lines = [line for line in (DATA / "toyama_krasula_pairs.txt").read_text().splitlines()
             if not line.startswith("#")]
    assert [len(line) for line in lines] == list(range(1, scores.shape[0]))
    verdict = np.array([{"+": 1, "0": 0, "-": -1}[char] for line in lines for char in line], dtype=np.int8)
    first = np.array([i for j in range(1, scores.shape[0]) for i in range(j)])
    second = np.array([j for j in range(1, scores.shape[0]) for _ in range(j)])
    pairs = PairOutcomes(first=first, second=second, outcome=verdict)
    return score_differences(scores.to_numpy().T, pairs), verdict


def test_toyama_reproduces_vmaf_test_auc_metrics_performance():
    # vmaf test_auc_metrics_performance: AucPerfMetric._metrics_performance on data_Toyama.mat, means over 5 metrics
    differences, verdict = _toyama()
    assert differences.shape == (5, 14028)
    result = krasula_performance(differences, verdict)
    assert np.mean(result.auc_ds) == pytest.approx(0.69767003960902052, abs=VMAF_PLACES)
    assert np.mean(result.auc_bw) == pytest.approx(0.94454700301894534, abs=VMAF_PLACES)
    assert np.mean(result.cc0) == pytest.approx(0.88105386206276415, abs=VMAF_PLACES)
    assert np.mean(result.thr) == pytest.approx(3.899105581509778, abs=VMAF_PLACES)
    assert (result.n_different, result.n_similar, result.n_classified) == (11121, 2907, 22242)


class TestVmafPublishedResolvingPower:
    """test_respow_perf_metric, 2 and 3: vmaf takes the standard deviation with ddof 0."""

    @pytest.mark.parametrize("crossing", krasula.CROSSINGS)
    def test_four_stimuli(self, crossing):
        votes = vmaf_votes(0, 1.0, (4, 10), [1, 2, 3, 4])
        value = resolving_power(list(votes), np.array([1.0, 2, 3, 4]), ddof=0, crossing=crossing)
        assert value == pytest.approx(1.2176359647113211, abs=VMAF_PLACES)

    @pytest.mark.parametrize("crossing", krasula.CROSSINGS)
    def test_hundred_stimuli(self, crossing):
        votes = vmaf_votes(0, 10.0, (100, 30), np.arange(100))
        value = resolving_power(list(votes), np.arange(100.0), ddof=0, crossing=crossing)
        assert value == pytest.approx(9.0014569671225111, abs=VMAF_PLACES)

    @pytest.mark.parametrize("crossing", krasula.CROSSINGS)
    def test_unequal_numbers_of_votes(self, crossing):
        rng = np.random.RandomState(0)
        votes = [rng.normal(0, 1.0, [1, 10])[0] + i + 1 for i in range(3)] + [rng.normal(0, 1.0, [1, 8])[0] + 4]
        value = resolving_power(votes, np.array([1.0, 2, 3, 4]), ddof=0, crossing=crossing)
        assert value == pytest.approx(1.2045849280245293, abs=VMAF_PLACES)


class TestDelong:
    def test_auc_is_the_mann_whitney_statistic_with_ties_counted_half(self):
        rng = np.random.default_rng(0)
        x, y = np.round(rng.normal(1, 1, 30), 1), np.round(rng.normal(0, 1, 40), 1)
        auc, _ = delong(x, y)
        assert auc[0] == pytest.approx(stats.mannwhitneyu(x, y).statistic / (30 * 40))

    def test_covariance_matches_delongs_structural_components_written_out(self):
        # DeLong et al. 1988: psi(x, y) = 1 if x > y, 1/2 if equal; V10(x_i) = mean_j psi, V01(y_j) = mean_i psi
        rng = np.random.default_rng(1)
        x = np.round(rng.normal(1, 1, (3, 25)), 1)
        y = np.round(rng.normal(0, 1, (3, 35)), 1)
        psi = (x[:, :, None] > y[:, None, :]) + 0.5 * (x[:, :, None] == y[:, None, :])
        v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
        expected = np.cov(v10) / 25 + np.cov(v01) / 35
        auc, cov = delong(x, y)
        np.testing.assert_allclose(auc, psi.mean(axis=(1, 2)))
        np.testing.assert_allclose(cov, expected)

    def test_empty_or_single_classes_give_nan(self):
        auc, cov = delong(np.ones((2, 0)), np.ones((2, 3)))
        assert np.isnan(auc).all() and np.isnan(cov).all()
        auc, cov = delong(np.array([[2.0]]), np.array([[1.0, 0.0]]))
        assert auc[0] == 1.0 and np.isnan(cov).all()


class TestTests:
    def test_auc_difference_p_is_the_two_sided_normal_p_of_the_difference(self):
        cov = np.array([[0.004, 0.003], [0.003, 0.005]])
        z = (0.9 - 0.8) / np.sqrt(0.004 + 0.005 - 2 * 0.003)
        assert auc_difference_p([0.9, 0.8], cov, 0, 1) == pytest.approx(2 * stats.norm.sf(z))
        assert auc_difference_p([0.9, 0.9], cov, 0, 1) == 1.0

    def test_proportion_difference_p_is_the_pooled_two_proportion_z_test(self):
        z = 0.1 / np.sqrt(0.85 * 0.15 * 2 / 200)
        assert proportion_difference_p(0.9, 0.8, 200) == pytest.approx(2 * stats.norm.sf(z))
        assert proportion_difference_p(0.7, 0.7, 50) == 1.0


class TestPairOutcomes:
    def test_welch_decisions_match_scipy_and_the_sign_says_which_is_better(self):
        rng = np.random.default_rng(2)
        votes = [rng.normal(mean, sd, n) for mean, sd, n in ((3.0, 0.5, 12), (3.2, 1.0, 15), (4.5, 0.7, 9))]
        outcomes = pair_outcomes(votes)
        np.testing.assert_array_equal(outcomes.first, [0, 0, 1])
        np.testing.assert_array_equal(outcomes.second, [1, 2, 2])
        for i, j, verdict in zip(outcomes.first, outcomes.second, outcomes.outcome, strict=True):
            test = stats.ttest_ind(votes[i], votes[j], equal_var=False)
            assert verdict == (np.sign(test.statistic) if test.pvalue < 0.05 else 0)
        assert outcomes.outcome[1] == -1  # stimulus 0 significantly worse than 2

    def test_z2_is_vmafs_two_standard_errors(self):
        votes = [np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])]
        z = -1 / np.sqrt(1 / 3 + 1 / 3)  # -1.22
        assert pair_outcomes(votes, test="z2").outcome[0] == (0 if abs(z) <= 2 else np.sign(z))
        far = [np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])]  # z = -3.67
        assert pair_outcomes(far, test="z2").outcome[0] == -1

    def test_equal_votes_are_not_different_and_constant_unequal_votes_are(self):
        votes = [np.array([3.0, 3.0]), np.array([3.0, 3.0]), np.array([4.0, 4.0])]
        np.testing.assert_array_equal(pair_outcomes(votes).outcome, [0, -1, -1])

    @pytest.mark.parametrize(("votes", "kwargs", "message"), [
        ([[1.0, 2.0], [3.0]], {}, "1 vote"),
        ([[1.0, 2.0]], {}, "at least 2 stimuli"),
        ([[1.0, np.nan], [3.0, 4.0]], {}, "not all finite"),
        ([[1.0, 2.0], [3.0, 4.0]], {"test": "anova"}, "unknown test"),
        ([[1.0, 2.0], [3.0, 4.0]], {"pairs": "all"}, "unknown pairs"),
        ([[1.0, 2.0], [3.0, 4.0]], {"alpha": 1.5}, "alpha"),
    ])
    def test_rejects_what_it_cannot_test(self, votes, kwargs, message):
        with pytest.raises(KrasulaError, match=message):
            pair_outcomes(votes, **kwargs)


class TestKrasulaPerformance:
    def test_a_perfect_metric_and_a_reversed_one(self):
        rng = np.random.default_rng(3)
        means = np.linspace(1.2, 4.8, 12)
        votes = [rng.normal(mean, 0.6, 20) for mean in means]
        result = krasula.krasula(votes, [means, -means])
        assert result.auc_bw[0] == 1.0 and result.cc0[0] == 1.0
        assert result.auc_bw[1] == 0.0 and result.cc0[1] == 0.0
        assert result.auc_ds[0] == result.auc_ds[1] > 0.9  # |ΔOM| is the same for both
        assert result.p_bw[0, 1] < 1e-6 and result.p_ds[0, 1] == 1.0

    def test_thr_is_the_95th_percentile_of_the_similar_pairs_differences(self):
        differences = np.array([[0.1, 0.5, 0.2, 3.0, -2.0, 0.4, -0.3]])
        outcome = np.array([0, 0, 0, 1, -1, 0, 0])
        result = krasula_performance(differences, outcome)
        assert result.thr[0] == pytest.approx(np.percentile([0.1, 0.5, 0.2, 0.4, 0.3], 95))
        assert result.cc0[0] == 1.0 and result.auc_ds[0] == 1.0
        assert (result.n_different, result.n_similar, result.n_classified) == (2, 5, 4)

    def test_a_tie_at_zero_is_a_wrong_classification(self):
        result = krasula_performance(np.array([[1.0, 0.0, -1.0, 2.0]]), np.array([1, 1, 1, 0]))
        assert result.cc0[0] == pytest.approx(1 / 3)
        assert result.auc_bw[0] == pytest.approx((1 + 0.5 + 0) / 3)  # B = (1, 0, -1) against W = -B

    def test_without_similar_pairs_the_ds_measures_are_nan(self):
        result = krasula_performance(np.array([[1.0, 2.0, 0.5]]), np.array([1, 1, -1]))
        assert np.isnan(result.auc_ds[0]) and np.isnan(result.thr[0])
        assert result.cc0[0] == pytest.approx(2 / 3)

    @pytest.mark.parametrize(("differences", "outcome", "message"), [
        (np.ones((2, 3)), np.array([1, 0]), r"\(M, K\)"),
        (np.ones((1, 2)), np.array([2, 0]), "only -1, 0 and 1"),
        (np.array([[1.0, np.nan]]), np.array([1, 0]), "finite"),
    ])
    def test_rejects_malformed_input(self, differences, outcome, message):
        with pytest.raises(KrasulaError, match=message):
            krasula_performance(differences, outcome)


class TestResolvingPower:
    def test_a_noisier_metric_resolves_less(self):
        rng = np.random.default_rng(4)
        means = rng.uniform(1, 5, 60)
        votes = [rng.normal(mean, 0.8, 24) for mean in means]
        sharp = resolving_power(votes, means + rng.normal(0, 0.1, 60))
        blurred = resolving_power(votes, means + rng.normal(0, 0.8, 60))
        assert 0 < sharp < blurred

    def test_the_crossings_differ_only_on_a_curve_that_is_not_monotone(self):
        # Hand-computed on one curve: it rises through 0.95 between x = 1 and 2, dips below at x = 3 and
        # rises through it again between 3 and 4, at 3 + (0.95 - 0.94) / (0.98 - 0.94) = 3.25. "last" takes
        # that crossing, beyond which the curve stays above 0.95; "sorted" interpolates between the means
        # nearest 0.95 once sorted, 0.94 (x = 3) and 0.96 (x = 2): 2.5.
        x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
        y = np.array([0.5, 0.90, 0.96, 0.94, 0.98])
        assert krasula._last_upward_crossing(x, y, 0.95) == pytest.approx(3.25)
        assert krasula._sorted_crossing(x, y, 0.95) == pytest.approx(2.5)
        monotone = np.array([0.5, 0.8, 0.9, 0.96, 0.99])
        assert krasula._last_upward_crossing(x, monotone, 0.95) == pytest.approx(
            krasula._sorted_crossing(x, monotone, 0.95))

    def test_a_curve_that_never_reaches_the_level_gives_nan(self):
        x = np.arange(4.0)
        assert np.isnan(krasula._last_upward_crossing(x, np.array([0.5, 0.7, 0.9, 0.92]), 0.95))
        assert np.isnan(krasula._sorted_crossing(x, np.array([0.5, 0.7, 0.9, 0.92]), 0.95))
        assert np.isnan(krasula._last_upward_crossing(x, np.array([0.96, 0.97, 0.98, 0.99]), 0.95))

    def test_lower_ddof_means_smaller_standard_errors_and_a_finer_resolution(self):
        votes = list(vmaf_votes(0, 10.0, (100, 30), np.arange(100)))
        assert resolving_power(votes, np.arange(100.0), ddof=1) > resolving_power(votes, np.arange(100.0), ddof=0)

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"confidence": 1.0}, "confidence"),
        ({"n_bins": 0}, "n_bins"),
        ({"crossing": "first"}, "unknown crossing"),
    ])
    def test_rejects_bad_options(self, kwargs, message):
        with pytest.raises(KrasulaError, match=message):
            resolving_power([[1.0, 2.0], [3.0, 4.0]], np.array([1.0, 2.0]), **kwargs)

    def test_rejects_predictions_that_do_not_match_the_votes(self):
        with pytest.raises(KrasulaError, match="predictions must be"):
            resolving_power([[1.0, 2.0], [3.0, 4.0]], np.array([1.0, 2.0, 3.0]))
