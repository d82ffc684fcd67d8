"""Verifiers without a model of their own: ``none`` and ``self-certainty``.

- ``none`` scores every step :data:`NEUTRAL` (0.5) and says it is not informative, so the
  search must select by majority vote.
- ``self-certainty`` reads the policy's own token log-probabilities, recorded while sampling:
  score = exp(mean log-probability of the step's tokens), the geometric mean of the token
  probabilities, in [0, 1]. A confident step (every token likely) scores near 1. It costs
  nothing, but a model can be confidently wrong, so it is a weak signal.

Also the small option helpers the built-in verifier kinds share.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from outthink.errors import ConfigError
from outthink.verifiers.base import (
    ModelFreeVerifier,
    StatelessSession,
    StepRecord,
    VerifierContext,
    VerifierSpec,
    register,
)

__all__ = [
    "NEUTRAL",
    "NoneVerifier",
    "SelfCertaintyVerifier",
    "check_option_keys",
    "self_certainty",
    "unit_interval_option",
]

#: The score of a step nothing is known about.
NEUTRAL = 0.5


def check_option_keys(kind: str, options: Mapping[str, Any], known: Collection[str]) -> None:
    """Reject options a verifier kind does not have: a typo must not be silently ignored."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        choices = ", ".join(sorted(known)) if known else "none"
        raise ConfigError(
            f"Verifier {kind!r} has no option {', '.join(map(repr, unknown))}.",
            hint=f"Its options are: {choices}.",
        )


def unit_interval_option(kind: str, options: Mapping[str, Any], name: str, default: float) -> float:
    """A number in [0, 1] from a verifier's options (catalog entries are hand-written TOML)."""
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(
            f"Verifier {kind!r}: option {name!r} is {value!r}.",
            hint="Give a number between 0 and 1.",
        )
    return float(value)


# --- none -----------------------------------------------------------------------------------


class _NeutralSession(StatelessSession):
    def score_step(self, candidate: int, step: StepRecord) -> float:
        return NEUTRAL


class NoneVerifier(ModelFreeVerifier):
    """Scores nothing. ``informative`` is False: selection must use majority voting."""

    def __init__(self) -> None:
        self.name = "none"
        self.informative = False

    def open(self, problem: str) -> _NeutralSession:
        return _NeutralSession(problem)


def _none_factory(options: Mapping[str, Any], context: VerifierContext) -> NoneVerifier:
    check_option_keys("none", options, ())
    return NoneVerifier()


# --- self-certainty -------------------------------------------------------------------------


def self_certainty(logprobs: tuple[float, ...] | list[float], *, empty: float = NEUTRAL) -> float:
    """exp(mean log-probability): the geometric mean of the step's token probabilities.

    NaN entries are ignored; ``empty`` is returned when no usable log-probability is left.
    """
    usable = [lp for lp in logprobs if not math.isnan(lp)]
    if not usable:
        return empty
    mean = math.fsum(usable) / len(usable)  # -inf when a token had probability 0: score 0
    # Clamped: rounding in the engine can make a near-certain token's log-probability > 0.
    return min(1.0, max(0.0, math.exp(min(mean, 0.0))))


class _SelfCertaintySession(StatelessSession):
    def __init__(self, problem: str, empty: float) -> None:
        super().__init__(problem)
        self.empty = empty

    def score_step(self, candidate: int, step: StepRecord) -> float:
        return self_certainty(step.logprobs, empty=self.empty)


class SelfCertaintyVerifier(ModelFreeVerifier):
    """Scores a step by how sure the policy was of its own tokens."""

    def __init__(self, *, empty: float = NEUTRAL) -> None:
        self.name = "self-certainty"
        self.informative = True
        self.empty = empty

    def open(self, problem: str) -> _SelfCertaintySession:
        return _SelfCertaintySession(problem, self.empty)


def _self_certainty_factory(
    options: Mapping[str, Any], context: VerifierContext
) -> SelfCertaintyVerifier:
    check_option_keys("self-certainty", options, ("empty",))
    return SelfCertaintyVerifier(
        empty=unit_interval_option("self-certainty", options, "empty", NEUTRAL)
    )


register(
    VerifierSpec(
        kind="none",
        description="No verifier: every step scores 0.5; the answer is chosen by majority vote.",
        factory=_none_factory,
        view="trace",
    )
)
register(
    VerifierSpec(
        kind="self-certainty",
        # A confidence measure: the whole trace's, not its last sentence's (a reasoning
        # model's thinking included).
        aggregation="mean",
        view="trace",
        description=(
            "No extra model: scores a step by the policy's own confidence, "
            "exp(mean token log-probability)."
        ),
        factory=_self_certainty_factory,
    )
)
