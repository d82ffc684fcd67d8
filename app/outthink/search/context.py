"""What a strategy works with, and the helpers every strategy shares."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field

from outthink.answers import extract_answer, has_final_answer
from outthink.events import Event, StepProposed, StepScored, TokensGenerated
from outthink.generation import CancelToken, StepGenerator, StepOutput
from outthink.prompts import Prompt
from outthink.search.config import SearchConfig
from outthink.search.selection import aggregate
from outthink.verifiers.base import StepRecord, Unchecked, VerifierSession


@dataclass(slots=True)
class Candidate:
    """One candidate solution (a Best-of-N sample or a beam) as the strategy tracks it."""

    id: int
    seq: int
    parent: int | None = None  # candidate it was forked from
    node: int | None = None  # last step node
    steps: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    finished: bool = False
    reason: str = ""

    @property
    def text(self) -> str:
        return "".join(self.steps)

    def score(self, how: str) -> float:
        return aggregate(self.scores, how)

    @property
    def answer(self) -> str | None:
        return extract_answer(self.text)


@dataclass(slots=True)
class SearchContext:
    problem: str
    prompt: Prompt
    generator: StepGenerator
    verifier: VerifierSession
    cancel: CancelToken = field(default_factory=CancelToken)
    #: False when the verifier's scores carry no information (selection falls back to votes)
    informative: bool = True
    _next_node: int = 0
    _next_candidate: int = 0

    def new_node(self) -> int:
        self._next_node += 1
        return self._next_node - 1

    def new_candidate_id(self) -> int:
        self._next_candidate += 1
        return self._next_candidate - 1

    def extend(self, cands: Sequence[Candidate]) -> Generator[Event, None, list[StepOutput]]:
        """Extend every candidate by one step, streaming their text as events."""
        by_seq = {c.seq: c.id for c in cands}
        gen = self.generator.extend([c.seq for c in cands])
        while True:
            try:
                deltas = next(gen)
            except StopIteration as stop:
                return list(stop.value)
            for seq, text in deltas.items():
                yield TokensGenerated(by_seq[seq], text)

    def ends_solution(self, step: str) -> bool:
        """A step that starts a new few-shot problem means the solution already ended."""
        head = step.lstrip()
        return any(head.startswith(m) for m in self.prompt.end_markers)

    def propose_steps(
        self, pairs: Sequence[tuple[Candidate, StepOutput]]
    ) -> Generator[Event, None, tuple[list[tuple[Candidate, StepOutput]], dict[int, StepRecord]]]:
        """Append one new step to each candidate and announce it.

        Returns the pairs whose step was kept and the records to score. A step that begins
        the next few-shot problem is not a step of this solution: its candidate is marked
        finished instead.
        """
        kept = []
        records: dict[int, StepRecord] = {}
        for cand, out in pairs:
            if self.ends_solution(out.text):
                cand.finished, cand.reason = True, "answer" if cand.answer else "eog"
                continue
            node = self.new_node()
            yield StepProposed(
                node=node,
                parent=cand.node,
                candidate=cand.id,
                index=len(cand.steps),
                text=out.text,
                tokens=len(out.tokens),
                stop=out.stop,
            )
            cand.node = node
            cand.steps.append(out.text)
            records[cand.id] = StepRecord(out.text, out.tokens, out.logprobs)
            kept.append((cand, out))
        return kept, records

    def publish_scores(
        self, kept: Sequence[tuple[Candidate, StepOutput]], scores: dict[int, float], agg: str
    ) -> Iterator[Event]:
        for cand, _out in kept:
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


def finish_reason(cand: Candidate, out: StepOutput, cfg: SearchConfig) -> str | None:
    """Why a candidate is complete after this step, or None if it goes on."""
    if out.stop == "eog":
        return "eog"
    if out.stop == "length":
        return "length"
    if has_final_answer(out.text):
        return "answer"
    if len(cand.steps) >= cfg.max_steps:
        return "steps"
    return None
