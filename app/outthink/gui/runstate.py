"""The run as the views see it: the core's :class:`~outthink.search.runmodel.RunModel`, plus
what changed since the last repaint. No Qt here.

The model is the one fold of the event stream (``outthink solve --json`` prints the same
model); :meth:`RunState.apply` folds one event into it and reports which cards, the tree or
the selection need repainting, and keeps the run's wall-clock time for the live counters.

Timing per candidate (time to first token, tokens per second) is measured here, from the times
the window received each candidate's text (the controller passes them in); the events carry no
clock, so a saved run that is opened again has none.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    TokensGenerated,
)
from outthink.search.runmodel import CandidateInfo, NodeInfo, RunModel

__all__ = ["CandidateInfo", "Changes", "NodeInfo", "RunState"]


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


#: Events about one candidate that also change the tree (the node's score, state or children).
_TREE_EVENTS = (StepScored, BeamKept, BeamPruned, CandidateFinished)
#: Shorter than this, a candidate's tokens per second would be noise: not shown.
MIN_RATE_SECONDS = 0.2


class RunState(RunModel):
    """Everything known about the current run. ``status``: idle, running, finished,
    cancelled or failed. One state serves run after run: a ``RunStarted`` starts afresh."""

    def reset(self) -> None:
        super().reset()
        self.started_at: float | None = None
        self.ended_at: float | None = None
        #: Live text deltas seen: one per decoded token of a candidate (a token that completes
        #: no character yet shows up in the next one), the live token count before a step ends.
        self.streamed_tokens = 0
        #: When the window received each candidate's first and latest text, and when it
        #: stopped writing (finished, kept or pruned); only for a run received live.
        self.first_text_at: dict[int, float] = {}
        self.last_text_at: dict[int, float] = {}
        self.done_at: dict[int, float] = {}
        #: Tokens streamed per candidate since its last proposed step.
        self.live_tokens: dict[int, int] = {}

    # ------------------------------------------------------------------ folding

    def apply_all(
        self, events: Iterable[Event], arrivals: Iterable[float] | None = None
    ) -> Changes:
        """Fold ``events``; ``arrivals``: when each was received (``time.perf_counter``), for
        the timing of a live run."""
        changes = Changes()
        if arrivals is None:
            for ev in events:
                changes.merge(self.apply(ev))
        else:
            for ev, at in zip(events, arrivals, strict=True):
                changes.merge(self.apply(ev, at))
        return changes

    def apply(self, ev: Event, at: float | None = None) -> Changes:
        """Fold one event. ``at``: when it was received, for a live run's timing (None for a
        saved run: no timing is made up for it)."""
        ch = Changes()
        if isinstance(ev, RunStarted):
            self.reset()
            self.fold(ev)
            self.started_at = at if at is not None else time.perf_counter()
            # Not ``ch.started``: the views were cleared when the controller started the run
            # (and may already show the run's empty cards); clearing again would rebuild them.
            return ch
        known = len(self.candidates)
        chosen = self._chosen() if isinstance(ev, AnswerSelected) else set()
        self.fold(ev)
        ch.new_candidates = len(self.candidates) > known
        if at is not None:
            self._time(ev, at)
        if isinstance(ev, TokensGenerated):
            self.streamed_tokens += 1
            self.live_tokens[ev.candidate] = self.live_tokens.get(ev.candidate, 0) + 1
            ch.candidates.add(ev.candidate)
        elif isinstance(ev, StepProposed):
            self.live_tokens.pop(ev.candidate, None)
            ch.candidates.add(ev.candidate)
            ch.tree = True
        elif isinstance(ev, _TREE_EVENTS):
            ch.candidates.add(ev.candidate)
            ch.tree = True
        elif isinstance(ev, AnswerGraded):
            ch.candidates.add(ev.candidate)
            ch.selection = ch.tree = True
        elif isinstance(ev, AnswerSelected):
            ch.candidates |= chosen ^ self._chosen()  # cards whose "chosen" mark flipped
            ch.selection = ch.tree = True
        elif isinstance(ev, RunFinished | RunFailed):
            self.ended_at = time.perf_counter()
            ch.finished = True
        return ch

    def _time(self, ev: Event, at: float) -> None:
        if isinstance(ev, TokensGenerated | StepProposed):
            self.first_text_at.setdefault(ev.candidate, at)
            self.last_text_at[ev.candidate] = at
        elif isinstance(ev, CandidateFinished | BeamPruned | BeamKept):
            # A kept beam writes no more: its children continue it.
            self.done_at.setdefault(ev.candidate, at)

    def _chosen(self) -> set[int]:
        return {c.id for c in self.candidates.values() if c.selected}

    # ------------------------------------------------------------------ queries

    def solution_text(self, cid: int) -> str:
        """The candidate's whole solution as written: every step from the first (a beam's
        inherited prefix included), then the text of a step still being written."""
        cand = self.candidates.get(cid)
        if cand is None:
            return ""
        return ("".join(n.text for n in self.path(cid)) + cand.live_text).strip()

    def candidate_tokens(self, cid: int) -> int:
        """Tokens the candidate wrote itself: its proposed steps and the step being written."""
        own = sum(n.tokens for n in self.own_steps(cid))
        return own + self.live_tokens.get(cid, 0)

    def first_token_seconds(self, cid: int | None = None) -> float | None:
        """Seconds from the run's start (its model loaded) to the first text of candidate
        ``cid`` (of any candidate: None). None when not measured (a saved run)."""
        if self.started_at is None:
            return None
        if cid is None:
            first = min(self.first_text_at.values(), default=None)
        else:
            first = self.first_text_at.get(cid)
        return None if first is None else max(0.0, first - self.started_at)

    def candidate_rate(self, cid: int) -> float | None:
        """The candidate's tokens per second after its first token, until it ended (now,
        while it writes); None when not measured or too short to say."""
        first = self.first_text_at.get(cid)
        if first is None:
            return None
        if self.running and cid not in self.done_at:
            end = time.perf_counter()
        else:  # its last text, not its end: scoring the last step is not writing
            end = self.last_text_at.get(cid, first)
        tokens = self.candidate_tokens(cid) - 1  # the first token arrived at ``first``
        if end - first < MIN_RATE_SECONDS or tokens <= 0:
            return None
        return tokens / (end - first)

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
        """Policy tokens: the engine's count once the run ended; while it runs, the tokens of
        the proposed steps or of the streamed text, whichever is more."""
        if "policy_tokens" in self.usage:
            return int(self.usage["policy_tokens"] or 0)
        return max(self.policy_tokens, self.streamed_tokens)

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
