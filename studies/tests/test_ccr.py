"""CCR votes and CMOS per stimulus pair and per HRC pair (studies.ccr, Django-free)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies import ccr
from studies.paired import PairVotesError


def _votes(rows):
    return pd.DataFrame(rows, columns=["subject", "stimulus_a", "stimulus_b", "vote"])


VOTES = _votes([
    ("s1", "x/REF", "x/h1", -2), ("s2", "x/h1", "x/REF", 1), ("s3", "x/REF", "x/h1", -1),
    ("s1", "y/h1", "y/REF", 3), ("s2", "y/h2", "y/h1", 0), ("s3", "y/h1", "y/h2", 2),
])


class TestValidateCcrVotes:
    @pytest.mark.parametrize(("vote", "message"), [(4, "outside the CCR scale -3..3"), ("good", "not a number")])
    def test_bad_votes(self, vote, message):
        with pytest.raises(PairVotesError, match=f"{message}.*data row 1"):
            ccr.validate_ccr_votes(_votes([("s1", "x/a", "x/b", vote)]))

    def test_fractions_are_accepted(self):
        assert ccr.validate_ccr_votes(_votes([("s1", "x/a", "x/b", -0.5)]))["vote"].tolist() == [-0.5]

    def test_pairs_across_srcs_are_refused(self):
        with pytest.raises(PairVotesError, match="two SRCs"):
            ccr.validate_ccr_votes(_votes([("s1", "x/a", "y/a", 1)]))


class TestCmosPairs:
    def test_orientation_flips_reversed_votes(self):
        table = ccr.cmos_pairs(VOTES).set_index(["stimulus_a", "stimulus_b"])
        reference = table.loc[("x/REF", "x/h1")]
        # votes "h1 compared with REF": -2, -(+1) (given as REF compared with h1), -1
        assert reference["cmos"] == pytest.approx(-4 / 3)
        assert (reference["n_votes"], reference["n_ab"], reference["n_ba"]) == (3, 2, 1)
        sd = np.std([-2, -1, -1], ddof=1)
        half = stats.t.ppf(0.975, 2) * sd / np.sqrt(3)
        assert reference["ci95_low"] == pytest.approx(-4 / 3 - half)
        assert reference["ci95_high"] == pytest.approx(-4 / 3 + half)
        assert table.loc[("y/REF", "y/h1"), "cmos"] == -3  # h1 "much better" than REF when shown second: flipped
        assert table.loc[("y/h1", "y/h2"), "cmos"] == 1.0  # mean of -0 and 2

    def test_single_vote_has_no_interval(self):
        table = ccr.cmos_pairs(_votes([("s1", "x/b", "x/a", 2)]))
        assert table[["stimulus_a", "stimulus_b", "cmos"]].values.tolist() == [["x/a", "x/b", -2.0]]
        assert np.isnan(table["ci95_low"].iloc[0])

    def test_zero_votes_stay_positive_zero(self):
        table = ccr.cmos_pairs(_votes([("s1", "x/b", "x/a", 0)]))
        assert not np.signbit(table["cmos"].iloc[0])


class TestCmosHrc:
    def test_pooled_over_srcs_with_sorted_hrc_names(self):
        table = ccr.cmos_hrc(VOTES).set_index(["hrc_a", "hrc_b"])
        assert table.index.tolist() == [("REF", "h1"), ("h1", "h2")]
        pooled = [-2, -1, -1, -3]  # h1 compared with REF, both SRCs
        row = table.loc[("REF", "h1")]
        assert row["cmos"] == pytest.approx(np.mean(pooled))
        assert (row["n_votes"], row["n_srcs"], row["n_subjects"]) == (4, 2, 3)
        half = stats.t.ppf(0.975, 3) * np.std(pooled, ddof=1) / 2
        assert row["ci95_high"] - row["cmos"] == pytest.approx(half)

    def test_hrc_order_is_by_name_not_by_stimulus(self):
        """Stimulus names sort by SRC first; HRC pairs are re-sorted by HRC name, flipping the sign."""
        votes = _votes([("s1", "a/z9", "a/b1", 2), ("s2", "b/b1", "b/z9", -2)])
        table = ccr.cmos_hrc(votes)
        assert table[["hrc_a", "hrc_b", "cmos", "n_votes"]].values.tolist() == [["b1", "z9", -2.0, 2]]
