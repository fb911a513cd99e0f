"""The load test's pieces that need no server: the plan's bounds, the loopback rule, percentiles,
the vote counts and the report. The whole run is an integration test (qa_platform/tests/test_loadtest.py)."""
import math
import uuid
from collections import Counter

import pytest

from studies.loadtest import (
    CATEGORIES,
    MAX_PARTICIPANTS,
    DriveResult,
    LoadReport,
    LoadTestError,
    Plan,
    VoteCounts,
    _notes,
    check_target,
    report_text,
    timing,
    vote_counts,
)


class TestPlan:
    def test_participants_and_seconds_are_bounded(self):
        with pytest.raises(LoadTestError, match="--participants must be"):
            Plan(participants=MAX_PARTICIPANTS + 1, seconds=10)
        with pytest.raises(LoadTestError, match="--participants must be"):
            Plan(participants=0, seconds=10)
        with pytest.raises(LoadTestError, match="--seconds must be"):
            Plan(participants=10, seconds=3600)

    def test_shares_must_be_shares(self):
        with pytest.raises(LoadTestError, match="shares"):
            Plan(participants=1, seconds=10, double_share=0.8, retry_share=0.5)
        with pytest.raises(LoadTestError, match="shares"):
            Plan(participants=1, seconds=10, retry_share=-0.1)

    def test_arrivals_are_spread_over_at_most_ten_seconds(self):
        assert Plan(participants=10, seconds=8).ramp_seconds == 2
        assert Plan(participants=10, seconds=600).ramp_seconds == 10


class TestCheckTarget:
    @pytest.mark.parametrize("url, expected", [
        ("http://127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("http://localhost:8123/", ("localhost", 8123)),
        ("http://[::1]:9000", ("::1", 9000)),
        ("http://127.0.0.1", ("127.0.0.1", 80)),
    ])
    def test_loopback_is_accepted(self, url, expected):
        assert check_target(url) == expected

    @pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "http://example.org", "https://127.0.0.1:8000",
                                     "http://127.0.0.2:8000", "127.0.0.1:8000"])
    def test_anything_else_is_refused(self, url):
        with pytest.raises(LoadTestError, match="this machine only"):
            check_target(url)


class TestTiming:
    def test_percentiles_of_the_values(self):
        result = timing("vote POST", range(1, 101))
        assert result.count == 100
        assert result.p50_ms == pytest.approx(50.5)
        assert result.p95_ms == pytest.approx(95.05)
        assert result.p99_ms == pytest.approx(99.01)

    def test_no_values_give_nan_and_a_zero_count(self):
        result = timing("video GET", [])
        assert result.count == 0 and math.isnan(result.p50_ms) and math.isnan(result.p99_ms)


class TestVoteCounts:
    def test_every_acknowledged_vote_stored_once(self):
        acknowledged = {("a", 0): 4, ("a", 1): 2, ("b", 0): 5}
        stored = [("a", 0, 4), ("a", 1, 2), ("b", 0, 5)]
        assert vote_counts(acknowledged, 0, stored) == VoteCounts(3, 3, 0, 0)

    def test_an_acknowledged_vote_missing_is_lost(self):
        assert vote_counts({("a", 0): 4, ("a", 1): 2}, 0, [("a", 0, 4)]) == VoteCounts(2, 1, 0, 1)

    def test_a_stored_score_other_than_the_acknowledged_one_is_lost(self):
        assert vote_counts({("a", 0): 4}, 0, [("a", 0, 1)]).lost == 1

    def test_two_rows_for_one_trial_are_a_duplicate(self):
        assert vote_counts({("a", 0): 4}, 0, [("a", 0, 4), ("a", 0, 4)]) == VoteCounts(1, 2, 1, 0)

    def test_a_trial_answered_created_twice_is_a_duplicate(self):
        assert vote_counts({("a", 0): 4}, 1, [("a", 0, 4)]).duplicated == 1

    def test_a_stored_vote_never_acknowledged_is_stored_not_lost(self):
        """A post whose answer never came back (the simulated timeout) may still be stored."""
        assert vote_counts({}, 0, [("a", 0, 4)]) == VoteCounts(0, 1, 0, 0)

    def test_tokens_are_compared_as_text(self):
        token = uuid.uuid4()
        assert vote_counts({(str(token), 0): 3}, 0, [(token, 0, 3)]).lost == 0


CLEAN = VoteCounts(10, 10, 0, 0)


def _report(errors=(), votes=CLEAN) -> LoadReport:
    result = DriveResult(plan=Plan(participants=2, seconds=10), wall_seconds=10.0,
                         errors=Counter(dict(errors)), started=3, completed=1)
    result.times["vote POST"] = [10.0, 20.0, 30.0]
    result.times["page GET"] = [5.0] * 4
    return LoadReport(target="http://127.0.0.1:8000/study/s/", result=result, votes=votes, notes=("a note",))


class TestReport:
    def test_a_table_row_per_kind_of_request_and_the_votes_line_last(self):
        lines = report_text(_report()).splitlines()
        assert lines[-1] == "votes: acknowledged 10, stored 10, duplicated 0, lost 0"
        rows = {line.split()[0] + " " + line.split()[1]: line.split()[2:] for line in lines[3:3 + len(CATEGORIES)]}
        assert set(rows) == set(CATEGORIES)
        assert rows["vote POST"] == ["3", "20.0", "29.0", "29.8"]
        assert rows["video GET"][0] == "0"
        assert "errors: 0" in lines and "note: a note" in lines
        assert "7 requests in 10.0 s (1/s)" in lines[1]

    def test_errors_are_listed_by_kind(self):
        report = _report(errors={"vote POST HTTP 500": 2, "join POST HTTP 429": 1})
        assert "errors: 3 (join POST HTTP 429: 1, vote POST HTTP 500: 2)" in report_text(report)
        assert not report.ok

    def test_ok_only_without_errors_duplicates_or_losses(self):
        assert _report().ok
        assert not _report(votes=VoteCounts(10, 10, 1, 0)).ok
        assert not _report(votes=VoteCounts(10, 9, 0, 1)).ok

    def test_throttled_joins_are_explained(self):
        result = DriveResult(plan=Plan(participants=1, seconds=10), errors=Counter({"join POST HTTP 429": 4}))
        assert any("FACEQA_JOINS_PER_MINUTE" in note for note in _notes(result))
        assert _notes(DriveResult(plan=Plan(participants=1, seconds=10))) == []
