"""What a strategy works with, and the helpers every strategy shares.

Reasoning models (:mod:`outthink.thinking`): the context follows each candidate's thinking
block step by step. A step that is (partly) thinking is marked as such; the step that ends a
block is followed by a :class:`~outthink.events.ThinkingEnded` event with the block's tokens and
times; a thinking budget limits the steps of a thinking candidate to what is left of it, and
when it is spent the block is closed for the candidate (the closing tag is appended to its
sequence) so that it answers. Verifiers that look at the final solution only never see the
thinking steps: those steps get no score.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace

from outthink.answers import has_final_answer
from outthink.events import (
    CandidateFinished,
    Event,
    StepProposed,
    StepScored,
    ThinkingEnded,
    TokensGenerated,
)
from outthink.generation import CancelToken, StepGenerator, StepOutput
from outthink.prompts import Prompt
from outthink.search.config import SearchConfig
from outthink.search.selection import aggregate
from outthink.thinking import (
    FORCE_CLOSE,
    THINK_CLOSE,
    THINK_OPEN,
    AnswerSource,
    answer_of,
    states_answer,
    step_parts,
    strip_tags,
)
from outthink.verifiers.base import StepRecord, Unchecked, VerifierSession


@dataclass(slots=True)
class Candidate:
    """One candidate solution (a Best-of-N sample or a beam) as the strategy tracks it."""

    id: int
    seq: int
    parent: int | None = None  # candidate it was forked from
    node: int | None = None  # last step node
    steps: list[str] = field(default_factory=list)
    #: Scores of the steps the verifier saw, in order (thinking steps a verifier of final
    #: solutions does not see have none).
    scores: list[float] = field(default_factory=list)
    finished: bool = False
    reason: str = ""
    #: Its text starts inside a thinking block (the prompt opened it).
    opens_in_thinking: bool = False
    #: Inside a thinking block now.
    thinking: bool = False
    #: Tokens of thinking so far, all blocks, and of the block it is in.
    think_tokens: int = 0
    block_tokens: int = 0
    #: Run seconds when the open block began (None: not in a block).
    block_started: float | None = None
    #: Each step's text outside thinking blocks.
    visible: list[str] = field(default_factory=list)
    #: Run seconds of the first and the latest token of the step being written.
    step_first: float | None = None
    step_last: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.steps)

    def score(self, how: str) -> float:
        return aggregate(self.scores, how)

    @property
    def answer(self) -> str | None:
        return answer_of(self.text, inside=self.opens_in_thinking)[0]

    @property
    def answer_source(self) -> AnswerSource:
        """Where :attr:`answer` came from (see :func:`outthink.thinking.answer_of`)."""
        return answer_of(self.text, inside=self.opens_in_thinking)[1]

    def continued(self, cid: int, seq: int) -> Candidate:
        """A new candidate that continues this one (beam search): its steps, scores and
        thinking so far, its own id and sequence."""
        return replace(
            self,
            id=cid,
            seq=seq,
            parent=self.id,
            steps=list(self.steps),
            scores=list(self.scores),
            visible=list(self.visible),
            finished=False,
            reason="",
        )


@dataclass(frozen=True, slots=True)
class StepView:
    """One step as the thinking sees it."""

    thinking: bool  # part of the step is thinking
    visible: str  # its text outside thinking blocks
    inside: bool  # it ends inside a thinking block


@dataclass(slots=True)
class SearchContext:
    problem: str
    prompt: Prompt
    generator: StepGenerator
    verifier: VerifierSession
    cancel: CancelToken = field(default_factory=CancelToken)
    #: False when the verifier's scores carry no information (selection falls back to votes)
    informative: bool = True
    #: Most thinking tokens per candidate before its thinking block is closed (0 = no limit).
    thinking_budget: int = 0
    #: The verifier scores thinking steps too (False: only the final solution's steps).
    sees_thinking: bool = True
    started: float = field(default_factory=time.perf_counter)
    _next_node: int = 0
    _next_candidate: int = 0

    def new_node(self) -> int:
        self._next_node += 1
        return self._next_node - 1

    def new_candidate_id(self) -> int:
        self._next_candidate += 1
        return self._next_candidate - 1

    def new_candidate(self, seq: int) -> Candidate:
        """A fresh candidate on sequence ``seq`` (inside a thinking block if the prompt
        opened one)."""
        inside = self.prompt.thinking_open
        return Candidate(
            id=self.new_candidate_id(), seq=seq, opens_in_thinking=inside, thinking=inside
        )

    def now(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def thinking_room(self, cand: Candidate) -> int:
        """Tokens a candidate may still think this step (0: no limit applies)."""
        if self.thinking_budget <= 0:
            return 0
        # A model that thinks opens its block with its first token.
        expecting = self.prompt.thinks and not cand.steps
        if not (cand.thinking or expecting):
            return 0
        return max(1, self.thinking_budget - cand.think_tokens)

    def extend(self, cands: Sequence[Candidate]) -> Generator[Event, None, list[StepOutput]]:
        """Extend every candidate by one step, streaming their text as events."""
        by_seq = {c.seq: c for c in cands}
        limits = {c.seq: room for c in cands if (room := self.thinking_room(c))}
        seqs = [c.seq for c in cands]
        gen = self.generator.extend(seqs, limits) if limits else self.generator.extend(seqs)
        for cand in cands:
            cand.step_first = None
        while True:
            try:
                deltas = next(gen)
            except StopIteration as stop:
                return list(stop.value)
            now = self.now()
            for seq, text in deltas.items():
                cand = by_seq[seq]
                if cand.step_first is None:
                    cand.step_first = now
                cand.step_last = now
                yield TokensGenerated(cand.id, text)

    def view_step(self, text: str, inside: bool) -> StepView:
        """How a step that starts ``inside`` a thinking block (or not) reads."""
        thought, visible, ends_inside = step_parts(text, inside=inside)
        thinking = inside or ends_inside or THINK_OPEN in text or THINK_CLOSE in text
        return StepView(bool(thinking or thought), visible, ends_inside)

    def record(self, text: str, view: StepView, out: StepOutput) -> StepRecord | None:
        """What the verifier sees of a step: None for thinking it does not look at (a step
        with a solution part after its thinking shows that part)."""
        if view.thinking:
            text = strip_tags(text) if self.sees_thinking else view.visible
        return StepRecord(text, out.tokens, out.logprobs) if text.strip() else None

    def ends_solution(self, step: str) -> bool:
        """A step that starts a new few-shot problem means the solution already ended."""
        head = step.lstrip()
        return any(head.startswith(m) for m in self.prompt.end_markers)

    def propose_steps(
        self, pairs: Sequence[tuple[Candidate, StepOutput]]
    ) -> Generator[Event, None, tuple[list[tuple[Candidate, StepOutput]], dict[int, StepRecord]]]:
        """Append one new step to each candidate and announce it.

        Returns the pairs whose step was kept (a step the thinking budget ended carries the
        appended closing tag) and the records to score. A step that begins the next few-shot
        problem is not a step of this solution: its candidate is marked finished instead.
        """
        kept = []
        records: dict[int, StepRecord] = {}
        for cand, out in pairs:
            if self.ends_solution(out.text):
                cand.finished, cand.reason = True, "answer" if cand.answer else "eog"
                continue
            view = self.view_step(out.text, cand.thinking)
            if view.thinking:
                if cand.block_started is None:
                    first = cand.step_first if cand.step_first is not None else self.now()
                    cand.block_started = first
                cand.think_tokens += len(out.tokens)
                cand.block_tokens += len(out.tokens)
            how = ""
            if view.thinking and not view.inside:
                how = "closed"
            elif view.inside and out.finished:
                how = "unfinished"
            elif view.inside and 0 < self.thinking_budget <= cand.think_tokens:
                # The budget is spent: close the block for it, so that it answers.
                self.generator.inject(cand.seq, FORCE_CLOSE)
                out = replace(out, text=out.text + FORCE_CLOSE, stop="thinking_budget")
                view = replace(view, inside=False)
                how = "budget"
            node = self.new_node()
            yield StepProposed(
                node=node,
                parent=cand.node,
                candidate=cand.id,
                index=len(cand.steps),
                text=out.text,
                tokens=len(out.tokens),
                stop=out.stop,
                thinking=view.thinking,
            )
            if how:
                started = cand.block_started if cand.block_started is not None else self.now()
                ended = self.now() if how == "budget" else max(cand.step_last, started)
                yield ThinkingEnded(cand.id, node, cand.block_tokens, started, ended, how)
                cand.block_started, cand.block_tokens = None, 0
            cand.thinking = view.inside
            cand.node = node
            cand.steps.append(out.text)
            cand.visible.append(view.visible)
            record = self.record(out.text, view, out)
            if record is not None:
                records[cand.id] = record
            kept.append((cand, out))
        return kept, records

    def publish_scores(
        self, kept: Sequence[tuple[Candidate, StepOutput]], scores: dict[int, float], agg: str
    ) -> Iterator[Event]:
        for cand, _out in kept:
            if cand.id not in scores:  # thinking the verifier does not look at: no score
                continue
            raw = scores[cand.id]
            s = float(raw)
            cand.scores.append(s)
            assert cand.node is not None
            checked = not isinstance(raw, Unchecked)
            yield StepScored(cand.node, cand.id, s, cand.score(agg), checked)

    def record_steps(
        self,
        pairs: Sequence[tuple[Candidate, StepOutput]],
        cfg: SearchConfig,
    ) -> Generator[Event, None, list[tuple[Candidate, StepOutput]]]:
        """Propose one new step per candidate and score them all in one verifier call."""
        kept, records = yield from self.propose_steps(pairs)
        scores = self.verifier.score(records) if records else {}
        yield from self.publish_scores(kept, scores, cfg.agg)
        return kept


    def finished_event(self, cand: Candidate, agg: str) -> CandidateFinished:
        """The candidate's :class:`CandidateFinished`, its answer's source included."""
        answer, source = answer_of(cand.text, inside=cand.opens_in_thinking)
        return CandidateFinished(
            cand.id, cand.node, answer, cand.score(agg), cand.reason, answer_source=source
        )


def finish_reason(cand: Candidate, out: StepOutput, cfg: SearchConfig) -> str | None:
    """Why a candidate is complete after this step, or None if it goes on. A final answer
    inside the thinking ("so it is \\boxed{5}? Wait...") ends nothing."""
    if out.stop == "eog":
        return "eog"
    if out.stop == "length":
        return "length"
    if states_answer(cand.visible[-1]) if cand.visible else has_final_answer(out.text):
        return "answer"
    if len(cand.steps) >= cfg.max_steps:
        return "steps"
    return None
