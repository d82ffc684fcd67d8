"""Choosing the final answer among finished candidates, and turning step scores into one score.

Rules (see docs/search.md):

- ``vanilla``: the candidate with the highest aggregated verifier score;
- ``majority``: the most frequent answer, answers grouped by mathematical equivalence;
- ``weighted``: the answer whose group has the largest summed score.

For ``majority`` and ``weighted`` the returned candidate is the best-scored member of the
winning group. Every tie has a fixed rule, so a selection is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from outthink.answers import group_answers
from outthink.errors import ConfigError
from outthink.events import AnswerSelected

__all__ = [
    "AGGREGATIONS",
    "NEUTRAL_SCORE",
    "SELECTION_RULES",
    "Scored",
    "Selection",
    "aggregate",
    "select",
]

AGGREGATIONS = ("last", "min", "prod", "mean")
SELECTION_RULES = ("vanilla", "majority", "weighted")

#: The aggregate of no scores at all: a candidate nobody scored is neither good nor bad. This
#: is also what the ``none`` verifier returns, so unscored and "none"-scored candidates rank
#: the same.
NEUTRAL_SCORE = 0.5


def aggregate(scores: Sequence[float], how: str) -> float:
    """One solution score from its per-step scores: ``last``, ``min``, ``prod`` or ``mean``.

    An empty sequence gives :data:`NEUTRAL_SCORE` (0.5) whatever ``how`` is; in particular
    not 1.0 for ``prod``, which would rank a candidate with no scored step above every scored
    one.
    """
    if how not in AGGREGATIONS:
        raise ConfigError(
            f"Unknown score aggregation {how!r}.", hint=f"Choose one of: {', '.join(AGGREGATIONS)}."
        )
    if not scores:
        return NEUTRAL_SCORE
    if how == "last":
        return float(scores[-1])
    if how == "min":
        return float(min(scores))
    if how == "prod":
        return float(math.prod(scores))
    return math.fsum(scores) / len(scores)


@dataclass(frozen=True, slots=True)
class Scored:
    """A finished candidate as selection sees it: its final answer and aggregated score."""

    id: int
    answer: str | None
    score: float | None


@dataclass(frozen=True, slots=True)
class Selection:
    """The outcome of :func:`select`.

    ``answer`` is the chosen candidate's own spelling of its answer. ``rule`` is the rule
    actually applied: ``vanilla`` falls back to ``majority`` when no candidate with an answer
    has a score, and ``reason`` says so. ``votes`` and ``group_scores`` are keyed by each
    answer group's representative (its first-seen spelling), whatever the rule.
    """

    candidate: int | None
    answer: str | None
    rule: str
    votes: dict[str, int] = field(default_factory=dict)
    group_scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _value(score: float | None) -> float | None:
    """The score, or None when there is none; NaN (a verifier failure) counts as none."""
    return None if score is None or math.isnan(score) else score


def _score_key(c: Scored) -> tuple[float, int]:
    """Highest score first, then lowest id. A missing score ranks below every real one."""
    score = _value(c.score)
    return (score if score is not None else -math.inf, -c.id)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def select(candidates: Sequence[Scored], rule: str, *, timeout: float = 2.0) -> Selection:
    """Pick the final candidate and answer with ``rule`` (one of :data:`SELECTION_RULES`).

    Ties: ``vanilla`` → lowest id; ``majority`` → larger summed score, then the group seen
    first; ``weighted`` → more votes, then the group seen first. A missing (None or NaN)
    score counts as 0 in sums and below any real score in ``vanilla``. Candidates without an
    answer are never voted for and win only when no candidate has an answer (then the
    highest-scored one is returned, with answer None). ``timeout`` limits each answer
    comparison (see :func:`outthink.answers.group_answers`).
    """
    if rule not in SELECTION_RULES:
        raise ConfigError(
            f"Unknown selection rule {rule!r}.",
            hint=f"Choose one of: {', '.join(SELECTION_RULES)}.",
        )
    total = _plural(len(candidates), "candidate")
    if not candidates:
        return Selection(candidate=None, answer=None, rule=rule, reason="No candidates.")

    groups = group_answers([c.answer for c in candidates], timeout=timeout)
    votes = {g.answer: len(g.members) for g in groups}
    sums = {
        g.answer: math.fsum(_value(candidates[i].score) or 0.0 for i in g.members) for g in groups
    }
    answered = sum(votes.values())

    def result(position: int, used: str, reason: str) -> Selection:
        winner = candidates[position]
        return Selection(
            candidate=winner.id,
            answer=winner.answer,
            rule=used,
            votes=votes,
            group_scores=sums,
            reason=reason,
        )

    def best_of(positions: Sequence[int]) -> int:
        return max(positions, key=lambda i: _score_key(candidates[i]))

    if not groups:
        best = best_of(range(len(candidates)))
        score = _value(candidates[best].score)
        detail = (
            f"candidate {candidates[best].id} has the highest score {_fmt(score)}"
            if score is not None
            else f"none has a score, so candidate {candidates[best].id} (the lowest id) is kept"
        )
        return result(best, rule, f"{total}, none gave an answer; {detail}.")

    if rule == "vanilla":
        with_answer = [i for g in groups for i in g.members]
        if any(_value(candidates[i].score) is not None for i in with_answer):
            best = best_of(with_answer)
            chosen = candidates[best]
            group = next(g for g in groups if best in g.members)
            top = _value(chosen.score)
            rivals = sorted(
                {
                    str(candidates[i].answer)
                    for i in with_answer
                    if i not in group.members
                    and top is not None
                    and _value(candidates[i].score) is not None
                    and _close(_value(candidates[i].score) or 0.0, top)
                }
            )
            tie = (
                f" Tied at that score with answer {', '.join(rivals)}; the lowest candidate id"
                " wins a tie."
                if rivals
                else ""
            )
            return result(
                best,
                "vanilla",
                f"{total}; candidate {chosen.id} has the highest score "
                f"{_fmt(chosen.score or 0.0)} and answered {chosen.answer} "
                f"({_plural(len(group.members) - 1, 'other')} agreed).{tie}",
            )
        prefix = f"{total}, no verifier scores, so majority vote instead of vanilla: "
        rule = "majority"
    else:
        prefix = f"{total}, "

    first_seen = {g.answer: n for n, g in enumerate(groups)}
    if rule == "majority":
        win = max(groups, key=lambda g: (votes[g.answer], sums[g.answer], -first_seen[g.answer]))
        detail = f"{votes[win.answer]} of {answered} votes"
        tied = [g.answer for g in groups if g is not win and votes[g.answer] == votes[win.answer]]
        if tied:
            broken = (
                "the larger summed score"
                if all(not _close(sums[a], sums[win.answer]) for a in tied)
                else "the answer seen first"
            )
            detail += f"; tied on votes with {', '.join(tied)}, broken by {broken}"
    else:
        win = max(groups, key=lambda g: (sums[g.answer], votes[g.answer], -first_seen[g.answer]))
        detail = f"weighted score {_fmt(sums[win.answer])} of {_fmt(math.fsum(sums.values()))}"
        top = sums[win.answer]
        tied = [g.answer for g in groups if g is not win and _close(sums[g.answer], top)]
        if tied:
            broken = (
                "more votes"
                if all(votes[a] != votes[win.answer] for a in tied)
                else "the answer seen first"
            )
            detail += f"; tied at {_fmt(top)} with {', '.join(tied)}, broken by {broken}"
    best = best_of(win.members)
    return result(best, rule, f"{prefix}{votes[win.answer]} answered {win.answer} ({detail}).")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def announce_selection(
    scored: Sequence[Scored], rule: str, *, informative: bool = True, preface: str = ""
) -> AnswerSelected:
    """The ``AnswerSelected`` event for ``scored`` under ``rule``. A verifier whose scores say
    nothing (``informative`` False) turns every rule but majority into majority, and the
    reason says so; ``preface`` starts the reason (e.g. why the run ranked only some)."""
    used = rule if informative or rule == "majority" else "majority"
    sel = select(scored, used)
    reason = sel.reason
    if used != rule:
        reason = f"{reason} (the verifier gives no scores, so {rule} became majority)"
    return AnswerSelected(
        candidate=sel.candidate,
        answer=sel.answer,
        rule=sel.rule,
        votes=sel.votes,
        group_scores=sel.group_scores,
        reason=f"{preface}{reason}",
    )
