"""Search settings shared by every strategy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from outthink.errors import ConfigError
from outthink.generation import SamplingParams
from outthink.ranges import NUMERIC_OPTIONS, option

#: The thinking choices of a reasoning model: its default, on, off.
THINKING_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True, slots=True)
class SearchConfig:
    strategy: str = "best-of-n"
    n: int = 8  # budget: solutions (Best-of-N) or live beams (beam search, DVTS)
    width: int = 2  # beam width M: each kept beam expands into M children
    max_steps: int = 16
    max_tokens: int = 384  # new tokens per solution
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    seed: int = 0
    select: str = "weighted"  # vanilla | majority | weighted
    agg: str = "last"  # last | min | prod | mean
    lookahead: int = 0
    stop: tuple[str, ...] = ("\n\n",)
    adaptive_threshold: float = 0.75
    #: Reasoning models: think (on), answer at once (off), or as the model does (auto).
    thinking: str = "auto"
    #: Most tokens a candidate thinks before its thinking block is closed for it and it must
    #: answer (0 = no limit but max_tokens).
    thinking_budget: int = 0
    #: A step delimiter ends a step only after this many tokens (0 = at any length).
    min_step_tokens: int = 0
    #: Texts that always end a step: the end of a thinking block, for models that think (the
    #: run sets it from the prompt).
    boundary: tuple[str, ...] = ()

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            seed=self.seed,
            max_tokens=self.max_tokens,
            stop=self.stop,
            min_step_tokens=self.min_step_tokens,
            boundary=self.boundary,
        )

    @property
    def thinking_choice(self) -> bool | None:
        """``thinking`` as the prompt builder takes it: True, False or None (auto)."""
        return {"on": True, "off": False}.get(self.thinking)

    def with_(self, **changes: Any) -> SearchConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        data["boundary"] = list(self.boundary)
        return data

    def validate(self) -> SearchConfig:
        """Every numeric field within its range of :mod:`outthink.ranges` (finite, no NaN),
        a known thinking choice, and a thinking budget that leaves tokens for the answer."""
        for name in NUMERIC_FIELDS:
            option(name).check(getattr(self, name))
        if self.thinking not in THINKING_CHOICES:
            raise ConfigError(
                f"Thinking {self.thinking!r} is not one of {', '.join(THINKING_CHOICES)}.",
                hint="Set --thinking to auto (the model's default), on or off.",
            )
        if self.thinking_budget and self.thinking_budget >= self.max_tokens:
            raise ConfigError(
                f"The thinking budget ({self.thinking_budget:,} tokens) must be below the max "
                f"tokens ({self.max_tokens:,}): the answer comes after the thinking.",
                hint="Lower --thinking-budget or raise --max-tokens (0 turns the budget off).",
            )
        return self


#: The fields of SearchConfig that :mod:`outthink.ranges` bounds.
NUMERIC_FIELDS = tuple(f.name for f in fields(SearchConfig) if f.name in NUMERIC_OPTIONS)
