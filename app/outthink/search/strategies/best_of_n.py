"""Best-of-N: sample N full solutions in parallel, score their steps, select one answer.

``greedy`` (one sample at temperature 0, the baseline) is Best-of-N with N = 1.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from outthink.events import AnswerSelected, Event
from outthink.search.config import SearchConfig
from outthink.search.context import Candidate, SearchContext, finish_reason
from outthink.search.selection import Scored, announce_selection
from outthink.search.strategies import StrategySpec, register


def sample_solutions(
    ctx: SearchContext, cfg: SearchConfig
) -> Generator[Event, None, list[Candidate]]:
    """Generate N complete, scored solutions; yields events, returns the candidates."""
    seqs = ctx.generator.start(ctx.prompt.text, cfg.n, cfg.sampling())
    cands = [ctx.new_candidate(s) for s in seqs]
    for c in cands:
        ctx.verifier.add(c.id)
    yield from complete_solutions(ctx, cfg, cands)
    return cands


def complete_solutions(
    ctx: SearchContext, cfg: SearchConfig, cands: list[Candidate]
) -> Iterator[Event]:
    """Generate and score the candidates' solutions step by step to the end; a finished
    candidate's policy and verifier sequences are freed at once."""
    live = list(cands)
    while live:
        ctx.cancel.check()
        outs = yield from ctx.extend(live)
        kept = yield from ctx.record_steps(list(zip(live, outs, strict=True)), cfg)
        for cand, out in kept:
            reason = finish_reason(cand, out, cfg)
            if reason:
                cand.finished, cand.reason = True, reason
        for cand in live:
            if cand.finished:
                ctx.generator.drop(cand.seq)
                ctx.verifier.drop(cand.id)
                yield ctx.finished_event(cand, cfg.agg)
        live = [c for c in live if not c.finished]


def selection_event(cands: list[Candidate], cfg: SearchConfig, informative: bool) -> AnswerSelected:
    scored = [Scored(c.id, c.answer, c.score(cfg.agg) if c.scores else None) for c in cands]
    return announce_selection(scored, cfg.select, informative=informative)


def run(ctx: SearchContext, cfg: SearchConfig) -> Iterator[Event]:
    cands = yield from sample_solutions(ctx, cfg)
    yield selection_event(cands, cfg, ctx.informative)


register(
    StrategySpec(
        name="best-of-n",
        description="Sample N full solutions in parallel and pick one answer "
        "(vanilla: best score; majority: most votes; weighted: highest summed score).",
        run=run,
        sequences=lambda cfg: cfg.n,
    )
)

register(
    StrategySpec(
        name="greedy",
        description="One solution at temperature 0: the baseline without search.",
        run=run,
        sequences=lambda cfg: 1,
        prepare=lambda cfg: cfg.with_(n=1, temperature=0.0, select="vanilla"),
    )
)
