"""Comparison category rating (CCR) votes and their comparison MOS (CMOS). Django-free.

CCR votes come in long format, one row per vote (see ``validate_ccr_votes``):
``subject, stimulus_a, stimulus_b, vote`` [, ``repetition``], the vote on the
seven-grade comparison scale of ITU-T P.910 (10/2023) CCR and ITU-T P.800
Annex E: the quality of the *second* stimulus (b) compared with the first
(a), -3 Much worse, -2 Worse, -1 Slightly worse, 0 About the same,
+1 Slightly better, +2 Better, +3 Much better. Any number in [-3, 3] is
accepted (a continuous slider gives fractions). Stimulus names are
``SRC/HRC`` and a pair stays within one SRC, as in ``studies.paired``.

Orientation: a pair is reported once, its two sides sorted by name (Python
string order: ``REF`` sorts before lowercase names), and a vote given with
the stimuli in the other order has its sign flipped, so that every CMOS
reads "b compared with a" for the sorted (a, b). P.910 presents each pair in
both orders to cancel the order effect; ``n_ab`` and ``n_ba`` count the
votes in each.

- ``cmos_pairs``: per pair of stimuli, the mean of its oriented votes (the
  CMOS), its standard error and a 95 % Student t interval with n - 1
  degrees of freedom (the confidence-interval clause of ITU-T P.910).
- ``cmos_hrc``: per pair of HRCs, pooling the votes of every SRC: the same
  statistics over all oriented votes. The t interval treats the votes as
  independent; votes of one subject or one SRC are correlated, so with few
  subjects or SRCs it is too narrow (a mixed model or a per-SRC average
  would widen it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from studies.analysis import votes_on_scale
from studies.paired import PairVotesError, columns_first, read_pairs_csv, validate_pair_table

CCR_SCALE = (-3.0, 3.0)
CCR_VOTE_COLUMNS = ("subject", "stimulus_a", "stimulus_b", "vote", "repetition")
PAIR_CMOS_COLUMNS = (
    "stimulus_a", "stimulus_b", "src", "hrc_a", "hrc_b", "n_votes", "n_ab", "n_ba",
    "cmos", "cmos_std", "ci95_low", "ci95_high",
)
HRC_CMOS_COLUMNS = (
    "hrc_a", "hrc_b", "n_votes", "n_srcs", "n_subjects", "cmos", "cmos_std", "ci95_low", "ci95_high",
)


def read_ccr_votes_csv(path) -> pd.DataFrame:
    """Read a CCR votes CSV and return it validated (``validate_ccr_votes``).

    Raises ``PairVotesError`` for content that is not a CCR votes table,
    ``OSError`` when the file cannot be read.
    """
    return validate_ccr_votes(read_pairs_csv(path))


def validate_ccr_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Return a normalised copy of CCR votes, or raise ``PairVotesError``.

    Columns: ``subject``, ``stimulus_a``, ``stimulus_b`` (str), ``vote``
    (float in [-3, 3], b compared with a), ``repetition`` (int >= 0, default
    0) first, other columns after, plus ``src``, ``hrc_a``, ``hrc_b``. The
    checks of ``studies.paired.validate_pair_table`` apply.
    """
    frame = validate_pair_table(votes, value_column="vote")
    frame["vote"] = votes_on_scale(frame, scale=CCR_SCALE, scale_name="CCR", describe=_first, error=PairVotesError)
    return columns_first(frame, CCR_VOTE_COLUMNS)


def _first(rows: pd.DataFrame) -> str:
    """Describe the first of ``rows``: its line in a CSV with a header, its pair and its vote."""
    row = rows.iloc[0]
    return (f"data row {int(rows.index[0]) + 1} (line {int(rows.index[0]) + 2} of a CSV with a header): "
            f"subject {row['subject']!r}, {row['stimulus_a']!r} vs {row['stimulus_b']!r}, vote={row['vote']}")


def oriented_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Validated votes with each pair in canonical order: ``stimulus_a`` < ``stimulus_b`` by name.

    Rows whose stimuli were swapped get the opposite ``vote`` and ``swapped``
    True; ``hrc_a``/``hrc_b`` follow. Other columns are kept.
    """
    frame = validate_ccr_votes(votes)
    swapped = frame["stimulus_a"] > frame["stimulus_b"]
    for first, second in (("stimulus_a", "stimulus_b"), ("hrc_a", "hrc_b")):
        a, b = frame[first].copy(), frame[second].copy()
        frame[first] = a.where(~swapped, b)
        frame[second] = b.where(~swapped, a)
    frame["vote"] = frame["vote"].where(~swapped, -frame["vote"]) + 0.0  # + 0.0: no -0.0
    frame["swapped"] = swapped
    return frame


def cmos_pairs(votes: pd.DataFrame) -> pd.DataFrame:
    """CMOS per pair of stimuli: ``PAIR_CMOS_COLUMNS``, one row per pair, in order of first appearance.

    ``cmos`` (float, -3..3): mean oriented vote, b compared with a;
    ``cmos_std``: its standard error (sample SD, ddof 1, over sqrt(n));
    ``ci95_low``/``ci95_high``: cmos ± t(0.975, n - 1) x cmos_std, NaN for
    one vote; ``n_ab``/``n_ba``: votes given in the canonical / the swapped
    presentation order.
    """
    frame = oriented_votes(votes)
    keys = ["stimulus_a", "stimulus_b", "src", "hrc_a", "hrc_b"]
    table = frame.groupby(keys, sort=False).agg(
        n_votes=("vote", "size"), n_ba=("swapped", "sum"), cmos=("vote", "mean"), sd=("vote", "std"),
    ).reset_index()
    table["n_ab"] = table["n_votes"] - table["n_ba"]
    return _with_t_interval(table)[list(PAIR_CMOS_COLUMNS)]


def cmos_hrc(votes: pd.DataFrame) -> pd.DataFrame:
    """CMOS per pair of HRCs, pooled over SRCs: ``HRC_CMOS_COLUMNS``, one row per HRC pair.

    HRC pairs are oriented by sorting the two HRC names (``hrc_a`` <
    ``hrc_b``) and flipping the sign of the votes given the other way round;
    ``cmos`` is the mean of all their votes (b compared with a), ``cmos_std``
    the standard error, the interval Student t over the votes (n - 1 degrees
    of freedom; see the module docstring for its independence assumption);
    ``n_srcs`` and ``n_subjects`` count the SRCs and subjects behind it.
    Rows sorted by (hrc_a, hrc_b).
    """
    frame = oriented_votes(votes)
    swapped = frame["hrc_a"] > frame["hrc_b"]
    a, b = frame["hrc_a"].copy(), frame["hrc_b"].copy()
    frame["hrc_a"], frame["hrc_b"] = a.where(~swapped, b), b.where(~swapped, a)
    frame["vote"] = frame["vote"].where(~swapped, -frame["vote"]) + 0.0
    table = frame.groupby(["hrc_a", "hrc_b"], sort=True).agg(
        n_votes=("vote", "size"), n_srcs=("src", "nunique"), n_subjects=("subject", "nunique"),
        cmos=("vote", "mean"), sd=("vote", "std"),
    ).reset_index()
    return _with_t_interval(table)[list(HRC_CMOS_COLUMNS)]


def _with_t_interval(table: pd.DataFrame) -> pd.DataFrame:
    """Add cmos_std = sd / sqrt(n) and the 95 % Student t interval (NaN for one vote); drop ``sd``."""
    n = table["n_votes"].to_numpy(dtype=float)
    table["cmos_std"] = table["sd"] / np.sqrt(n)
    quantile = stats.t.ppf(0.975, np.where(n > 1, n - 1, np.nan))
    table["ci95_low"] = table["cmos"] - quantile * table["cmos_std"]
    table["ci95_high"] = table["cmos"] + quantile * table["cmos_std"]
    for column in ("n_votes", "n_ab", "n_ba", "n_srcs", "n_subjects"):
        if column in table:
            table[column] = table[column].astype("int64")
    return table.drop(columns="sd")
