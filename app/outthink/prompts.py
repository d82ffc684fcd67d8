"""Turn a problem into the policy's prompt.

Two formats: ``chat`` renders the model's own chat template (GGUF metadata
``tokenizer.chat_template``) in jinja2's sandbox; ``completion`` puts the problem after a
few-shot preamble shipped in ``assets/prompts`` (for base models such as the starter).

Reasoning models: the thinking choice (on, off, or the model's default) is passed to the
template's own switch (:mod:`outthink.thinking`), and the prompt says whether the model will
think and whether its text starts inside the thinking block.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import update_wrapper, wraps
from typing import Any, Literal

from jinja2 import Environment, Template, TemplateError, nodes
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.visitor import NodeTransformer

from outthink.errors import ConfigError, OutthinkError
from outthink.generation import CancelToken
from outthink.resources import prompt_asset
from outthink.thinking import NO_THINKING, ThinkingSupport, opens_thinking, support_from_template

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "Please reason step by step, separate steps with a blank line, "
    "and put your final answer within \\boxed{}."
)
DEFAULT_PREAMBLE = "fewshot_math.txt"

PromptKind = Literal["chat", "completion"]


@dataclass(frozen=True, slots=True)
class PromptFormat:
    kind: PromptKind = "chat"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    preamble: str = DEFAULT_PREAMBLE  # asset file name, for "completion"
    #: Thinking on (True), off (False) or as the model does by default (None).
    thinking: bool | None = None
    #: How the model thinks (its catalog entry); None: read from its chat template.
    support: ThinkingSupport | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    kind: PromptKind
    #: True when ``text`` already starts with the BOS token's text (templates usually add it).
    has_bos: bool
    #: A step that starts with one of these ends the solution (base models run on to the
    #: next few-shot problem otherwise).
    end_markers: tuple[str, ...] = ()
    #: The model thinks in a ``<think>`` block before it answers.
    thinks: bool = False
    #: The prompt ends inside an open think block: the generated text starts as thinking.
    thinking_open: bool = False


def _raise(message: str) -> None:
    raise TemplateError(message)


# --------------------------------------------------------------------------- guarded rendering
#
# A chat template is code from the model file. jinja2's sandbox keeps it away from Python's
# internals but not from spinning or allocating without end (nested ``range`` loops, a string
# repeated four billion times). The guard below bounds both: every loop step, call, filter,
# attribute and operator checks a deadline and the cancel flag, and every operation that can
# build a large value has its size predicted before it runs.

#: Seconds a render may take; a real chat template renders in milliseconds.
RENDER_SECONDS = 2.0
#: Characters (or list items) one value, and the rendered prompt, may have beyond four times
#: the messages' own size.
RENDER_CHARS = 1_000_000
#: Everything a render builds, together, in multiples of the size limit.
RENDER_WORK_FACTOR = 16
#: Integers larger than this are refused (a template counts tokens, not digits).
MAX_INT_BITS = 4096
#: Longest template source accepted; real templates are a few KB (the largest known, 30 KB).
MAX_TEMPLATE_CHARS = 1_000_000
TEMPLATE_HINT = (
    "Use the completion prompt format (outthink solve --prompt-format completion), "
    "or pick another model."
)


class ChatTemplateError(ConfigError):
    """A model's chat template ran past the render limits (time, size, nesting)."""


class _Limit(Exception):
    """A render limit was reached; ``str(exc)`` ends the sentence "The chat template ..."."""


class _Budget:
    def __init__(self, seconds: float, max_chars: int, cancel: CancelToken | None) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.max_chars = max_chars
        self.work_left = max_chars * RENDER_WORK_FACTOR
        self.cancel = cancel

    def check(self) -> None:
        if self.cancel is not None:
            self.cancel.check()
        if time.monotonic() > self.deadline:
            raise _Limit(f"did not finish rendering within {self.seconds:g} s")

    def size(self, n: int, what: str = "a text") -> None:
        """Account for a value of ``n`` characters or items before it is built."""
        self.check()
        if n > self.max_chars:
            raise _Limit(f"builds {what} of {n:,} characters (the limit is {self.max_chars:,})")
        self.work_left -= n
        if self.work_left < 0:
            raise _Limit(
                f"builds more than {self.max_chars * RENDER_WORK_FACTOR:,} characters in all"
            )

    def number(self, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > self.max_chars:
            raise _Limit(f"asks for a size of {value:,} (the limit is {self.max_chars:,})")

    def args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for value in (*args, *kwargs.values()):
            self.number(value)


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


_FORMAT_WIDTH = re.compile(r"\d+")


def _format_widths(budget: _Budget, fmt: str) -> None:
    """Widths and precisions written in a format string (``%9999999s``, ``{:>9999999}``)."""
    for digits in _FORMAT_WIDTH.findall(fmt):
        if len(digits) > 7 or int(digits) > budget.max_chars:
            raise _Limit(f"formats a field {digits[:20]} characters wide")


def _predict_str_method(budget: _Budget, text: str, name: str, args: tuple[Any, ...]) -> None:
    """Size of ``text.name(*args)`` for the str methods whose result can outgrow their input."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = args[0], str(args[1])
        count = text.count(old) if old else len(text) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        budget.size(len(text) + count * (len(new) - len(old)))
    elif name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        budget.size(len(text) + text.count("\t") * max(tab, 0))


class _GuardedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with a :class:`_Budget` on time, size and cancel."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, budget: _Budget) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True)
        self.budget = budget
        self.globals.pop("lipsum", None)  # a lorem-ipsum generator has no place in a prompt
        self.globals["range"] = self.guard_range
        self.filters = {name: self._guard_filter(name, f) for name, f in self.filters.items()}
        self.tests = {name: self._guard_test(f) for name, f in self.tests.items()}

    # -- what compiled templates call

    def guard_range(self, *args: int) -> range:
        self.budget.check()
        try:
            return safe_range(*args)
        except OverflowError:
            raise _Limit(f"asks for a range of {len(range(*args)):,} numbers") from None

    def guard_iter(self, iterable: Any) -> Iterator[Any]:
        """Every ``{% for %}`` loop iterates through this: one budget check per item."""
        check = self.budget.check
        for item in iterable:
            check()
            yield item

    def guard_concat(self, parts: list[Any]) -> str:
        """The ``~`` operator."""
        texts = [str(p) for p in parts]
        self.budget.size(sum(map(len, texts)))
        return "".join(texts)

    def concat(self, parts: Iterable[str]) -> str:
        """Joins the output of macros and ``{% set %}`` blocks."""
        texts = list(parts)
        self.budget.size(sum(map(len, texts)))
        return "".join(texts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = __self.budget
        budget.check()
        budget.args(args, kwargs)
        target = getattr(__obj, "__self__", None)
        if isinstance(target, str):
            _predict_str_method(budget, target, getattr(__obj, "__name__", ""), args)
            if getattr(__obj, "__name__", "") == "join" and args:
                items = [str(x) for x in args[0]]
                budget.size(sum(map(len, items)) + len(target) * max(len(items) - 1, 0))
                args = (items, *args[1:])
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = self.budget
        budget.check()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and not isinstance(seq, int):
                    budget.size(_length(seq) * max(times, 0))
            both_int = isinstance(left, int) and isinstance(right, int)
            if both_int and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _Limit(f"computes a number of more than {MAX_INT_BITS} bits")
        elif operator == "**":
            both_int = isinstance(left, int) and isinstance(right, int)
            if both_int and right > 0 and max(left.bit_length() - 1, 0) * right > MAX_INT_BITS:
                raise _Limit(f"computes a number of more than {MAX_INT_BITS} bits")
        elif operator == "+":
            if not isinstance(left, int | float) and not isinstance(right, int | float):
                budget.size(_length(left) + _length(right))
        elif operator == "%" and isinstance(left, str):
            _format_widths(budget, left)
            budget.args(right if isinstance(right, tuple) else (right,), {})
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.budget.check()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.budget.check()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        budget, fmt = self.budget, value.__self__

        def guarded(*args: Any, **kwargs: Any) -> str:
            budget.check()
            _format_widths(budget, fmt)
            budget.args(args, kwargs)
            text = wrapper(*args, **kwargs)
            budget.size(len(text))
            return text

        return update_wrapper(guarded, value)

    # -- filters and tests

    def _guard_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        budget = self.budget

        @wraps(func)  # keeps jinja2's pass_context/pass_environment marks
        def guarded(*args: Any, **kwargs: Any) -> Any:
            budget.check()
            budget.args(args, kwargs)
            # the filtered value follows jinja2's own context argument, if any
            skip = Context | EvalContext | Environment
            at = next((i for i, a in enumerate(args) if not isinstance(a, skip)), len(args))
            if name in _GROWING_FILTERS and at < len(args):
                if name == "join" and not isinstance(args[at], str):
                    args = (*args[:at], list(args[at]), *args[at + 1 :])  # measured, then joined
                _predict_filter(budget, name, list(args[at:]), kwargs)
            result = func(*args, **kwargs)
            if isinstance(result, str | list | tuple):
                budget.size(len(result))
            return result

        return guarded

    def _guard_test(self, func: Any) -> Any:
        check = self.budget.check

        @wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            check()
            return func(*args, **kwargs)

        return guarded

    # -- compiling

    def guarded_template(self, source: str) -> Template:
        """Compile ``source`` with every loop iterating through :meth:`guard_iter` and every
        ``~`` through :meth:`guard_concat`."""
        if len(source) > MAX_TEMPLATE_CHARS:
            raise _Limit(
                f"is {len(source):,} characters long (the limit is {MAX_TEMPLATE_CHARS:,})"
            )
        tree = self.parse(source)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("guard_iter"), [loop.iter], [], None, None
            )
        _GuardConcat().visit(tree)
        return self.from_string(tree)


_GROWING_FILTERS = ("replace", "indent", "format", "join")


def _predict_filter(budget: _Budget, name: str, values: list[Any], kwargs: dict[str, Any]) -> None:
    text, rest = values[0], values[1:]
    if name == "replace" and isinstance(text, str):
        _predict_str_method(budget, text, "replace", tuple(rest))
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else max(int(width), 0)
        budget.size(_length(text) + (str(text).count("\n") + 1) * pad)
    elif name == "format" and isinstance(text, str):
        _format_widths(budget, text)
    elif name == "join":
        items = list(text)
        sep = rest[0] if rest else kwargs.get("d", "")
        budget.size(sum(_length(str(x)) for x in items) + _length(sep) * len(items))


class _GuardConcat(NodeTransformer):
    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.EnvironmentAttribute("guard_concat"),
            [nodes.List(node.nodes)],
            [],
            None,
            None,
        )


def render_chat_template(
    template: str,
    messages: list[dict[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    source: str = "the model",
    hint: str = TEMPLATE_HINT,
    cancel: CancelToken | None = None,
    seconds: float = RENDER_SECONDS,
    variables: Mapping[str, bool] | None = None,
) -> str:
    """Render a chat template in the guarded sandbox.

    ``variables``: switches the template reads besides the messages (e.g. Qwen3's
    ``enable_thinking``); only true/false values, so they add nothing the guards must bound.

    A template that breaks its own rules (``raise_exception``, a type error, a bad index)
    raises :class:`jinja2.TemplateError`, which callers may answer with a plain layout. One
    that runs past the limits raises :class:`ChatTemplateError` naming ``source`` (the model
    file); a cancel raises :class:`~outthink.errors.Cancelled`.
    """
    size = sum(len(str(m.get("content", ""))) for m in messages) + len(bos_token + eos_token)
    budget = _Budget(seconds, RENDER_CHARS + 4 * size, cancel)
    ctx: dict[str, Any] = {
        **{name: bool(value) for name, value in (variables or {}).items()},
        "messages": messages,
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
    }
    try:
        env = _GuardedSandbox(budget)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: date.today().strftime(fmt)
        parts: list[str] = []
        total = 0
        for chunk in env.guarded_template(template).generate(**ctx):
            total += len(chunk)
            if total > budget.max_chars:
                raise _Limit(f"renders more than {budget.max_chars:,} characters")
            budget.check()
            parts.append(chunk)
        return "".join(parts)
    except (OutthinkError, TemplateError):
        raise
    except _Limit as exc:
        why = str(exc)
    except MemoryError:
        why = "ran out of memory"
    except RecursionError:
        why = "nests or recurses too deeply"
    except Exception as exc:  # a template bug (1/0, a bad index...): the template's fault
        raise TemplateError(f"{type(exc).__name__}: {exc}") from exc
    log.warning("Chat template of %s refused: %s", source, why)
    raise ChatTemplateError(f"The chat template in {source} {why}.", hint=hint)


def _plain_chat(system: str, problem: str) -> str:
    parts = [f"System: {system}\n\n"] if system else []
    parts.append(f"User: {problem}\n\nAssistant: ")
    return "".join(parts)


def thinking_support(fmt: PromptFormat, chat_template: str | None) -> ThinkingSupport:
    """How the model thinks: its catalog entry's word, else what its chat template says."""
    if fmt.support is not None:
        return fmt.support
    return support_from_template(chat_template) if fmt.kind == "chat" else NO_THINKING


def check_thinking(support: ThinkingSupport, thinking: bool | None, source: str) -> None:
    """Refuse a thinking choice the model cannot follow (before anything is loaded)."""
    if thinking is True and not support.reasoning:
        raise ConfigError(
            f"{source} does not think before it answers: its chat template has no thinking "
            "block to switch on.",
            hint="Set thinking to auto (--thinking auto), or pick a reasoning model such as "
            "Qwen3 or DeepSeek-R1-Distill.",
        )
    if thinking is False and support.always:
        raise ConfigError(
            f"{source} always thinks before it answers: its chat template has no switch to "
            "turn thinking off.",
            hint="Set thinking to auto or on (--thinking auto); a thinking budget "
            "(--thinking-budget) keeps its thoughts short.",
        )


def build_prompt(
    problem: str,
    fmt: PromptFormat,
    *,
    chat_template: str | None = None,
    bos_token: str = "",
    eos_token: str = "",
    source: str = "the model",
    cancel: CancelToken | None = None,
) -> Prompt:
    """The policy's prompt for ``problem``. ``source`` names the model file in errors; a
    chat template that runs past the render limits raises :class:`ChatTemplateError`.

    ``fmt.thinking`` passes the template's thinking switch (Qwen3's ``enable_thinking``) when
    it is True or False; a choice the model cannot follow raises :class:`ConfigError`."""
    problem = problem.strip()
    if not problem:
        raise ConfigError("The problem is empty.", hint="Type or paste a problem to solve.")
    if fmt.kind == "completion":
        # A completion-format model thinks only when its entry says so (a preamble whose
        # solutions think first, e.g. fewshot_think.txt): the model writes its own tags.
        completion_support = thinking_support(fmt, None)
        check_thinking(completion_support, fmt.thinking, source)
        try:
            preamble = prompt_asset(fmt.preamble)
        except OSError as exc:
            raise ConfigError(
                f"Few-shot preamble {fmt.preamble!r} not found in assets/prompts.",
                hint="Reinstall Outthink or fix the model's catalog entry.",
            ) from exc
        return Prompt(
            f"{preamble.rstrip()}\n\nProblem: {problem}\nSolution:",
            "completion",
            has_bos=False,
            end_markers=("Problem:",),
            thinks=completion_support.thinks(fmt.thinking),
        )
    if fmt.kind != "chat":
        raise ConfigError(f"Unknown prompt format {fmt.kind!r}.", hint="Use chat or completion.")
    support = thinking_support(fmt, chat_template)
    check_thinking(support, fmt.thinking, source)
    # The template's own switch (Qwen3: enable_thinking), only when a choice was made.
    switch = (
        {support.switch: fmt.thinking}
        if support.switch is not None and fmt.thinking is not None
        else None
    )
    text: str | None = None
    if chat_template:
        attempts = []
        if fmt.system_prompt:
            attempts.append(
                [
                    {"role": "system", "content": fmt.system_prompt},
                    {"role": "user", "content": problem},
                ]
            )
        # Some templates reject a system role; fold the instructions into the user turn.
        folded = f"{fmt.system_prompt}\n\n{problem}" if fmt.system_prompt else problem
        attempts.append([{"role": "user", "content": folded}])
        for messages in attempts:
            try:
                text = render_chat_template(
                    chat_template,
                    messages,
                    bos_token=bos_token,
                    eos_token=eos_token,
                    source=source,
                    cancel=cancel,
                    variables=switch,
                )
                break
            except TemplateError as exc:
                log.info("Chat template rejected %s messages: %s", len(messages), exc)
    if text is None:
        if chat_template:
            log.warning("The model's chat template could not be rendered; using a plain one.")
        text = _plain_chat(fmt.system_prompt, problem)
    has_bos = bool(bos_token) and text.startswith(bos_token)
    thinks = support.thinks(fmt.thinking)
    # A model that always thinks starts inside its block even where its template leaves the
    # opening tag to the model (an opening tag it writes then starts nothing new).
    thinking_open = thinks and (opens_thinking(text) or support.always)
    return Prompt(text, "chat", has_bos=has_bos, thinks=thinks, thinking_open=thinking_open)
