"""Tests of the analyse_votes management command."""

import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

RATINGS = Path(__file__).resolve().parents[2].parent / "shared" / "ratings"
NFLX_VOTES = RATINGS / "NFLX_public_raw_votes.csv"


def _run(*args) -> str:
    """Run analyse_votes and return what it printed."""
    out = StringIO()
    call_command("analyse_votes", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.fixture
def votes_csv(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("subject,stimulus,reference,vote\ns1,a,src,1\ns2,a,src,2\ns1,b,src,4\ns2,b,src,5\n")
    return path


class TestAnalyseVotesCommand:
    """It writes scores.csv and subjects.csv with the agreed leading columns, and says what it did."""

    def test_bt500_on_nflx_matches_reference(self, tmp_path):
        if not NFLX_VOTES.is_file():
            pytest.skip(f"{NFLX_VOTES} is absent")
        printed = _run(NFLX_VOTES, "--model", "bt500", "--ci", "normal", "--out", tmp_path / "out")
        scores = pd.read_csv(tmp_path / "out" / "scores.csv")
        subjects = pd.read_csv(tmp_path / "out" / "subjects.csv", keep_default_na=False)
        assert list(scores.columns[:6]) == ["stimulus", "n_votes", "score", "score_std", "ci95_low", "ci95_high"]
        assert list(subjects.columns[:5]) == ["subject", "rejected", "bias", "inconsistency", "reason"]
        reference = pd.read_csv(RATINGS / "reference" / "NFLX_public_raw_BT500.csv")
        pd.testing.assert_series_equal(scores["score"], reference["score"], rtol=0, atol=1e-9)
        assert subjects.loc[subjects["rejected"], "subject"].tolist() == ["observer02"]
        assert printed.splitlines()[0] == (
            "bt500 (sureal-0.9.0/BT500_V0.1), ci=normal: 79 stimuli, 26 subjects, 1 rejected"
        )
        assert "rejected observer02: ITU-R BT.500 Annex 1 §A1-2.3.1" in printed
        assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["scores.csv", "subjects.csv"]

    def test_mle_also_writes_contents_and_prints_no_solver_noise(self, votes_csv, tmp_path):
        printed = _run(votes_csv, "--model", "mle", "--out", tmp_path / "out")
        assert "Iteration" not in printed and "Belief" not in printed
        contents = pd.read_csv(tmp_path / "out" / "contents.csv")
        assert contents["reference"].tolist() == ["src"]

    def test_default_model_is_mos_with_t_interval(self, votes_csv, tmp_path):
        printed = _run(votes_csv, "--out", tmp_path / "out")
        assert printed.startswith("mos (faceqa-mos/1), ci=t: 2 stimuli, 2 subjects, 0 rejected")
        scores = pd.read_csv(tmp_path / "out" / "scores.csv")
        assert scores["score"].tolist() == [1.5, 4.5]

    def test_bad_votes_raise_command_error_and_write_nothing(self, tmp_path):
        path = tmp_path / "votes.csv"
        path.write_text("subject,stimulus,vote\ns1,a,3\n")
        with pytest.raises(CommandError, match="missing column.*reference"):
            _run(path, "--out", tmp_path / "out")
        assert not (tmp_path / "out").exists()

    def test_vote_outside_scale(self, tmp_path):
        path = tmp_path / "votes.csv"
        path.write_text("subject,stimulus,reference,vote\ns1,a,src,7\n")
        with pytest.raises(CommandError, match="outside the ACR scale"):
            _run(path, "--out", tmp_path / "out")

    def test_missing_file(self, tmp_path):
        with pytest.raises(CommandError, match="No such file"):
            _run(tmp_path / "absent.csv", "--out", tmp_path / "out")

    def test_unknown_model_is_refused_by_the_parser(self, votes_csv, tmp_path):
        with pytest.raises(CommandError, match="invalid choice: 'p999'"):
            _run(votes_csv, "--model", "p999", "--out", tmp_path / "out")

    def test_a_malformed_row_is_named_in_one_line(self, tmp_path):
        path = tmp_path / "votes.csv"
        path.write_text("subject,stimulus,reference,vote\na,s1,r1,3\na,s2,r1,x\n")
        with pytest.raises(CommandError) as raised:
            call_command("analyse_votes", str(path), "--model", "mos", "--out", str(tmp_path / "out"))
        message = str(raised.value)
        assert "\n" not in message and "data row 2 (line 3 of a CSV" in message and "vote='x'" in message


PAIR_VOTES = (
    "subject,stimulus_a,stimulus_b,preferred\n"
    "s1,x/REF,x/h1,x/REF\ns2,x/h1,x/REF,x/h1\ns3,x/REF,x/h1,x/REF\n"
    "s1,x/h1,x/h2,x/h1\ns2,x/h2,x/h1,x/h2\ns3,x/h2,x/REF,x/REF\ns1,x/REF,x/h2,x/h2\n"
)
CCR_VOTES = (
    "subject,stimulus_a,stimulus_b,vote\n"
    "s1,x/REF,x/h1,-2\ns2,x/h1,x/REF,1\ns3,x/REF,x/h1,-1\ns1,y/h1,y/REF,3\n"
)


class TestAnalyseVotesMethods:
    """--method dcr, ccr and pc: the files each writes, and a one-line CommandError for what is wrong."""

    def _write(self, tmp_path, text, name="votes.csv"):
        path = tmp_path / name
        path.write_text(text)
        return path

    def test_dcr_is_analysed_like_acr_on_the_impairment_scale(self, votes_csv, tmp_path):
        printed = _run(votes_csv, "--method", "dcr", "--out", tmp_path / "dcr")
        _run(votes_csv, "--out", tmp_path / "acr")
        assert printed.startswith("dcr on the impairment scale 5 Imperceptible .. 1 Very annoying: mos (faceqa-mos/1)")
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dcr" / "scores.csv"),
                                      pd.read_csv(tmp_path / "acr" / "scores.csv"))

    def test_ccr_writes_cmos_per_pair_and_per_hrc(self, tmp_path):
        printed = _run(self._write(tmp_path, CCR_VOTES), "--method", "ccr", "--out", tmp_path / "out")
        pairs = pd.read_csv(tmp_path / "out" / "cmos_pairs.csv")
        hrcs = pd.read_csv(tmp_path / "out" / "cmos_hrc.csv")
        assert pairs[["stimulus_a", "stimulus_b", "n_votes"]].values.tolist() == [["x/REF", "x/h1", 3],
                                                                                    ["y/REF", "y/h1", 1]]
        assert pairs["cmos"].tolist() == pytest.approx([-4 / 3, -3.0])
        assert hrcs[["hrc_a", "hrc_b", "n_votes", "n_srcs"]].values.tolist() == [["REF", "h1", 4, 2]]
        assert hrcs["cmos"].iloc[0] == pytest.approx(-1.75)
        assert "4 votes, 3 subjects, 2 stimulus pairs, 1 HRC pairs" in printed

    @pytest.mark.parametrize("model", ["thurstone", "bradley-terry"])
    def test_pc_writes_the_scale_and_a_sureal_dataset(self, tmp_path, model):
        from studies import paired

        printed = _run(self._write(tmp_path, PAIR_VOTES), "--method", "pc", "--model", model,
                       "--out", tmp_path / "out")
        scale = pd.read_csv(tmp_path / "out" / "scale.csv")
        assert list(scale.columns) == list(paired.SCALE_COLUMNS)
        assert scale["stimulus"].tolist() == ["x/REF", "x/h1", "x/h2"] and scale["scale"].iloc[0] == 0
        assert (scale["anchor"] == "x/REF").all() and scale["n_comparisons"].tolist() == [5, 5, 4]
        dataset = json.loads((tmp_path / "out" / "sureal_pc.json").read_text())
        assert dataset["dataset_name"] == "votes" and len(dataset["dis_videos"]) == 3
        assert paired.sureal_pc_reader(dataset).num_dis_videos == 3
        assert printed.startswith(f"pc {model} (sureal-0.9.0/")
        assert "7 choices, 3 subjects, 3 stimuli in 1 SRCs" in printed

    def test_pc_separation_needs_a_pseudo_count(self, tmp_path):
        path = self._write(tmp_path, "subject,stimulus_a,stimulus_b,preferred\ns1,x/REF,x/a,x/REF\n"
                                     "s2,x/a,x/REF,x/REF\n")
        with pytest.raises(CommandError, match="x/REF won every comparison.*pseudo-count"):
            _run(path, "--method", "pc", "--out", tmp_path / "out")
        assert not (tmp_path / "out").exists()
        _run(path, "--method", "pc", "--pseudo-count", "0.5", "--out", tmp_path / "out")
        assert pd.read_csv(tmp_path / "out" / "scale.csv")["scale"].iloc[1] < 0

    @pytest.mark.parametrize(("method", "text", "message"), [
        ("pc", "subject,stimulus_a,stimulus_b,preferred\ns1,x/a,x/b,x/c\n", "preferred is neither.*line 2"),
        ("pc", "subject,stimulus_a,stimulus_b,vote\ns1,x/a,x/b,1\n", "missing column.*preferred"),
        ("ccr", "subject,stimulus_a,stimulus_b,vote\ns1,x/a,x/b,5\n", "outside the CCR scale"),
        ("ccr", "subject,stimulus_a,stimulus_b,vote\ns1,x/a,y/b,1\n", "two SRCs"),
        ("ccr", "\x00\x01garbage", "missing column|not a readable CSV"),
        ("ccr", "", "not a readable CSV table"),
    ])
    def test_malformed_files_raise_a_one_line_command_error(self, tmp_path, method, text, message):
        with pytest.raises(CommandError, match=message) as raised:
            _run(self._write(tmp_path, text), "--method", method, "--out", tmp_path / "out")
        assert "\n" not in str(raised.value) and str(raised.value).startswith(str(tmp_path / "votes.csv"))
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize(("options", "message"), [
        (["--method", "pc", "--model", "mos"], "rating model; pc takes thurstone, bradley-terry"),
        (["--method", "dcr", "--model", "thurstone"], "pair-comparison model"),
        (["--method", "ccr", "--model", "mos"], "does not apply to ccr"),
        (["--method", "ccr", "--ci", "normal"], "--ci applies to acr-hr and dcr"),
        (["--method", "acr-hr", "--pseudo-count", "0.5"], "applies to pc only"),
        (["--method", "pc", "--pseudo-count", "-1"], "finite number >= 0"),
    ])
    def test_options_that_do_not_fit_the_method(self, votes_csv, tmp_path, options, message):
        with pytest.raises(CommandError, match=message):
            _run(votes_csv, *options, "--out", tmp_path / "out")
