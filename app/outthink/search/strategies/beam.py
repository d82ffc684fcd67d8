"""Beam search: N live beams, keep the best N/M after every step, expand each survivor M times.

One round: extend every live beam by one step (all in the same decode calls), score every
partial solution, move the beams that finished to the completed set, filter beams whose text
duplicates a better-ranked one, keep the best ``N // M`` (ties: lowest candidate id), drop the
rest, and expand each survivor into children that continue its sequence. A child is a fork of
the survivor's sequence (``StepGenerator.fork``) and of its verifier state
(``VerifierSession.add(child, parent=...)``), so a surviving prefix is never decoded again; the
first child reuses the survivor's own sequence, so the round needs no sequence beyond N.

Tail: a beam that finishes (end of text, a final answer, the step limit or the token limit)
leaves the active set for good and takes its slot with it. The live budget of the next round
is N minus every beam finished so far, so the run ends with exactly N completed beams and never
holds more than N sequences (a beam pruned as a duplicate or by score gives its slot to a
survivor's child, so pruning does not shrink the budget). When fewer beams are left than
``N // M``, all of them survive; survivors share the budget's children as evenly as possible,
better-ranked survivors taking the odd ones (this also covers an N that is not a multiple of
M). In the last allowed step (``max_steps``) every beam runs to the end of its solution (no
step delimiter), so every beam finishes.

Lookahead k (optional): each new step is scored by the verifier's score of the step plus a
greedy roll-out of up to k further steps (see :func:`score_steps`); only the bare step is
committed. The helpers here are shared with DVTS (``dvts.py``).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace

from outthink.events import (
    BeamKept,
    BeamPruned,
    Event,
)
from outthink.generation import SamplingParams, StepOutput, run_to_completion
from outthink.search.config import SearchConfig
from outthink.search.context import Candidate, SearchContext, finish_reason
from outthink.search.strategies import StrategySpec, register
from outthink.search.strategies.best_of_n import selection_event
from outthink.thinking import states_answer
from outthink.verifiers.base import StepRecord

__all__ = [
    "MAX_SEQUENCES",
    "beam_search",
    "discard",
    "expand",
    "final_step_sampling",
    "rank_key",
    "rollout_batch",
    "score_steps",
    "sequences",
    "split_budget",
]

#: llama.cpp's cap on sequence ids in one context (the engine's ``MAX_SEQUENCES``; not imported
#: from there because the search package must not depend on the llama.cpp engine).
MAX_SEQUENCES = 256


# --- helpers shared with DVTS -----------------------------------------------------------------


def split_budget(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal shares that sum to ``total``, larger shares first."""
    base, extra = divmod(total, parts)
    return [base + 1 if i < extra else base for i in range(parts)]


def rollout_batch(n: int) -> int:
    """How many lookahead roll-outs run at once next to ``n`` live candidates.

    All of them when the sequence cap allows (one decode call for every roll-out), otherwise as
    many as fit under :data:`MAX_SEQUENCES`, in several passes.
    """
    return max(1, min(n, MAX_SEQUENCES - n))


def sequences(cfg: SearchConfig) -> int:
    """Most sequences alive at once: N live candidates, plus one roll-out fork per candidate
    being looked ahead (:func:`rollout_batch` of them) while lookahead is on."""
    return cfg.n + (rollout_batch(cfg.n) if cfg.lookahead > 0 else 0)


def rank_key(cand: Candidate, agg: str) -> tuple[float, int]:
    """Sort key: best aggregated score first, then lowest id. A NaN score ranks last."""
    score = cand.score(agg)
    return (-score if not math.isnan(score) else math.inf, cand.id)


def final_step_sampling(cfg: SearchConfig, cand: Candidate) -> SamplingParams:
    """Sampling for a candidate's last allowed step: no step delimiter and no per-step token
    limit, so it runs to end-of-generation or the solution's token limit.

    Each candidate gets a seed of its own: siblings forked from one survivor share their whole
    text, and one seed would make them write the same ending.
    """
    seed = (cfg.seed * 1_000_003 + 7_919 * (cand.id + 1)) & 0x7FFFFFFF
    return replace(cfg.sampling(), stop=(), step_tokens=0, seed=seed)


def expand(ctx: SearchContext, parent: Candidate, count: int) -> list[Candidate]:
    """``count`` children that continue ``parent``; the parent's own ids are given up.

    The first child takes over the parent's sequence; the others fork it (no re-decoding). Every
    child gets a new candidate id and a verifier state forked from the parent's, and starts at
    the parent's last node, so its next ``StepProposed`` names that node as its parent.
    """
    children = []
    for i in range(count):
        seq = parent.seq if i == 0 else ctx.generator.fork(parent.seq)
        child = parent.continued(ctx.new_candidate_id(), seq)
        ctx.verifier.add(child.id, parent=parent.id)
        children.append(child)
    ctx.verifier.drop(parent.id)
    return children


def discard(ctx: SearchContext, cand: Candidate) -> None:
    """Free a candidate's sequence and verifier state (pruned or finished)."""
    ctx.generator.drop(cand.seq)
    ctx.verifier.drop(cand.id)


def score_steps(
    ctx: SearchContext,
    pairs: Sequence[tuple[Candidate, StepOutput]],
    cfg: SearchConfig,
) -> Generator[Event, None, list[tuple[Candidate, StepOutput]]]:
    """Propose and score one new step per candidate, with lookahead when ``cfg.lookahead > 0``.

    Same contract as :meth:`SearchContext.record_steps` (which it uses without lookahead):
    returns the pairs whose step was kept; a step that begins the next few-shot problem marks
    its candidate finished instead.

    Lookahead keeps the candidate's verifier state exact and decodes every token once:
    1. every candidate's verifier state advances by its bare step (one ``score`` call for all;
       that score stands when no roll-out step follows);
    2. each candidate that goes on is forked twice: its sequence, greedy (temperature 0), and
       its verifier state (``add(tmp, parent=cand)``), which already holds the bare step;
    3. the forks run up to k more steps together; each roll-out step is appended to the fork's
       verifier state as a step of its own (a PRM scores steps, not a paragraph of several),
       and the score of the last one, the verifier's verdict on the longer text, becomes the
       candidate's score for this step;
    4. the forks are dropped from the generator and the verifier.
    Forking after the bare step (not before) means the verifier never decodes the bare step
    twice and the candidate's own state never sees a roll-out token.
    """
    if cfg.lookahead <= 0:
        return (yield from ctx.record_steps(pairs, cfg))
    kept, records = yield from ctx.propose_steps(pairs)
    bare = ctx.verifier.score(records) if records else {}
    scores = {cand.id: float(bare[cand.id]) for cand, _ in kept if cand.id in bare}
    # A candidate that ends with this step has no continuation to look at.
    going_on = [cand for cand, out in kept if finish_reason(cand, out, cfg) is None]
    scores.update(_rollout_scores(ctx, going_on, cfg))
    yield from ctx.publish_scores(kept, scores, cfg.agg)
    return kept


@dataclass(frozen=True, slots=True)
class _Rollout:
    cand: int  # candidate id the roll-out looks ahead for
    seq: int  # generator sequence (a greedy fork of the candidate's)
    vid: int  # verifier id (a fork of the candidate's verifier state)


def _rollout_scores(
    ctx: SearchContext, cands: Sequence[Candidate], cfg: SearchConfig
) -> dict[int, float]:
    """Score of each candidate's greedy roll-out (candidate id -> score of its last roll-out
    step); candidates whose roll-out produced no step are left out."""
    greedy = replace(cfg.sampling(), temperature=0.0)
    out_scores: dict[int, float] = {}
    inside: dict[int, bool] = {}  # each roll-out is in a thinking block
    batch = rollout_batch(cfg.n)
    for start in range(0, len(cands), batch):
        rollouts: list[_Rollout] = []
        try:
            for cand in cands[start : start + batch]:
                seq = ctx.generator.fork(cand.seq, sampling=greedy)
                # A fresh candidate id, so no verifier can confuse the fork with a real beam.
                vid = ctx.new_candidate_id()
                rollouts.append(_Rollout(cand.id, seq, vid))
                ctx.verifier.add(vid, parent=cand.id)
                inside[vid] = cand.thinking
            live = list(rollouts)
            for _ in range(cfg.lookahead):
                if not live:
                    break
                ctx.cancel.check()
                outs = run_to_completion(ctx.generator.extend([r.seq for r in live]))
                records: dict[int, StepRecord] = {}
                going_on = []
                for r, out in zip(live, outs, strict=True):
                    # An empty step adds nothing to score; a step that starts the next
                    # few-shot problem is not part of this solution.
                    if not out.text.strip() or ctx.ends_solution(out.text):
                        continue
                    view = ctx.view_step(out.text, inside[r.vid])
                    inside[r.vid] = view.inside
                    record = ctx.record(out.text, view, out)
                    if record is not None:  # thinking the verifier does not look at: none
                        records[r.vid] = record
                    if not (out.finished or states_answer(view.visible)):
                        going_on.append(r)
                scored = ctx.verifier.score(records) if records else {}
                for r in live:
                    if r.vid in scored:
                        out_scores[r.cand] = float(scored[r.vid])
                live = going_on
        finally:
            for r in rollouts:
                ctx.generator.drop(r.seq)
                ctx.verifier.drop(r.vid)
    return out_scores


# --- beam search ----------------------------------------------------------------------------


def beam_search(ctx: SearchContext, cfg: SearchConfig) -> Generator[Event, None, list[Candidate]]:
    """Run beam search to the end; yields events, returns the completed beams by id."""
    seqs = ctx.generator.start(ctx.prompt.text, cfg.n, cfg.sampling())
    active = [ctx.new_candidate(s) for s in seqs]
    for cand in active:
        ctx.verifier.add(cand.id)
    completed: list[Candidate] = []
    while active:
        ctx.cancel.check()
        for cand in active:
            if len(cand.steps) == cfg.max_steps - 1:
                ctx.generator.set_sampling(cand.seq, final_step_sampling(cfg, cand))
        outs = yield from ctx.extend(active)
        kept = yield from score_steps(ctx, list(zip(active, outs, strict=True)), cfg)
        for cand, out in kept:
            reason = finish_reason(cand, out, cfg)
            if reason:
                cand.finished, cand.reason = True, reason
        live = []
        for cand in active:
            if cand.finished:
                discard(ctx, cand)
                completed.append(cand)
                yield ctx.finished_event(cand, cfg.agg)
            else:
                live.append(cand)
        # Finished beams keep their slots: the next round's budget is what is still live.
        budget = len(live)
        if not budget:
            break
        ranked = sorted(live, key=lambda c: rank_key(c, cfg.agg))
        unique: list[Candidate] = []
        seen: set[str] = set()
        for cand in ranked:
            if cand.text in seen:
                # Two beams with one text would spend the budget twice on the same prefix.
                assert cand.node is not None
                yield BeamPruned(cand.id, cand.node, cand.score(cfg.agg), reason="duplicate")
                discard(ctx, cand)
            else:
                seen.add(cand.text)
                unique.append(cand)
        keep = min(len(unique), max(1, budget // cfg.width))
        survivors, pruned = unique[:keep], unique[keep:]
        for cand in survivors:
            assert cand.node is not None
            yield BeamKept(cand.id, cand.node, cand.score(cfg.agg))
        for cand in pruned:
            assert cand.node is not None
            yield BeamPruned(cand.id, cand.node, cand.score(cfg.agg), reason="score")
            discard(ctx, cand)
        # Pruned sequences are gone before any fork, so live sequences never exceed N.
        active = [
            child
            for parent, count in zip(survivors, split_budget(budget, keep), strict=True)
            for child in expand(ctx, parent, count)
        ]
    return sorted(completed, key=lambda c: c.id)


def run(ctx: SearchContext, cfg: SearchConfig) -> Iterator[Event]:
    completed = yield from beam_search(ctx, cfg)
    yield selection_event(completed, cfg, ctx.informative)


register(
    StrategySpec(
        name="beam",
        description="Beam search: N beams step by step; after every step keep the best N/M "
        "by verifier score and expand each survivor M times. Strongest at small N and on "
        "hard problems.",
        run=run,
        sequences=sequences,
        uses_width=True,
    )
)
