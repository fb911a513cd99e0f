"""Tests of the analyse_votes management command."""

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
