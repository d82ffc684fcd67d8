"""Search over reasoning models: thinking steps, the thinking budget, answers, verifier views.

Algorithm tests use the scripted generator (one token per character); the end-to-end tests run
the real engine on tiny random GGUFs with reasoning-style chat templates.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from outthink.cli import main
from outthink.cli.common import fill_model_defaults
from outthink.engine import LlamaGenerator, Model, plan_context
from outthink.errors import ConfigError
from outthink.events import (
    CandidateFinished,
    Event,
    RunStarted,
    StepProposed,
    StepScored,
    ThinkingEnded,
    event_from_dict,
)
from outthink.generation import SamplingParams, StopReason, run_to_completion
from outthink.prompts import Prompt
from outthink.search.config import SearchConfig
from outthink.search.runmodel import RunModel
from outthink.search.runner import run_search
from outthink.search.summary import summarize
from outthink.thinking import FORCE_CLOSE, REASONING_DEFAULTS, THINK_CLOSE
from outthink.verifiers import VERIFIERS, build, get_spec, verifier_view
from outthink.verifiers.base import StatelessSession, StepRecord, VerifierContext
from outthink.verifiers.simple import SelfCertaintyVerifier
from tests.fakes import FakeGenerator

#: A Qwen3-style prompt with thinking on: the model opens its own block.
THINKING = Prompt("<|im_start|>assistant\n", "chat", has_bos=False, thinks=True)
#: An R1-style prompt: the template opened the block.
OPENED = Prompt("<｜Assistant｜><think>\n", "chat", has_bos=False, thinks=True,
                thinking_open=True)


class Recorder:
    """A verifier that remembers what it was shown and scores every step 0.9."""

    name = "recorder"
    informative = True

    def __init__(self, view: str) -> None:
        self.view = view
        self.seen: list[str] = []

    def open(self, problem: str) -> StatelessSession:
        seen = self.seen

        class Session(StatelessSession):
            def score_step(self, candidate: int, step: StepRecord) -> float:
                seen.append(step.text)
                return 0.9

        return Session(problem)

    def close(self) -> None:
        return None


def run(
    prompt: Prompt, script, cfg: SearchConfig, verifier=None
) -> tuple[list[Event], FakeGenerator]:
    gen = FakeGenerator(script)
    events = list(
        run_search(
            "What is 2 + 2?",
            prompt,
            cfg,
            make_generator=lambda _cfg: gen,
            verifier=verifier or SelfCertaintyVerifier(),
        )
    )
    return events, gen


def of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def thinks_forever(seed: int, index: int, text: str) -> tuple[str, StopReason]:
    """Thinks until its block is closed for it, then answers."""
    if text.endswith(FORCE_CLOSE):
        return "The answer is 4.", "eog"
    if index == 0:
        return "<think>\nLet me see, 2 + 2 is \\boxed{5}? No.\n\n", "delimiter"
    return f"Hmm, thought {index} of seed {seed}.\n\n", "delimiter"


CFG = SearchConfig(n=2, max_tokens=2000, max_steps=200, select="majority")


def test_the_thinking_budget_closes_the_block_and_the_candidate_answers() -> None:
    events, gen = run(THINKING, thinks_forever, CFG.with_(thinking_budget=120))
    started = of(events, RunStarted)[0]
    assert THINK_CLOSE in started.config["boundary"]  # the end of thinking ends a step
    # Every step of a thinking candidate was limited to what is left of its budget.
    assert all(0 < limit <= 120 for call in gen.limit_calls for limit in call.values())
    # The closing tag was appended once per candidate, as if the model had written it.
    assert [text for _seq, text in gen.injected] == [FORCE_CLOSE, FORCE_CLOSE]
    for cid in (0, 1):
        steps = [e for e in of(events, StepProposed) if e.candidate == cid]
        forced = [s for s in steps if s.stop == "thinking_budget"]
        assert len(forced) == 1 and forced[0].text.endswith(FORCE_CLOSE)
        assert all(s.thinking for s in steps[: steps.index(forced[0]) + 1])
        assert not steps[-1].thinking  # the answer after the thinking
        (ended,) = [e for e in of(events, ThinkingEnded) if e.candidate == cid]
        assert ended.how == "budget" and ended.tokens == 120 and ended.node == forced[0].node
        assert 0 <= ended.started <= ended.ended
    finished = of(events, CandidateFinished)
    # "\boxed{5}" inside the thinking ended nothing; the answer is the one after it.
    assert [(f.answer, f.answer_source, f.reason) for f in finished] == [
        ("4", "solution", "eog"),
        ("4", "solution", "eog"),
    ]
    summary = summarize(events)
    assert summary["answer"] == "4" and summary["answer_source"] == "solution"
    thought = summary["candidates"][0]["thinking"]
    assert thought["closed_by_budget"] and thought["finished"] and thought["tokens"] == 120


def test_without_a_budget_the_model_closes_its_own_block() -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, StopReason]:
        if index == 0:
            return "<think>\nTwo and two.\n\n", "delimiter"
        if index == 1:
            return "That makes four.\n</think>", "delimiter"
        return "\n\n2 + 2 = \\boxed{4}", "eog"

    events, gen = run(THINKING, script, CFG.with_(n=1))
    assert gen.limit_calls == [{}, {}, {}] and not gen.injected
    (ended,) = of(events, ThinkingEnded)
    assert ended.how == "closed" and ended.tokens == len("<think>\nTwo and two.\n\n") + len(
        "That makes four.\n</think>"
    )
    assert [s.thinking for s in of(events, StepProposed)] == [True, True, False]
    assert of(events, CandidateFinished)[0].answer == "4"


def test_an_unfinished_block_gives_its_answer_and_says_where_it_came_from() -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, StopReason]:
        if index == 0:
            return "So it is \\boxed{3}, I think.\n\n", "delimiter"
        return "Yes, 3, because", "length"

    events, _gen = run(OPENED, script, CFG.with_(n=1))
    (finished,) = of(events, CandidateFinished)
    # The boxed answer inside the thinking did not end the candidate at step one.
    assert finished.reason == "length"
    assert (finished.answer, finished.answer_source) == ("3", "thinking")
    (ended,) = of(events, ThinkingEnded)
    assert ended.how == "unfinished"
    summary = summarize(events)
    assert summary["answer_source"] == "thinking" and "inside the model's thinking" in (
        summary["note"]
    )
    assert summary["candidates"][0]["thinking"]["finished"] is False
    assert all(step["thinking"] for step in summary["candidates"][0]["steps"])


def two_blocks(seed: int, index: int, text: str) -> tuple[str, StopReason]:
    return [
        ("<think>\nFirst idea.\n\n", "delimiter"),
        ("It is 5.</think>", "delimiter"),
        ("\n\nDraft: 5.\n\n", "delimiter"),
        ("<think>Check again: 2 + 3 = 5.</think>", "delimiter"),
        ("\n\nThe answer is 5.", "eog"),
    ][index]  # type: ignore[return-value]


def test_timing_adds_up_over_several_thinking_blocks() -> None:
    events, _gen = run(THINKING, two_blocks, CFG.with_(n=1))
    first, second = of(events, ThinkingEnded)
    assert first.how == second.how == "closed"
    assert first.ended <= second.started <= second.ended
    run_model = RunModel.of(events)
    thought = run_model.thinking_of(0)
    assert thought is not None and thought.blocks == 2 and not thought.open
    thinking_steps = [e for e in of(events, StepProposed) if e.thinking]
    assert thought.tokens == sum(s.tokens for s in thinking_steps) == (
        first.tokens + second.tokens
    )
    assert thought.seconds == pytest.approx(
        (first.ended - first.started) + (second.ended - second.started)
    )
    assert of(events, CandidateFinished)[0].answer == "5"
    # A saved run (File → Open run) tells the same.
    replayed = RunModel.of(event_from_dict(e.to_dict()) for e in events)
    assert replayed.thinking_of(0) == thought


def test_thinking_time_is_the_sum_of_the_blocks_times() -> None:
    def step(node: int, thinking: bool) -> StepProposed:
        return StepProposed(node, node - 1 if node else None, 0, node, "x", 10, "delimiter",
                            thinking)

    events: list[Event] = [
        step(0, True), step(1, True), ThinkingEnded(0, 1, 20, 1.0, 3.0, "closed"),
        step(2, False), step(3, True), ThinkingEnded(0, 3, 10, 5.0, 9.5, "budget"),
        step(4, False), step(5, True),
    ]
    thought = RunModel.of(events).thinking_of(0)
    assert thought is not None
    assert thought.seconds == pytest.approx(6.5) and thought.tokens == 40
    assert thought.blocks == 3 and thought.open and thought.budget and thought.first == 1.0
    assert thought.tokens_per_second == pytest.approx(40 / 6.5)
    # It ended with that block open (a final answer, the step limit): it thinks no more.
    events.append(CandidateFinished(0, 5, "3", 0.5, "steps"))
    thought = RunModel.of(events).thinking_of(0)
    assert thought is not None and not thought.open and thought.unfinished


@pytest.mark.parametrize("view", ["solution", "trace"])
def test_a_verifier_sees_the_thinking_or_only_the_final_solution(view: str) -> None:
    verifier = Recorder(view)
    events, _gen = run(THINKING, two_blocks, CFG.with_(n=1), verifier)
    scored = {e.node for e in of(events, StepScored)}
    steps = of(events, StepProposed)
    if view == "solution":
        assert verifier.seen == ["\n\nDraft: 5.\n\n", "\n\nThe answer is 5."]
        assert scored == {s.node for s in steps if not s.thinking}
    else:
        assert len(verifier.seen) == len(steps) and scored == {s.node for s in steps}
        assert not any("<think>" in t or "</think>" in t for t in verifier.seen)
        assert verifier.seen[0] == "\nFirst idea.\n\n"
    assert of(events, RunStarted)[0].config["verifier_view"] == view


def test_each_verifier_kind_has_a_sensible_default_view() -> None:
    # Reward models score paragraphs of self-talk badly: they see the final solution;
    # confidence measures are about the whole trace.
    assert VERIFIERS["prm-rlhflow"].view == "solution"
    assert VERIFIERS["prm-math-shepherd"].view == "solution"
    assert VERIFIERS["judge"].view == "solution"
    assert VERIFIERS["calculator"].view == "solution"
    assert VERIFIERS["self-certainty"].view == "trace"
    verifier = build(get_spec("self-certainty"), {"view": "solution"}, VerifierContext())
    assert verifier_view(verifier) == "solution"
    assert verifier_view(build(get_spec("calculator"), {}, VerifierContext())) == "solution"
    assert verifier_view(SelfCertaintyVerifier()) == "trace"  # built directly: its kind's
    with pytest.raises(ConfigError, match="option 'view'"):
        build(get_spec("none"), {"view": "thoughts"}, VerifierContext())


def test_self_certainty_scores_the_whole_trace() -> None:
    events, _gen = run(THINKING, two_blocks, CFG.with_(n=1))
    assert len(of(events, StepScored)) == len(of(events, StepProposed))


def test_beam_children_carry_their_parents_thinking_on() -> None:
    events, gen = run(
        THINKING,
        thinks_forever,
        CFG.with_(strategy="beam", n=4, width=2, thinking_budget=80),
        Recorder("solution"),
    )
    finished = of(events, CandidateFinished)
    assert len(finished) == 4
    assert all(f.answer == "4" and f.answer_source == "solution" for f in finished)
    # A child continues its parent's block: every candidate's block was closed once by the
    # budget along its whole path, never twice.
    run_model = RunModel.of(events)
    for f in finished:
        thought = run_model.thinking_of(f.candidate)
        assert thought is not None and thought.budget and thought.tokens == 80
    assert len(gen.injected) >= 1


def test_a_budget_must_leave_room_for_the_answer() -> None:
    with pytest.raises(ConfigError, match="below the max tokens"):
        SearchConfig(max_tokens=100, thinking_budget=100).validate()
    with pytest.raises(ConfigError, match="not one of"):
        SearchConfig(thinking="maybe").validate()


def test_reasoning_defaults_fill_what_the_user_left_unset() -> None:
    import argparse

    args = argparse.Namespace(max_tokens=None, max_steps=None, min_step_tokens=None,
                              thinking_budget=None)
    fill_model_defaults(args, thinks=True)
    assert args.max_tokens == REASONING_DEFAULTS["max_tokens"] == 4096
    assert args.thinking_budget == 3072 and args.min_step_tokens == 48
    args = argparse.Namespace(max_tokens=1000, max_steps=None, min_step_tokens=None,
                              thinking_budget=None)
    fill_model_defaults(args, thinks=True)
    assert args.thinking_budget == 750  # three quarters of what the user gave
    args = argparse.Namespace(max_tokens=None, max_steps=None, min_step_tokens=None,
                              thinking_budget=None)
    fill_model_defaults(args, thinks=False)
    assert (args.max_tokens, args.max_steps, args.thinking_budget) == (384, 16, 0)


# --- the real engine on tiny reasoning-style models ------------------------------------------


def solve_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    rc = main(["solve", "--json", "--verifier", "none", *args, "What is 2+3?"])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip() else {}


def test_solve_renders_the_thinking_switch_of_a_qwen3_style_model(
    qwen3_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--policy", str(qwen3_file), "--n", "1", "--max-tokens", "8")
    rc, on = solve_json(capsys, *base, "--thinking", "on")
    assert rc == 0
    assert on["config"]["prompt"].endswith("<|im_start|>user\nWhat is 2+3?<|im_end|>\n"
                                           "<|im_start|>assistant\n")
    assert on["config"]["thinks"] is True and on["config"]["thinking"] == "on"
    rc, off = solve_json(capsys, *base, "--thinking", "off")
    assert rc == 0
    assert off["config"]["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert "thinks" not in off["config"] and off["config"]["boundary"] == []
    rc, auto = solve_json(capsys, *base)
    assert rc == 0 and auto["config"]["prompt"] == on["config"]["prompt"]


def test_solve_verifier_view_option(qwen3_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--policy", str(qwen3_file), "--n", "1", "--max-tokens", "8")
    rc = main(["solve", "--json", *base, "--verifier", "self-certainty", "What is 2+3?"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["config"]["verifier_view"] == "trace"  # the kind's own
    rc = main(["solve", "--json", *base, "--verifier", "self-certainty", "--verifier-view",
               "solution", "What is 2+3?"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["config"]["verifier_view"] == "solution"


def test_solve_refuses_to_switch_off_a_model_that_always_thinks(
    r1_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["solve", "--policy", str(r1_file), "--thinking", "off", "What is 2+3?"])
    err = capsys.readouterr().err
    assert rc == 1 and "always thinks" in err and "--thinking auto" in err


def test_real_run_the_thinking_budget_forces_the_answer(
    r1_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, data = solve_json(
        capsys, "--policy", str(r1_file), "--n", "3", "--max-tokens", "60",
        "--thinking-budget", "20", "--seed", "7",
    )
    assert rc == 0 and data["status"] == "finished"
    assert data["config"]["thinking_open"] is True and data["config"]["thinking_budget"] == 20
    forced = 0
    for cand in data["candidates"]:
        thought = cand["thinking"]
        assert thought["tokens"] <= 20 and thought["blocks"] >= 1
        if thought["closed_by_budget"]:
            forced += 1
            first_close = next(s for s in cand["steps"] if THINK_CLOSE in s["text"])
            assert first_close["text"].endswith(FORCE_CLOSE) and first_close["thinking"]
        # the candidate went on after its thinking (a random model rarely stops at once)
        assert len(cand["text"]) > len(cand["steps"][0]["text"])
    assert forced >= 1  # a random model almost never closes the block itself


def test_injected_text_continues_every_sequence(r1_file: Path) -> None:
    with Model(r1_file) as model:
        gen = LlamaGenerator(model, n_ctx=plan_context(32, 3, 64, extra=48), n_seq_max=3)
        try:
            sampling = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0,
                                      max_tokens=64, stop=())
            seqs = gen.start("<s>Question<think>\n", 3, sampling)
            outs = run_to_completion(gen.extend(seqs, {s: 4 for s in seqs}))
            assert [o.stop for o in outs] == ["step_limit"] * 3
            assert all(len(o.tokens) == 4 for o in outs)
            # Two sequences get the closing tag before either decodes again.
            assert gen.inject(seqs[0], FORCE_CLOSE) > 0 and gen.inject(seqs[1], FORCE_CLOSE) > 0
            outs = run_to_completion(gen.extend(seqs, {s: 5 for s in seqs}))
            for seq in seqs[:2]:
                text = gen.text(seq)
                head, _, tail = text.partition(FORCE_CLOSE)
                assert head and tail  # it went on after the appended text
            assert FORCE_CLOSE not in gen.text(seqs[2])
        finally:
            gen.close()


def test_long_steps_are_for_thinking_only(r1_file: Path) -> None:
    # A blank line ends a thinking step only past min_step_tokens; once the thinking ended
    # (here: the closing tag appended), the solution's steps end at the first delimiter.
    with Model(r1_file) as model:
        gen = LlamaGenerator(model, n_ctx=plan_context(32, 2, 200, extra=48), n_seq_max=2)
        try:
            sampling = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=3,
                                      max_tokens=200, stop=(" ",), min_step_tokens=1000,
                                      boundary=(THINK_CLOSE,))
            seqs = gen.start("<s>Question<think>\n", 2, sampling)
            outs = run_to_completion(gen.extend(seqs, {s: 30 for s in seqs}))
            assert [o.stop for o in outs] == ["step_limit", "step_limit"]
            assert all(" " in o.text for o in outs)  # delimiters came, and did not end it
            gen.inject(seqs[0], FORCE_CLOSE)
            outs = run_to_completion(gen.extend(seqs, {s: 30 for s in seqs}))
            assert outs[0].stop == "delimiter" and len(outs[0].tokens) < 30
            assert outs[1].stop == "step_limit"
            # Step rules change without restarting the sampler chain.
            state = gen._seqs[seqs[1]]
            chain = state.chain
            gen.set_sampling(seqs[1], replace(state.sampling, stop=(), min_step_tokens=0))
            assert state.chain is chain and state.sampling.stop == ()
            gen.set_sampling(seqs[1], replace(state.sampling, seed=99))
            assert state.chain is not chain
        finally:
            gen.close()


def test_the_end_of_thinking_ends_a_step_even_at_its_start() -> None:
    data = bytearray(b"</think>")
    assert LlamaGenerator._hit_boundary(data, 0, ("</think>",))
    assert not LlamaGenerator._hit_delimiter(bytearray(b"\n\n"), 0, ("\n\n",))
    assert not LlamaGenerator._hit_boundary(bytearray(b"abc"), 0, ("</think>",))
