"""Search settings shared by every strategy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from outthink.errors import ConfigError
from outthink.generation import SamplingParams


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
        if self.n < 1:
            raise ConfigError(f"Budget N must be at least 1 (got {self.n}).", hint="Set N >= 1.")
        if self.n > 256:
            raise ConfigError(f"Budget N={self.n} is over the limit of 256.", hint="Lower N.")
        if self.width < 1:
            raise ConfigError(f"Beam width must be at least 1 (got {self.width}).")
        if self.max_tokens < 1:
            raise ConfigError("Max tokens must be at least 1.", hint="Set --max-tokens.")
        if self.lookahead < 0:
            raise ConfigError("Lookahead must be 0 or more steps.", hint="Set --lookahead 0.")
        if self.max_steps < 1:
            raise ConfigError("Max steps must be at least 1.")
        if not 0 <= self.top_p <= 1 or self.temperature < 0:
            raise ConfigError("Temperature must be >= 0 and top-p within [0, 1].")
        return self
