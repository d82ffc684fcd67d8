"""Lists a benchmark is asked for: budgets like ``1,4,8`` and names like ``greedy,beam``.

``outthink bench`` uses these as argparse types and the Benchmark tab reads its budgets field
with :func:`parse_int_list`; a bad value raises :class:`argparse.ArgumentTypeError`.
"""

from __future__ import annotations

import argparse

from outthink import ranges

__all__ = ["parse_budgets", "parse_int_list", "parse_name_list"]


def parse_int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers like 1,4,8: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


def parse_budgets(text: str) -> list[int]:
    """``--budgets``: integers like 1,4,8, each a valid budget N."""
    values = parse_int_list(text)
    budget = ranges.option("n")
    for value in values:
        why = budget.problem(value)
        if why is not None:
            raise argparse.ArgumentTypeError(why)
    return values


def parse_name_list(text: str) -> list[str]:
    values = [x.strip() for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError("give at least one name")
    return values
