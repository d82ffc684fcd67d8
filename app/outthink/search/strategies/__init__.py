"""Strategy registry: the CLI choices and the GUI menu come from here.

A strategy is a function ``run(ctx, cfg) -> Iterator[Event]`` over a
:class:`~outthink.search.context.SearchContext`. :class:`StrategySpec` also says how many
sequences and cache cells the strategy needs, so the engine's context is sized from the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from outthink.errors import ConfigError
from outthink.events import Event
from outthink.search.config import SearchConfig
from outthink.search.context import SearchContext

RunFn = Callable[[SearchContext, SearchConfig], Iterator[Event]]


@dataclass(frozen=True, slots=True)
class StrategySpec:
    name: str
    description: str
    run: RunFn
    #: most sequences alive at once for a config
    sequences: Callable[[SearchConfig], int]
    uses_width: bool = False
    #: adjusts a user's config to what the strategy needs (e.g. greedy: N=1, temperature 0)
    prepare: Callable[[SearchConfig], SearchConfig] = lambda cfg: cfg


STRATEGIES: dict[str, StrategySpec] = {}


def register(spec: StrategySpec) -> StrategySpec:
    if spec.name in STRATEGIES:
        raise ValueError(f"strategy {spec.name!r} registered twice")
    STRATEGIES[spec.name] = spec
    return spec


def get_strategy(name: str) -> StrategySpec:
    _load_builtin()
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown strategy {name!r}.", hint=f"Choose one of: {', '.join(STRATEGIES)}."
        ) from None


def strategy_names() -> list[str]:
    _load_builtin()
    return list(STRATEGIES)


def _load_builtin() -> None:
    # Imported here, not at module top, because each strategy module imports this registry.
    from outthink.search.strategies import best_of_n  # noqa: F401
    # isort: split
    # Registration order is menu order: Best-of-N and greedy stay first.
    from outthink.search.strategies import adaptive, beam, dvts  # noqa: F401
