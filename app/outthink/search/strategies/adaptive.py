"""Adaptive Best-of-N: sample in rounds and stop once more samples cannot change the answer.

Sample ``i`` of the planned N is exactly Best-of-N's sample ``i``: the prompt is decoded once
into a root sequence that is never extended, and each sample is a fork of it with seed
``cfg.seed + i``, the seed Best-of-N's ``start`` gives its sequence ``i``. Rounds of
:func:`batch_size` samples run one after another; after each round :func:`stop_reason` decides
from the finished samples whether to stop. Two rules:

- safe (always on): the leading answer cannot be overtaken even if every remaining sample goes
  to its strongest rival. majority: leader votes > runner-up votes + remaining samples.
  weighted: leader summed score > runner-up summed score + remaining x 1.0 (verifier scores lie
  in [0, 1], and so does every aggregation of them). vanilla: the best candidate already has
  the highest possible score 1.0 (a later sample could at most tie, and ties go to the lower
  id). Groups only grow: answers are grouped against each group's first answer in sample order,
  so a later sample never moves an earlier one. Strict inequalities, because the selection
  rules break ties by other criteria. So a safe stop selects exactly the answer the full
  budget would select under the same seeds.
- confident (a heuristic, only under weighted and vanilla with an informative verifier): after
  at least :data:`MIN_SAMPLES_FOR_THRESHOLD` finished samples, the leading answer group holds at
  least ``cfg.adaptive_threshold`` of the summed score of all answers. This can stop before the
  safe rule would and then, rarely, select another answer than the full budget; a threshold
  above 1 turns it off. Majority voting never uses it: its stop is always exact.

The compute saved is reported twice: in the ``AnswerSelected`` reason ("stopped after 8 of 16
planned samples (8 saved)") and as ``planned_samples`` and ``saved_samples`` in the policy
generator's ``usage.extra``.

Rounds trade some batching for the saving: a round decodes ``batch_size`` sequences together
instead of all N, and it ends only when its slowest sample has finished.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace

from outthink.answers import group_answers
from outthink.events import Event
from outthink.search.config import SearchConfig
from outthink.search.context import Candidate, SearchContext
from outthink.search.selection import Scored
from outthink.search.strategies import StrategySpec, register
from outthink.search.strategies.best_of_n import complete_solutions, selection_event

__all__ = [
    "MAX_SCORE",
    "MIN_SAMPLES_FOR_THRESHOLD",
    "AdaptiveOutcome",
    "adaptive",
    "batch_size",
    "sequences",
    "stop_reason",
]

#: The highest score a verifier gives (the VerifierSession contract: scores lie in [0, 1]).
MAX_SCORE = 1.0
#: The confident rule waits for this many finished samples: with fewer, one or two lucky
#: samples would decide the answer.
MIN_SAMPLES_FOR_THRESHOLD = 4


def batch_size(n: int) -> int:
    """Samples per round: a quarter of the budget, at least 2 (at most N)."""
    return min(n, max(2, n // 4))


def sequences(cfg: SearchConfig) -> int:
    """One round of samples plus the root sequence that holds the decoded prompt."""
    return batch_size(cfg.n) + 1


@dataclass(frozen=True, slots=True)
class AdaptiveOutcome:
    planned_samples: int
    used_samples: int
    why: str = ""  # why sampling stopped early; empty when the whole budget was used

    @property
    def saved_samples(self) -> int:
        return self.planned_samples - self.used_samples

    def describe(self) -> str:
        if self.saved_samples:
            return (
                f"Adaptive: stopped after {self.used_samples} of {self.planned_samples} planned "
                f"samples ({self.saved_samples} saved): {self.why}."
            )
        return f"Adaptive: all {self.planned_samples} planned samples used (0 saved)."


def _value(score: float | None) -> float:
    """A score as selection sums it: missing or NaN counts as 0."""
    return 0.0 if score is None or math.isnan(score) else score


def stop_reason(
    samples: Sequence[Scored], remaining: int, rule: str, *, threshold: float
) -> str | None:
    """Why sampling may stop with ``remaining`` samples still planned, or None to go on.

    ``samples`` are the finished samples in sample order; ``rule`` is the selection rule that
    will actually apply (majority when the verifier gives no scores).
    """
    groups = group_answers([s.answer for s in samples])
    if not groups:
        return None
    votes = {g.answer: len(g.members) for g in groups}
    sums = {g.answer: math.fsum(_value(samples[i].score) for i in g.members) for g in groups}
    order = {g.answer: n for n, g in enumerate(groups)}

    def runner_up(leader: str, table: dict[str, int] | dict[str, float]) -> float:
        return max((v for a, v in table.items() if a != leader), default=0)

    scored = [i for g in groups for i in g.members if samples[i].score is not None]
    if rule == "vanilla" and scored:
        best = max(scored, key=lambda i: (_value(samples[i].score), -samples[i].id))
        top = _value(samples[best].score)
        if top >= MAX_SCORE:
            return f"candidate {samples[best].id} already has the highest possible score {top:.2f}"
        leader = next(g.answer for g in groups if best in g.members)
    elif rule == "weighted":
        leader = max(votes, key=lambda a: (sums[a], votes[a], -order[a]))
        rival = runner_up(leader, sums)
        if sums[leader] > rival + remaining * MAX_SCORE:
            return (
                f"answer {leader} has a summed score of {sums[leader]:.2f} against "
                f"{rival:.2f}, and {remaining} more samples add at most "
                f"{remaining * MAX_SCORE:.2f}"
            )
    else:  # majority, and vanilla without scores (selection falls back to majority too)
        leader = max(votes, key=lambda a: (votes[a], sums[a], -order[a]))
        rival_votes = int(runner_up(leader, votes))
        if votes[leader] > rival_votes + remaining:
            return (
                f"answer {leader} has {votes[leader]} votes against {rival_votes}, and "
                f"{remaining} more samples cannot overtake it"
            )
        return None  # majority stops only when it is exact
    total = math.fsum(sums.values())
    if len(samples) >= MIN_SAMPLES_FOR_THRESHOLD and total > 0:
        share = sums[leader] / total
        if share >= threshold:
            return (
                f"answer {leader} holds {share:.0%} of the summed score after "
                f"{len(samples)} samples (threshold {threshold:.0%})"
            )
    return None


def adaptive(
    ctx: SearchContext, cfg: SearchConfig
) -> Generator[Event, None, tuple[list[Candidate], AdaptiveOutcome]]:
    """Sample round by round until a stop rule fires or the budget is spent."""
    rule = cfg.select if ctx.informative else "majority"  # as selection_event decides
    size = batch_size(cfg.n)
    root = ctx.generator.start(ctx.prompt.text, 1, cfg.sampling())[0]
    done: list[Candidate] = []
    why = ""
    try:
        while len(done) < cfg.n:
            first = len(done)
            batch = []
            for i in range(first, min(cfg.n, first + size)):
                seq = ctx.generator.fork(root, sampling=cfg.sampling().with_seed(cfg.seed + i))
                cand = ctx.new_candidate(seq)
                ctx.verifier.add(cand.id)
                batch.append(cand)
            yield from complete_solutions(ctx, cfg, batch)
            done.extend(batch)
            remaining = cfg.n - len(done)
            if remaining:
                scored = [
                    Scored(c.id, c.answer, c.score(cfg.agg) if c.scores else None) for c in done
                ]
                why = stop_reason(scored, remaining, rule, threshold=cfg.adaptive_threshold) or ""
                if why:
                    break
    finally:
        ctx.generator.drop(root)
    return done, AdaptiveOutcome(cfg.n, len(done), why)


def run(ctx: SearchContext, cfg: SearchConfig) -> Iterator[Event]:
    done, outcome = yield from adaptive(ctx, cfg)
    ctx.generator.usage.extra.update(
        planned_samples=outcome.planned_samples, saved_samples=outcome.saved_samples
    )
    selected = selection_event(done, cfg, ctx.informative)
    yield replace(selected, reason=f"{selected.reason} {outcome.describe()}")


register(
    StrategySpec(
        name="adaptive",
        description="Best-of-N in rounds that stops as soon as further samples cannot change "
        "the answer (or, with a verifier, once one answer holds most of the score); reports "
        "the samples saved.",
        run=run,
        sequences=sequences,
    )
)
