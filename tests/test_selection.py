"""Score aggregation and answer selection (outthink.search.selection)."""

from __future__ import annotations

import math

import pytest

from outthink.errors import ConfigError
from outthink.search.selection import (
    AGGREGATIONS,
    NEUTRAL_SCORE,
    SELECTION_RULES,
    Scored,
    Selection,
    aggregate,
    select,
)


@pytest.mark.parametrize(
    ("how", "expected"),
    [("last", 0.5), ("min", 0.2), ("prod", 0.9 * 0.2 * 0.5), ("mean", (0.9 + 0.2 + 0.5) / 3)],
)
def test_aggregate(how: str, expected: float) -> None:
    assert aggregate([0.9, 0.2, 0.5], how) == pytest.approx(expected)


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_aggregate_empty_is_neutral(how: str) -> None:
    assert aggregate([], how) == NEUTRAL_SCORE == 0.5


def test_aggregate_unknown_lists_choices() -> None:
    with pytest.raises(ConfigError) as info:
        aggregate([0.5], "max")
    assert "max" in info.value.message
    for name in AGGREGATIONS:
        assert name in info.value.hint


def test_unknown_rule_lists_choices() -> None:
    with pytest.raises(ConfigError) as info:
        select([Scored(0, "1", 0.5)], "best")
    for name in SELECTION_RULES:
        assert name in info.value.hint


# Eight candidates: five say 8 (in three spellings), three say 9 with higher scores.
EIGHT = [
    Scored(0, "8", 0.5),
    Scored(1, "9", 0.95),
    Scored(2, "8.0", 0.7),
    Scored(3, "9", 0.9),
    Scored(4, "8", 0.6),
    Scored(5, r"\frac{16}{2}", 0.7),
    Scored(6, "9", 0.85),
    Scored(7, "8", 0.6),
]


def test_vanilla_picks_highest_score() -> None:
    sel = select(EIGHT, "vanilla")
    assert (sel.candidate, sel.answer, sel.rule) == (1, "9", "vanilla")
    assert sel.votes == {"8": 5, "9": 3}
    assert "0.95" in sel.reason and "candidate 1" in sel.reason


def test_majority_picks_most_votes_and_its_best_member() -> None:
    sel = select(EIGHT, "majority")
    # Candidates 2 and 5 tie at 0.7 within the winning group: the lower id wins.
    assert (sel.candidate, sel.answer, sel.rule) == (2, "8.0", "majority")
    assert sel.votes == {"8": 5, "9": 3}
    assert "8 candidates" in sel.reason and "5 of 8 votes" in sel.reason


def test_weighted_picks_largest_summed_score() -> None:
    sel = select(EIGHT, "weighted")
    assert sel.group_scores["8"] == pytest.approx(3.1)
    assert sel.group_scores["9"] == pytest.approx(2.7)
    assert (sel.candidate, sel.rule) == (2, "weighted")
    assert "8 candidates, 5 answered 8 (weighted score 3.10 of 5.80)" in sel.reason


def test_weighted_can_overturn_majority() -> None:
    cands = [Scored(0, "1", 0.1), Scored(1, "1", 0.1), Scored(2, "2", 0.9)]
    assert select(cands, "majority").answer == "1"
    sel = select(cands, "weighted")
    assert (sel.candidate, sel.answer) == (2, "2")


def test_vanilla_tie_goes_to_lowest_id() -> None:
    cands = [Scored(5, "1", 0.8), Scored(3, "2", 0.8), Scored(4, "3", 0.2)]
    assert select(cands, "vanilla").candidate == 3


def test_majority_tie_broken_by_summed_score_then_first_seen() -> None:
    by_score = [Scored(0, "1", 0.1), Scored(1, "2", 0.9), Scored(2, "1", 0.1), Scored(3, "2", 0.2)]
    assert select(by_score, "majority").answer == "2"
    first_seen = [
        Scored(0, "2", 0.5),
        Scored(1, "1", 0.5),
        Scored(2, "1", 0.5),
        Scored(3, "2", 0.5),
    ]
    assert select(first_seen, "majority").answer == "2"


def test_weighted_tie_broken_by_count_then_first_seen() -> None:
    by_count = [Scored(0, "1", 0.6), Scored(1, "2", 0.3), Scored(2, "2", 0.3)]
    assert select(by_count, "weighted").answer == "2"
    first_seen = [Scored(0, "7", 0.25), Scored(1, "5", 0.25)]
    assert select(first_seen, "weighted").answer == "7"


def test_unanswered_candidates_lose_unless_nobody_answered() -> None:
    cands = [Scored(0, None, 0.99), Scored(1, "4", 0.1)]
    for rule in SELECTION_RULES:
        sel = select(cands, rule)
        assert (sel.candidate, sel.answer) == (1, "4"), rule
    nobody = [Scored(0, None, 0.3), Scored(1, None, 0.7)]
    for rule in SELECTION_RULES:
        sel = select(nobody, rule)
        assert (sel.candidate, sel.answer) == (1, None), rule
        assert sel.votes == {}
        assert "none gave an answer" in sel.reason


def test_no_candidates() -> None:
    sel = select([], "weighted")
    assert sel == Selection(candidate=None, answer=None, rule="weighted", reason="No candidates.")


def test_vanilla_without_scores_falls_back_to_majority() -> None:
    cands = [Scored(0, "2", None), Scored(1, "3", None), Scored(2, "3", None)]
    sel = select(cands, "vanilla")
    assert (sel.candidate, sel.answer, sel.rule) == (1, "3", "majority")
    assert "no verifier scores" in sel.reason and "2 of 3 votes" in sel.reason


def test_none_scores_count_as_zero_in_weighted() -> None:
    cands = [Scored(0, "2", None), Scored(1, "2", None), Scored(2, "3", 0.4)]
    sel = select(cands, "weighted")
    assert sel.group_scores == {"2": 0.0, "3": 0.4}
    assert sel.answer == "3"
    # In vanilla a missing score ranks below any real one, even 0.
    assert select([Scored(0, "2", None), Scored(1, "3", 0.0)], "vanilla").candidate == 1


def test_selection_is_deterministic() -> None:
    first = select(EIGHT, "weighted")
    assert all(select(EIGHT, "weighted") == first for _ in range(3))


def test_nan_score_counts_as_missing() -> None:
    cands = [Scored(0, "2", math.nan), Scored(1, "3", 0.1), Scored(2, "2", 0.05)]
    assert select(cands, "vanilla").candidate == 1
    sel = select(cands, "weighted")
    assert sel.group_scores == {"2": pytest.approx(0.05), "3": pytest.approx(0.1)}
    assert sel.candidate == 1
