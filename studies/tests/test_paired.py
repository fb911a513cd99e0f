"""Pair comparison votes and their Thurstone / Bradley–Terry scaling (studies.paired, Django-free)."""

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy import special

from studies import paired
from studies.analysis import VotesError
from studies.paired import PairVotesError


def _votes(rows):
    """A pair votes table from (subject, a, b, preferred) tuples."""
    return pd.DataFrame(rows, columns=["subject", "stimulus_a", "stimulus_b", "preferred"])


def _from_counts(names, counts, *, rng=None):
    """Pair votes that realise ``counts`` (counts[i, j] = times i preferred to j), one subject per choice.

    With ``rng`` each choice is shown in a random order, else the winner first.
    """
    rows = []
    for i, j in zip(*np.nonzero(counts), strict=True):
        for k in range(int(counts[i, j])):
            a, b = (names[i], names[j]) if rng is None or rng.random() < 0.5 else (names[j], names[i])
            rows.append((f"p{len(rows)}", a, b, names[i]))
    return _votes(rows)


def _thurstone_counts(truth, per_pair, rng):
    """Simulated Thurstone Case V counts: every pair ``per_pair`` times, P(i over j) = Phi(t_i - t_j)."""
    n = len(truth)
    counts = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            wins = rng.binomial(per_pair, special.ndtr(truth[i] - truth[j]))
            counts[i, j], counts[j, i] = wins, per_pair - wins
    return counts


SMALL = _votes([
    ("s1", "x/REF", "x/h1", "x/REF"), ("s2", "x/h1", "x/REF", "x/h1"), ("s3", "x/REF", "x/h1", "x/REF"),
    ("s1", "x/h1", "x/h2", "x/h1"), ("s2", "x/h2", "x/h1", "x/h2"), ("s3", "x/h2", "x/REF", "x/REF"),
    ("s1", "x/REF", "x/h2", "x/h2"),
])


class TestValidatePairVotes:
    """Every malformed table is refused with a message that names the problem and the row."""

    def test_a_valid_table_gets_defaults_and_a_preferred(self):
        frame = paired.validate_pair_votes(SMALL)
        assert list(frame.columns[:5]) == ["subject", "stimulus_a", "stimulus_b", "preferred", "repetition"]
        assert frame["repetition"].eq(0).all()
        assert frame["a_preferred"].tolist() == [True, True, True, True, True, False, False]
        assert frame["src"].eq("x").all()

    def test_error_class_is_a_votes_error(self):
        assert issubclass(PairVotesError, VotesError)

    @pytest.mark.parametrize(("rows", "message"), [
        ([("s1", "x/a", "x/b", "x/c")], r"preferred is neither stimulus_a nor stimulus_b .* data row 1"),
        ([("s1", "x/a", "x/a", "x/a")], "compared with itself"),
        ([("s1", "x/a", "y/b", "x/a")], "two SRCs"),
        ([("s1", "a", "b", "a")], "not named SRC/HRC"),
        ([("s1", "x/a", "x/b", "x/a"), ("s1", "x/a", "x/b", "x/b")], "share .*repetition"),
        ([("", "x/a", "x/b", "x/a")], "empty subject"),
    ])
    def test_malformed_rows(self, rows, message):
        with pytest.raises(PairVotesError, match=message):
            paired.validate_pair_votes(_votes(rows))

    def test_missing_column_and_empty_table(self):
        with pytest.raises(PairVotesError, match="missing column.*preferred"):
            paired.validate_pair_votes(SMALL.drop(columns="preferred"))
        with pytest.raises(PairVotesError, match="empty"):
            paired.validate_pair_votes(SMALL.iloc[:0])

    def test_repetition_distinguishes_repeated_choices(self):
        rows = _votes([("s1", "x/a", "x/b", "x/a"), ("s1", "x/a", "x/b", "x/b")]).assign(repetition=[0, 1])
        assert len(paired.validate_pair_votes(rows)) == 2
        with pytest.raises(PairVotesError, match="repetition must be a whole number"):
            paired.validate_pair_votes(rows.assign(repetition=[0, 0.5]))

    def test_csv_with_numeric_looking_names(self, tmp_path):
        path = tmp_path / "pairs.csv"
        path.write_text("subject,stimulus_a,stimulus_b,preferred\n007,1/2,1/3,1/3\n")
        frame = paired.read_pair_votes_csv(path)
        assert frame["subject"].tolist() == ["007"] and not frame["a_preferred"].iloc[0]


class TestPreferenceCounts:
    def test_counts_per_src_in_order_of_appearance(self):
        names, counts = paired.preference_counts(SMALL)["x"]
        assert names == ["x/REF", "x/h1", "x/h2"]
        np.testing.assert_array_equal(counts, [[0, 2, 1], [1, 0, 1], [1, 1, 0]])


class TestSurealDataset:
    """The dataset is JSON, and sureal's reader finds in it exactly the counts of the votes."""

    def test_round_trip_through_json_and_sureal_reader(self):
        votes = pd.concat([SMALL.assign(repetition=0), _votes([("s1", "x/REF", "x/h1", "x/h1")]).assign(repetition=1)])
        dataset = json.loads(json.dumps(paired.sureal_pc_dataset(votes, dataset_name="small")))
        assert dataset["dataset_name"] == "small"
        assert dataset["ref_videos"] == [{"content_id": 0, "content_name": "x", "path": "x/REF"}]
        assert [video["path"] for video in dataset["dis_videos"]] == ["x/REF", "x/h1", "x/h2"]
        reader = paired.sureal_pc_reader(dataset)
        with contextlib.redirect_stdout(io.StringIO()):
            counts = np.nansum(reader.opinion_score_3darray, axis=2)
        np.testing.assert_array_equal(counts, [[0, 2, 1], [2, 0, 1], [1, 1, 0]])
        observers = {entry[0] for video in dataset["dis_videos"] for entry in video["os"]}
        assert observers == {"s1", "s2", "s3", "s1#2"}  # s1 compared REF with h1 twice


class TestScalePairs:
    def test_thurstone_matches_sureal_and_anchors_the_reference(self):
        from sureal.pc_subjective_model import ThurstoneMlePairedCompSubjectiveModel

        rng = np.random.default_rng(3)
        names = ["x/h1", "x/REF", "x/h2", "x/h3"]
        counts = _thurstone_counts(np.array([0.0, 1.0, 0.5, -0.4]), 12, rng)
        result = paired.scale_pairs(_from_counts(names, counts, rng=rng), model="thurstone")
        with contextlib.redirect_stdout(io.StringIO()):
            expected = np.asarray(ThurstoneMlePairedCompSubjectiveModel.resolve_model(counts)[0])
        scores = result.scores.set_index("stimulus")
        np.testing.assert_allclose(scores.loc[names, "scale"], expected - expected[1], atol=1e-4)
        assert scores.loc["x/REF", "scale"] == 0 and scores.loc["x/REF", "scale_std"] == 0
        assert (scores["anchor"] == "x/REF").all()
        assert scores.loc[names, "n_comparisons"].tolist() == [36, 36, 36, 36]
        assert scores.loc[names, "n_preferred"].tolist() == counts.sum(axis=1).astype(int).tolist()
        assert result.model_version.startswith("sureal-") and "THURSTONE_MLE" in result.model_version
        half = scores["ci95_high"] - scores["scale"]
        np.testing.assert_allclose(half, 1.95996 * scores["scale_std"])

    def test_bradley_terry_matches_a_direct_logistic_fit(self):
        from scipy.optimize import minimize

        rng = np.random.default_rng(4)
        names = ["y/REF", "y/a", "y/b"]
        counts = _thurstone_counts(np.array([0.8, 0.0, -0.5]), 15, rng)
        scores = paired.scale_pairs(_from_counts(names, counts), model="bradley-terry").scores

        def negative_log_likelihood(free):
            v = np.concatenate([[0.0], free])
            return -np.sum(counts * special.log_expit(v[:, None] - v[None, :]))

        direct = minimize(negative_log_likelihood, np.zeros(2), method="BFGS").x
        np.testing.assert_allclose(scores["scale"].to_numpy(), [0.0, *direct], atol=1e-3)

    def test_without_reference_the_first_stimulus_is_the_anchor(self):
        votes = _votes([("s1", "z/b", "z/a", "z/b"), ("s2", "z/a", "z/b", "z/a"), ("s3", "z/a", "z/b", "z/a")])
        scores = paired.scale_pairs(votes).scores
        assert scores["stimulus"].tolist() == ["z/b", "z/a"] and (scores["anchor"] == "z/b").all()
        assert scores["scale"].iloc[0] == 0 and scores["scale"].iloc[1] > 0  # a won 2 of 3

    @pytest.mark.parametrize("model", paired.PAIR_MODELS)
    def test_standard_errors_match_the_spread_of_estimates(self, model):
        """Over simulated data sets the reported error equals the spread of the estimates (within 20 %)."""
        rng = np.random.default_rng(7)
        names = ["q/REF", "q/a", "q/b", "q/c"]
        truth = np.array([1.0, 0.6, 0.0, -0.3])
        estimates, errors = [], []
        while len(estimates) < 150:
            counts = _thurstone_counts(truth, 12, rng)
            try:
                paired._check_connected(names, counts)
            except PairVotesError:
                continue  # no finite maximum-likelihood scale: scale_pairs refuses such data
            spec = paired.PAIR_REGISTRY[model]
            v = paired._fit(spec, counts)
            estimates.append(v - v[0])
            errors.append(paired.anchored_standard_errors(v, counts, model=model, anchor=0))
        spread = np.std(estimates, axis=0)[1:]
        reported = np.mean(errors, axis=0)[1:]
        np.testing.assert_allclose(reported, spread, rtol=0.2)

    def test_separation_is_refused_unless_a_pseudo_count_is_given(self):
        votes = _votes([("s1", "x/REF", "x/a", "x/REF"), ("s2", "x/a", "x/REF", "x/REF"),
                        ("s1", "x/a", "x/b", "x/a"), ("s2", "x/b", "x/a", "x/b")])
        with pytest.raises(PairVotesError, match="'x': x/REF won every comparison.*pseudo-count"):
            paired.scale_pairs(votes)
        scores = paired.scale_pairs(votes, pseudo_count=0.5).scores.set_index("stimulus")
        assert scores.loc["x/a", "scale"] < 0 and np.isfinite(scores["scale_std"]).all()
        assert scores.loc["x/REF", "n_comparisons"] == 2  # the pseudo-counts are not reported as comparisons

    def test_disconnected_stimuli_are_refused(self):
        votes = _votes([("s1", "x/a", "x/b", "x/a"), ("s2", "x/b", "x/a", "x/a"), ("s3", "x/b", "x/a", "x/b"),
                        ("s1", "x/c", "x/d", "x/c"), ("s2", "x/d", "x/c", "x/d")])
        with pytest.raises(PairVotesError, match="x/c, x/d never compared.*with x/a"):
            paired.scale_pairs(votes)

    def test_srcs_are_scaled_apart(self):
        both = pd.concat([
            _votes([("s1", "x/a", "x/REF", "x/a"), ("s2", "x/a", "x/REF", "x/REF"), ("s3", "x/REF", "x/a", "x/REF")]),
            _votes([("s1", "y/a", "y/REF", "y/a"), ("s2", "y/a", "y/REF", "y/a"), ("s3", "y/REF", "y/a", "y/REF")]),
        ])
        scores = paired.scale_pairs(both).scores.set_index("stimulus")
        assert scores.loc["x/REF", "scale"] == 0 and scores.loc["y/REF", "scale"] == 0
        assert scores.loc["x/a", "scale"] == pytest.approx(-scores.loc["y/a", "scale"], abs=1e-4)

    def test_unknown_model_suggests_one(self):
        with pytest.raises(ValueError, match="did you mean 'thurstone'"):
            paired.scale_pairs(SMALL, model="thurston")


def test_an_src_that_cannot_be_scaled_yet_is_left_out_only_when_asked():
    rows = [("s1", "a/REF", "a/x", "a/REF"), ("s1", "a/x", "a/y", "a/y"), ("s2", "a/REF", "a/y", "a/y"),
            ("s1", "b/REF", "b/x", "b/REF"), ("s2", "b/y", "b/z", "b/z")]  # b/y, b/z never meet b/REF, b/x
    votes = pd.DataFrame(rows, columns=["subject", "stimulus_a", "stimulus_b", "preferred"])
    with pytest.raises(PairVotesError, match="never compared"):
        paired.scale_pairs(votes, pseudo_count=0.5)
    result = paired.scale_pairs(votes, pseudo_count=0.5, skip_unscalable=True)
    assert set(result.scores["src"]) == {"a"} and list(result.skipped) == ["b"]
    assert "never compared" in result.skipped["b"]
