"""Tests of studies.analysis: reference outputs of sureal 0.9.0 on real votes, and hand-worked frames."""

import functools
import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studies import analysis
from studies.analysis import VotesError

RATINGS = Path(__file__).resolve().parents[2].parent / "shared" / "ratings"
REFERENCE_TAGS = {"mos": "MOS", "bt500": "BT500", "p913": "P913", "p910": "P910", "mle": "MLE"}
DATASETS = ("NFLX_public_raw", "NFLX_public_raw_last4outliers", "TOY_dict_with_repetitions")
# Same library on the same votes: the closed-form models agree to rounding (plain MOS sums in another
# order than sureal, about 1e-15). The iterative solvers (p910, mle) stop once the scores move less than
# 1e-8 per iteration, so another numpy/BLAS summation order may shift their fixed point in late digits:
# they get 1e-6.
ABS_TOL = {"mos": 1e-9, "bt500": 1e-9, "p913": 1e-9, "p910": 1e-6, "mle": 1e-6}
SUBJECT_COLUMNS = {  # reference column -> ours
    "rejected": "rejected",
    "reject_stat1_(P+Q)/(E*R)": "outlier_rate",
    "reject_stat2_|P-Q|/(P+Q)": "outlier_skew",
    "bias": "bias",
    "bias_std": "bias_std",
    "bias_ci95_low": "bias_ci95_low",
    "bias_ci95_high": "bias_ci95_high",
    "inconsistency": "inconsistency",
    "inconsistency_std": "inconsistency_std",
    "inconsistency_ci95_low": "inconsistency_ci95_low",
    "inconsistency_ci95_high": "inconsistency_ci95_high",
}


def _votes_path(dataset: str) -> Path:
    """Return the votes CSV of ``dataset``, skipping the test when it is not there."""
    if not RATINGS.is_dir():
        pytest.skip(f"{RATINGS} is absent")
    path = RATINGS / f"{dataset}_votes.csv"
    if not path.is_file():
        # NFLX_public_raw_last4outliers is NFLX_public_raw plus four extra subjects (observer26-29) with
        # near-random votes, from sureal's resource/dataset/NFLX_dataset_public_raw_last4outliers.py.
        # ../shared/ratings holds its reference outputs but not its votes, and they cannot be derived
        # from NFLX_public_raw: these tests run as soon as the votes file is added.
        pytest.skip(f"{path.name} is absent: only its reference outputs are in {RATINGS}")
    return path


def _reference(dataset: str, model: str, suffix: str = "") -> pd.DataFrame:
    """Return a sureal reference table, skipping the test when there is none."""
    path = RATINGS / "reference" / f"{dataset}_{REFERENCE_TAGS[model]}{suffix}.csv"
    if not path.is_file():
        pytest.skip(f"no reference {path.name}")
    return pd.read_csv(path)


@functools.cache
def _analysed(dataset: str, model: str) -> analysis.AnalysisResult:
    """Analyse a dataset once per model, with sureal's conventions (normal-quantile CI)."""
    return analysis.analyse(analysis.read_votes_csv(_votes_path(dataset)), model=model, ci="normal")


def _assert_close(ours: pd.Series, theirs: pd.Series, tol: float, what: str) -> None:
    """Assert equal NaN positions and |ours - theirs| <= tol elsewhere."""
    np.testing.assert_allclose(ours.to_numpy(float), theirs.to_numpy(float), rtol=0, atol=tol,
                               equal_nan=True, err_msg=what)


# Models that sureal's reference outputs cover (p913pcc has no sureal counterpart).
REFERENCE_MODELS = ("mos", "bt500", "p913", "p910", "mle")


@pytest.mark.parametrize("model", REFERENCE_MODELS)
@pytest.mark.parametrize("dataset", DATASETS)
class TestSurealReference:
    """Our numbers equal sureal 0.9.0's reference outputs on the real votes."""

    def test_scores_match_reference(self, dataset, model):
        reference = _reference(dataset, model)
        scores = _analysed(dataset, model).scores.set_index("stimulus").loc[reference["stimulus"]]
        assert scores["n_votes"].tolist() == reference["n_votes"].tolist()
        assert scores["reference"].tolist() == reference["reference"].tolist()
        assert scores["is_reference"].tolist() == reference["is_reference"].astype(bool).tolist()
        for column in ("score", "score_std", "ci95_low", "ci95_high"):
            _assert_close(scores[column], reference[column], ABS_TOL[model], f"{dataset} {model} {column}")

    def test_subjects_match_reference(self, dataset, model):
        if model == "mos":  # plain MOS keeps everyone and estimates nothing per subject
            subjects = _analysed(dataset, model).subjects
            assert not subjects["rejected"].any() and subjects[["bias", "inconsistency"]].isna().all().all()
            return
        reference = _reference(dataset, model, "_subjects")
        subjects = _analysed(dataset, model).subjects.set_index("subject").loc[reference["subject"]]
        compared = [column for column in SUBJECT_COLUMNS if column in reference]
        assert compared
        for column in compared:
            ours = subjects[SUBJECT_COLUMNS[column]]
            _assert_close(ours, reference[column], ABS_TOL[model], f"{dataset} {model} {column}")
        if "rejected" in reference:
            assert (subjects["reason"] != "").tolist() == reference["rejected"].astype(bool).tolist()

    def test_contents_match_reference(self, dataset, model):
        if model != "mle":
            assert _analysed(dataset, model).contents is None
            return
        reference = _reference(dataset, model, "_contents")
        contents = _analysed(dataset, model).contents.set_index("reference").loc[reference["reference"]]
        for column in ("ambiguity", "ambiguity_std", "ambiguity_ci95_low", "ambiguity_ci95_high"):
            _assert_close(contents[column], reference[column], ABS_TOL[model], f"{dataset} {column}")


class TestRejectedSubjects:
    """The rejections the ratings README lists for NFLX_public_raw, with readable reasons."""

    def test_bt500_rejects_observer02(self):
        subjects = _analysed("NFLX_public_raw", "bt500").subjects
        rejected = subjects[subjects["rejected"]]
        assert rejected["subject"].tolist() == ["observer02"]
        assert rejected["reason"].iloc[0] == (
            "ITU-R BT.500 Annex 1 §A1-2.3.1 (β2 kurtosis screening): "
            "(P+Q)/(E·R)=0.0759 > 0.05 and |P−Q|/(P+Q)=0 < 0.3"
        )

    def test_p913_rejects_four_observers(self):
        subjects = _analysed("NFLX_public_raw", "p913").subjects
        assert subjects.loc[subjects["rejected"], "subject"].tolist() == [
            "observer03", "observer04", "observer09", "observer12",
        ]
        assert subjects.loc[subjects["rejected"], "reason"].str.contains("P.913 §12.4 bias-removed").all()

    def test_p913_estimates_bias_of_every_subject(self):
        subjects = _analysed("NFLX_public_raw", "p913").subjects
        assert subjects["bias"].notna().all() and subjects["inconsistency"].isna().all()


def _frame(rows, columns=("subject", "stimulus", "reference", "vote")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


TOY = _frame([
    ("s1", "a", "src", 1), ("s2", "a", "src", 2), ("s3", "a", "src", 3),
    ("s1", "b", "src", 4), ("s2", "b", "src", 4), ("s3", "b", "src", 5),
])


class TestValidateVotes:
    """Bad votes raise VotesError saying what is wrong; good ones are normalised."""

    def test_defaults_dtypes_and_column_order(self):
        votes = analysis.validate_votes(TOY.assign(note="x"))
        assert list(votes.columns) == list(analysis.VOTE_COLUMNS) + ["note"]
        assert votes["repetition"].tolist() == [0] * 6
        assert votes["is_reference"].dtype == bool and not votes["is_reference"].any()
        assert votes["vote"].dtype == float

    def test_read_votes_csv_keeps_names_as_strings(self, tmp_path):
        path = tmp_path / "votes.csv"
        path.write_text("subject,stimulus,reference,vote,is_reference\n007,01,1,5,1\n007,02,1,4,0\n")
        votes = analysis.read_votes_csv(path)
        assert votes["subject"].tolist() == ["007", "007"]
        assert votes["is_reference"].tolist() == [True, False]

    def test_read_votes_csv_empty_file(self, tmp_path):
        path = tmp_path / "votes.csv"
        path.write_text("")
        with pytest.raises(VotesError, match="not a readable CSV"):
            analysis.read_votes_csv(path)

    @pytest.mark.parametrize(("votes", "message"), [
        (TOY.drop(columns="reference"), "missing column.*reference"),
        (TOY.iloc[:0], "empty"),
        (TOY.assign(vote=[1, 2, 3, 4, 5, 6]), "outside the ACR scale 1..5.*'b'.*vote=6"),
        (TOY.assign(vote=[0, 2, 3, 4, 5, 5]), "outside the ACR scale"),
        (TOY.assign(vote=["1", "x", 3, 4, 5, 5]), "not a number.*'s2'"),
        (TOY.assign(subject=["s1", None, "s3", "s1", "s2", "s3"]), "empty subject"),
        (TOY.assign(stimulus="a"), r"share \(subject, stimulus, repetition\)"),
        (TOY.assign(repetition=[0, 0, 0, -1, 0, 0]), "repetition must be a whole number"),
        (TOY.assign(repetition=[0, 0, 0, 0.5, 0, 0]), "repetition must be a whole number"),
        (TOY.assign(is_reference=[0, 0, 0, 2, 2, 2]), "is_reference must be 0 or 1"),
        (TOY.assign(reference=["src", "src", "other", "src", "src", "src"]), "'a' has more than one reference"),
        (TOY.assign(is_reference=[0, 0, 1, 0, 0, 0]), "'a' has more than one is_reference"),
        (TOY.assign(is_reference=1), "'src' has more than one hidden-reference"),
    ])
    def test_bad_votes(self, votes, message):
        with pytest.raises(VotesError, match=message):
            analysis.validate_votes(votes)

    def test_not_a_frame(self):
        with pytest.raises(VotesError, match="DataFrame, not list"):
            analysis.validate_votes([])


class TestAnalyse:
    """analyse(): confidence intervals, extra rejections, argument checks, output contract."""

    def test_t_and_normal_intervals_worked_by_hand(self):
        # stimulus a: votes 1, 2, 3 -> MOS 2, sample sd 1, standard error 1/sqrt(3);
        # t(0.975, 2 dof) = 4.302653 (statistical tables), normal 1.95996.
        t_scores = analysis.analyse(TOY, ci="t").scores.set_index("stimulus")
        normal_scores = analysis.analyse(TOY, ci="normal").scores.set_index("stimulus")
        assert t_scores.loc["a", "score"] == 2 and t_scores.loc["a", "n_votes"] == 3
        assert t_scores.loc["a", "score_std"] == pytest.approx(1 / np.sqrt(3))
        assert t_scores.loc["a", "ci95_low"] == pytest.approx(2 - 4.302653 / np.sqrt(3), abs=1e-6)
        assert normal_scores.loc["a", "ci95_high"] == pytest.approx(2 + 1.95996 / np.sqrt(3))

    def test_single_vote_has_no_t_interval(self):
        scores = analysis.analyse(TOY.iloc[:1], ci="t").scores
        assert scores["n_votes"].tolist() == [1] and scores["ci95_low"].isna().all()

    def test_extra_rejected_subject_is_removed_first_and_reported(self):
        result = analysis.analyse(TOY, extra_rejected={"s3": "failed 2 of 3 gold trials", "s9": "left early"})
        scores = result.scores.set_index("stimulus")
        assert scores.loc["a", "score"] == 1.5 and scores.loc["a", "n_votes"] == 2
        subjects = result.subjects.set_index("subject")
        assert subjects.index.tolist() == ["s1", "s2", "s3", "s9"]
        assert subjects["rejected"].tolist() == [False, False, True, True]
        assert subjects.loc["s3", "reason"] == "failed 2 of 3 gold trials"
        assert subjects.loc["s1", "reason"] == ""

    def test_extra_rejected_never_reach_sureal(self):
        result = analysis.analyse(TOY, model="p913", extra_rejected={"s3": "gold"})
        assert result.scores["n_votes"].tolist() == [2, 2]
        assert np.isnan(result.subjects.set_index("subject").loc["s3", "bias"])

    def test_stimulus_left_without_votes_keeps_its_row(self):
        votes = pd.concat([TOY, _frame([("s4", "c", "src", 3)])])
        scores = analysis.analyse(votes, extra_rejected={"s4": "gold"}).scores.set_index("stimulus")
        assert scores.loc["c", "n_votes"] == 0 and np.isnan(scores.loc["c", "score"])

    def test_everyone_rejected(self):
        with pytest.raises(VotesError, match="no votes left"):
            analysis.analyse(TOY, extra_rejected={"s1": "x", "s2": "x", "s3": "x"})

    def test_unknown_model_suggests_a_name(self):
        with pytest.raises(ValueError, match="unknown model 'bt-500'.*did you mean 'bt500'"):
            analysis.analyse(TOY, model="bt-500")

    def test_unknown_ci(self):
        with pytest.raises(ValueError, match="unknown ci 'z'"):
            analysis.analyse(TOY, ci="z")

    def test_registry_declares_every_model_once(self):
        assert analysis.MODELS == ("mos", "bt500", "p913", "p913pcc", "p910", "mle")
        for name, model in analysis.REGISTRY.items():
            assert model.name == name and model.label and model.source and model.gives
        assert analysis.REGISTRY["mos"].version == "faceqa-mos/1"
        assert analysis.REGISTRY["bt500"].version == "sureal-0.9.0/BT500_V0.1"
        assert analysis.REGISTRY["mle"].version == "sureal-0.9.0/MLE_V0.2"

    @pytest.mark.parametrize("model", analysis.MODELS)
    def test_output_contract_of_every_model(self, model, capsys):
        votes = pd.concat([TOY, _frame([("s1", "c", "src2", 2), ("s2", "c", "src2", 3), ("s3", "c", "src2", 3)])])
        result = analysis.analyse(votes, model=model)
        assert capsys.readouterr().out == ""  # sureal's progress prints are swallowed
        assert result.model == model and result.ci == "t"
        assert result.model_version == analysis.REGISTRY[model].version
        assert list(result.scores.columns) == list(analysis.SCORE_COLUMNS)
        assert result.scores["stimulus"].tolist() == ["a", "b", "c"]
        assert result.scores["n_votes"].tolist() == [3, 3, 3]
        assert list(result.subjects.columns) == list(analysis.SUBJECT_COLUMNS)
        assert result.subjects["subject"].tolist() == ["s1", "s2", "s3"]
        assert result.subjects["rejected"].dtype == bool
        if model == "mle":
            assert list(result.contents.columns) == list(analysis.CONTENT_COLUMNS)
            assert result.contents["reference"].tolist() == ["src", "src2"]
        else:
            assert result.contents is None


ACR_HR = pd.DataFrame(
    [
        # subject, stimulus, reference, vote, repetition, is_reference
        ("s1", "R", "A", 5, 0, 1), ("s1", "P1", "A", 3, 0, 0), ("s1", "P2", "A", 4, 0, 0),
        ("s2", "R", "A", 3, 0, 1), ("s2", "P1", "A", 4, 0, 0), ("s2", "P2", "A", 2, 0, 0),
        ("s3", "P1", "A", 1, 0, 0),  # s3 never rated R: skipped
        ("s4", "R", "A", 5, 0, 1), ("s4", "R", "A", 4, 1, 1),
        ("s4", "P1", "A", 4, 0, 0), ("s4", "P1", "A", 4, 1, 0),  # each against R of the same repetition
        ("s4", "P2", "A", 3, 2, 0),  # no R in repetition 2: against s4's first R (5)
        ("s1", "Q1", "B", 2, 0, 0),  # SRC B has no hidden reference
    ],
    columns=list(analysis.VOTE_COLUMNS),
)


class TestDmos:
    """dmos(): DV = V(PVS) - V(REF) + 5 per viewer, then averaged; worked by hand."""

    def test_worked_example(self):
        # P1: s1 3-5+5=3, s2 4-3+5=6 (kept above 5), s4 4-5+5=4 and 4-4+5=5 -> mean 4.5, sd sqrt(5/3), n 4
        # P2: s1 4, s2 4, s4 3-5+5=3 -> mean 11/3, n 3
        table = analysis.dmos(ACR_HR, ci="normal")
        assert list(table.columns) == list(analysis.DMOS_COLUMNS)
        table = table.set_index("stimulus")
        assert table.index.tolist() == ["P1", "P2", "Q1"]
        assert table.loc["P1", "n_votes"] == 4 and table.loc["P1", "dmos"] == pytest.approx(4.5)
        assert table.loc["P1", "dmos_std"] == pytest.approx(np.sqrt(5 / 3) / 2)
        assert table.loc["P1", "ci95_high"] == pytest.approx(4.5 + 1.95996 * np.sqrt(5 / 3) / 2)
        assert table.loc["P2", "n_votes"] == 3 and table.loc["P2", "dmos"] == pytest.approx(11 / 3)
        assert table.loc["Q1", "n_votes"] == 0 and np.isnan(table.loc["Q1", "dmos"])

    def test_rejected_subjects_are_dropped(self):
        # P1 without s2: 3, 4, 5 -> mean 4, sd 1, t(0.975, 2 dof) = 4.302653
        table = analysis.dmos(ACR_HR, rejected=["s2"]).set_index("stimulus")
        assert table.loc["P1", "dmos"] == pytest.approx(4.0)
        assert table.loc["P1", "ci95_low"] == pytest.approx(4 - 4.302653 / np.sqrt(3), abs=1e-6)

    def test_complete_panel_gives_mos_difference(self):
        # every NFLX subject rated every stimulus once: the mean of the DVs is MOS(PVS) - MOS(REF) + 5
        votes = analysis.read_votes_csv(_votes_path("NFLX_public_raw"))
        table = analysis.dmos(votes).set_index("stimulus")
        mos = analysis.analyse(votes).scores.set_index("stimulus")
        reference_mos = mos[mos["is_reference"]].set_index("reference")["score"]
        expected = mos.loc[table.index, "score"] - reference_mos.loc[table["reference"]].to_numpy() + 5
        assert len(table) == 70 and (table["n_votes"] == 26).all()
        np.testing.assert_allclose(table["dmos"], expected, rtol=0, atol=1e-12)


class TestToSurealDataset:
    """to_sureal_dataset(): sureal's raw dataset format, which sureal itself loads."""

    def test_format_and_repetitions(self):
        votes = pd.DataFrame(
            [("Tom", "x", "foo", 3, 0, 0), ("Tom", "x", "foo", 2, 1, 0), ("Ann", "x", "foo", 4, 0, 0),
             ("Tom", "r", "foo", 5, 0, 1), ("Ann", "y", "bar", 1, 0, 0)],
            columns=list(analysis.VOTE_COLUMNS),
        )
        dataset = analysis.to_sureal_dataset(votes, dataset_name="toy", width=256, height=256,
                                             paths={"r": "ref/r.mkv", "x": "pvs/x.mkv"})
        assert json.loads(json.dumps(dataset)) == dataset
        assert dataset["width"] == 256 and dataset["ref_score"] == 5.0
        assert dataset["ref_videos"] == [
            {"content_id": 0, "content_name": "foo", "path": "ref/r.mkv"},
            {"content_id": 1, "content_name": "bar", "path": "bar"},
        ]
        assert dataset["dis_videos"][0] == {
            "asset_id": 0, "content_id": 0, "path": "pvs/x.mkv", "os": {"Ann": 4.0, "Tom": [3.0, 2.0]},
        }

    def test_sureal_loads_the_json_file(self, tmp_path):
        from sureal.dataset_reader import RawDatasetReader
        from sureal.subjective_model import MosModel
        from sureal.tools.misc import import_json_file

        votes = analysis.read_votes_csv(_votes_path("TOY_dict_with_repetitions"))
        path = tmp_path / "toy.json"
        path.write_text(json.dumps(analysis.to_sureal_dataset(votes, dataset_name="toy")))
        reader = RawDatasetReader(import_json_file(str(path)))
        assert reader.opinion_score_3darray.shape == (3, 3, 3)  # stimuli, subjects, repetitions
        sureal_mos = MosModel(reader).run_modeling()["quality_scores"]
        ours = analysis.analyse(votes).scores["score"]
        np.testing.assert_allclose(sureal_mos, ours, rtol=0, atol=1e-12)

    def test_sureal_sees_the_hidden_references(self):
        from sureal.dataset_reader import RawDatasetReader

        votes = analysis.read_votes_csv(_votes_path("NFLX_public_raw"))
        reader = RawDatasetReader(types.SimpleNamespace(**analysis.to_sureal_dataset(votes, dataset_name="nflx")))
        stimuli = votes.drop_duplicates("stimulus")
        assert reader.disvideo_is_refvideo == stimuli["is_reference"].tolist()


class TestCorrelationScreening:
    """P.913 correlation-based screening (no sureal counterpart: checked by hand)."""

    @staticmethod
    def _panel(reverse_subject: bool) -> pd.DataFrame:
        rows = []
        for index, quality in enumerate([1, 2, 3, 4, 5, 2, 4]):
            stimulus, hrc = f"p{index}", f"h{index % 3}"
            for subject in ("s1", "s2", "s3", "s4"):
                vote = 6 - quality if reverse_subject and subject == "s4" else quality
                rows.append({"subject": subject, "stimulus": stimulus, "reference": f"src{index}",
                             "vote": vote, "hrc": hrc})
        return pd.DataFrame(rows)

    def test_a_subject_who_reverses_the_scale_is_rejected_with_r1_and_r2(self):
        result = analysis.analyse(self._panel(reverse_subject=True), model="p913pcc")
        subjects = result.subjects.set_index("subject")
        assert subjects["rejected"].tolist() == [False, False, False, True]
        assert "r1=-" in subjects.loc["s4", "reason"] and "r2=" in subjects.loc["s4", "reason"]
        assert result.scores["score"].tolist() == [1, 2, 3, 4, 5, 2, 4]  # s4 left out
        assert result.scores["n_votes"].tolist() == [3] * 7

    def test_consistent_panel_keeps_everyone(self):
        result = analysis.analyse(self._panel(reverse_subject=False), model="p913pcc")
        assert not result.subjects["rejected"].any()

    def test_netflix_panel_passes(self):
        # Every NFLX_public_raw subject correlates with the MOS at r1 >= 0.75 (no HRC column: r1 alone).
        votes = analysis.read_votes_csv(_votes_path("NFLX_public_raw"))
        result = analysis.analyse(votes, model="p913pcc")
        assert not result.subjects["rejected"].any()
        assert result.scores["n_votes"].eq(26).all()
