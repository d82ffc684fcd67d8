"""Reasoning models: the ``<think>`` block they write before their answer.

Reasoning models (Qwen3, DeepSeek-R1 distills) write their self-talk inside
``<think> ... </think>`` and the solution after it. Some can be switched: Qwen3's chat template
reads a variable, ``enable_thinking``, and with ``false`` it writes an empty thinking block into
the prompt so the model answers at once. Others always think; DeepSeek-R1 distills' template
even opens the block at the end of the prompt, so their text starts inside it.

:func:`split_thinking` reads a text (or one step of it) into thinking and solution:

- a closing tag ends the block it is in, however many opening tags came before it (a model
  that writes ``<think>`` again while thinking has not started a second, nested block);
- a closing tag outside any block (the opening one was in the prompt, or a second closing tag
  after a nested opening one) makes the text since the previous block thinking too;
- the solution is the text after the last closing tag; a block that never closed (the tokens
  ran out, or the model stopped while thinking) has no solution after it.

:func:`answer_of` takes the final answer from the solution, and only when the solution has
none from inside the thinking, saying so. No Qt and no llama.cpp here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from outthink.answers import extract_answer, has_final_answer

__all__ = [
    "FORCE_CLOSE",
    "FORCE_CLOSE_TOKENS",
    "NO_THINKING",
    "REASONING_DEFAULTS",
    "STANDARD_DEFAULTS",
    "THINK_CLOSE",
    "THINK_OPEN",
    "AnswerSource",
    "ThinkingSupport",
    "Thought",
    "answer_of",
    "defaults_for",
    "opens_thinking",
    "split_thinking",
    "states_answer",
    "step_parts",
    "strip_tags",
    "support_from_template",
]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
#: What is appended when a thinking budget runs out: the block ends and the answer begins, as
#: the model itself writes it.
FORCE_CLOSE = "\n" + THINK_CLOSE + "\n\n"
#: Tokens a forced close may take (its tokens are part of the solution's context).
FORCE_CLOSE_TOKENS = 16

_TAG = re.compile(r"</?think>")

#: Where a candidate's answer came from: "" (the model did not think), "solution" (after its
#: thinking, as it should), "thinking" (from inside the thinking: it never wrote a solution,
#: most often because the tokens ran out while it was thinking).
AnswerSource = Literal["", "solution", "thinking"]

#: Search settings that suit reasoning models: thinking takes thousands of tokens, and its
#: paragraphs of self-talk ("Wait.", "Hmm, let me check.") are grouped into steps of some length
#: so that a step says something. The thinking budget leaves room for the answer.
REASONING_DEFAULTS: dict[str, int] = {
    "max_tokens": 4096,
    "max_steps": 160,
    "min_step_tokens": 48,
    "thinking_budget": 3072,
}
#: The same settings for models that answer at once.
STANDARD_DEFAULTS: dict[str, int] = {
    "max_tokens": 384,
    "max_steps": 16,
    "min_step_tokens": 0,
    "thinking_budget": 0,
}


def defaults_for(thinks: bool) -> dict[str, int]:
    """The search settings above for a run that thinks (or not)."""
    return dict(REASONING_DEFAULTS if thinks else STANDARD_DEFAULTS)


# --------------------------------------------------------------------------- the model side


@dataclass(frozen=True, slots=True)
class ThinkingSupport:
    """Whether a model thinks before it answers, and how that is switched.

    ``switch``: the chat-template variable that turns thinking on (true) or off (false), e.g.
    Qwen3's ``enable_thinking``; None for a reasoning model that always thinks.
    """

    reasoning: bool = False
    switch: str | None = None

    @property
    def switchable(self) -> bool:
        return self.reasoning and self.switch is not None

    @property
    def always(self) -> bool:
        return self.reasoning and self.switch is None

    def thinks(self, thinking: bool | None) -> bool:
        """Whether a run with the thinking choice ``thinking`` (None: the model's default)
        thinks."""
        return self.reasoning and (thinking is not False or self.switch is None)

    def describe(self) -> str:
        """How thinking is switched, in a few words (``models list``, tooltips)."""
        if not self.reasoning:
            return ""
        return f"switchable ({self.switch})" if self.switch else "always"

    def to_dict(self) -> dict[str, Any]:
        return {"reasoning": self.reasoning, "thinking_switch": self.switch}


NO_THINKING = ThinkingSupport()

_SWITCH_NAMES = ("enable_thinking",)


def support_from_template(template: str | None) -> ThinkingSupport:
    """What a chat template says about thinking, for a model file no catalog entry describes:
    a template that reads ``enable_thinking`` can switch it; one that writes or strips think
    tags belongs to a model that always thinks."""
    if not template:
        return NO_THINKING
    for name in _SWITCH_NAMES:
        if re.search(rf"\b{name}\b", template):
            return ThinkingSupport(True, name)
    if THINK_OPEN in template or THINK_CLOSE in template:
        return ThinkingSupport(True, None)
    return NO_THINKING


def opens_thinking(prompt: str) -> bool:
    """True when a rendered prompt ends inside an open think block (the template opened it,
    as DeepSeek-R1 distills' does): the generated text starts as thinking."""
    start = prompt.rfind(THINK_OPEN)
    return start > prompt.rfind(THINK_CLOSE) and not prompt[start + len(THINK_OPEN) :].strip()


# --------------------------------------------------------------------------- the text side


@dataclass(frozen=True, slots=True)
class Thought:
    """A text read into thinking and solution (see the module notes)."""

    thinking: str  # the text inside think blocks, tags removed, blocks one after the other
    solution: str  # the text after the last closing tag (all of it when nothing was thought)
    visible: str  # every text outside think blocks
    blocks: int  # think blocks met (closed or not)
    inside: bool  # the text ends inside a block: thinking was not finished

    @property
    def thought(self) -> bool:
        return self.blocks > 0

    @property
    def closed(self) -> bool:
        return self.thought and not self.inside


def _pieces(text: str, inside: bool) -> tuple[list[list[Any]], int, bool, int]:
    """([thinking?, text] pieces, blocks, ends inside, index of the first piece after the last
    closing tag or -1)."""
    pieces: list[list[Any]] = []
    blocks = 1 if inside else 0
    since = 0  # first piece after the last closing tag (or the start)
    after_close = -1
    at = 0
    for match in _TAG.finditer(text):
        if match.start() > at:
            pieces.append([inside, text[at : match.start()]])
        at = match.end()
        if match.group() == THINK_OPEN:
            if not inside:
                inside = True
                blocks += 1
            continue  # an opening tag inside a block starts nothing new
        if not inside:  # a closing tag outside any block: what came since was thinking
            for piece in pieces[since:]:
                piece[0] = True
            blocks = max(blocks, 1)
        inside = False
        since = after_close = len(pieces)
    if at < len(text):
        pieces.append([inside, text[at:]])
    return pieces, blocks, inside, after_close


def split_thinking(text: str, *, inside: bool = False) -> Thought:
    """Read ``text`` into thinking and solution; ``inside``: it starts inside a think block
    (the prompt opened it)."""
    pieces, blocks, ends_inside, after_close = _pieces(text, inside)
    thinking = "".join(p[1] for p in pieces if p[0])
    visible = "".join(p[1] for p in pieces if not p[0])
    if after_close >= 0:
        solution = "".join(p[1] for p in pieces[after_close:] if not p[0])
    else:
        solution = "" if ends_inside else visible
    return Thought(thinking, solution, visible, blocks, ends_inside)


def step_parts(text: str, *, inside: bool) -> tuple[str, str, bool]:
    """(thinking part, visible part, ends inside) of one step that starts ``inside`` a block."""
    pieces, _blocks, ends_inside, _after = _pieces(text, inside)
    thinking = "".join(p[1] for p in pieces if p[0])
    visible = "".join(p[1] for p in pieces if not p[0])
    return thinking, visible, ends_inside


def strip_tags(text: str) -> str:
    """The text without think tags (what a verifier or a reader sees of a thinking step)."""
    return _TAG.sub("", text)


def answer_of(text: str, *, inside: bool = False) -> tuple[str | None, AnswerSource]:
    """The final answer of a solution that may think first, and where it came from.

    Without thinking, :func:`~outthink.answers.extract_answer` of the whole text. Otherwise
    the answer the solution after the thinking states (then any text outside the blocks);
    when there is none, the last answer inside the thinking, marked ``"thinking"``.
    """
    t = split_thinking(text, inside=inside)
    if not t.thought:
        return extract_answer(text), ""
    for part in (t.solution, t.visible):
        if part.strip():
            answer = extract_answer(part)
            if answer is not None:
                return answer, "solution"
    answer = extract_answer(t.thinking)
    return answer, ("thinking" if answer is not None else "")


def states_answer(visible: str) -> bool:
    """A step's visible part states a final answer (a final answer inside the thinking, "so
    the answer is 5? Wait...", ends nothing)."""
    return bool(visible.strip()) and has_final_answer(visible)
