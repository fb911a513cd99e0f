"""Metric–MOS correlation statistics: logistic mapping, P.1401 statistics, bootstrap CIs, Williams' test."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies import correlation
from studies.correlation import (
    CorrelationError,
    compare_metrics,
    correlate,
    correlation_table,
    fit_logistic,
    logistic_4,
    williams_test,
)

TRUE_PARAMS = (1.2, 4.8, 35.0, 2.5)  # a PSNR-like metric (dB) onto a 5-point ACR scale


def synthetic(n: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(metric, mos) of n PVSs: MOS = TRUE_PARAMS logistic of the metric plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    metric = rng.uniform(25.0, 45.0, n)
    return metric, logistic_4(metric, *TRUE_PARAMS) + rng.normal(0.0, noise, n)


class TestLogistic4:
    def test_keeps_the_shape_of_its_input(self):
        assert logistic_4(30.0, *TRUE_PARAMS).shape == ()
        assert logistic_4(np.zeros((2, 3)), *TRUE_PARAMS).shape == (2, 3)

    def test_rises_from_b1_to_b2_through_the_midpoint_b3(self):
        x = np.linspace(0.0, 70.0, 200)
        y = logistic_4(x, *TRUE_PARAMS)
        assert np.all(np.diff(y) > 0)
        assert y[0] == pytest.approx(1.2, abs=1e-4) and y[-1] == pytest.approx(4.8, abs=1e-4)
        assert logistic_4(35.0, *TRUE_PARAMS) == pytest.approx(3.0)

    def test_falls_when_b2_is_below_b1_and_ignores_the_sign_of_b4(self):
        x = np.linspace(0.0, 70.0, 50)
        assert np.all(np.diff(logistic_4(x, 4.8, 1.2, 35.0, 2.5)) < 0)
        np.testing.assert_array_equal(logistic_4(x, 1, 5, 35, -2.5), logistic_4(x, 1, 5, 35, 2.5))


class TestFitLogistic:
    def test_recovers_known_parameters_from_noisy_data(self):
        metric, mos = synthetic(400, noise=0.1)
        fit = fit_logistic(metric, mos, higher_is_better=True)
        assert fit.converged
        np.testing.assert_allclose(fit.params, TRUE_PARAMS, rtol=0.08)

    def test_lower_is_better_fit_is_in_metric_units_and_rises_with_quality(self):
        metric, mos = synthetic(400, noise=0.1)
        fit = fit_logistic(-metric, mos, higher_is_better=False)
        np.testing.assert_allclose(fit.params, (4.8, 1.2, -35.0, 2.5), rtol=0.08)
        assert np.all(np.diff(fit.predict(np.linspace(-45.0, -25.0, 20))) < 0)

    def test_predicted_mos_never_falls_as_quality_rises(self):
        metric, mos = synthetic(60, noise=0.6)
        fit = fit_logistic(metric, mos, higher_is_better=True)
        assert np.all(np.diff(fit.predict(np.linspace(20.0, 50.0, 100))) >= 0)


class TestCorrelate:
    def test_statistics_match_scipy_and_the_p1401_formulas(self):
        metric, mos = synthetic(80, noise=0.3)
        mos = np.round(mos, 1)  # ties, as on a rating scale
        ci = np.full(80, 0.4)
        report = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=50)
        error = np.abs(mos - report.fit.predict(metric))
        assert report.n == 80
        assert report.plcc.value == pytest.approx(stats.pearsonr(report.fit.predict(metric), mos)[0])
        assert report.plcc_linear.value == pytest.approx(stats.pearsonr(metric, mos)[0])
        assert report.srocc.value == pytest.approx(stats.spearmanr(metric, mos)[0])
        assert report.krocc.value == pytest.approx(stats.kendalltau(metric, mos)[0])
        assert report.rmse.value == pytest.approx(np.sqrt(np.sum(error ** 2) / (80 - 4)))
        assert report.rmse_star.value == pytest.approx(np.sqrt(np.sum(np.maximum(error - 0.4, 0) ** 2) / 76))
        assert report.outlier_ratio.value == pytest.approx(np.mean(error > 0.4))

    def test_outlier_ratio_counts_pvss_outside_their_own_mos_ci(self):
        metric, mos = synthetic(100, noise=0.0)
        mos[::10] += 1.0  # 10 PVSs rated one point above the curve
        ci = np.full(100, 0.5)
        report = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=50)
        assert report.outlier_ratio.value == pytest.approx(0.1)

    def test_lower_is_better_metric_gets_positive_correlations(self):
        metric, mos = synthetic(60, noise=0.3)
        lpips_like = -metric / 100
        report = correlate(lpips_like, mos, higher_is_better=False, n_bootstrap=50)
        mirrored = correlate(-lpips_like, mos, higher_is_better=True, n_bootstrap=50)
        for name in ("plcc", "plcc_linear", "srocc", "krocc"):
            assert getattr(report, name).value > 0.7
            assert getattr(report, name).value == pytest.approx(getattr(mirrored, name).value, abs=1e-6)

    def test_wrong_direction_is_reported_negative_with_a_note(self):
        metric, mos = synthetic(60, noise=0.3)
        report = correlate(metric, mos, higher_is_better=False, n_bootstrap=50)
        assert report.srocc.value < 0 and report.plcc_linear.value < 0
        assert "check higher_is_better" in report.note

    def test_perfectly_monotone_data_gives_rank_correlations_of_one(self):
        metric = np.linspace(25.0, 45.0, 40)
        report = correlate(metric, logistic_4(metric, *TRUE_PARAMS), higher_is_better=True, n_bootstrap=50)
        assert report.srocc.value == 1.0 and report.krocc.value == 1.0
        assert report.srocc.ci95_low == pytest.approx(1.0)
        assert report.plcc.value == pytest.approx(1.0, abs=1e-6)
        assert report.rmse.value == pytest.approx(0.0, abs=1e-3)

    def test_bootstrap_ci_contains_the_estimate_and_narrows_with_more_pvss(self):
        ci = {}
        for n in (40, 400):
            metric, mos = synthetic(n, noise=0.4, seed=n)
            report = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=np.full(n, 0.3),
                               n_bootstrap=300)
            for name in correlation.STATISTICS:
                estimate = getattr(report, name)
                assert estimate.ci95_low <= estimate.value <= estimate.ci95_high, name
            ci[n] = report.plcc.ci95_high - report.plcc.ci95_low
        assert ci[400] < ci[40] / 2

    def test_non_finite_pvss_are_dropped_and_counted(self):
        metric, mos = synthetic(50, noise=0.3)
        clean = correlate(metric, mos, higher_is_better=True, n_bootstrap=50)
        with_holes = np.append(metric, [np.nan, 30.0, np.inf]), np.append(mos, [3.0, np.nan, 3.0])
        report = correlate(*with_holes, higher_is_better=True, n_bootstrap=50)
        assert report.n == 50
        assert "dropped 3 of 53 PVSs" in report.note
        assert report.plcc == clean.plcc and report.krocc == clean.krocc

    def test_same_seed_same_report_other_seed_other_intervals(self):
        metric, mos = synthetic(50, noise=0.3)
        ci = np.full(50, 0.3)  # no NaN in the report, so that == compares every number
        first = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=100, seed=7)
        again = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=100, seed=7)
        assert again == first
        other = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=100, seed=8)
        assert other.plcc.value == first.plcc.value
        assert other.plcc.ci95_low != first.plcc.ci95_low

    def test_without_mos_ci_the_outlier_ratio_is_nan_and_said_so(self):
        metric, mos = synthetic(30, noise=0.3)
        report = correlate(metric, mos, higher_is_better=True, n_bootstrap=50)
        assert np.isnan(report.outlier_ratio.value) and np.isnan(report.rmse_star.ci95_high)
        assert "no MOS confidence intervals" in report.note

    def test_a_fit_that_does_not_converge_gives_nan_mapped_statistics_with_the_reason(self, monkeypatch):
        def no_convergence(*args, **kwargs):
            raise RuntimeError("Optimal parameters not found")

        monkeypatch.setattr(correlation, "curve_fit", no_convergence)
        metric, mos = synthetic(30, noise=0.3)
        report = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=np.full(30, 0.3),
                           n_bootstrap=20)
        assert not report.fit.converged
        assert all(np.isnan(estimate.value) for estimate in (report.plcc, report.rmse, report.outlier_ratio))
        assert "did not converge (Optimal parameters not found)" in report.note
        assert report.srocc.value > 0.8
        with pytest.raises(CorrelationError, match="did not converge"):
            report.fit.predict(metric)

    @pytest.mark.parametrize(("metric", "mos", "kwargs", "message"), [
        ([1, 2, 3, np.nan, 5], [1, 2, 3, 4, 5], {}, "at least 5 PVSs"),
        ([3, 3, 3, 3, 3, 3], [1, 2, 3, 4, 5, 4], {}, "metric is constant"),
        ([1, 2, 3, 4, 5, 6], [3, 3, 3, 3, 3, 3], {}, "mos is constant"),
        ([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5], {}, "one value per PVS"),
        ([[1, 2, 3, 4, 5, 6]], [1, 2, 3, 4, 5, 6], {}, "must be 1-D"),
        ([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 4], {"mos_ci95_halfwidth": [-1] * 6}, "must not be negative"),
        ([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 4], {"n_bootstrap": 0}, "n_bootstrap"),
    ])
    def test_rejects_input_on_which_the_statistics_are_undefined(self, metric, mos, kwargs, message):
        with pytest.raises(CorrelationError, match=message):
            correlate(metric, mos, higher_is_better=True, **kwargs)


class TestWilliamsTest:
    def test_matches_the_published_depcor_example(self):
        # Silver, Hittner & May (2006), DEPCOR, as checked in the cocor R package's test suite:
        # r12 = .3, r13 = .4, r23 = .5, n = 100 -> t(97) = -1.0767, p = .2843.
        t, p = williams_test(0.3, 0.4, 0.5, 100)
        assert t == pytest.approx(-1.0767, abs=5e-5)
        assert p == pytest.approx(0.2843, abs=5e-5)

    def test_matches_steiger_1980_equation_7_written_out(self):
        r12, r13, r23, n = 0.82, 0.71, 0.64, 60
        det = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
        rbar = (r12 + r13) / 2
        expected = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / (2 * (n - 1) / (n - 3) * det
                                                                 + rbar ** 2 * (1 - r23) ** 3))
        t, p = williams_test(r12, r13, r23, n)
        assert t == pytest.approx(expected)
        assert p == pytest.approx(2 * stats.t.sf(expected, n - 3))

    def test_swapping_the_metrics_flips_t_and_keeps_p(self):
        t, p = williams_test(0.8, 0.7, 0.6, 40)
        assert williams_test(0.7, 0.8, 0.6, 40) == pytest.approx((-t, p))

    def test_equal_correlations_give_t_zero(self):
        assert williams_test(0.9, 0.9, 1.0, 50) == (0.0, 1.0)

    @pytest.mark.parametrize(("args", "message"), [
        ((0.5, 0.4, 0.3, 3), "n > 3"),
        ((1.2, 0.4, 0.3, 30), r"\[-1, 1\]"),
        ((0.9, -0.9, 0.9, 30), "correlation matrix"),
    ])
    def test_rejects_impossible_input(self, args, message):
        with pytest.raises(CorrelationError, match=message):
            williams_test(*args)


class TestCompareMetrics:
    def test_finds_the_clearly_better_metric_but_not_a_duplicate(self):
        metric, mos = synthetic(150, noise=0.2)
        rng = np.random.default_rng(1)
        good = fit_logistic(metric, mos, higher_is_better=True).predict(metric)
        poor_metric = metric + rng.normal(0, 5, metric.size)
        poor = fit_logistic(poor_metric, mos, higher_is_better=True).predict(poor_metric)
        table = compare_metrics({"poor": poor, "good": good, "good_copy": good.copy(),
                                 "good_jitter": good + rng.normal(0, 1e-3, good.size)}, mos)
        assert list(table.columns) == ["metric_a", "metric_b", "n", "r_a", "r_b", "r_ab", "t", "p",
                                       "significant"]
        assert len(table) == 6
        pair = table.set_index(["metric_a", "metric_b"])
        assert pair.loc[("good", "poor"), "significant"] and pair.loc[("good", "poor"), "p"] < 0.05
        assert pair.loc[("good", "good_copy"), "p"] == 1.0
        twins = table[table.metric_a.str.startswith("good") & table.metric_b.str.startswith("good")]
        assert not twins.significant.any()

    def test_a_constant_prediction_is_named(self):
        _, mos = synthetic(20, noise=0.2)
        with pytest.raises(CorrelationError, match=r"predictions\['flat'\] is constant"):
            compare_metrics({"flat": np.full(20, 3.0), "other": mos + 0.1}, mos)


class TestCorrelationTable:
    def test_one_ranked_row_per_metric_and_a_reason_for_an_unusable_one(self):
        metric, mos = synthetic(60, noise=0.3)
        rng = np.random.default_rng(2)
        data = pd.DataFrame({
            "mos": mos, "mos_ci95_halfwidth": 0.3, "psnr": metric,
            "lpips": -metric / 100 + rng.normal(0, 0.05, 60), "noisy": metric + rng.normal(0, 8, 60),
            "unavailable": np.nan,
        })
        table = correlation_table(data, n_bootstrap=50, metrics={
            "noisy": True, "unavailable": True, "lpips": False, "psnr": True})
        assert list(table.metric) == ["psnr", "lpips", "noisy", "unavailable"]
        assert list(table["rank"][:3]) == [1, 2, 3] and pd.isna(table["rank"][3])
        assert "at least 5 PVSs" in table.note[3]
        assert table.plcc[:3].is_monotonic_decreasing
        for name in ("plcc", "plcc_linear", "srocc", "krocc", "rmse", "rmse_star", "outlier_ratio"):
            assert {name, f"{name}_low", f"{name}_high"} <= set(table.columns)
        assert table.outlier_ratio.notna()[:3].all()

    def test_a_missing_column_is_an_error(self):
        with pytest.raises(CorrelationError, match="no column"):
            correlation_table(pd.DataFrame({"mos": [1.0, 2.0]}), metrics={"vmaf": True})


def test_a_pvs_without_a_ci_counts_everywhere_but_in_the_outlier_ratio():
    rng = np.random.default_rng(3)
    metric = np.linspace(0, 1, 12)
    mos = 1 + 4 * metric + rng.normal(0, 0.2, 12)
    halfwidth = np.full(12, 0.3)
    halfwidth[0] = np.nan  # one vote: no interval
    report = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=halfwidth, n_bootstrap=50)
    full = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=np.full(12, 0.3), n_bootstrap=50)
    assert report.n == 12 and report.plcc.value == full.plcc.value
    errors = np.abs(mos - report.fit.predict(metric))[1:]
    assert report.outlier_ratio.value == pytest.approx(np.mean(errors > 0.3))


def clustered(n_src: int = 12, n_hrc: int = 6, src_sd: float = 0.5, noise: float = 0.15,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(metric, mos, src) of n_src x n_hrc PVSs: the HRCs span the metric range, and each SRC shifts the
    MOS of all its PVSs by one N(0, src_sd) draw the metric does not see (content the metric misjudges)."""
    rng = np.random.default_rng(seed)
    metric = np.tile(np.linspace(27.0, 43.0, n_hrc), n_src) + rng.normal(0, 1.0, n_src * n_hrc)
    src = np.repeat([f"src{k}" for k in range(n_src)], n_hrc)
    effect = np.repeat(rng.normal(0, src_sd, n_src), n_hrc)
    return metric, logistic_4(metric, *TRUE_PARAMS) + effect + rng.normal(0, noise, metric.size), src


def width(estimate) -> float:
    return estimate.ci95_high - estimate.ci95_low


class TestClusterBootstrap:
    def test_resampling_srcs_widens_the_intervals_when_srcs_shift_the_mos(self):
        metric, mos, src = clustered()
        pvs = correlate(metric, mos, higher_is_better=True, n_bootstrap=300)
        by_src = correlate(metric, mos, higher_is_better=True, n_bootstrap=300, clusters=src)
        assert by_src.plcc.value == pvs.plcc.value and by_src.rmse.value == pvs.rmse.value
        assert width(by_src.plcc) > 1.3 * width(pvs.plcc)
        assert width(by_src.rmse) > 1.3 * width(pvs.rmse)
        for name in correlation.STATISTICS[:5]:
            estimate = getattr(by_src, name)
            assert estimate.ci95_low <= estimate.value <= estimate.ci95_high, name

    def test_without_src_effects_it_is_about_as_wide_as_the_pvs_bootstrap(self):
        metric, mos, src = clustered(src_sd=0.0, noise=0.4, seed=1)
        pvs = correlate(metric, mos, higher_is_better=True, n_bootstrap=300)
        by_src = correlate(metric, mos, higher_is_better=True, n_bootstrap=300, clusters=src)
        assert 0.6 < width(by_src.plcc) / width(pvs.plcc) < 1.5

    def test_same_seed_same_report_other_seed_other_intervals(self):
        metric, mos, src = clustered()
        ci = np.full(metric.size, 0.3)
        first = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=100, seed=4,
                          clusters=src)
        again = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=100, seed=4,
                          clusters=list(src))
        assert again == first
        other = correlate(metric, mos, higher_is_better=True, mos_ci95_halfwidth=ci, n_bootstrap=100, seed=5,
                          clusters=src)
        assert other.plcc.ci95_low != first.plcc.ci95_low

    def test_srcs_of_unequal_size_and_integer_labels(self):
        rng = np.random.default_rng(6)
        sizes = [3, 8, 5, 6, 4, 7, 2, 5]
        labels = np.repeat(np.arange(len(sizes)), sizes)
        metric = rng.uniform(25, 45, labels.size)
        mos = logistic_4(metric, *TRUE_PARAMS) + rng.normal(0, 0.3, len(sizes))[labels]
        report = correlate(metric, mos, higher_is_better=True, n_bootstrap=200, clusters=labels)
        assert report.plcc.ci95_low <= report.plcc.value <= report.plcc.ci95_high
        assert np.isfinite(report.srocc.ci95_low)

    def test_a_dropped_pvs_takes_its_label_with_it(self):
        metric, mos, src = clustered()
        holes = metric.copy()
        holes[[0, 7, 40]] = np.nan
        keep = np.isfinite(holes)
        with_holes = correlate(holes, mos, higher_is_better=True, n_bootstrap=100, clusters=src)
        clean = correlate(metric[keep], mos[keep], higher_is_better=True, n_bootstrap=100, clusters=src[keep])
        assert with_holes.plcc == clean.plcc and with_holes.srocc == clean.srocc

    @pytest.mark.parametrize(("clusters", "message"), [
        (["a"] * 30, "at least 2 SRCs"),
        (["a", "b"] * 14, "one value per PVS"),
        (["a", None] * 15, "missing label"),
        ([["a", "b"] * 15], "must be 1-D"),
    ])
    def test_rejects_labels_it_cannot_use(self, clusters, message):
        metric, mos = synthetic(30, noise=0.3)
        with pytest.raises(CorrelationError, match=message):
            correlate(metric, mos, higher_is_better=True, n_bootstrap=10, clusters=clusters)

    def test_correlation_table_passes_the_labels_on_and_checks_their_length(self):
        metric, mos, src = clustered()
        data = pd.DataFrame({"mos": mos, "psnr": metric})
        plain = correlation_table(data, metrics={"psnr": True}, n_bootstrap=200)
        by_src = correlation_table(data, metrics={"psnr": True}, n_bootstrap=200, clusters=src)
        assert by_src.plcc[0] == plain.plcc[0]
        assert by_src.plcc_high[0] - by_src.plcc_low[0] > 1.3 * (plain.plcc_high[0] - plain.plcc_low[0])
        with pytest.raises(CorrelationError, match="one SRC label per row"):
            correlation_table(data, metrics={"psnr": True}, n_bootstrap=10, clusters=src[:-1])


class TestHolm:
    def test_matches_the_step_down_worked_by_hand(self):
        # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept monotone: 0.06
        np.testing.assert_allclose(correlation.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])

    def test_caps_at_one_and_leaves_nan_out_of_the_count(self):
        np.testing.assert_allclose(correlation.holm([0.6, 0.7]), [1.0, 1.0])
        np.testing.assert_allclose(correlation.holm([0.02, np.nan, 0.5]), [0.04, np.nan, 0.5])
        assert correlation.holm([]).size == 0

    def test_rejects_what_is_not_a_p_value(self):
        with pytest.raises(CorrelationError, match=r"\[0, 1\]"):
            correlation.holm([0.2, 1.5])


class TestCompareMetricsOptions:
    @staticmethod
    def predictions(metric, mos, seed=1):
        rng = np.random.default_rng(seed)
        poor_metric = metric + rng.normal(0, 5, metric.size)
        return {"good": fit_logistic(metric, mos, higher_is_better=True).predict(metric),
                "poor": fit_logistic(poor_metric, mos, higher_is_better=True).predict(poor_metric),
                "jitter": metric + rng.normal(0, 0.5, metric.size)}

    def test_holm_adjusts_every_pair_and_decides_from_the_adjusted_p(self, monkeypatch):
        # three pairs with p = 0.01, 0.04, 0.03: all below 0.05 raw, Holm-adjusted 0.03, 0.06, 0.06
        p_values = iter([0.01, 0.04, 0.03])
        monkeypatch.setattr(correlation, "williams_test", lambda *args: (1.0, next(p_values)))
        metric, mos = synthetic(60, noise=0.3)
        table = compare_metrics(self.predictions(metric, mos), mos, correction="holm")
        assert list(table.columns) == ["metric_a", "metric_b", "n", "r_a", "r_b", "r_ab", "t", "p", "p_holm",
                                       "significant"]
        np.testing.assert_allclose(table.p, [0.01, 0.04, 0.03])
        np.testing.assert_allclose(table.p_holm, [0.03, 0.06, 0.06])
        assert table.significant.tolist() == [True, False, False]

    def test_without_correction_the_table_is_unchanged(self):
        metric, mos = synthetic(60, noise=0.3)
        predictions = self.predictions(metric, mos)
        pd.testing.assert_frame_equal(compare_metrics(predictions, mos, correction=None),
                                      compare_metrics(predictions, mos))

    def test_bootstrap_interval_of_the_plcc_difference_widens_when_one_metric_misjudges_whole_srcs(self):
        metric, mos, src = clustered(src_sd=0.0, noise=0.15)
        rng = np.random.default_rng(10)
        other = metric + np.repeat(rng.normal(0, 4.0, 12), 6)  # one error per SRC, shared by its 6 PVSs
        predictions = {"a": fit_logistic(metric, mos, higher_is_better=True).predict(metric),
                       "b": fit_logistic(other, mos, higher_is_better=True).predict(other)}
        pvs = compare_metrics(predictions, mos, n_bootstrap=400, seed=3)
        by_src = compare_metrics(predictions, mos, n_bootstrap=400, seed=3, clusters=src)
        assert list(pvs.columns[6:9]) == ["r_diff", "r_diff_low", "r_diff_high"]
        row, src_row = pvs.iloc[0], by_src.iloc[0]
        assert row.r_diff == pytest.approx(row.r_a - row.r_b)
        assert row.r_diff_low <= row.r_diff <= row.r_diff_high
        assert (src_row.r_diff_high - src_row.r_diff_low) > 1.15 * (row.r_diff_high - row.r_diff_low)
        again = compare_metrics(predictions, mos, n_bootstrap=400, seed=3, clusters=src)
        pd.testing.assert_frame_equal(again, by_src)

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"correction": "bonferroni"}, "unknown correction"),
        ({"clusters": ["a", "b"] * 15}, "give n_bootstrap > 0"),
        ({"n_bootstrap": -1}, "must not be negative"),
    ])
    def test_rejects_bad_options(self, kwargs, message):
        metric, mos = synthetic(30, noise=0.3)
        with pytest.raises(CorrelationError, match=message):
            compare_metrics(self.predictions(metric, mos), mos, **kwargs)
