"""DVTS (diverse verifier tree search): N/M independent greedy subtrees.

The budget N is split into ``N // M`` subtrees. Each subtree keeps one live path: at every step
it expands M candidates (forks of its path, so the path is never decoded again), scores them,
keeps its best one (ties: lowest candidate id) and drops the rest. Subtrees never share or
compare candidates: a subtree whose candidates all score low still keeps its own best, which is
what keeps DVTS from collapsing onto one prefix the way beam search can. All subtrees still
advance together, in the same decode and verifier calls, because a verifier scores each
candidate on its own.

A subtree ends when the candidate it keeps has finished (end of text, a final answer, the step
or token limit; in the last allowed step every candidate runs to the end of its solution). Its
other candidates are pruned even if they finished: the subtree's solution is the one it chose.
Each subtree returns one solution and the configured rule selects among them. When N is not a
multiple of M, subtrees share the N candidates as evenly as possible (earlier subtrees take
the odd ones), so every step still samples N candidates in all.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

from outthink.events import BeamKept, BeamPruned, Event
from outthink.search.config import SearchConfig
from outthink.search.context import Candidate, SearchContext, finish_reason
from outthink.search.strategies import StrategySpec, register
from outthink.search.strategies.beam import (
    discard,
    expand,
    final_step_sampling,
    rank_key,
    score_steps,
    sequences,
    split_budget,
)
from outthink.search.strategies.best_of_n import selection_event

__all__ = ["dvts"]


@dataclass(slots=True)
class _Subtree:
    index: int
    share: int  # candidates it samples per step (M, or N's share when N % M != 0)
    cands: list[Candidate]  # this step's candidates


def dvts(ctx: SearchContext, cfg: SearchConfig) -> Generator[Event, None, list[Candidate]]:
    """Run every subtree to the end; yields events, returns one solution per subtree, by id."""
    shares = split_budget(cfg.n, max(1, cfg.n // cfg.width))
    seqs = iter(ctx.generator.start(ctx.prompt.text, cfg.n, cfg.sampling()))
    subtrees = []
    for index, share in enumerate(shares):
        cands = [ctx.new_candidate(next(seqs)) for _ in range(share)]
        for cand in cands:
            ctx.verifier.add(cand.id)
        subtrees.append(_Subtree(index, share, cands))
    solutions: list[Candidate] = []
    while subtrees:
        ctx.cancel.check()
        active = [cand for tree in subtrees for cand in tree.cands]
        for cand in active:
            if len(cand.steps) == cfg.max_steps - 1:
                ctx.generator.set_sampling(cand.seq, final_step_sampling(cfg, cand))
        outs = yield from ctx.extend(active)
        kept = yield from score_steps(ctx, list(zip(active, outs, strict=True)), cfg)
        for cand, out in kept:
            reason = finish_reason(cand, out, cfg)
            if reason:
                cand.finished, cand.reason = True, reason
        # Only a candidate that proposed a step this round has a node of its own to mark; one
        # whose step began the next few-shot problem still points at its parent's node.
        stepped = {cand.id for cand, _ in kept}
        still = []
        for tree in subtrees:
            # The choice looks at this subtree's candidates only.
            best = min(tree.cands, key=lambda c: rank_key(c, cfg.agg))
            if best.id in stepped:
                assert best.node is not None
                yield BeamKept(best.id, best.node, best.score(cfg.agg))
            for cand in tree.cands:
                if cand is not best:
                    if cand.id in stepped:
                        assert cand.node is not None
                        yield BeamPruned(cand.id, cand.node, cand.score(cfg.agg), reason="score")
                    discard(ctx, cand)
            if best.finished:
                discard(ctx, best)
                solutions.append(best)
                yield ctx.finished_event(best, cfg.agg)
            else:
                tree.cands = expand(ctx, best, tree.share)
                still.append(tree)
        subtrees = still
    return sorted(solutions, key=lambda c: c.id)


def run(ctx: SearchContext, cfg: SearchConfig) -> Iterator[Event]:
    solutions = yield from dvts(ctx, cfg)
    yield selection_event(solutions, cfg, ctx.informative)


register(
    StrategySpec(
        name="dvts",
        description="Diverse verifier tree search: N/M independent subtrees, each expanding M "
        "candidates per step and keeping its best; one solution per subtree. Best at large "
        "N and on easy or medium problems.",
        run=run,
        sequences=sequences,
        uses_width=True,
    )
)
