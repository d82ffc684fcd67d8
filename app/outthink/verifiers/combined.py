"""The ``product`` verifier: several verifiers at once, scores multiplied.

score = Π s_i ** w_i over the parts, so any part that is sure a step is wrong pulls the
product down, and a weight tunes how much each part counts (weight 0 ignores a part). One
session per part sees every add/fork/drop, so model-based parts keep their per-candidate
caches as they would alone.

Catalog options::

    parts = [
        { kind = "prm-rlhflow", weight = 1.0 },
        { kind = "calculator", weight = 1.0, options = { neutral = 1.0, true_score = 1.0 } },
    ]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from outthink.errors import ConfigError
from outthink.verifiers.base import (
    StepRecord,
    Verifier,
    VerifierContext,
    VerifierSession,
    VerifierSpec,
    build,
    get_spec,
    register,
)
from outthink.verifiers.simple import check_option_keys

logger = logging.getLogger(__name__)

__all__ = ["CombinedSession", "CombinedVerifier", "Part"]


@dataclass(frozen=True, slots=True)
class Part:
    verifier: Verifier
    weight: float = 1.0


def weighted_product(scores: Sequence[float], weights: Sequence[float]) -> float:
    """Π s_i ** w_i, with each score clamped to [0, 1] first (0 ** 0 counts as 1)."""
    product = 1.0
    for score, weight in zip(scores, weights, strict=True):
        product *= min(1.0, max(0.0, score)) ** weight
    return product


class CombinedSession:
    """Forwards every call to one session per part and multiplies the scores."""

    def __init__(self, sessions: Sequence[VerifierSession], weights: Sequence[float]) -> None:
        self.sessions = list(sessions)
        self.weights = list(weights)

    def add(self, candidate: int, parent: int | None = None) -> None:
        for session in self.sessions:
            session.add(candidate, parent)

    def drop(self, candidate: int) -> None:
        for session in self.sessions:
            session.drop(candidate)

    def score(self, steps: Mapping[int, StepRecord]) -> dict[int, float]:
        per_part = [session.score(steps) for session in self.sessions]
        return {
            cand: weighted_product([scores[cand] for scores in per_part], self.weights)
            for cand in steps
        }

    @property
    def tokens_decoded(self) -> int:
        return sum(session.tokens_decoded for session in self.sessions)

    def close(self) -> None:
        # Close every part even if one fails, then report the first failure.
        first: BaseException | None = None
        for session in self.sessions:
            try:
                session.close()
            except Exception as exc:
                logger.exception("Closing a verifier session failed")
                first = first or exc
        if first is not None:
            raise first


class CombinedVerifier:
    """The weighted product of other verifiers."""

    def __init__(self, parts: Sequence[Part], *, name: str = "product") -> None:
        if not parts:
            raise ConfigError("The product verifier needs at least one part.")
        self.name = name
        self.parts = tuple(parts)
        # Informative when any part that counts is: "none" parts multiply by a constant.
        self.informative = any(p.verifier.informative and p.weight > 0 for p in self.parts)

    def close(self) -> None:
        for part in self.parts:
            part.verifier.close()

    def open(self, problem: str) -> CombinedSession:
        sessions: list[VerifierSession] = []
        try:
            for part in self.parts:
                sessions.append(part.verifier.open(problem))
        except BaseException:
            for session in sessions:
                session.close()
            raise
        return CombinedSession(sessions, [p.weight for p in self.parts])


def _part(entry: Any, index: int, context: VerifierContext) -> Part:
    if not isinstance(entry, Mapping) or "kind" not in entry:
        raise ConfigError(
            f"Product verifier: part {index + 1} is {entry!r}.",
            hint='Write each part as { kind = "...", weight = 1.0, options = { ... } }.',
        )
    check_option_keys(f"product part {index + 1}", entry, ("kind", "weight", "options"))
    weight = entry.get("weight", 1.0)
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not (math.isfinite(weight) and weight >= 0)
    ):
        raise ConfigError(
            f"Product verifier: part {index + 1} has weight {weight!r}.",
            hint="Give a number of 0 or more.",
        )
    options = entry.get("options", {})
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"Product verifier: the options of part {index + 1} are {options!r}.",
            hint="Give a table of options, e.g. options = { neutral = 1.0 }.",
        )
    spec = get_spec(str(entry["kind"]))
    return Part(verifier=build(spec, options, context), weight=float(weight))


def _factory(options: Mapping[str, Any], context: VerifierContext) -> CombinedVerifier:
    check_option_keys("product", options, ("parts",))
    parts = options.get("parts")
    if isinstance(parts, str | bytes) or not isinstance(parts, Sequence) or not parts:
        raise ConfigError(
            "The product verifier needs a list of parts.",
            hint='Set options.parts = [{ kind = "calculator", weight = 1.0 }, ...].',
        )
    return CombinedVerifier([_part(entry, i, context) for i, entry in enumerate(parts)])


register(
    VerifierSpec(
        kind="product",
        description="Several verifiers at once: the weighted product of their scores.",
        factory=_factory,
    )
)
