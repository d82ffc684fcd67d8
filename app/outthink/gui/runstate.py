"""Fold the core's event stream, incrementally, into what the views draw. No Qt here.

:func:`outthink.search.summary.summarize` folds a *finished* stream into the JSON summary;
the views need the same picture while the run goes on (live text of the step being written,
which cards changed since the last repaint), so this keeps a mutable state that
:meth:`RunState.apply` updates one event at a time and reports what changed.

A candidate's card shows its whole solution: in beam search a beam continues a parent node
written by another candidate, so :meth:`RunState.path` walks the node parents back to the
first step.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from outthink.events import (
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
    state: NodeState = "open"
    pruned_because: str = ""  # BeamPruned's reason: "score" or "duplicate"


@dataclass(slots=True)
class CandidateInfo:
    """One column: a Best-of-N sample or a beam."""

    id: int
    last_node: int | None = None
    live_text: str = ""  # text of the step being written (cleared when the step is proposed)
    aggregate: float | None = None
    answer: str | None = None
    finished: bool = False
    reason: str = ""
    pruned: bool = False
    pruned_because: str = ""
    selected: bool = False


@dataclass(slots=True)
class Changes:
    """What one batch of events changed, so views repaint only that."""

    candidates: set[int] = field(default_factory=set)
    new_candidates: bool = False
    tree: bool = False
    selection: bool = False
    finished: bool = False
    #: A new run (or a saved one) replaces what the views show: they start from scratch.
    started: bool = False
    #: On start: how many candidates the run begins with (cards can be built while the model
    #: loads, instead of all at once when the first tokens arrive).
    expected: int = 0

    def merge(self, other: Changes) -> None:
        self.candidates |= other.candidates
        self.new_candidates |= other.new_candidates
        self.tree |= other.tree
        self.selection |= other.selection
        self.finished |= other.finished
        self.started |= other.started
        self.expected = max(self.expected, other.expected)

    @property
    def empty(self) -> bool:
        return not (
            self.candidates
            or self.new_candidates
            or self.tree
            or self.selection
            or self.finished
            or self.started
        )


class RunState:
    """Everything known about the current run. ``status``: idle, running, finished,
    cancelled or failed."""

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
        self.error: tuple[str, str] | None = None
        self.policy_tokens = 0  # tokens of proposed steps, while usage is not known yet
        self.started_at: float | None = None
        self.ended_at: float | None = None

    # ------------------------------------------------------------------ folding

    def apply_all(self, events: Iterable[Event]) -> Changes:
        changes = Changes()
        for ev in events:
            changes.merge(self.apply(ev))
        return changes

    def apply(self, ev: Event) -> Changes:
        ch = Changes()
        if isinstance(ev, TokensGenerated):
            cand = self._candidate(ev.candidate, ch)
            cand.live_text += ev.text
            ch.candidates.add(cand.id)
        elif isinstance(ev, StepProposed):
            cand = self._candidate(ev.candidate, ch)
            self.nodes[ev.node] = NodeInfo(
                ev.node, ev.parent, ev.candidate, ev.index, ev.text, ev.tokens, ev.stop
            )
            self.children.setdefault(ev.parent, []).append(ev.node)
            cand.last_node = ev.node
            cand.live_text = ""
            self.policy_tokens += ev.tokens
            ch.candidates.add(cand.id)
            ch.tree = True
        elif isinstance(ev, StepScored):
            cand = self._candidate(ev.candidate, ch)
            node = self.nodes.get(ev.node)
            if node is not None:
                node.score = ev.score
            cand.aggregate = ev.aggregate
            ch.candidates.add(cand.id)
            ch.tree = True
        elif isinstance(ev, BeamKept | BeamPruned):
            cand = self._candidate(ev.candidate, ch)
            node = self.nodes.get(ev.node)
            if node is not None:
                node.state = "kept" if isinstance(ev, BeamKept) else "pruned"
            if isinstance(ev, BeamPruned):
                cand.pruned = True
                cand.pruned_because = ev.reason
                cand.live_text = ""
                if node is not None:
                    node.pruned_because = ev.reason
            ch.candidates.add(cand.id)
            ch.tree = True
        elif isinstance(ev, CandidateFinished):
            cand = self._candidate(ev.candidate, ch)
            cand.finished, cand.reason, cand.answer = True, ev.reason, ev.answer
            if ev.score is not None:
                cand.aggregate = ev.score
            # Text streamed after the last kept step is not part of the solution (a base
            # model running on into the next few-shot problem): drop it, unless the run was
            # stopped, where the user wants to see everything that was produced.
            if ev.reason != "cancelled":
                cand.live_text = ""
            if ev.node is not None and ev.node in self.nodes:
                self.nodes[ev.node].state = "finished"
            ch.candidates.add(cand.id)
            ch.tree = True
        elif isinstance(ev, AnswerSelected):
            self.selection = ev
            for cand in self.candidates.values():
                was = cand.selected
                cand.selected = ev.candidate is not None and cand.id == ev.candidate
                if was != cand.selected:
                    ch.candidates.add(cand.id)
            ch.selection = True
            ch.tree = True
        elif isinstance(ev, RunStarted):
            self.reset()
            self.problem, self.config = ev.problem, dict(ev.config)
            self.status = "running"
            self.started_at = time.perf_counter()
            # Not ``ch.started``: the views were cleared when the controller started the run
            # (and may already show the run's empty cards); clearing again would rebuild them.
        elif isinstance(ev, RunFinished):
            self.usage = dict(ev.usage)
            self.status = "cancelled" if ev.cancelled else "finished"
            self.ended_at = time.perf_counter()
            ch.finished = True
        elif isinstance(ev, RunFailed):
            self.usage = dict(ev.usage)
            self.status = "failed"
            self.error = (ev.error, ev.hint)
            self.ended_at = time.perf_counter()
            ch.finished = True
        return ch

    def _candidate(self, cid: int, ch: Changes) -> CandidateInfo:
        cand = self.candidates.get(cid)
        if cand is None:
            cand = self.candidates[cid] = CandidateInfo(cid)
            ch.new_candidates = True
        return cand

    # ------------------------------------------------------------------ queries

    def path(self, cid: int) -> list[NodeInfo]:
        """The candidate's steps from the first, inherited prefix included."""
        cand = self.candidates.get(cid)
        out: list[NodeInfo] = []
        node_id = cand.last_node if cand else None
        seen: set[int] = set()
        while node_id is not None and node_id in self.nodes and node_id not in seen:
            seen.add(node_id)
            node = self.nodes[node_id]
            out.append(node)
            node_id = node.parent
        out.reverse()
        return out

    def selected_path(self) -> set[int]:
        """Nodes on the chosen candidate's path (highlighted in the tree)."""
        if self.selection is None or self.selection.candidate is None:
            return set()
        return {n.node for n in self.path(self.selection.candidate)}

    @property
    def running(self) -> bool:
        return self.status == "running"

    def elapsed(self) -> float:
        if "seconds" in self.usage:
            return float(self.usage["seconds"] or 0.0)
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else time.perf_counter()
        return end - self.started_at

    def tokens(self) -> int:
        """Policy tokens: the engine's count once the run ended, proposed steps before."""
        if "policy_tokens" in self.usage:
            return int(self.usage["policy_tokens"] or 0)
        return self.policy_tokens

    def answer_groups(self) -> list[tuple[str, int, float]]:
        """(answer, votes, summed score) per group: the selection's own numbers at the end,
        a live tally of finished candidates (exact strings) before."""
        if self.selection is not None and self.selection.votes:
            sel = self.selection
            return [
                (ans, int(votes), float(sel.group_scores.get(ans, 0.0) or 0.0))
                for ans, votes in sel.votes.items()
            ]
        tally: dict[str, tuple[int, float]] = {}
        for cand in self.candidates.values():
            if cand.finished and cand.answer is not None:
                votes, score = tally.get(cand.answer, (0, 0.0))
                tally[cand.answer] = (votes + 1, score + (cand.aggregate or 0.0))
        return [(a, v, s) for a, (v, s) in tally.items()]

    def winning_group(self) -> str | None:
        """The key of the chosen answer's group in ``selection.votes``.

        Groups are keyed by their first spelling, which may differ from the chosen
        candidate's own (``0.5`` vs ``\\frac{1}{2}``); comparing answers for equivalence is
        too slow for the GUI thread, so the rule's own criterion picks the group then.
        """
        sel = self.selection
        if sel is None or sel.answer is None or not sel.votes:
            return None
        if sel.answer in sel.votes:
            return sel.answer
        scores = sel.group_scores or {}
        if sel.rule == "weighted":
            return max(sel.votes, key=lambda a: (scores.get(a, 0.0), sel.votes[a]))
        if sel.rule == "majority":
            return max(sel.votes, key=lambda a: (sel.votes[a], scores.get(a, 0.0)))
        return None

    def uses_tree(self) -> bool:
        """True when candidates share prefixes or were pruned (beam search, DVTS)."""
        return any(
            n.parent is not None and n.candidate != self.nodes[n.parent].candidate
            for n in self.nodes.values()
            if n.parent in self.nodes
        ) or any(c.pruned for c in self.candidates.values())
