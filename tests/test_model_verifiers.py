"""Model-based verifiers (prm-rlhflow, prm-math-shepherd, judge) on tiny random GGUF models.

The tiny models are noise, so these tests check plumbing: which tokens are decoded, at which
positions scores are read, for which token ids, and that every step is decoded once. Each
score is compared with a direct computation: the full text decoded from scratch as a single
sequence in a fresh context. Logits differ slightly across batch shapes (docs/engine.md), so the
comparison allows 0.1 in log-probability.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from outthink.engine import Context, Model
from outthink.errors import Cancelled, ConfigError, EngineError, ModelUnsupportedError
from outthink.generation import CancelToken
from outthink.prompts import render_chat_template
from outthink.verifiers import VERIFIERS, StepRecord, VerifierContext, get_spec
from outthink.verifiers.cached import CachedSession, CachedVerifier, pair_score, tokenize_root
from outthink.verifiers.model_based import DEFAULT_JUDGE_PROMPTS, _model_turns
from tests.tiny_gguf import write_tiny_model

TOL = 0.1
PROBLEM = "What is 2+2?"
STEPS = ["Step 1: 2+2=4\n\n", "The answer is 4.\n\n", "Step 3: a b c = 4\n\n"]
#: Single tokens of the tiny vocabulary ("Yes" has no merge path there; see the report).
TINY_JUDGE = {"yes_token": ["a", "c"], "no_token": "b"}


@pytest.fixture(scope="module")
def chat_model(tiny_chat_model: Path) -> Iterator[Model]:
    m = Model(tiny_chat_model)
    yield m
    m.close()


@pytest.fixture(scope="module")
def plain_model(tiny_model: Path) -> Iterator[Model]:
    m = Model(tiny_model)
    yield m
    m.close()


def fmt(v: CachedVerifier) -> Any:
    """The verifier's format, for its kind-specific attributes."""
    return v.format


def build(kind: str, model: Model, **options: Any) -> CachedVerifier:
    verifier = get_spec(kind).factory(options, VerifierContext(model=model, threads=2))
    assert isinstance(verifier, CachedVerifier)
    return verifier


def direct_logprobs(
    model: Model, tokens: Sequence[int], rows: Sequence[int], ids: Sequence[int]
) -> list[np.ndarray]:
    """Decode ``tokens`` as one sequence from scratch; log-softmax of ``ids`` at ``rows``."""
    n_ctx = -(-(len(tokens) + 16) // 256) * 256
    wanted = set(rows)
    with Context(
        model, n_ctx=n_ctx, n_seq_max=1, n_batch=n_ctx, n_outputs_max=len(rows), threads=2
    ) as ctx:
        flags = [i in wanted for i in range(len(tokens))]
        ctx.decode(tokens, range(len(tokens)), [0] * len(tokens), flags)
        return [ctx.log_softmax_at(r, ids) for r in rows]


def direct_score(model: Model, tokens: Sequence[int], row: int, v: CachedVerifier) -> float:
    ids = [*v.format.good_ids, *v.format.bad_ids]
    (lp,) = direct_logprobs(model, tokens, [row], ids)
    return pair_score(lp, len(v.format.good_ids))


def assert_close(score: float, expected: float) -> None:
    """Within TOL in log-probability of both outcomes."""
    assert 0.0 < score < 1.0
    assert abs(math.log(score) - math.log(expected)) < TOL, (score, expected)
    assert abs(math.log1p(-score) - math.log1p(-expected)) < TOL, (score, expected)


def chat_tokens(model: Model, messages: list[dict[str, str]]) -> list[int]:
    text = render_chat_template(
        model.chat_template or "", messages, bos_token=model.bos_text, add_generation_prompt=True
    )
    return tokenize_root(model, text)


def rlhflow_messages(problem: str, steps: Sequence[str]) -> list[dict[str, str]]:
    messages = []
    for k, step in enumerate(steps):
        content = f"{problem} {step.strip()}" if k == 0 else step.strip()
        if k:
            messages.append({"role": "assistant", "content": "+"})
        messages.append({"role": "user", "content": content})
    return messages


def assert_cache_matches(session: CachedSession, candidates: Sequence[int]) -> None:
    """Each candidate's sequence holds exactly its cached tokens (positions 0..n-1)."""
    for c in candidates:
        assert session.context.pos_max(session.seq_of(c)) == len(session.cached_tokens(c)) - 1


# ---------------------------------------------------------------- registry and options


def test_kinds_are_registered_and_need_a_model() -> None:
    for kind in ("prm-rlhflow", "prm-math-shepherd", "judge"):
        assert VERIFIERS[kind].needs_model
        with pytest.raises(ConfigError, match="needs a verifier model") as info:
            get_spec(kind).factory({}, VerifierContext())
        assert info.value.hint


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("prm-rlhflow", {"good": "+"}, "no option 'good'"),
        ("prm-rlhflow", {"template": "jinja"}, "'template'"),
        ("prm-math-shepherd", {"n_ctx": 10}, "'n_ctx'"),
        ("prm-math-shepherd", {"n_seq_max": 0}, "'n_seq_max'"),
        ("prm-math-shepherd", {"step_tag": "  "}, "step tag is empty"),
        ("prm-math-shepherd", {"good_token": "-"}, "share a token"),
        ("judge", {**TINY_JUDGE, "mode": "whole"}, "option 'mode' is 'whole'"),
        ("judge", {**TINY_JUDGE, "mode": "step", "granularity": "solution"}, "disagree"),
        ("judge", {**TINY_JUDGE, "prompt": "Is {step} right?"}, r"\{solution\} exactly once"),
        ("judge", {**TINY_JUDGE, "prompt": "{step} {solution}"}, "before"),
        ("judge", {**TINY_JUDGE, "prompt": "{problem} {solution} {stpe}"}, r"\{stpe\}"),
        ("judge", {"yes_token": [], "no_token": "b"}, "'yes_token'"),
    ],
)
def test_bad_options_are_typed(chat_model: Model, kind: str, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        build(kind, chat_model, **options)
    assert info.value.hint


@pytest.mark.parametrize(
    ("kind", "options"),
    [("prm-rlhflow", {}), ("prm-math-shepherd", {}), ("judge", TINY_JUDGE)],
)
def test_model_without_the_tokens_is_unsupported(
    chat_model: Model, monkeypatch: pytest.MonkeyPatch, kind: str, options: dict
) -> None:
    monkeypatch.setattr(Model, "single_token", lambda self, text: None)
    with pytest.raises(ModelUnsupportedError, match="cannot serve as") as info:
        build(kind, chat_model, **options)
    assert "tiny-test" in info.value.message and info.value.hint


def test_judge_default_words_need_single_tokens(
    chat_model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert chat_model.single_token("Yes") is not None  # the tiny vocabulary has it...
    real = chat_model.single_token
    monkeypatch.setattr(  # ...a model whose tokenizer splits "Yes" cannot be a judge
        chat_model, "single_token", lambda t: None if "Yes" in t else real(t)
    )
    with pytest.raises(ModelUnsupportedError, match="'Yes'"):
        build("judge", chat_model)


def test_catalog_options_are_accepted(chat_model: Model) -> None:
    # The shipped catalog's option names (models.toml) must keep working.
    build("prm-rlhflow", chat_model, good_token="+", bad_token="-").close()
    build("prm-math-shepherd", chat_model, step_tag=" ки", good_token="+", bad_token="-").close()
    judge = build("judge", chat_model, granularity="solution", **TINY_JUDGE)
    assert fmt(judge).mode == "solution"
    judge.close()


# ---------------------------------------------------------------- prm-rlhflow


def test_rlhflow_turns_come_from_the_chat_template(chat_model: Model) -> None:
    v = build("prm-rlhflow", chat_model)
    turns = fmt(v).turns
    assert turns.source == "model"
    assert (turns.head, turns.first_post) == ("<s><|user|>", "<|end|><|assistant|>")
    assert (turns.later_pre, turns.later_post) == ("+<|end|><|user|>", "<|end|><|assistant|>")
    assert v.format.good_ids == (chat_model.single_token("+"),)
    assert v.format.bad_ids == (chat_model.single_token("-"),)
    v.close()


def test_rlhflow_scores_at_each_generation_prompt(chat_model: Model) -> None:
    v = build("prm-rlhflow", chat_model)
    s = v.open(PROBLEM)
    s.add(0)
    scores = [s.score({0: StepRecord(step)})[0] for step in STEPS]
    cached = s.cached_tokens(0)
    # The cache holds exactly the template's rendering of the conversation, whole-text
    # tokenized, ending at the generation prompt after the last user turn.
    assert cached == chat_tokens(chat_model, rlhflow_messages(PROBLEM, STEPS))
    plus = chat_model.single_token("+")
    for k in range(len(STEPS)):
        expected_tokens = chat_tokens(chat_model, rlhflow_messages(PROBLEM, STEPS[: k + 1]))
        row = len(expected_tokens) - 1  # the generation prompt's last token predicts "+"
        assert cached[: row + 1] == expected_tokens
        if k + 1 < len(STEPS):
            assert cached[row + 1] == plus  # assistant turn k's "+" follows the scored row
        assert_close(scores[k], direct_score(chat_model, expected_tokens, row, v))
    assert_cache_matches(s, [0])
    s.close()
    v.close()


def test_rlhflow_falls_back_to_plain_turns(plain_model: Model, tmp_path: Path) -> None:
    # No template: plain User/Assistant turns.
    v = build("prm-rlhflow", plain_model)
    assert v.format.template_source == "plain"
    s = v.open(PROBLEM)
    s.add(0)
    s.score({0: StepRecord(STEPS[0])})
    s.score({0: StepRecord(STEPS[1])})
    text = (
        f"User: {PROBLEM} Step 1: 2+2=4\n\nAssistant:\n+\n\nUser: The answer is 4.\n\nAssistant:\n"
    )
    assert s.cached_tokens(0) == tokenize_root(plain_model, text)
    s.close()
    v.close()
    # A template that renders only the last turn is not prefix stable.
    last_only = (
        "{{ bos_token }}{% for m in messages[-1:] %}<|user|>{{ m['content'] }}<|end|>"
        "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    path = write_tiny_model(tmp_path / "last-only.gguf", chat_template=last_only)
    with Model(path) as model:
        v = build("prm-rlhflow", model)
        assert v.format.template_source == "plain"
        v.close()
        with pytest.raises(ConfigError, match="not prefix stable") as info:
            build("prm-rlhflow", model, template="model")
        assert "plain" in info.value.hint


class _TemplateOnly:
    """What the turn derivation reads from a model: BOS and EOS texts, and the file's name."""

    bos_text = "<BOS>"
    eos_text = "<EOS>"
    name = "template-only"
    path = Path("template-only.gguf")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # DeepSeek-R1 style: the generation prompt opens a thinking block that history turns
        # do not have; the complete conversation (the reference's layout) is prefix stable.
        (
            "{{ bos_token }}{% for m in messages %}"
            "{% if m['role'] == 'user' %}<U>{{ m['content'] }}"
            "{% else %}<A>{{ m['content'] }}<E>{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}<A><think>\n{% endif %}",
            ("<BOS><U>", "<A>", "+<E><U>", "<A>"),
        ),
        # Qwen3 style: the final assistant turn renders differently; conversations that end in
        # the generation prompt are prefix stable.
        (
            "{% for m in messages %}{% if m['role'] == 'user' %}<u>{{ m['content'] }}</u>"
            "{% elif loop.last %}<a><think></think>{{ m['content'] }}</a>"
            "{% else %}<a>{{ m['content'] }}</a>{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}<a>{% endif %}",
            ("<u>", "</u><a>", "+</a><u>", "</u><a>"),
        ),
    ],
)
def test_rlhflow_turns_from_either_layout(template: str, expected: tuple[str, ...]) -> None:
    turns = _model_turns(_TemplateOnly(), template, "+")  # type: ignore[arg-type]
    assert turns is not None
    assert (turns.head, turns.first_post, turns.later_pre, turns.later_post) == expected


# ---------------------------------------------------------------- prm-math-shepherd


def test_math_shepherd_scores_at_the_tag_rows(chat_model: Model) -> None:
    v = build("prm-math-shepherd", chat_model)
    s = v.open(PROBLEM)
    s.add(0)
    scores = [s.score({0: StepRecord(step)})[0] for step in STEPS]
    text = PROBLEM + "".join(f"\n{step.strip()} ки" for step in STEPS)
    tokens = tokenize_root(chat_model, text)
    assert s.cached_tokens(0) == tokens
    tag = chat_model.single_token("ки")  # "▁ки": SentencePiece marks the word start
    assert fmt(v).tag_ids == {tag}
    rows = [i for i, t in enumerate(tokens) if t == tag]
    assert len(rows) == len(STEPS) and rows[-1] == len(tokens) - 1
    ids = [*v.format.good_ids, *v.format.bad_ids]
    for score, lp in zip(scores, direct_logprobs(chat_model, tokens, rows, ids), strict=True):
        assert_close(score, pair_score(lp, 1))
    s.close()
    v.close()


# ---------------------------------------------------------------- judge


def judge_tokens(model: Model, v: CachedVerifier, problem: str, steps: Sequence[str]) -> list[int]:
    """The whole judge prompt for the latest step, rendered in one piece."""
    solution = "".join(step.strip() + "\n\n" for step in steps)
    content = (
        fmt(v)
        .prompt.replace("{problem}", problem)
        .replace("{solution}", solution)
        .replace("{step}", steps[-1].strip())
    )
    return chat_tokens(model, [{"role": "user", "content": content}])


@pytest.mark.parametrize("mode", ["step", "solution"])
def test_judge_probe_is_scored_then_rewound(chat_model: Model, mode: str) -> None:
    v = build("judge", chat_model, mode=mode, **TINY_JUDGE)
    assert fmt(v).prompt == DEFAULT_JUDGE_PROMPTS[mode]
    # Both words' ids count for "yes": "a" and "c" are one token each here.
    assert v.format.good_ids == (chat_model.single_token("a"), chat_model.single_token("c"))
    s = v.open(PROBLEM)
    s.add(0)
    for k, step in enumerate(STEPS):
        score = s.score({0: StepRecord(step)})[0]
        full = judge_tokens(chat_model, v, PROBLEM, STEPS[: k + 1])
        assert_close(score, direct_score(chat_model, full, len(full) - 1, v))
        # The question was rewound: the cache holds the prompt's head and the steps only.
        cached = s.cached_tokens(0)
        assert full[: len(cached)] == cached
        assert_cache_matches(s, [0])
    assert s.tokens_decoded == s.unique_prefix_tokens + s.probe_tokens
    assert s.probe_tokens > 0
    s.close()
    v.close()


def test_judge_custom_prompt_and_plain_layout(plain_model: Model) -> None:
    prompt = "Check {solution}Was \\boxed{{step}} ok for {problem}?"
    v = build("judge", plain_model, prompt=prompt, **TINY_JUDGE)
    assert v.format.template_source == "plain"
    s = v.open(PROBLEM)
    s.add(0)
    score = s.score({0: StepRecord("2+2=4 {not a field}\n\n")})[0]
    step = "2+2=4 {not a field}"
    text = f"Check {step}\n\nWas \\boxed{{{step}}} ok for {PROBLEM}?\nAnswer:"
    full = tokenize_root(plain_model, text)
    assert_close(score, direct_score(plain_model, full, len(full) - 1, v))
    s.close()
    v.close()


# ---------------------------------------------------------------- forks, drops, cache reuse


def test_fork_continues_the_parent_and_drop_frees_cells(chat_model: Model) -> None:
    v = build("prm-math-shepherd", chat_model)
    s = v.open(PROBLEM)
    s.add(0)
    s.score({0: StepRecord(STEPS[0])})
    s.add(1, parent=0)
    seq0, seq1 = s.seq_of(0), s.seq_of(1)
    ctx = s.context
    assert seq0 != seq1 and ctx.pos_max(seq1) == ctx.pos_max(seq0)
    assert s.cached_tokens(1) == s.cached_tokens(0)
    shared = len(s.cached_tokens(0))
    cells, before, calls = s.live_cells, s.tokens_decoded, s.decode_calls
    out = s.score({0: StepRecord(STEPS[1]), 1: StepRecord(STEPS[2])})
    # Only the two new steps were decoded, in one call; the shared prefix was not.
    new = len(s.cached_tokens(0)) + len(s.cached_tokens(1)) - 2 * shared
    assert s.tokens_decoded - before == new == s.live_cells - cells
    assert s.decode_calls == calls + 1
    for c, steps in ((0, STEPS[:2]), (1, [STEPS[0], STEPS[2]])):
        tokens = tokenize_root(chat_model, PROBLEM + "".join(f"\n{x.strip()} ки" for x in steps))
        assert s.cached_tokens(c) == tokens
        assert_close(out[c], direct_score(chat_model, tokens, len(tokens) - 1, v))
    s.drop(0)
    assert ctx.pos_max(seq0) == -1
    assert_cache_matches(s, [1])  # the child keeps the cells it shared with its parent
    again = s.score({1: StepRecord("Done.\n\n")})[1]
    tokens = s.cached_tokens(1)
    assert_close(again, direct_score(chat_model, tokens, len(tokens) - 1, v))
    s.close()
    v.close()


class Beam:
    """Three scoring rounds for four live candidates with forks and drops, beam-search style,
    recording each candidate's runs (the tokens each of its scored steps appended)."""

    def __init__(self, s: CachedSession) -> None:
        self.s = s
        self.runs: dict[int, list[tuple[int, ...]]] = {}
        self.naive = 0  # tokens that re-decoding each scored text from scratch would cost
        self.scored: list[tuple[int, ...]] = []  # every run ever appended, dropped ones too

    def add(self, c: int, parent: int | None = None) -> None:
        self.s.add(c, parent)
        self.runs[c] = list(self.runs[parent]) if parent is not None else []

    def drop(self, c: int) -> None:
        self.s.drop(c)
        del self.runs[c]

    def score(self, steps: dict[int, str]) -> None:
        s = self.s
        before = {c: len(s.cached_tokens(c)) for c in steps}
        calls = s.decode_calls
        s.score({c: StepRecord(t) for c, t in steps.items()})
        assert s.decode_calls == calls + 1  # every candidate's step in one decode call
        for c in steps:
            tokens = s.cached_tokens(c)
            self.runs[c].append(tuple(tokens[before[c] :]))
            self.scored.append(self.runs[c][-1])
            self.naive += len(tokens)

    def run(self) -> None:
        for c in range(4):
            self.add(c)
        self.score({c: f"Step 1: {c}+{c}={2 * c}\n\n" for c in range(4)})
        # keep 0 and 2, expand each twice
        self.drop(1)
        self.drop(3)
        self.add(4, parent=0)
        self.add(5, parent=2)
        self.score({0: "Step 2: a\n\n", 4: "Step 2: b\n\n", 2: "Step 2: c\n\n", 5: "Step 2: 7\n\n"})
        self.drop(2)
        self.drop(5)
        self.add(6, parent=0)
        self.add(7, parent=4)
        self.score(
            {0: "The answer is 1.\n\n", 6: "The answer is 2.\n\n", 4: "So 3.\n\n", 7: "So 9.\n\n"}
        )

    def live_cells(self, root: int) -> int:
        """Cells the live candidates need: a trie over their runs, each node stored once."""
        nodes = {tuple(runs[: i + 1]) for runs in self.runs.values() for i in range(len(runs))}
        return root + sum(len(node[-1]) for node in nodes)


@pytest.mark.parametrize("kind", ["prm-rlhflow", "prm-math-shepherd", "judge"])
def test_each_step_is_decoded_once(chat_model: Model, kind: str) -> None:
    v = build(kind, chat_model, **(TINY_JUDGE if kind == "judge" else {}))
    s = v.open(PROBLEM)
    root = len(s.root_tokens)
    assert s.tokens_decoded == root
    beam = Beam(s)
    beam.run()
    assert sorted(beam.runs) == [0, 4, 6, 7]
    assert_cache_matches(s, list(beam.runs))
    assert s.live_cells == beam.live_cells(root)
    # Unique tokens: the root once and each of the 12 scored steps' runs once.
    assert s.unique_prefix_tokens == root + sum(map(len, beam.scored))
    # Decoded = unique tokens (+ the judge's rewound questions): no prefix decoded twice.
    assert s.tokens_decoded == s.unique_prefix_tokens + s.probe_tokens
    if kind != "judge":
        assert s.probe_tokens == 0
    assert s.tokens_decoded < beam.naive + s.probe_tokens
    s.close()
    v.close()


def test_chunked_decode_matches_direct(chat_model: Model) -> None:
    v = build("judge", chat_model, n_batch=128, **TINY_JUDGE)
    s = v.open(PROBLEM)
    for c in range(4):
        s.add(c)
    calls = s.decode_calls
    long_step = "Step 1: " + " ".join(f"{d}+{d}={2 * d}" for d in range(8)) + "\n\n"
    out = s.score({c: StepRecord(f"{c}: {long_step}") for c in range(4)})
    assert s.decode_calls - calls > 1  # did not fit in one call of 128 tokens
    for c in range(4):
        full = judge_tokens(chat_model, v, PROBLEM, [f"{c}: {long_step}"])
        assert_close(out[c], direct_score(chat_model, full, len(full) - 1, v))
    assert_cache_matches(s, range(4))
    s.close()
    v.close()


def test_cancelled_score_leaves_the_cache_as_it_was(
    chat_model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = build("judge", chat_model, mode="solution", n_batch=128, **TINY_JUDGE)
    s = v.open(PROBLEM)
    for c in range(4):
        s.add(c)
    s.score({c: StepRecord(STEPS[0]) for c in range(4)})
    before = {c: s.cached_tokens(c) for c in range(4)}
    ctx = s.context
    real_decode = ctx.decode

    def decode_then_stop(*args: Any, **kwargs: Any) -> None:
        real_decode(*args, **kwargs)
        stop = CancelToken()
        stop.cancel()
        ctx.cancel = stop  # the next decode call of this score is refused

    monkeypatch.setattr(ctx, "decode", decode_then_stop)
    long_step = " ".join(f"{d}+{d}={2 * d}." for d in range(12))
    with pytest.raises(Cancelled):
        s.score({c: StepRecord(f"{c} {long_step}") for c in range(4)})
    monkeypatch.setattr(ctx, "decode", real_decode)
    ctx.cancel = CancelToken()
    # The first chunk's cells were taken back out: every candidate is where it was.
    assert {c: s.cached_tokens(c) for c in range(4)} == before
    assert_cache_matches(s, range(4))
    out = s.score({c: StepRecord(f"{c} {long_step}") for c in range(4)})
    for c in range(4):
        full = judge_tokens(chat_model, v, PROBLEM, [STEPS[0], f"{c} {long_step}"])
        assert_close(out[c], direct_score(chat_model, full, len(full) - 1, v))
    s.close()
    v.close()


def test_probe_longer_than_a_batch_is_refused(chat_model: Model) -> None:
    v = build("judge", chat_model, n_batch=16, n_seq_max=4, **TINY_JUDGE)
    s = v.open(PROBLEM)
    s.add(0)
    with pytest.raises(ConfigError, match="more than one decode call") as info:
        s.score({0: StepRecord(STEPS[0])})
    assert "n_batch" in info.value.hint
    s.close()
    v.close()


def test_context_grows_for_more_candidates_and_cells(chat_model: Model) -> None:
    v = build("prm-rlhflow", chat_model, n_seq_max=1, n_ctx=256)
    s = v.open(PROBLEM)
    s.add(0)
    s.score({0: StepRecord(STEPS[0])})
    s.add(1, parent=0)  # needs a third sequence: the context is recreated and replayed
    s.add(2)
    assert v.contexts_created == 2 and s.context.n_seq_max >= 4
    assert_cache_matches(s, [0, 1, 2])
    long_step = " ".join(f"{d}+{d}={2 * d}." for d in range(20))
    out = s.score({c: StepRecord(f"{c} {long_step}") for c in range(3)})
    assert v.contexts_created == 3 and s.context.n_ctx > 256
    assert_cache_matches(s, [0, 1, 2])
    for c in range(3):
        tokens = s.cached_tokens(c)
        assert_close(out[c], direct_score(chat_model, tokens, len(tokens) - 1, v))
    # Replays decode the live segments again: counted, and beyond the unique tokens.
    assert s.tokens_decoded > s.unique_prefix_tokens
    s.close()
    v.close()


def test_context_is_reused_across_problems(chat_model: Model) -> None:
    v = build("prm-math-shepherd", chat_model)
    for problem in ("What is 1+1?", "What is 3+3?"):
        s = v.open(problem)
        s.add(0)
        s.score({0: StepRecord(STEPS[0])})
        assert s.cached_tokens(0)[: len(s.root_tokens)] == tokenize_root(chat_model, problem)
        s.close()
    assert v.contexts_created == 1
    v.close()
    with pytest.raises(EngineError, match="closed"):
        v.open(PROBLEM)


# ---------------------------------------------------------------- the real starter model


@pytest.mark.starter
def test_judge_on_the_starter_model(starter_path: Path) -> None:
    with Model(starter_path) as model:
        assert model.chat_template is None
        v = build("judge", model)  # the base model's own "Yes"/"No" tokens
        assert v.format.template_source == "plain"
        assert len(v.format.good_ids) == 2 and len(v.format.bad_ids) == 2
        s = v.open("What is 12 + 30?")
        s.add(0)
        s.add(1)
        out = s.score({0: StepRecord("12 + 30 = 42\n\n"), 1: StepRecord("12 + 30 = 52\n\n")})
        assert all(0.0 < out[c] < 1.0 for c in (0, 1))
        s.close()
        v.close()
