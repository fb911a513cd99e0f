"""Stimulus assignment and trial order for one participant. Django-free.

An incomplete design, as crowd tests under ITU-T P.913 use when no viewer
rates every stimulus: each new participant draws the stimuli that have the
fewest assignments so far (ties broken at random), so that every stimulus
reaches the requested number of votes with the fewest participants. The order
is random per participant (P.910 (10/2023) §8.1: a random order per viewer)
with no two consecutive trials of the same SRC, so that a content is not
judged against itself.
"""
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import numpy as np


class AssignmentError(ValueError):
    """The study cannot give this participant a playlist."""


def draw_balanced(assigned: Mapping[int, int], k: int, rng: np.random.Generator) -> list[int]:
    """Pick ``k`` distinct stimulus ids, the least-assigned first.

    ``assigned`` maps every eligible stimulus id to how many participants have
    it already. Returns ids in draw order. Raises ``AssignmentError`` when
    ``k`` exceeds the number of stimuli or is below 1.
    """
    if not 1 <= k <= len(assigned):
        raise AssignmentError(f"cannot draw {k} of {len(assigned)} stimuli")
    ids = np.array(sorted(assigned))
    counts = np.array([assigned[i] for i in ids])
    tie_break = rng.random(len(ids))
    chosen = np.lexsort((tie_break, counts))[:k]
    return [int(i) for i in ids[chosen]]


def _can_finish(counts: Counter, banned_first: Hashable) -> bool:
    """Whether ``counts`` can be laid out with no two equal neighbours, not
    starting with ``banned_first``: the classic bound, max count <= ceil(n/2),
    tightened to floor(n/2) for the group that may not come first."""
    n = sum(counts.values())
    return all(
        c <= (n // 2 if group == banned_first else (n + 1) // 2)
        for group, c in counts.items()
    )


def order_without_repeats(items: Sequence[tuple[int, Hashable]], rng: np.random.Generator,
                          previous: Hashable = None) -> list[int]:
    """Order ``items`` (stimulus id, SRC) at random with no two consecutive
    trials of the same SRC, the first not of SRC ``previous`` (the trial shown
    before them); return the stimulus ids.

    Each step picks at random among the SRCs that keep the rest feasible. When
    no such order exists (one SRC is more than half of the playlist), SRCs
    repeat only where they must.
    """
    pending: dict[Hashable, list[int]] = {}
    for stimulus_id, group in items:
        pending.setdefault(group, []).append(stimulus_id)
    for ids in pending.values():
        rng.shuffle(ids)
    counts = Counter({group: len(ids) for group, ids in pending.items()})
    order = []
    while counts:
        groups = sorted(counts, key=str)
        feasible = [g for g in groups if g != previous and _can_finish(counts - Counter({g: 1}), g)]
        allowed = feasible or [g for g in groups if g != previous] or groups
        group = allowed[rng.integers(len(allowed))]
        order.append(pending[group].pop())
        counts -= Counter({group: 1})
        previous = group
    return order


def insert_at_random(order: list[int], item: int, group_of: Mapping[int, Hashable],
                     rng: np.random.Generator, previous: Hashable = None) -> list[int]:
    """Insert ``item`` into ``order`` at a random place between trials of other
    SRCs, ``previous`` being the SRC shown before ``order`` (anywhere, when
    there is no such place)."""
    group = group_of[item]
    before = [previous] + [group_of[i] for i in order]
    places = [
        i for i in range(len(order) + 1)
        if before[i] != group and (i == len(order) or group_of[order[i]] != group)
    ] or list(range(len(order) + 1))
    place = places[rng.integers(len(places))]
    return order[:place] + [item] + order[place:]


def add_repeats(order: list[int], candidates: Sequence[int], k: int, group_of: Mapping[int, Hashable],
                rng: np.random.Generator, previous: Hashable = None) -> list[int]:
    """Show ``k`` of ``candidates`` (stimulus ids in ``order``) a second time, each at a random place
    never next to its first showing and, where possible, between trials of other SRCs (as
    ``insert_at_random``); return the longer order (a repeated id appears twice, the second time
    being the repeat). ``k == 0`` returns ``order`` as is and draws nothing from ``rng``.

    Raises ``AssignmentError`` when ``k`` exceeds the candidates or no such place exists.
    """
    if k == 0:
        return order
    if not 0 < k <= len(candidates):
        raise AssignmentError(f"cannot repeat {k} of {len(candidates)} test stimuli")
    chosen = [int(i) for i in rng.choice(np.array(candidates), size=k, replace=False)]
    for item in chosen:
        first = order.index(item)
        # Inserting at place i puts the repeat between order[i-1] and order[i]: next to the first
        # showing at i == first and i == first + 1.
        places = [i for i in range(len(order) + 1) if i not in (first, first + 1)]
        if not places:
            raise AssignmentError("a playlist of one trial cannot repeat it apart from itself")
        group = group_of[item]
        before = [previous] + [group_of[i] for i in order]
        apart = [i for i in places if before[i] != group and (i == len(order) or group_of[order[i]] != group)]
        pick = (apart or places)[rng.integers(len(apart or places))]
        order = order[:pick] + [item] + order[pick:]
    return order
