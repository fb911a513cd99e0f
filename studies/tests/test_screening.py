"""The Django-free crowd quality-control functions: screening rules, the acuity test and
questionnaire, consistency repeats' placement."""
import numpy as np
import pandas as pd
import pytest

from studies import qualification, screening
from studies.assignment import AssignmentError, add_repeats


def _votes(rows):
    """rows: (subject, stimulus, vote, repetition, watch_seconds); 4 s clips, no replays or stalls."""
    frame = pd.DataFrame(rows, columns=["subject", "stimulus", "vote", "repetition", "watch_seconds"])
    return frame.assign(video_seconds=4.0, replays=0, stall_seconds=0.0)


class TestStraightLining:
    def test_the_same_answer_to_every_trial_is_flagged_from_the_minimum(self):
        n = screening.STRAIGHT_LINE_MIN
        votes = _votes([("a", f"s{i}", 3, 0, 4.1) for i in range(n)]
                       + [("b", f"s{i}", 3, 0, 4.1) for i in range(n - 1)]
                       + [("c", f"s{i}", 3 + (i == 0), 0, 4.1) for i in range(n)])
        flagged = screening.straight_lining(votes)
        assert list(flagged) == ["a"] and f"all {n} test trials" in flagged["a"]

    def test_repeats_do_not_count(self):
        n = screening.STRAIGHT_LINE_MIN
        votes = _votes([("a", f"s{i}", 3, 0, 4.1) for i in range(n - 1)] + [("a", "s0", 3, 1, 4.1)])
        assert screening.straight_lining(votes) == {}


class TestWatchTimes:
    def test_a_vote_before_the_video_could_end_is_flagged(self):
        votes = _votes([("a", "s0", 3, 0, 1.0), ("a", "s1", 4, 0, 4.2), ("b", "s0", 3, 0, 4.05)])
        flagged = screening.watch_times(votes)
        assert list(flagged) == ["a"] and "1 of 2 vote(s)" in flagged["a"]

    def test_many_votes_long_after_the_end_are_flagged_one_pause_is_not(self):
        late = 4.0 + screening.WATCH_LONG_EXTRA_SECONDS + 10
        votes = _votes([("a", f"s{i}", 3, 0, late if i < 2 else 4.1) for i in range(4)]
                       + [("b", f"s{i}", 3, 0, late if i < 1 else 4.1) for i in range(4)])
        flagged = screening.watch_times(votes)
        assert list(flagged) == ["a"] and "after the video ended" in flagged["a"]

    def test_votes_without_a_watch_time_are_not_judged(self):
        assert screening.watch_times(_votes([("sim", "s0", 3, 0, None)])) == {}


class TestConsistency:
    def test_mean_absolute_difference_of_repeated_votes(self):
        votes = _votes([("a", "s0", 5, 0, 4.1), ("a", "s0", 1, 1, 4.1), ("a", "s1", 3, 0, 4.1), ("a", "s1", 3, 1, 4.1),
                        ("b", "s0", 4, 0, 4.1), ("b", "s0", 3, 1, 4.1), ("c", "s0", 4, 0, 4.1)])
        values = screening.consistency(votes)
        assert values.to_dict() == {"a": 2.0, "b": 1.0}
        flagged = screening.inconsistent(votes, scale_range=4)
        assert list(flagged) == ["a"] and "2.00 points apart" in flagged["a"]

    def test_no_repeats_no_values(self):
        assert screening.consistency(_votes([("a", "s0", 5, 0, 4.1)])).empty

    def test_scale_range_must_be_positive(self):
        with pytest.raises(ValueError, match="scale_range"):
            screening.inconsistent(_votes([]), scale_range=0)


def test_screen_gathers_every_rule_per_subject():
    n = screening.STRAIGHT_LINE_MIN
    votes = _votes([("a", f"s{i}", 3, 0, 1.0) for i in range(n)])
    flags = screening.screen(votes, gold_failures={"a": ["x", "y", "z"], "b": ["x"]}, max_gold_failures=2,
                             scale_range=4)
    assert [f.rule for f in flags["a"]] == ["gold", "straight-lining", "watch-time"] and "b" not in flags
    assert screening.describe(flags["a"]).startswith("gold: failed 3 gold trial(s) (limit 2)")


class TestAcuity:
    @pytest.mark.parametrize("orientation", qualification.ORIENTATIONS)
    @pytest.mark.parametrize("stroke", qualification.STROKES_PX)
    def test_the_optotype_is_five_strokes_high_with_one_stroke_gaps(self, orientation, stroke):
        mask = np.array([[int(c) for c in row] for row in qualification.optotype_mask(orientation, stroke)])
        assert mask.shape == (5 * stroke, 5 * stroke)
        grid = mask[::stroke, ::stroke]  # ISO 8596: stroke = 1/5 of the height
        assert (np.kron(grid, np.ones((stroke, stroke), int)) == mask).all()
        assert grid.sum() == 17  # a spine of 5 and three bars of 4
        opening = {"right": grid[:, 4], "left": grid[:, 0], "down": grid[4, :], "up": grid[0, :]}[orientation]
        assert list(opening) == [1, 0, 1, 0, 1]  # the open side shows the three bar ends

    def test_the_key_depends_on_the_secret_and_the_subject_and_is_stable(self):
        key = qualification.acuity_key(b"secret", "token-1")
        assert key == qualification.acuity_key(b"secret", "token-1")
        assert key != qualification.acuity_key(b"other", "token-1") != qualification.acuity_key(b"secret", "t2")
        assert len(key) == len(qualification.STROKES_PX) * qualification.PER_SIZE
        assert [k["stroke_px"] for k in key] == sorted((k["stroke_px"] for k in key), reverse=True)

    def test_the_page_gets_masks_not_orientations(self):
        optotypes = qualification.acuity_optotypes(qualification.acuity_key(b"s", "t"))
        assert all(set(o) == {"stroke_px", "mask"} for o in optotypes)

    def test_pass_rule_at_the_criterion_size(self):
        key = qualification.acuity_key(b"s", "t")
        right = [k["orientation"] for k in key]
        assert qualification.acuity_score(key, right)["passed"]
        criterion = [i for i, k in enumerate(key) if k["stroke_px"] == qualification.CRITERION_STROKE_PX]
        wrong = {"right": "left", "left": "right", "up": "down", "down": "up"}
        one_off = [wrong[a] if i == criterion[0] else a for i, a in enumerate(right)]
        two_off = [wrong[a] if i in criterion[:2] else a for i, a in enumerate(right)]
        assert qualification.acuity_score(key, one_off)["passed"]
        result = qualification.acuity_score(key, two_off)
        assert not result["passed"]
        assert {"stroke_px": 2, "shown": 5, "correct": 3} in result["sizes"]

    @pytest.mark.parametrize("answers", [None, [], ["right"], ["sideways"] * 20, "right"])
    def test_unreadable_answers_are_refused(self, answers):
        with pytest.raises(qualification.QualificationError):
            qualification.acuity_score(qualification.acuity_key(b"s", "t"), answers)


class TestQuestionnaire:
    def test_the_default_is_valid_and_answers_are_checked(self):
        questions = qualification.parse_questionnaire(qualification.default_questionnaire())
        answers = {q["key"]: q["choices"][0] for q in questions}
        assert qualification.questionnaire_answers(questions, answers) == answers
        with pytest.raises(qualification.QualificationError, match="Your age"):
            qualification.questionnaire_answers(questions, dict(answers, age="12"))
        with pytest.raises(qualification.QualificationError, match="unknown"):
            qualification.questionnaire_answers(questions, dict(answers, shoe="42"))

    @pytest.mark.parametrize("value", [{}, [{"key": "a"}], [{"key": "a", "question": "q", "choices": ["x"]}],
                                       [{"key": "a", "question": "q", "choices": ["x", "y"]}] * 2])
    def test_malformed_questionnaires_are_refused(self, value):
        with pytest.raises(qualification.QualificationError):
            qualification.parse_questionnaire(value)

    def test_counts_list_every_choice_and_no_person(self):
        questions = [{"key": "a", "question": "A?", "choices": ["x", "y"]}]
        report = qualification.questionnaire_counts(questions, [{"a": "x"}, {"a": "x"}, {"b": "z"}])
        assert report == [{"key": "a", "question": "A?", "counts": [("x", 2), ("y", 0)], "not_asked": 1}]


class TestRepeats:
    def test_no_repeat_draws_nothing(self):
        rng = np.random.default_rng(1)
        assert add_repeats([1, 2, 3], [1, 2], 0, {1: "a", 2: "b", 3: "c"}, rng) == [1, 2, 3]
        assert rng.random() == np.random.default_rng(1).random()

    @pytest.mark.parametrize("seed", range(20))
    def test_repeats_are_never_next_to_their_first_showing(self, seed):
        order = list(range(8))
        groups = {i: f"src{i % 4}" for i in order}
        longer = add_repeats(order, order[:6], 3, groups, np.random.default_rng(seed))
        assert len(longer) == 11 and sorted(set(longer)) == order
        for item in {i for i in longer if longer.count(i) == 2}:
            first, second = [p for p, i in enumerate(longer) if i == item]
            assert second - first >= 2
        assert all(groups[a] != groups[b] for a, b in zip(longer, longer[1:]))

    def test_more_repeats_than_candidates_is_an_error(self):
        with pytest.raises(AssignmentError, match="cannot repeat 3 of 2"):
            add_repeats([1, 2, 3], [1, 2], 3, {1: "a", 2: "b", 3: "c"}, np.random.default_rng(0))
