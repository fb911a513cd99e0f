"""Metric evaluation from raw votes: studies.evaluation.evaluate_metrics and the evaluate_metrics command."""
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from scipy import stats

from studies import evaluation, krasula
from studies.correlation import correlate, holm, logistic_4
from studies.evaluation import EvaluationError, evaluate_metrics

N_SRC, N_HRC, N_SUBJECTS = 5, 4, 8


def study(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(votes, scores) of N_SRC x N_HRC stimuli named SRC/HRC, ACR votes around a true quality, three
    metrics: good (PSNR-like), lpips (lower is better) and noisy."""
    rng = np.random.default_rng(seed)
    names = [f"src{s}/hrc{h}" for s in range(N_SRC) for h in range(N_HRC)]
    quality = rng.uniform(1.5, 4.5, len(names))
    votes = pd.DataFrame([
        {"subject": f"p{subject}", "stimulus": name, "vote": float(np.clip(np.round(q + rng.normal(0, 0.7)), 1, 5))}
        for name, q in zip(names, quality, strict=True) for subject in range(N_SUBJECTS)
    ])
    scores = pd.DataFrame({"stimulus": names, "good": 30 + 4 * quality + rng.normal(0, 0.5, len(names)),
                           "lpips": 1 - quality / 5 + rng.normal(0, 0.1, len(names)),
                           "noisy": 30 + 4 * quality + rng.normal(0, 4, len(names))})
    return votes, scores


def run(votes, scores, **kwargs):
    return evaluate_metrics(votes, scores, **({"lower_is_better": ["lpips"], "n_bootstrap": 60} | kwargs))


class TestEvaluateMetrics:
    def test_one_row_per_metric_with_every_statistic(self):
        votes, scores = study()
        result = run(votes, scores)
        metrics = result.metrics.set_index("metric")
        assert list(metrics.index) == ["good", "lpips", "noisy"]  # ranked by PLCC
        assert metrics["higher_is_better"].tolist() == [True, False, True]
        for column in ("plcc", "srocc", "krocc", "rmse", "outlier_ratio", "auc_ds", "auc_bw"):
            assert {column, f"{column}_low", f"{column}_high"} <= set(metrics.columns)
            assert metrics[column].notna().all(), column
        for column in ("cc0", "thr", "resolving_power", "n_pairs_different", "n_pairs_similar"):
            assert metrics[column].notna().all(), column
        assert metrics.loc["lpips", "plcc"] > 0.8  # lower-is-better turned round
        assert metrics.loc["good", "auc_bw"] > metrics.loc["noisy", "auc_bw"]
        assert metrics.loc["good", "resolving_power"] < metrics.loc["noisy", "resolving_power"]
        assert (metrics["bootstrap"] == "pvs").all() and result.notes == ()

    def test_the_mos_is_the_mean_vote_with_a_student_t_interval(self):
        votes = pd.DataFrame({"subject": ["a", "b", "c", "a"], "stimulus": ["x/1", "x/1", "x/1", "y/1"],
                              "vote": [1, 2, 3, 4]})
        table = evaluation.stimulus_table(votes)
        assert table["stimulus"].tolist() == ["x/1", "y/1"] and table["src"].tolist() == ["x", "y"]
        assert table["mos"].tolist() == [2.0, 4.0] and table["n_votes"].tolist() == [3, 1]
        assert table["mos_ci95_halfwidth"][0] == pytest.approx(stats.t.ppf(0.975, 2) / np.sqrt(3))
        assert np.isnan(table["mos_ci95_halfwidth"][1])

    def test_values_are_those_of_the_statistics_modules_on_the_same_data(self):
        votes, scores = study()
        result = run(votes, scores)
        row = result.metrics.set_index("metric").loc["lpips"]
        mos = votes.groupby("stimulus", sort=False)["vote"].mean().loc[scores["stimulus"]].to_numpy()
        report = correlate(scores["lpips"], mos, higher_is_better=False, n_bootstrap=60)
        assert row["plcc"] == report.plcc.value and row["plcc_low"] == report.plcc.ci95_low
        vote_arrays = [votes.loc[votes.stimulus == name, "vote"].to_numpy() for name in scores["stimulus"]]
        measures = krasula.krasula(vote_arrays, -scores["lpips"].to_numpy())
        assert row["auc_ds"] == measures.auc_ds[0] and row["auc_bw"] == measures.auc_bw[0]
        assert row["cc0"] == measures.cc0[0] and row["thr"] == measures.thr[0]
        assert (row["auc_bw_low"], row["auc_bw_high"]) == measures.auc_interval("bw", 0)
        mapped = logistic_4(scores["lpips"].to_numpy(), *report.fit.params)
        assert row["resolving_power"] == pytest.approx(krasula.resolving_power(vote_arrays, mapped))

    def test_comparisons_have_williams_and_krasula_tests_for_every_pair(self):
        votes, scores = study()
        comparisons = run(votes, scores).comparisons
        assert len(comparisons) == 3
        assert list(comparisons.columns) == [
            "metric_a", "metric_b", "n", "r_a", "r_b", "r_ab", "r_diff", "r_diff_low", "r_diff_high", "t",
            "p_williams", "significant_williams",
            "auc_ds_a", "auc_ds_b", "p_auc_ds", "significant_auc_ds",
            "auc_bw_a", "auc_bw_b", "p_auc_bw", "significant_auc_bw",
            "cc0_a", "cc0_b", "p_cc0", "significant_cc0",
        ]
        pair = comparisons.set_index(["metric_a", "metric_b"]).loc[("good", "noisy")]
        assert pair["significant_williams"] and pair["auc_bw_a"] > pair["auc_bw_b"]
        assert (comparisons["significant_auc_bw"] == (comparisons["p_auc_bw"] < 0.05)).all()

    def test_holm_adjusts_each_family_and_decides_from_the_adjusted_p(self):
        votes, scores = study()
        comparisons = run(votes, scores, correction="holm").comparisons
        for test in ("williams", "auc_ds", "auc_bw", "cc0"):
            adjusted = comparisons[f"p_{test}_holm"].to_numpy()
            np.testing.assert_allclose(adjusted, holm(comparisons[f"p_{test}"].to_numpy()))
            assert (comparisons[f"significant_{test}"] == (adjusted < 0.05)).all()

    def test_cluster_bootstrap_resamples_the_srcs(self):
        votes, scores = study()
        plain, by_src = run(votes, scores), run(votes, scores, cluster_bootstrap=True)
        assert (by_src.metrics["bootstrap"] == "src").all()
        pd.testing.assert_series_equal(plain.metrics["plcc"], by_src.metrics["plcc"])
        mos = votes.groupby("stimulus", sort=False)["vote"].mean().loc[scores["stimulus"]].to_numpy()
        src = scores["stimulus"].str.split("/").str[0].to_numpy()
        report = correlate(scores["good"], mos, higher_is_better=True, n_bootstrap=60, clusters=src)
        assert by_src.metrics.set_index("metric").loc["good", "plcc_low"] == report.plcc.ci95_low

    def test_a_reference_column_names_the_src(self):
        votes, scores = study()
        votes["reference"] = np.where(votes["stimulus"].str.startswith("src0/"), "A", "B")
        result = run(votes, scores)
        assert set(result.stimuli["src"]) == {"A", "B"}

    def test_missing_scores_and_thin_votes_are_left_out_and_said(self):
        votes, scores = study()
        scores.loc[3, "noisy"] = np.nan
        extra = pd.DataFrame({"subject": ["p0", "p1"], "stimulus": ["src9/hrc0", "src9/hrc0"], "vote": [3, 4]})
        votes = pd.concat([votes[~((votes.stimulus == "src1/hrc1") & (votes.subject != "p0"))], extra])
        result = run(votes, scores)
        metrics = result.metrics.set_index("metric")
        assert metrics.loc["noisy", "n"] == 19 and metrics.loc["good", "n"] == 20
        assert metrics.loc["good", "n_krasula"] == 19 and metrics.loc["noisy", "n_krasula"] == 18
        assert "1 voted stimuli have no scores" in result.notes[0]
        assert "1 stimuli with fewer than 2 votes" in result.notes[1]

    @pytest.mark.parametrize(("change", "message"), [
        (lambda v, s: (v.drop(columns="vote"), s), "votes: missing column"),
        (lambda v, s: (v.assign(vote="good"), s), "vote is not a finite number"),
        (lambda v, s: (v.assign(subject=""), s), "empty subject"),
        (lambda v, s: (v.iloc[:0], s), "empty"),
        (lambda v, s: (v.assign(reference=np.arange(len(v)).astype(str)), s), "more than one reference"),
        (lambda v, s: (v, s.drop(columns="stimulus")), "scores: missing column stimulus"),
        (lambda v, s: (v, s[["stimulus"]]), "no metric columns"),
        (lambda v, s: (v, s.assign(noisy="n/a")), "noisy is not a number"),
        (lambda v, s: (v, pd.concat([s, s.iloc[:1]])), "more than one row"),
        (lambda v, s: (v, pd.concat([s, s.iloc[:1].assign(stimulus="ghost/hrc0")])), "have no votes.*'ghost/hrc0'"),
    ])
    def test_rejects_tables_it_cannot_evaluate(self, change, message):
        with pytest.raises(EvaluationError, match=message):
            run(*change(*study()))

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"lower_is_better": ["vmaf"]}, "vmaf are not columns"),
        ({"correction": "bonferroni"}, "unknown correction"),
        ({"pair_test": "anova"}, "unknown pair test"),
        ({"n_bootstrap": 0}, "n_bootstrap must be at least 1"),
    ])
    def test_rejects_unknown_options(self, kwargs, message):
        with pytest.raises(EvaluationError, match=message):
            run(*study(), **kwargs)


@pytest.fixture
def csvs(tmp_path):
    votes, scores = study()
    votes.to_csv(tmp_path / "votes.csv", index=False)
    scores.to_csv(tmp_path / "scores.csv", index=False)
    return tmp_path / "votes.csv", tmp_path / "scores.csv"


def command(votes, scores, out, *options) -> str:
    printed = StringIO()
    call_command("evaluate_metrics", "--votes", str(votes), "--scores", str(scores), "--out", str(out),
                 "--bootstrap", "40", *options, stdout=printed)
    return printed.getvalue()


class TestEvaluateMetricsCommand:
    def test_writes_metrics_and_comparisons_and_says_so(self, csvs, tmp_path):
        out = tmp_path / "out"
        printed = command(*csvs, out, "--lower-is-better", "lpips")
        assert sorted(path.name for path in out.iterdir()) == ["comparisons.csv", "metrics.csv"]
        metrics = pd.read_csv(out / "metrics.csv")
        assert metrics["metric"].tolist() == ["good", "lpips", "noisy"]
        assert metrics["plcc"].gt(0).all() and (metrics["bootstrap"] == "pvs").all()
        assert len(pd.read_csv(out / "comparisons.csv")) == 3
        assert "3 metrics on 20 stimuli (5 SRCs), 40 PVS bootstrap resamples" in printed

    def test_options_reach_the_evaluation(self, csvs, tmp_path):
        out = tmp_path / "out"
        command(*csvs, out, "--cluster-bootstrap", "--holm", "--seed", "3", "--pair-test", "z2")
        metrics = pd.read_csv(out / "metrics.csv")
        assert (metrics["bootstrap"] == "src").all()
        assert metrics.set_index("metric").loc["lpips", "plcc"] < 0  # not declared lower-is-better
        assert {"p_williams_holm", "p_auc_bw_holm"} <= set(pd.read_csv(out / "comparisons.csv").columns)
        votes, scores = study()
        expected = evaluate_metrics(votes, scores, n_bootstrap=40, seed=3, cluster_bootstrap=True,
                                    correction="holm", pair_test="z2")
        np.testing.assert_allclose(metrics["plcc_low"], expected.metrics["plcc_low"])
        np.testing.assert_allclose(metrics["auc_ds"], expected.metrics["auc_ds"])

    def test_missing_column_is_a_command_error_and_nothing_is_written(self, csvs, tmp_path):
        votes, scores = csvs
        pd.read_csv(votes).drop(columns="subject").to_csv(votes, index=False)
        with pytest.raises(CommandError, match="votes: missing column"):
            command(votes, scores, tmp_path / "out")
        assert not (tmp_path / "out").exists()

    def test_scored_stimuli_without_votes_are_a_command_error(self, csvs, tmp_path):
        votes, scores = csvs
        table = pd.read_csv(scores)
        pd.concat([table, table.iloc[:1].assign(stimulus="ghost/hrc9")]).to_csv(scores, index=False)
        with pytest.raises(CommandError, match="in scores have no votes, e.g. 'ghost/hrc9'"):
            command(votes, scores, tmp_path / "out")

    @pytest.mark.parametrize("content", [None, b"", b"\xff\xfe\x00\x81garbage\n\x00"])
    def test_unreadable_files_are_a_command_error(self, csvs, tmp_path, content):
        votes, scores = csvs
        if content is None:
            votes.unlink()
        else:
            votes.write_bytes(content)
        with pytest.raises(CommandError, match=f"cannot read {votes}"):
            command(votes, scores, tmp_path / "out")

    def test_an_unwritable_output_is_a_command_error(self, csvs, tmp_path):
        (tmp_path / "taken").write_text("a file, not a folder")
        with pytest.raises(CommandError, match="cannot write to"):
            command(*csvs, tmp_path / "taken")

    def test_bootstrap_must_be_positive(self, csvs, tmp_path):
        with pytest.raises(CommandError, match="--bootstrap must be at least 1"):
            call_command("evaluate_metrics", "--votes", str(csvs[0]), "--scores", str(csvs[1]),
                         "--out", str(tmp_path / "out"), "--bootstrap", "0")
