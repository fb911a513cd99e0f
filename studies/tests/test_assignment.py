"""Balanced draws and orders without consecutive SRCs (pure functions)."""
from collections import Counter

import numpy as np
import pytest

from studies.assignment import (
    AssignmentError,
    draw_balanced,
    insert_at_random,
    order_without_repeats,
)


class TestDrawBalanced:
    def test_least_assigned_first(self):
        drawn = draw_balanced({1: 3, 2: 0, 3: 1, 4: 0}, 2, np.random.default_rng(0))
        assert sorted(drawn) == [2, 4]

    def test_repeated_draws_reach_equal_counts(self):
        counts = dict.fromkeys(range(10), 0)
        rng = np.random.default_rng(1)
        for _ in range(15):  # 15 participants x 4 stimuli = 6 votes per stimulus
            for stimulus in draw_balanced(counts, 4, rng):
                counts[stimulus] += 1
        assert set(counts.values()) == {6}

    @pytest.mark.parametrize("k", [0, 5])
    def test_impossible_sizes_are_refused(self, k):
        with pytest.raises(AssignmentError, match="cannot draw"):
            draw_balanced({1: 0, 2: 0, 3: 0, 4: 0}, k, np.random.default_rng(0))


def _groups(order, group_of):
    return [group_of[i] for i in order]


class TestOrderWithoutRepeats:
    @pytest.mark.parametrize("seed", range(20))
    def test_no_two_consecutive_trials_share_a_src(self, seed):
        items = [(i, f"src{i % 4}") for i in range(13)] + [(100, "src0"), (101, "src0")]
        order = order_without_repeats(items, np.random.default_rng(seed), previous="src0")
        groups = _groups(order, dict(items))
        assert sorted(order) == sorted(i for i, _ in items)
        assert groups[0] != "src0"
        assert all(a != b for a, b in zip(groups, groups[1:]))

    def test_tight_case_still_alternates(self):
        items = [(i, "a") for i in range(4)] + [(10 + i, "b") for i in range(3)]
        groups = _groups(order_without_repeats(items, np.random.default_rng(3)), dict(items))
        assert groups == ["a", "b", "a", "b", "a", "b", "a"]

    def test_infeasible_playlist_repeats_only_where_it_must(self):
        items = [(i, "a") for i in range(5)] + [(10, "b")]
        groups = _groups(order_without_repeats(items, np.random.default_rng(0)), dict(items))
        assert Counter(groups) == {"a": 5, "b": 1}
        assert sum(a == b for a, b in zip(groups, groups[1:])) == 3

    def test_same_seed_same_order(self):
        items = [(i, i % 3) for i in range(12)]
        assert order_without_repeats(items, np.random.default_rng(7)) == \
            order_without_repeats(items, np.random.default_rng(7))


class TestInsertAtRandom:
    @pytest.mark.parametrize("seed", range(10))
    def test_inserted_between_other_srcs(self, seed):
        group_of = {1: "a", 2: "b", 3: "a", 4: "c", 9: "a"}
        order = insert_at_random([1, 2, 3, 4], 9, group_of, np.random.default_rng(seed))
        groups = _groups(order, group_of)
        assert sorted(order) == [1, 2, 3, 4, 9]
        assert all(a != b for a, b in zip(groups, groups[1:]))
