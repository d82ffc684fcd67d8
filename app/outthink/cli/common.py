"""Helpers that ``outthink solve`` and ``outthink bench`` share: model defaults, the search
options they both take, and reading UTF-8 text from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from outthink import ranges
from outthink.errors import ConfigError
from outthink.search.config import THINKING_CHOICES
from outthink.thinking import defaults_for


def fill_model_defaults(args: argparse.Namespace, thinks: bool) -> None:
    """The token budgets and step settings the user left unset, for the model: thousands of
    tokens and longer steps for one that thinks (:data:`outthink.thinking.REASONING_DEFAULTS`),
    the thinking budget three quarters of the max tokens so that the answer has room."""
    defaults = defaults_for(thinks)
    for name in ("max_tokens", "max_steps", "min_step_tokens"):
        if getattr(args, name, None) is None:
            setattr(args, name, defaults[name])
    if getattr(args, "thinking_budget", None) is None:
        args.thinking_budget = args.max_tokens * 3 // 4 if thinks else 0


def search_options(args: argparse.Namespace) -> dict[str, Any]:
    """The SearchConfig fields that `solve` and `bench` take from the same options."""
    return {
        name: getattr(args, name)
        for name in (
            "width",
            "max_steps",
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "min_p",
            "seed",
            "agg",
            "thinking",
            "thinking_budget",
            "min_step_tokens",
        )
    }


_UTF8_HINT = (
    "Give it as UTF-8 text: convert a file with `iconv -f LATIN1 -t UTF-8 FILE` (name its real "
    "encoding), or set the terminal to UTF-8."
)


def utf8_text(text: str | bytes, what: str) -> str:
    """``text`` as valid Unicode, else a ConfigError that shows where it is not UTF-8.

    Python hands over undecodable command-line bytes as lone surrogates (``surrogateescape``),
    which would fail much later, when the text is encoded for the tokenizer or printed.
    """
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            before = text[: exc.start].decode("utf-8", "replace")
            shown = " ".join(f"0x{b:02x}" for b in text[exc.start : exc.end])
            raise _not_utf8(what, f"byte {shown}", before) from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = ord(text[exc.start])
        # surrogateescape keeps an undecodable byte B as the code point U+DC00 + B.
        shown = f"byte 0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else f"U+{char:04X}"
        raise _not_utf8(what, shown, text[: exc.start]) from None
    return text


def _not_utf8(what: str, shown: str, before: str) -> ConfigError:
    where = f"after {before[-30:]!r}" if before else "at the start"
    return ConfigError(f"{what} is not valid UTF-8: {shown} {where}.", hint=_UTF8_HINT)


def read_problem(words: Sequence[str]) -> str:
    """The problem from the command line, or from standard input when it is ``-``."""
    problem = " ".join(words).strip()
    if problem != "-":
        return utf8_text(problem, "The problem")
    if sys.stdin is None:
        raise ConfigError(
            "The problem is `-` (read standard input), but there is no standard input.",
            hint='Give the problem as an argument: outthink solve "What is 2+3?"',
        )
    # The bytes themselves: the text layer's decoding depends on the locale and on
    # PYTHONIOENCODING (strict: a traceback; surrogateescape: garbage further on).
    stream = getattr(sys.stdin, "buffer", None)
    data: str | bytes = stream.read() if stream is not None else sys.stdin.read()
    return utf8_text(data, "The problem on standard input").strip()


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--policy, --verifier and --verifier-model, as `solve` and `bench` both take them."""
    import outthink.verifiers as verifiers

    parser.add_argument(
        "--policy", help="policy model: catalog id or .gguf path (default: starter)"
    )
    parser.add_argument(
        "--verifier",
        default="self-certainty",
        help=f"verifier kind ({', '.join(sorted(verifiers.VERIFIERS))}) or catalog id",
    )
    parser.add_argument(
        "--verifier-model",
        "--judge-model",
        dest="verifier_model",
        help="model for a model-based verifier (catalog id or .gguf path)",
    )


def add_thinking_arguments(parser: argparse.ArgumentParser) -> None:
    """The options for reasoning models that ``solve`` and ``bench`` share."""
    parser.add_argument(
        "--thinking",
        choices=THINKING_CHOICES,
        default="auto",
        help="reasoning models: think before answering (on), answer at once (off; Qwen3's "
        "enable_thinking), or as the model does by default (auto)",
    )
    ranges.add_argument(
        parser,
        "thinking_budget",
        None,
        "most tokens a candidate thinks before its thinking is closed and it must answer "
        "(default: three quarters of --max-tokens for a model that thinks)",
    )
    ranges.add_argument(
        parser,
        "min_step_tokens",
        None,
        "a step ends at a blank line only after this many tokens (default 0; 48 for a model "
        "that thinks)",
    )

