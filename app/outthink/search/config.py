"""Search settings shared by every strategy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from outthink.generation import SamplingParams
from outthink.ranges import NUMERIC_OPTIONS, option


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

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            seed=self.seed,
            max_tokens=self.max_tokens,
            stop=self.stop,
        )

    def with_(self, **changes: Any) -> SearchConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data

    def validate(self) -> SearchConfig:
        """Every numeric field within its range of :mod:`outthink.ranges` (finite, no NaN)."""
        for name in NUMERIC_FIELDS:
            option(name).check(getattr(self, name))
        return self


#: The fields of SearchConfig that :mod:`outthink.ranges` bounds.
NUMERIC_FIELDS = tuple(f.name for f in fields(SearchConfig) if f.name in NUMERIC_OPTIONS)
