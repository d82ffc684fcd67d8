"""The range of every numeric option, in one table.

``outthink solve`` and ``outthink bench`` parse their numeric options with
:meth:`NumericOption.parse` (a bad value is an argparse error: exit status 2, before anything
is loaded), :meth:`outthink.search.config.SearchConfig.validate` checks the same ranges for
configurations that come from elsewhere (the GUI, a saved benchmark recommendation), and the
GUI's spin boxes take their minimum and maximum from here. Every value must be finite: NaN
and infinities are refused everywhere.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outthink.errors import ConfigError

#: llama.cpp's limit on sequence ids, and so on the budget N (engine.MAX_SEQUENCES).
MAX_BUDGET = 256
#: Seeds are 31-bit: a sample's seed is the run's seed plus its index, masked to 32 bits.
MAX_SEED = 2**31 - 1


@dataclass(frozen=True, slots=True)
class NumericOption:
    name: str  # the SearchConfig field or argparse destination
    label: str  # the option in words, for messages
    flag: str  # the command-line flag
    kind: type[int] | type[float]
    low: int | float
    high: int | float
    note: str = ""  # what special values mean

    @property
    def bounds(self) -> tuple[Any, Any]:
        """(minimum, maximum), for a spin box's ``setRange``."""
        return self.low, self.high

    def describe(self) -> str:
        return self._range()

    def _range(self) -> str:
        what = "a whole number" if self.kind is int else "a number"
        note = f" ({self.note})" if self.note else ""
        return f"{what} from {_show(self.low)} to {_show(self.high)}{note}"

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not acceptable, or None when it is."""
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (self.kind is float or isinstance(value, int))
            and self.low <= value <= self.high
        )
        return None if ok else f"{self.label} must be {self._range()}, not {value!r}."

    def check(self, value: object) -> None:
        """Raise :class:`ConfigError` for a value out of range (or NaN, or infinite)."""
        why = self.problem(value)
        if why is not None:
            raise ConfigError(why, hint=f"Set {self.flag} to {self._range()}.")

    def parse(self, text: str) -> int | float:
        """Text to a checked value; argparse reports the error (exit status 2)."""
        try:
            value: int | float = int(text, 10) if self.kind is int else float(text)
        except ValueError:
            value = math.nan
        if self.problem(value) is not None:
            raise argparse.ArgumentTypeError(f"{text!r} is not {self._range()}.")
        return value


def _show(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _options(*items: NumericOption) -> dict[str, NumericOption]:
    return {o.name: o for o in items}


NUMERIC_OPTIONS: dict[str, NumericOption] = _options(
    NumericOption("n", "Budget N", "--n", int, 1, MAX_BUDGET),
    NumericOption("width", "Beam width M", "--width", int, 1, 64),
    NumericOption("max_steps", "Max steps", "--max-steps", int, 1, 1024),
    NumericOption("max_tokens", "Max tokens", "--max-tokens", int, 1, 262_144),
    NumericOption("temperature", "Temperature", "--temperature", float, 0.0, 2.0, "0 = greedy"),
    NumericOption("top_p", "Top-p", "--top-p", float, 0.0, 1.0, "1 = off"),
    NumericOption("top_k", "Top-k", "--top-k", int, 0, 1_000_000, "0 = off"),
    NumericOption("min_p", "Min-p", "--min-p", float, 0.0, 1.0, "0 = off"),
    NumericOption("seed", "Seed", "--seed", int, 0, MAX_SEED),
    NumericOption("lookahead", "Lookahead", "--lookahead", int, 0, 64),
    NumericOption(
        "thinking_budget", "Thinking budget", "--thinking-budget", int, 0, 262_144, "0 = no limit"
    ),
    NumericOption(
        "min_step_tokens", "Min step tokens", "--min-step-tokens", int, 0, 4096, "0 = any length"
    ),
    NumericOption(
        "adaptive_threshold",
        "Adaptive threshold",
        "adaptive_threshold",
        float,
        0.0,
        2.0,
        "above 1 = never stop early",
    ),
    NumericOption("threads", "Threads", "--threads", int, 0, 1024, "0 = one per physical core"),
    NumericOption("gpu_layers", "GPU layers", "--gpu-layers", int, 0, 999, "999 = all"),
    NumericOption("limit", "Problem limit", "--limit", int, 1, 1_000_000),
    NumericOption("sample_seed", "Sample seed", "--sample-seed", int, 0, MAX_SEED),
)


def option(name: str) -> NumericOption:
    return NUMERIC_OPTIONS[name]


def add_argument(parser: argparse.ArgumentParser, name: str, default: Any, help: str = "") -> None:
    """Add option ``name`` to ``parser``: its flag, parse type and range in the help."""
    opt = NUMERIC_OPTIONS[name]
    text = f"{help}; {opt.describe()}" if help else opt.describe()
    parser.add_argument(opt.flag, type=argtype(name), default=default, help=text)


def argtype(name: str) -> Callable[[str], int | float]:
    """The argparse ``type`` for option ``name``."""
    opt = NUMERIC_OPTIONS[name]

    def parse(text: str) -> int | float:
        return opt.parse(text)

    parse.__name__ = name
    return parse
