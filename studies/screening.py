"""Screening rules on what a participant recorded. Django-free.

Each rule reads a votes table (``studies.selectors.votes_frame`` with
repeats: one row per test vote, ``subject``, ``vote``, ``repetition``,
``stimulus``, ``watch_seconds``, ``replays``, ``stall_seconds``,
``video_seconds``) and returns, per flagged subject (anonymous id), one
sentence saying why. Sources: ITU-T P.910 (10/2023) and P.913 (06/2021)
screen viewers by their ratings; ITU-T P.808 (06/2021) adds, for
crowdsourcing, gold questions, trapping questions and checks that the
participant did the work (watched the media, did not answer identically).

Thresholds are named constants below, each with its reasoning. Whether a
flag also removes the participant from the MOS is the study's choice
(``Study.screening_excludes``); gold failures beyond the study's limit
always do (``studies.selectors.gold_rejections``).
"""
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

# A study's test trials span the quality range by design (every SRC as hidden reference, PVSs from
# the highest to the lowest rate), so one value for every vote is implausible once there are this
# many: 8 trials answered identically.
STRAIGHT_LINE_MIN = 8
# The trial page unlocks the scale only when the video has ended, so an honest watch time is at
# least the video's duration less timer jitter (milliseconds): under 90 % means the vote did not
# come from watching (a script, or a page tampered with).
WATCH_SHORT_FRACTION = 0.9
# Longer than every allowed playback plus this much (seconds, stalls not counted) means the
# participant was away from the video; one such vote is a pause, many are inattention.
WATCH_LONG_EXTRA_SECONDS = 60.0
WATCH_LONG_SHARE = 0.25
# Consistency: the mean absolute difference between the two votes of a repeated stimulus, as a
# fraction of the scale's range. Test–retest differences of careful viewers average about half a
# category on the 5-point ACR scale; 0.375 of the range (1.5 categories on ACR, 2.25 on CCR's 7
# points) is three times that.
CONSISTENCY_MAX_FRACTION = 0.375


@dataclass(frozen=True)
class Flag:
    """One screening rule's finding about one participant."""

    rule: str  # "gold", "straight-lining", "watch-time", "consistency"
    reason: str


def straight_lining(votes: pd.DataFrame, *, min_trials: int = STRAIGHT_LINE_MIN) -> dict[str, str]:
    """Subjects whose first-showing votes (``repetition`` 0) are all the same value over at least
    ``min_trials`` test trials."""
    first = votes[votes["repetition"] == 0]
    flagged = {}
    for subject, group in first.groupby("subject", sort=True):
        if len(group) >= min_trials and group["vote"].nunique() == 1:
            flagged[subject] = (f"gave the same answer ({group['vote'].iloc[0]:g}) to all {len(group)} test "
                                f"trials (straight-lining; flagged from {min_trials})")
    return flagged


def watch_times(votes: pd.DataFrame) -> dict[str, str]:
    """Subjects with implausible watch times: any vote watched for less than ``WATCH_SHORT_FRACTION``
    of the video, or more than ``WATCH_LONG_SHARE`` of their votes longer than every allowed playback
    plus ``WATCH_LONG_EXTRA_SECONDS``. Votes without a watch time or a duration are not judged."""
    known = votes.dropna(subset=["watch_seconds", "video_seconds"])
    flagged = {}
    for subject, group in known.groupby("subject", sort=True):
        reasons = []
        short = group["watch_seconds"] < WATCH_SHORT_FRACTION * group["video_seconds"]
        if short.any():
            reasons.append(f"{int(short.sum())} of {len(group)} vote(s) came after watching less than "
                           f"{WATCH_SHORT_FRACTION:.0%} of the video (it must end before the scale unlocks)")
        playbacks = 1 + group["replays"].fillna(0)
        stalls = group["stall_seconds"].fillna(0) if "stall_seconds" in group else 0.0
        long = (group["watch_seconds"] - stalls) > playbacks * group["video_seconds"] + WATCH_LONG_EXTRA_SECONDS
        if long.mean() > WATCH_LONG_SHARE:
            reasons.append(f"{int(long.sum())} of {len(group)} vote(s) came more than "
                           f"{WATCH_LONG_EXTRA_SECONDS:g} s after the video ended (away from the screen)")
        if reasons:
            flagged[subject] = "; ".join(reasons)
    return flagged


def consistency(votes: pd.DataFrame) -> pd.Series:
    """Per subject with repeated stimuli, the mean absolute difference between the vote of the first
    showing (repetition 0) and of the repeat (repetition 1), scale points."""
    pairs = votes[votes["repetition"].isin([0, 1])].pivot_table(
        index=["subject", "stimulus"], columns="repetition", values="vote", aggfunc="first")
    if 0 not in pairs or 1 not in pairs:
        return pd.Series(dtype=float, name="consistency")
    pairs = pairs.dropna(subset=[0, 1])
    return (pairs[1] - pairs[0]).abs().groupby(level="subject").mean().rename("consistency")


def inconsistent(votes: pd.DataFrame, *, scale_range: float,
                 max_fraction: float = CONSISTENCY_MAX_FRACTION) -> dict[str, str]:
    """Subjects whose ``consistency`` exceeds ``max_fraction`` of the scale's range (max − min)."""
    if scale_range <= 0:
        raise ValueError(f"scale_range must be positive, not {scale_range}")
    limit = max_fraction * scale_range
    return {
        subject: (f"rated repeated videos {value:.2f} points apart on average "
                  f"(limit {limit:g}: {max_fraction:.0%} of the scale)")
        for subject, value in consistency(votes).items() if value > limit
    }


def gold_flags(failures: Mapping[str, list[str]], *, max_failures: int) -> dict[str, str]:
    """Subjects who failed more gold trials than ``max_failures`` (``studies.selectors.gold_failures``)."""
    return {subject: f"failed {len(reasons)} gold trial(s) (limit {max_failures}): " + "; ".join(reasons)
            for subject, reasons in failures.items() if len(reasons) > max_failures}


def screen(votes: pd.DataFrame, *, gold_failures: Mapping[str, list[str]], max_gold_failures: int,
           scale_range: float) -> dict[str, list[Flag]]:
    """Every rule's flags, per subject (only subjects with at least one)."""
    flags: dict[str, list[Flag]] = {}
    rules = (("gold", gold_flags(gold_failures, max_failures=max_gold_failures)),
             ("straight-lining", straight_lining(votes)),
             ("watch-time", watch_times(votes)),
             ("consistency", inconsistent(votes, scale_range=scale_range)))
    for rule, found in rules:
        for subject, reason in found.items():
            flags.setdefault(subject, []).append(Flag(rule=rule, reason=reason))
    return flags


def describe(flags: list[Flag]) -> str:
    """The flags of one subject as one line."""
    return "; ".join(f"{flag.rule}: {flag.reason}" for flag in flags)

