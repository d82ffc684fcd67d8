"""Turn a problem into the policy's prompt.

Two formats: ``chat`` renders the model's own chat template (GGUF metadata
``tokenizer.chat_template``) in jinja2's sandbox; ``completion`` puts the problem after a
few-shot preamble shipped in ``assets/prompts`` (for base models such as the starter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from outthink.errors import ConfigError
from outthink.resources import prompt_asset

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


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    kind: PromptKind
    #: True when ``text`` already starts with the BOS token's text (templates usually add it).
    has_bos: bool
    #: A step that starts with one of these ends the solution (base models run on to the
    #: next few-shot problem otherwise).
    end_markers: tuple[str, ...] = ()


def _raise(message: str) -> None:
    raise TemplateError(message)


def render_chat_template(
    template: str,
    messages: list[dict[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: date.today().strftime(fmt)
    ctx: dict[str, Any] = {
        "messages": messages,
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
    }
    return env.from_string(template).render(**ctx)


def _plain_chat(system: str, problem: str) -> str:
    parts = [f"System: {system}\n\n"] if system else []
    parts.append(f"User: {problem}\n\nAssistant: ")
    return "".join(parts)


def build_prompt(
    problem: str,
    fmt: PromptFormat,
    *,
    chat_template: str | None = None,
    bos_token: str = "",
    eos_token: str = "",
) -> Prompt:
    problem = problem.strip()
    if not problem:
        raise ConfigError("The problem is empty.", hint="Type or paste a problem to solve.")
    if fmt.kind == "completion":
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
        )
    if fmt.kind != "chat":
        raise ConfigError(f"Unknown prompt format {fmt.kind!r}.", hint="Use chat or completion.")
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
                    chat_template, messages, bos_token=bos_token, eos_token=eos_token
                )
                break
            except (TemplateError, TypeError, ValueError) as exc:
                log.info("Chat template rejected %s messages: %s", len(messages), exc)
    if text is None:
        if chat_template:
            log.warning("The model's chat template could not be rendered; using a plain one.")
        text = _plain_chat(fmt.system_prompt, problem)
    has_bos = bool(bos_token) and text.startswith(bos_token)
    return Prompt(text, "chat", has_bos=has_bos)
