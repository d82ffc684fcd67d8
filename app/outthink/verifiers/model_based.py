"""Verifiers that score steps with a GGUF model's next-token probabilities.

Three kinds, each a :class:`~outthink.verifiers.cached.ScoringFormat` on the shared cached
session (:mod:`outthink.verifiers.cached`: one verifier sequence per candidate, forked and
dropped with it, each step's tokens decoded once, all candidates' steps in one decode call).
Token ids always come from the verifier model's own tokenizer (:meth:`Model.single_token`);
a model whose tokenizer has no single token for a needed word cannot serve as that kind and
raises :class:`~outthink.errors.ModelUnsupportedError`.

``prm-rlhflow`` (RLHFlow-style chat PRM, e.g. Llama3.1-8B-PRM-Deepseek-Data)
    A conversation: the first user turn is ``problem + " " + step 1``, every later step is its
    own user turn, every assistant turn is ``"+"``. Score of step k = P("+") from the softmax
    over the logits of "+" and "-", read at the last token before assistant turn k's content:
    the row whose logits predict that "+" (the reference code's ``logits[:, -3]`` on Llama
    3.1, where "+" and ``<|eot_id|>`` follow it).

    Turns are rendered with the model's own chat template (GGUF metadata). What step k
    appends is derived once per verifier from probe renders of 1, 2 and 3 turns with
    placeholder contents, first of the complete conversation (every user turn answered, no
    generation prompt: the reference's layout), else of conversations ending in the
    generation prompt (templates that render the final answer differently, e.g. Qwen3's
    empty thinking block). Either way render(k) must start with render(k-1) ("prefix
    stable") and turns 2 and 3 must render alike. Step 1 appends ``" " + step`` and the
    assistant header; step k >= 2 appends the previous turn's "+" and end marker, user turn
    k and the assistant header. The last step's "+" is never needed, so it is never decoded.
    A template that passes neither check (or a model without one) falls back to a plain
    ``User:`` / ``Assistant:`` layout, with a warning; option ``template = "model"`` makes
    that an error, ``"plain"`` forces the plain layout.

``prm-math-shepherd`` (math-shepherd-mistral-7b-prm)
    Text = problem, then for each step ``"\\n" + step + " ки"``. Score of a step = P("+") from
    the softmax over "+" and "-" read at the tag token's own output row, as the reference code
    does (``logits[input_ids == step_tag_id]``): in training the tag position is where the
    model predicts the step's label. The tag is the last token a step appends.

``judge`` (any instruct model)
    One user turn built from ``prompt`` (placeholders ``{problem}``, ``{solution}``,
    ``{step}``), in the model's chat template (plain text plus ``"\\nAnswer:"`` without one),
    then the generation prompt; score = P(Yes) / (P(Yes) + P(No)) at the generation prompt's
    last token. "Yes" covers the ids of ``"Yes"`` and ``" Yes"`` (whichever the tokenizer
    has as single tokens; an answer can start either way), their probabilities added
    (logsumexp); "No" likewise. Caching: everything up to ``{solution}`` is the root, the
    solution grows step by step (each step followed by a blank line) and stays cached; the
    prompt's rest after ``{solution}`` (the question, with ``{step}`` filled in) and the
    generation prompt are decoded after the step in the same call, read, and rewound. Those
    probe tokens count in ``tokens_decoded`` (and in ``probe_tokens``), never in the cache.
    ``mode = "step"`` (default) asks about the latest step, ``"solution"`` about the solution
    so far; they differ only in the default prompt.

Options every kind takes: ``n_ctx`` (first context size, default 4096 cells), ``max_ctx``
(growth limit, default the model's trained context length), ``n_seq_max`` (candidates before
the context grows, default 64), ``n_batch`` (tokens per decode call, default 512).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from outthink.engine import DEFAULT_N_BATCH, MAX_SEQUENCES, Model
from outthink.errors import ConfigError, ModelUnsupportedError
from outthink.prompts import render_chat_template
from outthink.verifiers.base import VerifierContext, VerifierSpec, register
from outthink.verifiers.cached import CachedVerifier, CacheSettings, StepText
from outthink.verifiers.simple import check_option_keys

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_JUDGE_PROMPTS",
    "JudgeFormat",
    "MathShepherdFormat",
    "RLHFlowFormat",
    "build_judge",
    "build_math_shepherd",
    "build_rlhflow",
]

_CACHE_OPTIONS = ("n_ctx", "max_ctx", "n_seq_max", "n_batch")
_TEMPLATE_CHOICES = ("auto", "model", "plain")

DEFAULT_JUDGE_PROMPTS: dict[str, str] = {
    "step": (
        "Below are a math problem and a partial solution. Check only its last step.\n\n"
        "Problem:\n{problem}\n\n"
        "Solution so far:\n{solution}"
        "Last step:\n{step}\n\n"
        "Is the last step correct? Answer Yes or No."
    ),
    "solution": (
        "Below are a math problem and a solution, possibly unfinished.\n\n"
        "Problem:\n{problem}\n\n"
        "Solution:\n{solution}"
        "Is the solution correct so far? Answer Yes or No."
    ),
}

# Probe contents: no whitespace at either end, so templates that trim contents keep them whole.
_SLOT_MARK = "@@OUTTHINK-SLOT-"
_SLOT = _SLOT_MARK + "{}@@"


# --------------------------------------------------------------------------- token ids


def _lookup(model: Model, text: str) -> int | None:
    return model.single_token(text) if text else None


def _unsupported(model: Model, kind: str, what: str) -> ModelUnsupportedError:
    return ModelUnsupportedError(
        f"{model.name} cannot serve as a {kind!r} verifier: its tokenizer has no single "
        f"token for {what}.",
        hint="Pick a verifier model made for this kind (see `outthink models`), or set the "
        "verifier's token options to words this model has.",
    )


def _one_token(model: Model, kind: str, text: str) -> int:
    """The id a PRM reads, as the reference code takes it (``tokenizer.encode(text)[-1]``
    on a text that is one token)."""
    token = _lookup(model, text)
    if token is None:
        raise _unsupported(model, kind, repr(text))
    return token


def _word_tokens(model: Model, kind: str, words: Sequence[str]) -> tuple[int, ...]:
    """Ids of each word and of the word after a space: an answer may start either way."""
    ids: list[int] = []
    for word in words:
        for variant in (word, " " + word):
            token = _lookup(model, variant)
            if token is not None and token not in ids:
                ids.append(token)
    if not ids:
        raise _unsupported(model, kind, " or ".join(repr(w) for w in words))
    return tuple(ids)


def _disjoint(kind: str, good: Sequence[int], bad: Sequence[int]) -> None:
    if set(good) & set(bad):
        raise ConfigError(
            f"Verifier {kind!r}: the good and bad answers share a token.",
            hint="Give two different words for the good and the bad answer.",
        )


# --------------------------------------------------------------------------- templates


def _render(
    model: Model,
    template: str,
    messages: list[dict[str, str]],
    *,
    generation_prompt: bool = True,
) -> str:
    return render_chat_template(
        template,
        messages,
        bos_token=model.bos_text,
        eos_token=model.eos_text,
        add_generation_prompt=generation_prompt,
        source=model.path.name,
        hint='Set the verifier option template = "plain", or pick another verifier model.',
    )


def _split_once(text: str, slot: str) -> tuple[str, str] | None:
    if text.count(slot) != 1:
        return None
    before, after = text.split(slot)
    return before, after


@dataclass(frozen=True, slots=True)
class _Turns:
    """How a PRM conversation is laid out: root = head + problem; first step appends
    ``" " + step + first_post``; step k >= 2 appends ``later_pre + step + later_post``."""

    head: str
    first_post: str
    later_pre: str
    later_post: str
    source: str  # "model" or "plain"


def _conversations(model: Model, template: str, good: str, *, complete: bool) -> list[str] | None:
    """Renders of 1, 2 and 3 steps, probe slots for contents; None if the template refuses.

    ``complete``: every user turn is answered (the reference's layout, no generation prompt);
    else the last user turn is followed by the generation prompt.
    """
    q, *steps = (_SLOT.format(i) for i in range(4))
    answers = [_SLOT.format(10 + i) if complete else good for i in range(3)]
    renders = []
    try:
        for n in (1, 2, 3):
            messages = []
            for k in range(n):
                messages.append(
                    {"role": "user", "content": f"{q} {steps[0]}" if k == 0 else steps[k]}
                )
                if complete or k < n - 1:
                    messages.append({"role": "assistant", "content": answers[k]})
            renders.append(_render(model, template, messages, generation_prompt=not complete))
    except (TemplateError, TypeError, ValueError) as exc:
        log.info("The chat template rejected a PRM conversation: %s", exc)
        return None
    return renders


def _turns_complete(model: Model, template: str, good: str) -> _Turns | None:
    """Pieces from the complete conversation, as the reference renders it: the score is read
    at the last token before assistant turn k's content."""
    renders = _conversations(model, template, good, complete=True)
    if renders is None:
        return None
    r1, r2, r3 = renders
    if not (r2.startswith(r1) and r3.startswith(r2)):
        return None
    q, s1, s2, s3 = (_SLOT.format(i) for i in range(4))
    a1, a2, a3 = (_SLOT.format(10 + i) for i in range(3))
    turn2, turn3 = r2[len(r1) :], r3[len(r2) :]
    if turn3 != turn2.replace(s2, s3).replace(a2, a3):
        return None
    first = _split_once(r1, f"{q} {s1}")
    user2 = _split_once(turn2, s2)
    if first is None or user2 is None:
        return None
    head, rest1 = first
    pre, rest2 = user2
    answer1, answer2 = _split_once(rest1, a1), _split_once(rest2, a2)
    if answer1 is None or answer2 is None or answer1[1] != answer2[1]:
        return None  # turn 1 must end like the later turns
    (first_post, end), (later_post, _) = answer1, answer2
    return _Turns(head, first_post, good + end + pre, later_post, "model")


def _turns_prompted(model: Model, template: str, good: str) -> _Turns | None:
    """Pieces from conversations that end in the generation prompt: for templates that
    render the last assistant turn differently (e.g. Qwen3's empty thinking block)."""
    renders = _conversations(model, template, good, complete=False)
    if renders is None:
        return None
    g1, g2, g3 = renders
    if not (g2.startswith(g1) and g3.startswith(g2)):
        return None
    q, s1, s2, s3 = (_SLOT.format(i) for i in range(4))
    first = _split_once(g1, f"{q} {s1}")
    turn2 = _split_once(g2[len(g1) :], s2)
    if first is None or turn2 is None or g3[len(g2) :] != g2[len(g1) :].replace(s2, s3):
        return None
    (head, first_post), (later_pre, later_post) = first, turn2
    return _Turns(head, first_post, later_pre, later_post, "model")


def _model_turns(model: Model, template: str, good: str) -> _Turns | None:
    """Turn pieces from the model's template, or None where it is not prefix stable."""
    for derive in (_turns_complete, _turns_prompted):
        turns = derive(model, template, good)
        parts = (turns.head, turns.first_post, turns.later_pre, turns.later_post) if turns else ()
        # a slot left in a piece: the template repeats earlier contents later on
        if turns is not None and not any(_SLOT_MARK in part for part in parts):
            return turns
    return None


def _plain_turns(good: str) -> _Turns:
    # A newline before the answer keeps "+" its own token in BPE and SentencePiece vocabularies.
    return _Turns("User: ", "\n\nAssistant:\n", f"{good}\n\nUser: ", "\n\nAssistant:\n", "plain")


def _choose(
    kind: str,
    model: Model,
    mode: str,
    derive: Callable[[str], Any | None],
    plain: Any,
) -> Any:
    """The model's own template where usable (``auto``/``model``), else the plain layout."""
    if mode == "plain":
        return plain
    template = model.chat_template
    derived = derive(template) if template else None
    if derived is not None:
        return derived
    why = (
        "has a chat template that is not prefix stable (a new turn changes how earlier "
        "turns render)"
        if template
        else "has no chat template"
    )
    if mode == "model":
        raise ConfigError(
            f"Verifier {kind!r}: {model.name} {why}.",
            hint='Set the verifier option template = "plain" (or "auto") to use a plain '
            "User/Assistant layout.",
        )
    log.warning("%s %s; the %s verifier uses a plain layout instead.", model.name, why, kind)
    return plain


# --------------------------------------------------------------------------- formats


class RLHFlowFormat:
    """RLHFlow-style chat PRM (see the module notes)."""

    def __init__(
        self, model: Model, *, good: str = "+", bad: str = "-", template: str = "auto"
    ) -> None:
        kind = "prm-rlhflow"
        self.good_ids: tuple[int, ...] = (_one_token(model, kind, good),)
        self.bad_ids: tuple[int, ...] = (_one_token(model, kind, bad),)
        _disjoint(kind, self.good_ids, self.bad_ids)
        self.turns: _Turns = _choose(
            kind, model, template, lambda t: _model_turns(model, t, good), _plain_turns(good)
        )

    @property
    def template_source(self) -> str:
        return self.turns.source

    def root(self, problem: str) -> str:
        return self.turns.head + problem.strip()

    def step(self, problem: str, index: int, text: str) -> StepText:
        step = text.strip()
        if index == 0:
            return StepText(" " + step + self.turns.first_post)
        return StepText(self.turns.later_pre + step + self.turns.later_post)


class MathShepherdFormat:
    """Math-Shepherd PRM (see the module notes)."""

    def __init__(self, model: Model, *, good: str = "+", bad: str = "-", tag: str = " ки") -> None:
        kind = "prm-math-shepherd"
        if not tag.strip():
            raise ConfigError(
                f"Verifier {kind!r}: the step tag is empty.", hint='Use step_tag = " ки".'
            )
        self.good_ids: tuple[int, ...] = (_one_token(model, kind, good),)
        self.bad_ids: tuple[int, ...] = (_one_token(model, kind, bad),)
        _disjoint(kind, self.good_ids, self.bad_ids)
        # " ки" is one token in the PRM's vocabulary; a SentencePiece tokenizer shows it as
        # "▁ки", which it also gives for "ки" alone (its word-start marker).
        tag_ids = {_lookup(model, tag), _lookup(model, tag.strip())} - {None}
        if not tag_ids:
            raise _unsupported(model, kind, f"the step tag {tag!r}")
        self.tag = tag
        self.tag_ids = frozenset(t for t in tag_ids if t is not None)
        self.template_source = "plain"

    def root(self, problem: str) -> str:
        return problem.strip()

    def step(self, problem: str, index: int, text: str) -> StepText:
        return StepText("\n" + text.strip() + self.tag)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_JUDGE_FIELDS = ("problem", "solution", "step")


def _fill(template: str, values: Mapping[str, str]) -> str:
    # One pass, so braces inside the problem or a step (LaTeX) are never read as placeholders.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _split_prompt(kind: str, prompt: str) -> tuple[str, str]:
    names = _PLACEHOLDER.findall(prompt)
    unknown = sorted(set(names) - set(_JUDGE_FIELDS))
    if unknown:
        raise ConfigError(
            f"Verifier {kind!r}: the prompt has unknown placeholders "
            f"{', '.join('{' + n + '}' for n in unknown)}.",
            hint="Use only {problem}, {solution} and {step}.",
        )
    if names.count("solution") != 1:
        raise ConfigError(
            f"Verifier {kind!r}: the prompt must contain {{solution}} exactly once.",
            hint="Put {solution} where the steps written so far go.",
        )
    head, tail = prompt.split("{solution}")
    if "step" in _PLACEHOLDER.findall(head):
        raise ConfigError(
            f"Verifier {kind!r}: {{step}} appears before {{solution}} in the prompt.",
            hint="The text before {solution} is decoded once per problem; ask about the "
            "step after {solution}.",
        )
    return head, tail


@dataclass(frozen=True, slots=True)
class _Wrap:
    pre: str
    post: str
    source: str


def _model_wrap(model: Model, template: str) -> _Wrap | None:
    slot = _SLOT.format(0)
    try:
        text = _render(model, template, [{"role": "user", "content": slot}])
    except (TemplateError, TypeError, ValueError) as exc:
        log.info("The chat template rejected a judge prompt: %s", exc)
        return None
    parts = _split_once(text, slot)
    return _Wrap(parts[0], parts[1], "model") if parts else None


class JudgeFormat:
    """An instruct model asked Yes/No (see the module notes)."""

    def __init__(
        self,
        model: Model,
        *,
        mode: str = "step",
        prompt: str | None = None,
        yes: Sequence[str] = ("Yes",),
        no: Sequence[str] = ("No",),
        template: str = "auto",
    ) -> None:
        kind = "judge"
        if mode not in DEFAULT_JUDGE_PROMPTS:
            raise ConfigError(
                f"Verifier {kind!r}: mode {mode!r} is unknown.", hint='Use "step" or "solution".'
            )
        self.mode = mode
        self.prompt = (prompt if prompt is not None else DEFAULT_JUDGE_PROMPTS[mode]).strip()
        self.head, self.tail = _split_prompt(kind, self.prompt)
        self.good_ids = _word_tokens(model, kind, yes)
        self.bad_ids = _word_tokens(model, kind, no)
        _disjoint(kind, self.good_ids, self.bad_ids)
        self.wrap: _Wrap = _choose(
            kind,
            model,
            template,
            lambda t: _model_wrap(model, t),
            _Wrap("", "\nAnswer:", "plain"),
        )

    @property
    def template_source(self) -> str:
        return self.wrap.source

    def root(self, problem: str) -> str:
        return self.wrap.pre + _fill(self.head, {"problem": problem.strip()})

    def step(self, problem: str, index: int, text: str) -> StepText:
        step = text.strip()
        question = _fill(self.tail, {"problem": problem.strip(), "step": step})
        return StepText(step + "\n\n", question + self.wrap.post)


# --------------------------------------------------------------------------- options


def _int_option(
    kind: str, options: Mapping[str, Any], name: str, default: int, lo: int, hi: int
) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(
            f"Verifier {kind!r}: option {name!r} is {value!r}.",
            hint=f"Give a whole number from {lo:,} to {hi:,}.",
        )
    return value


def _str_option(kind: str, options: Mapping[str, Any], name: str, default: str) -> str:
    value = options.get(name, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"Verifier {kind!r}: option {name!r} is {value!r}.", hint="Give a non-empty text."
        )
    return value


def _choice_option(
    kind: str, options: Mapping[str, Any], name: str, default: str, choices: Sequence[str]
) -> str:
    value = options.get(name, default)
    if value not in choices:
        raise ConfigError(
            f"Verifier {kind!r}: option {name!r} is {value!r}.",
            hint=f"Choose one of: {', '.join(choices)}.",
        )
    return str(value)


def _words_option(
    kind: str, options: Mapping[str, Any], name: str, default: str
) -> tuple[str, ...]:
    value = options.get(name, default)
    words = (value,) if isinstance(value, str) else value
    if (
        not isinstance(words, Sequence)
        or not words
        or not all(isinstance(w, str) and w.strip() for w in words)
    ):
        raise ConfigError(
            f"Verifier {kind!r}: option {name!r} is {value!r}.",
            hint='Give a word or a list of words, e.g. "Yes" or ["Yes", "yes"].',
        )
    return tuple(w.strip() for w in words)


def _model_of(kind: str, context: VerifierContext) -> Model:
    if context.model is None:
        raise ConfigError(
            f"The {kind!r} verifier needs a verifier model.",
            hint="Pick a verifier model from the catalog (`outthink models`).",
        )
    model: Model = context.model
    return model


def _cache_settings(
    kind: str, options: Mapping[str, Any], model: Model, context: VerifierContext
) -> CacheSettings:
    trained = model.header.arch_value("context_length", 0)
    trained = int(trained) if isinstance(trained, int) and trained > 0 else 32768
    max_ctx = _int_option(kind, options, "max_ctx", trained, 256, 1 << 22)
    # The default start size is capped by max_ctx; an explicit one must fit under it.
    n_ctx = _int_option(kind, options, "n_ctx", min(4096, max_ctx), 256, max_ctx)
    return CacheSettings(
        n_ctx=n_ctx,
        max_ctx=max_ctx,
        n_seq_max=_int_option(kind, options, "n_seq_max", 64, 1, MAX_SEQUENCES - 1),
        n_batch=_int_option(kind, options, "n_batch", DEFAULT_N_BATCH, 16, 8192),
        threads=context.threads,
        cancel=context.cancel,
    )


def build_rlhflow(options: Mapping[str, Any], context: VerifierContext) -> CachedVerifier:
    kind = "prm-rlhflow"
    check_option_keys(kind, options, ("good_token", "bad_token", "template", *_CACHE_OPTIONS))
    model = _model_of(kind, context)
    fmt = RLHFlowFormat(
        model,
        good=_str_option(kind, options, "good_token", "+"),
        bad=_str_option(kind, options, "bad_token", "-"),
        template=_choice_option(kind, options, "template", "auto", _TEMPLATE_CHOICES),
    )
    return CachedVerifier(kind, model, fmt, _cache_settings(kind, options, model, context))


def build_math_shepherd(options: Mapping[str, Any], context: VerifierContext) -> CachedVerifier:
    kind = "prm-math-shepherd"
    check_option_keys(kind, options, ("good_token", "bad_token", "step_tag", *_CACHE_OPTIONS))
    model = _model_of(kind, context)
    fmt = MathShepherdFormat(
        model,
        good=_str_option(kind, options, "good_token", "+"),
        bad=_str_option(kind, options, "bad_token", "-"),
        tag=_str_option(kind, options, "step_tag", " ки"),
    )
    return CachedVerifier(kind, model, fmt, _cache_settings(kind, options, model, context))


def build_judge(options: Mapping[str, Any], context: VerifierContext) -> CachedVerifier:
    kind = "judge"
    check_option_keys(
        kind,
        options,
        ("mode", "granularity", "prompt", "yes_token", "no_token", "template", *_CACHE_OPTIONS),
    )
    # "granularity" is the catalog's older name for "mode".
    mode = _choice_option(kind, options, "mode", "step", tuple(DEFAULT_JUDGE_PROMPTS))
    if "granularity" in options:
        alias = _choice_option(kind, options, "granularity", mode, tuple(DEFAULT_JUDGE_PROMPTS))
        if "mode" in options and alias != mode:
            raise ConfigError(
                f"Verifier {kind!r}: mode {mode!r} and granularity {alias!r} disagree.",
                hint="Give only mode.",
            )
        mode = alias
    prompt = options.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise ConfigError(
            f"Verifier {kind!r}: option 'prompt' is {prompt!r}.",
            hint="Give a text with {problem}, {solution} and optionally {step}.",
        )
    model = _model_of(kind, context)
    fmt = JudgeFormat(
        model,
        mode=mode,
        prompt=prompt,
        yes=_words_option(kind, options, "yes_token", "Yes"),
        no=_words_option(kind, options, "no_token", "No"),
        template=_choice_option(kind, options, "template", "auto", _TEMPLATE_CHOICES),
    )
    return CachedVerifier(kind, model, fmt, _cache_settings(kind, options, model, context))


register(
    VerifierSpec(
        kind="prm-rlhflow",
        description="RLHFlow-style chat PRM: each step is a user turn, "
        "score = P('+') at the assistant turn.",
        factory=build_rlhflow,
        needs_model=True,
    )
)
register(
    VerifierSpec(
        kind="prm-math-shepherd",
        description="Math-Shepherd PRM: each step ends with the tag ' ки', "
        "score = P('+') at the tag.",
        factory=build_math_shepherd,
        needs_model=True,
    )
)
register(
    VerifierSpec(
        kind="judge",
        description="Any instruct model asked whether the step (or solution) is correct: "
        "score = P(Yes) / (P(Yes) + P(No)).",
        factory=build_judge,
        needs_model=True,
    )
)
