"""The verifier interface and its registry.

A verifier scores each new step of each live candidate. It is stateful per run (a
:class:`VerifierSession`) so model-based verifiers can keep one cached sequence per candidate,
fork it when the candidate forks and drop it when the candidate is pruned: every step's tokens
are then decoded by the verifier exactly once.

Verifier kinds are registered by name (``register``); ``models.toml`` names the kind of each
verifier model, and the CLI and GUI list the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from outthink.errors import ConfigError
from outthink.generation import CancelToken


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One new step of one candidate, as the verifier sees it."""

    text: str
    tokens: tuple[int, ...] = ()
    logprobs: tuple[float, ...] = ()  # policy log-probabilities of the step's tokens


class VerifierSession(Protocol):
    """Per-run verifier state. Candidate ids are the strategy's candidate ids."""

    def add(self, candidate: int, parent: int | None = None) -> None:
        """Start scoring a new candidate: empty (parent None) or continuing ``parent``."""
        ...

    def drop(self, candidate: int) -> None: ...

    def score(self, steps: Mapping[int, StepRecord]) -> dict[int, float]:
        """Append each candidate's new step and return its score in [0, 1]."""
        ...

    @property
    def tokens_decoded(self) -> int:
        """Tokens the verifier model decoded so far (0 for verifiers without a model)."""
        ...

    def close(self) -> None: ...


class Verifier(Protocol):
    name: str
    #: False for "none": scores carry no information and selection must use majority voting.
    informative: bool

    def open(self, problem: str) -> VerifierSession: ...

    def close(self) -> None:
        """Free native resources (a verifier context); call before closing its model."""
        ...


class Unchecked(float):
    """A step score that says the verifier found nothing to check in the step (a rule
    checker on a step without arithmetic). It is an ordinary float for aggregation and
    selection; the views show such a step as "n/a" rather than as a middling score."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class VerifierSpec:
    """A registered verifier kind: ``factory(options, context)`` builds one."""

    kind: str
    description: str
    factory: Callable[[Mapping[str, Any], VerifierContext], Verifier]
    needs_model: bool = False
    #: How this kind's step scores are best combined into a solution's score (the default
    #: the app offers with it): a rule checker that finds one wrong step means the solution
    #: is wrong (``min``); a reward model's last step judges the whole solution (``last``).
    aggregation: str = "last"
    #: What this kind scores of a reasoning model's text by default: "solution" (the final
    #: solution after the thinking block; process reward models score paragraphs of self-talk
    #: badly) or "trace" (every step, thinking included: confidence measures).
    view: str = "solution"


@dataclass(slots=True)
class VerifierContext:
    """What a factory may need: a loaded verifier model (engine object), the policy engine."""

    model: Any = None  # outthink.engine.Model for model-based verifiers
    policy_model: Any = None
    threads: int | None = None
    #: the run's stop flag: model-based verifiers check it between their decode calls
    cancel: CancelToken | None = None
    extra: dict[str, Any] = field(default_factory=dict)


VERIFIERS: dict[str, VerifierSpec] = {}

#: What a verifier may look at of a reasoning model's text (the ``view`` option of every kind).
VIEWS = ("solution", "trace")


def register(spec: VerifierSpec) -> VerifierSpec:
    if spec.kind in VERIFIERS:
        raise ValueError(f"verifier kind {spec.kind!r} registered twice")
    VERIFIERS[spec.kind] = spec
    return spec


def get_spec(kind: str) -> VerifierSpec:
    try:
        return VERIFIERS[kind]
    except KeyError:
        known = ", ".join(sorted(VERIFIERS))
        raise ConfigError(
            f"Unknown verifier {kind!r}.", hint=f"Choose one of: {known}."
        ) from None


def build(spec: VerifierSpec, options: Mapping[str, Any], context: VerifierContext) -> Verifier:
    """A verifier of kind ``spec`` from its options. ``view`` (see :data:`VIEWS`) is an option
    of every kind: what it scores of a reasoning model's text (default: the kind's own)."""
    options = dict(options)
    view = options.pop("view", spec.view)
    if view not in VIEWS:
        raise ConfigError(
            f"Verifier {spec.kind!r}: option 'view' is {view!r}.",
            hint="Use view = \"solution\" (only the final solution after the thinking) or "
            "\"trace\" (every step, thinking included).",
        )
    verifier = spec.factory(options, context)
    verifier.view = view  # type: ignore[attr-defined]
    return verifier


def verifier_view(verifier: Any) -> str:
    """What ``verifier`` scores of a reasoning model's text: its ``view`` (set by
    :func:`build`), else its kind's default, else "solution"."""
    view = getattr(verifier, "view", None)
    if view in VIEWS:
        return str(view)
    spec = VERIFIERS.get(getattr(verifier, "name", ""))
    return spec.view if spec is not None else "solution"


class ModelFreeVerifier:
    """Base for verifiers that hold no native resources: nothing to close."""

    def close(self) -> None:
        return None


class StatelessSession:
    """Base for verifiers that score a step from its own text (and optionally the history)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.history: dict[int, list[StepRecord]] = {}

    def add(self, candidate: int, parent: int | None = None) -> None:
        self.history[candidate] = list(self.history.get(parent, [])) if parent is not None else []

    def drop(self, candidate: int) -> None:
        self.history.pop(candidate, None)

    def score(self, steps: Mapping[int, StepRecord]) -> dict[int, float]:
        out = {}
        for cand, step in steps.items():
            self.history.setdefault(cand, []).append(step)
            out[cand] = self.score_step(cand, step)
        return out

    def score_step(self, candidate: int, step: StepRecord) -> float:  # pragma: no cover
        raise NotImplementedError

    @property
    def tokens_decoded(self) -> int:
        return 0

    def close(self) -> None:
        self.history.clear()
