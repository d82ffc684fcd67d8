"""The one fold of a run's event stream: the picture of the run every reader shares. No Qt here.

The search core emits small frozen events (:mod:`outthink.events`). :class:`RunModel` folds
them, one at a time, into candidates, steps with their scores, answers, the selection, usage
and the search tree. :func:`outthink.search.summary.summarize` prints a finished model as the
JSON of ``outthink solve --json``; the GUI's :class:`outthink.gui.runstate.RunState` extends
it with what each event changed (so views repaint only that) while the run goes on.

A candidate's whole solution is its :meth:`RunModel.path`: in beam search a beam continues a
node written by another candidate, so the path walks the node parents back to the first step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Self

from outthink.events import (
    AnswerGraded,
    AnswerSelected,
    BeamKept,
    BeamPruned,
    CandidateFinished,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
    StepProposed,
    StepScored,
    ThinkingEnded,
    TokensGenerated,
)

NodeState = str  # "open", "kept", "pruned", "finished"


@dataclass(slots=True)
class NodeInfo:
    """One step: a node of the search tree."""

    node: int
    parent: int | None
    candidate: int
    index: int
    text: str
    tokens: int
    stop: str
    score: float | None = None
    checked: bool = True  # False: the verifier had nothing to check in this step
    state: NodeState = "open"
    pruned_because: str = ""  # BeamPruned's reason: "score" or "duplicate"
    thinking: bool = False  # part of the step is thinking (a reasoning model's <think> block)


@dataclass(frozen=True, slots=True)
class ThinkingSummary:
    """A candidate's thinking along its whole solution (a beam's inherited steps included):
    every block together, so that the times of several blocks add up."""

    tokens: int  # tokens of its thinking steps
    seconds: float  # the blocks' times added up (the open block's not yet)
    blocks: int  # blocks, the open one included
    open: bool  # still thinking
    budget: bool  # a block was closed by the thinking budget
    unfinished: bool  # it ended inside a block (no solution after the thinking)
    first: float | None  # run seconds when its first block began (None: not known yet)

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


@dataclass(slots=True)
class CandidateInfo:
    """One column: a Best-of-N sample or a beam."""

    id: int
    #: Its own steps (node ids), in the order proposed; a beam's inherited prefix is not here.
    nodes: list[int] = field(default_factory=list)
    live_text: str = ""  # text of the step being written (cleared when the step is proposed)
    aggregate: float | None = None  # the score so far under the run's aggregation
    answer: str | None = None
    finished: bool = False
    reason: str = ""  # why it finished (CandidateFinished's reason)
    pruned: bool = False
    pruned_because: str = ""
    selected: bool = False
    #: Its answer against the run's reference answer (None: not graded).
    correct: bool | None = None
    #: False while all the stream said of it is streamed text: no step, score, prune or end of
    #: its own yet (the summary leaves such candidates out; the GUI shows them writing).
    reported: bool = False
    #: Where its answer came from when it thought: "solution" or "thinking" (see
    #: :func:`outthink.thinking.answer_of`); "" when it did not think.
    answer_source: str = ""

    @property
    def last_node(self) -> int | None:
        return self.nodes[-1] if self.nodes else None


class RunModel:
    """Everything the event stream says about one run. ``status``: idle (no event yet),
    running, finished, cancelled or failed."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.problem = ""
        self.config: dict[str, Any] = {}
        self.candidates: dict[int, CandidateInfo] = {}
        self.nodes: dict[int, NodeInfo] = {}
        self.children: dict[int | None, list[int]] = {}
        self.selection: AnswerSelected | None = None
        self.usage: dict[str, Any] = {}
        self.status = "idle"
        self.error: tuple[str, str] | None = None  # (message, hint) of a failed run
        self.policy_tokens = 0  # tokens of proposed steps, while usage is not known yet
        self.reference: str | None = None  # the reference answer the run was graded against
        #: Thinking blocks that ended, by the node (step) that ended them.
        self.thoughts: dict[int, ThinkingEnded] = {}

    @classmethod
    def of(cls, events: Iterable[Event]) -> Self:
        model = cls()
        model.fold_all(events)
        return model

    # ------------------------------------------------------------------ folding

    def fold_all(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.fold(ev)

    def fold(self, ev: Event) -> None:
        if isinstance(ev, TokensGenerated):
            self.candidate(ev.candidate, reported=False).live_text += ev.text
        elif isinstance(ev, StepProposed):
            cand = self.candidate(ev.candidate)
            self.nodes[ev.node] = NodeInfo(
                ev.node, ev.parent, ev.candidate, ev.index, ev.text, ev.tokens, ev.stop,
                thinking=ev.thinking,
            )
            self.children.setdefault(ev.parent, []).append(ev.node)
            cand.nodes.append(ev.node)
            cand.live_text = ""
            self.policy_tokens += ev.tokens
        elif isinstance(ev, ThinkingEnded):
            self.candidate(ev.candidate)
            self.thoughts[ev.node] = ev
        elif isinstance(ev, StepScored):
            cand = self.candidate(ev.candidate)
            node = self.nodes.get(ev.node)
            if node is not None:
                node.score, node.checked = ev.score, ev.checked
            cand.aggregate = ev.aggregate
        elif isinstance(ev, BeamKept):
            # The kept candidate proposed that node: keeping it says nothing new of it.
            self.candidate(ev.candidate, reported=False)
            if ev.node in self.nodes:
                self.nodes[ev.node].state = "kept"
        elif isinstance(ev, BeamPruned):
            cand = self.candidate(ev.candidate)
            cand.pruned, cand.pruned_because, cand.live_text = True, ev.reason, ""
            if ev.node in self.nodes:
                node = self.nodes[ev.node]
                node.state, node.pruned_because = "pruned", ev.reason
        elif isinstance(ev, CandidateFinished):
            cand = self.candidate(ev.candidate)
            cand.finished, cand.reason, cand.answer = True, ev.reason, ev.answer
            cand.answer_source = ev.answer_source
            if ev.score is not None:
                cand.aggregate = ev.score
            # Text streamed after the last kept step is not part of the solution (a base
            # model running on into the next few-shot problem): drop it, unless the run was
            # stopped, where the user wants to see everything that was produced.
            if ev.reason != "cancelled":
                cand.live_text = ""
            if ev.node is not None and ev.node in self.nodes:
                self.nodes[ev.node].state = "finished"
        elif isinstance(ev, AnswerGraded):
            self.candidate(ev.candidate).correct = ev.correct
            self.reference = ev.reference
        elif isinstance(ev, AnswerSelected):
            self.selection = ev
            for cand in self.candidates.values():
                cand.selected = ev.candidate is not None and cand.id == ev.candidate
        elif isinstance(ev, RunStarted):
            self.problem, self.config = ev.problem, dict(ev.config)
            self.status = "running"
        elif isinstance(ev, RunFinished):
            self.usage = dict(ev.usage)
            self.status = "cancelled" if ev.cancelled else "finished"
        elif isinstance(ev, RunFailed):
            self.usage = dict(ev.usage)
            self.status = "failed"
            self.error = (ev.error, ev.hint)

    def candidate(self, cid: int, *, reported: bool = True) -> CandidateInfo:
        """The candidate ``cid``, created on first mention."""
        cand = self.candidates.get(cid)
        if cand is None:
            cand = self.candidates[cid] = CandidateInfo(cid)
            sel = self.selection
            cand.selected = sel is not None and sel.candidate == cid
        cand.reported |= reported
        return cand

    # ------------------------------------------------------------------ queries

    def chain(self, node_id: int | None) -> list[NodeInfo]:
        """The steps from the first one down to ``node_id`` (none for ``None``)."""
        out: list[NodeInfo] = []
        seen: set[int] = set()
        while node_id is not None and node_id in self.nodes and node_id not in seen:
            seen.add(node_id)
            node = self.nodes[node_id]
            out.append(node)
            node_id = node.parent
        out.reverse()
        return out

    def reranked(self, rule: str, agg: str) -> tuple[dict[int, float], AnswerSelected | None]:
        """The finished run ranked again under another selection rule or aggregation: every
        step's score is in the stream, so nothing is generated or scored again. Returns each
        finished candidate's new aggregate and the new selection (None: nothing finished).
        Slow (answers are compared with math-verify): not on a GUI thread."""
        from outthink.search.selection import Scored, aggregate, announce_selection

        aggregates: dict[int, float] = {}
        scored = []
        for cid in sorted(self.candidates):
            cand = self.candidates[cid]
            if not cand.finished or cand.pruned:
                continue
            steps = [n.score for n in self.path(cid) if n.score is not None]
            value = aggregate(steps, agg) if steps else None
            if value is not None:
                aggregates[cid] = value
            scored.append(Scored(cid, cand.answer, value))
        if not scored:
            return aggregates, None
        return aggregates, announce_selection(
            scored, rule, preface=f"Ranked again with {rule} selection and {agg} aggregation: "
        )

    def chosen_correct(self) -> bool | None:
        """Whether the selected answer is right (None: no reference, or nothing chosen)."""
        sel = self.selection
        if sel is None or sel.candidate is None or sel.candidate not in self.candidates:
            return None
        return self.candidates[sel.candidate].correct

    def path(self, cid: int) -> list[NodeInfo]:
        """The candidate's steps from the first, inherited prefix included."""
        cand = self.candidates.get(cid)
        return self.chain(cand.last_node if cand else None)

    def own_steps(self, cid: int) -> list[NodeInfo]:
        """The steps the candidate wrote itself."""
        cand = self.candidates.get(cid)
        return [self.nodes[n] for n in cand.nodes if n in self.nodes] if cand else []

    def thinking_of(self, cid: int) -> ThinkingSummary | None:
        """The candidate's thinking along its solution, or None when it has not thought."""
        path = self.path(cid)
        steps = [n for n in path if n.thinking]
        if not steps:
            return None
        spans = [self.thoughts[n.node] for n in path if n.node in self.thoughts]
        open_block = steps[-1].node not in self.thoughts
        cand = self.candidates.get(cid)
        ended = cand is not None and (cand.finished or cand.pruned)
        return ThinkingSummary(
            tokens=sum(n.tokens for n in steps),
            seconds=sum(max(0.0, s.ended - s.started) for s in spans),
            blocks=len(spans) + open_block,
            # a candidate that ended with a block open will not think on in it
            open=open_block and not ended,
            budget=any(s.how == "budget" for s in spans),
            unfinished=(open_block and ended) or (bool(spans) and spans[-1].how == "unfinished"),
            first=spans[0].started if spans else None,
        )

    def inherited(self, cid: int) -> list[NodeInfo]:
        """The steps its ancestors wrote before the candidate's first own step (beam search)."""
        own = self.own_steps(cid)
        return self.chain(own[0].parent) if own else []
