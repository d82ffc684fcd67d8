"""Events a search run emits. Frozen, JSON-serialisable, rich enough to draw the search tree.

Vocabulary: a *candidate* is one column in the GUI (a Best-of-N sample or a beam); a *node* is
one step of one candidate, with the node it continues as its parent (``None`` for a first step).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"event": self.kind, **data}
        return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # NaN and infinities are not JSON
        return None
    return value


def to_json(data: Any, *, indent: int | None = None) -> str:
    """Strict JSON text (what every parser reads): NaN and infinities become null."""
    return json.dumps(_jsonable(data), ensure_ascii=False, indent=indent, allow_nan=False)


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    problem: str
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TokensGenerated(Event):
    """Live text: new characters of one candidate's current step (for streaming displays)."""

    kind: ClassVar[str] = "tokens"
    candidate: int
    text: str


@dataclass(frozen=True, slots=True)
class StepProposed(Event):
    kind: ClassVar[str] = "step_proposed"
    node: int
    parent: int | None
    candidate: int
    index: int  # 0-based step number within the candidate's solution
    text: str
    tokens: int
    stop: str  # why the step ended: "delimiter", "eog", "length", "thinking_budget"
    #: Part of the step is thinking (reasoning models: inside a ``<think>`` block, tags too).
    thinking: bool = False


@dataclass(frozen=True, slots=True)
class ThinkingEnded(Event):
    """A candidate's thinking block ended with step ``node``, or the candidate ended inside it.

    ``started`` and ``ended`` are seconds since the run started (when the block's first and
    last tokens came): a candidate that thinks more than once has one event per block, and its
    thinking time is the sum. ``how``: "closed" (the model closed it), "budget" (the thinking
    budget ran out and the search closed it), "unfinished" (the candidate ended inside it).
    """

    kind: ClassVar[str] = "thinking_ended"
    candidate: int
    node: int
    tokens: int
    started: float
    ended: float
    how: str


@dataclass(frozen=True, slots=True)
class StepScored(Event):
    kind: ClassVar[str] = "step_scored"
    node: int
    candidate: int
    score: float
    aggregate: float  # the candidate's score so far under the chosen aggregation
    #: False: the verifier found nothing to check in the step (its score is a neutral filler).
    checked: bool = True


@dataclass(frozen=True, slots=True)
class BeamKept(Event):
    kind: ClassVar[str] = "beam_kept"
    candidate: int
    node: int
    score: float


@dataclass(frozen=True, slots=True)
class BeamPruned(Event):
    kind: ClassVar[str] = "beam_pruned"
    candidate: int
    node: int
    score: float
    reason: str = "score"


@dataclass(frozen=True, slots=True)
class CandidateFinished(Event):
    kind: ClassVar[str] = "candidate_finished"
    candidate: int
    node: int | None
    answer: str | None
    score: float | None
    reason: str  # "answer", "eog", "length", "steps", "cancelled"
    #: Where the answer came from for a model that thought: "solution" (after its thinking),
    #: "thinking" (from inside it: it never wrote a solution); "" when it did not think.
    answer_source: str = ""


@dataclass(frozen=True, slots=True)
class AnswerSelected(Event):
    kind: ClassVar[str] = "answer_selected"
    candidate: int | None
    answer: str | None
    rule: str
    votes: Mapping[str, int] = field(default_factory=dict)
    group_scores: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AnswerGraded(Event):
    """A finished candidate's answer checked against the problem's reference answer (only
    when the run was given one: an example problem, a benchmark problem, ``--reference``)."""

    kind: ClassVar[str] = "answer_graded"
    candidate: int
    answer: str | None
    reference: str
    correct: bool


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    usage: Mapping[str, Any]
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class RunFailed(Event):
    kind: ClassVar[str] = "run_failed"
    error: str
    hint: str = ""
    usage: Mapping[str, Any] = field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        TokensGenerated,
        StepProposed,
        ThinkingEnded,
        StepScored,
        BeamKept,
        BeamPruned,
        CandidateFinished,
        AnswerSelected,
        AnswerGraded,
        RunFinished,
        RunFailed,
    )
}


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Inverse of :meth:`Event.to_dict` (used to replay a saved run)."""
    payload = dict(data)
    cls = EVENT_TYPES[payload.pop("event")]
    return cls(**payload)
