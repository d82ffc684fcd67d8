"""Best-of-N, greedy and the runner with a scripted generator (no model)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from outthink.events import (
    AnswerSelected,
    CandidateFinished,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
    StepProposed,
    StepScored,
    TokensGenerated,
    event_from_dict,
)
from outthink.generation import CancelToken
from outthink.prompts import Prompt
from outthink.search.config import SearchConfig
from outthink.search.runner import run_search
from outthink.search.summary import summarize
from outthink.verifiers.base import StatelessSession, StepRecord
from tests.fakes import FakeGenerator, answer_script

PROMPT = Prompt("Problem: x\nSolution:", "completion", has_bos=False, end_markers=("Problem:",))


class SeedScoreVerifier:
    """Scores each step by a table keyed on the candidate id (tests choose the winner)."""

    name = "table"
    informative = True

    def __init__(self, table: Mapping[int, float]) -> None:
        self.table = table

    def open(self, problem: str) -> StatelessSession:
        table = self.table

        class Session(StatelessSession):
            def score_step(self, candidate: int, step: StepRecord) -> float:
                return table.get(candidate, 0.5)

        return Session(problem)


class NoScores(SeedScoreVerifier):
    name = "none"
    informative = False


def run(cfg: SearchConfig, gen: FakeGenerator, verifier=None, cancel=None) -> list[Event]:
    return list(
        run_search(
            "x",
            PROMPT,
            cfg,
            make_generator=lambda _cfg: gen,
            verifier=verifier or SeedScoreVerifier({}),
            cancel=cancel,
        )
    )


ANSWERS = {0: "5", 1: "7", 2: "7", 3: "5", 4: "7", 5: "9"}


def test_event_order_and_counts() -> None:
    gen = FakeGenerator(answer_script(ANSWERS))
    events = run(SearchConfig(n=6, select="majority"), gen)
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, CandidateFinished) for e in events) == 6
    assert sum(isinstance(e, StepProposed) for e in events) == 18
    assert sum(isinstance(e, StepScored) for e in events) == 18
    assert any(isinstance(e, TokensGenerated) for e in events)
    # all N sequences advance together: one extend call per step round
    assert [len(c) for c in gen.extend_calls] == [6, 6, 6]
    sel = [e for e in events if isinstance(e, AnswerSelected)]
    assert len(sel) == 1 and sel[0].answer == "7" and sel[0].votes == {"5": 2, "7": 3, "9": 1}
    assert gen.closed


def test_weighted_and_vanilla_follow_the_verifier() -> None:
    # candidate 5 answers 9 alone but with a very high score; 5s score more than 7s in sum
    table = {0: 0.9, 3: 0.9, 1: 0.2, 2: 0.2, 4: 0.2, 5: 0.95}
    for rule, expected in (("vanilla", "9"), ("weighted", "5"), ("majority", "7")):
        gen = FakeGenerator(answer_script(ANSWERS))
        events = run(SearchConfig(n=6, select=rule), gen, SeedScoreVerifier(table))
        (sel,) = [e for e in events if isinstance(e, AnswerSelected)]
        assert sel.answer == expected, rule
        assert sel.rule == rule


def test_uninformative_verifier_forces_majority() -> None:
    gen = FakeGenerator(answer_script(ANSWERS))
    events = run(SearchConfig(n=6, select="weighted"), gen, NoScores({}))
    (sel,) = [e for e in events if isinstance(e, AnswerSelected)]
    assert sel.rule == "majority" and sel.answer == "7"
    assert "majority" in sel.reason


def test_a_final_answer_ends_a_candidate_and_end_markers_are_not_steps() -> None:
    def script(seed: int, index: int, text: str):
        if index == 0:
            return "We add: 3 + 5 = 8.\n\n", "delimiter"
        if index == 1:
            return "The answer is 8.\n\n", "delimiter"
        return "Problem: something else\n\n", "delimiter"

    gen = FakeGenerator(script)
    events = run(SearchConfig(n=2), gen)
    fins = [e for e in events if isinstance(e, CandidateFinished)]
    assert [f.reason for f in fins] == ["answer", "answer"]
    assert sum(isinstance(e, StepProposed) for e in events) == 4


def test_step_limit_ends_a_candidate() -> None:
    gen = FakeGenerator(lambda s, i, t: (f"step {i}\n\n", "delimiter"))
    events = run(SearchConfig(n=3, max_steps=4), gen)
    fins = [e for e in events if isinstance(e, CandidateFinished)]
    assert {f.reason for f in fins} == {"steps"}
    assert sum(isinstance(e, StepProposed) for e in events) == 12


def test_greedy_is_one_sample_at_temperature_zero() -> None:
    seen = {}

    def make(cfg: SearchConfig) -> FakeGenerator:
        seen["cfg"] = cfg
        return FakeGenerator(answer_script(ANSWERS))

    events = list(
        run_search(
            "x",
            PROMPT,
            SearchConfig(strategy="greedy", n=8),
            make_generator=make,
            verifier=SeedScoreVerifier({}),
        )
    )
    assert seen["cfg"].n == 1 and seen["cfg"].temperature == 0
    assert sum(isinstance(e, CandidateFinished) for e in events) == 1


def test_cancel_mid_run_ends_with_a_cancelled_finish() -> None:
    cancel = CancelToken()
    gen = FakeGenerator(answer_script(ANSWERS), cancel=cancel)
    out = []
    for ev in run_search(
        "x",
        PROMPT,
        SearchConfig(n=4),
        make_generator=lambda c: gen,
        verifier=SeedScoreVerifier({}),
        cancel=cancel,
    ):
        out.append(ev)
        if isinstance(ev, StepScored):
            cancel.cancel()
    assert isinstance(out[-1], RunFinished) and out[-1].cancelled
    assert not any(isinstance(e, AnswerSelected) for e in out)
    summary = summarize(out)
    assert summary["status"] == "cancelled" and summary["candidates"], "partial work is kept"
    assert gen.closed


def test_errors_become_a_failed_event() -> None:
    def boom(cfg: SearchConfig) -> FakeGenerator:
        from outthink.errors import MemoryBudgetError

        raise MemoryBudgetError("too big", hint="Lower N.")

    events = list(
        run_search("x", PROMPT, SearchConfig(), make_generator=boom, verifier=SeedScoreVerifier({}))
    )
    assert isinstance(events[-1], RunFailed)
    assert events[-1].error == "too big" and events[-1].hint == "Lower N."


def test_bad_config_fails_cleanly() -> None:
    events = run(SearchConfig(n=0), FakeGenerator(answer_script({})))
    assert isinstance(events[-1], RunFailed) and "Budget N must be a whole number from 1" in (
        events[-1].error
    )


def test_events_round_trip_through_json_and_summary_has_the_spine_shape() -> None:
    gen = FakeGenerator(answer_script(ANSWERS))
    events = run(SearchConfig(n=6, select="weighted"), gen, SeedScoreVerifier({0: 0.9}))
    again = [event_from_dict(json.loads(json.dumps(e.to_dict()))) for e in events]
    assert again == events
    s = summarize(again)
    assert set(s) >= {
        "problem",
        "answer",
        "strategy",
        "policy",
        "verifier",
        "n",
        "candidates",
        "usage",
        "tree",
    }
    assert len(s["candidates"]) == 6
    assert sum(c["selected"] for c in s["candidates"]) == 1
    c0 = s["candidates"][0]
    assert set(c0) >= {"id", "text", "answer", "score", "selected", "steps"}
    assert all(set(st) >= {"text", "score"} and st["score"] is not None for st in c0["steps"])
    assert set(s["usage"]) >= {"policy_tokens", "verifier_tokens", "prompt_tokens", "seconds"}
    assert len(s["tree"]["nodes"]) == 18


@pytest.mark.parametrize(
    "agg,expected", [("last", 0.3), ("min", 0.1), ("mean", (0.9 + 0.1 + 0.3) / 3)]
)
def test_aggregation_reaches_the_candidate_score(agg: str, expected: float) -> None:
    scores = iter([0.9, 0.1, 0.3] * 10)

    class Seq:
        name, informative = "seq", True

        def open(self, problem):
            class S(StatelessSession):
                def score_step(self, candidate, step):
                    return next(scores)

            return S(problem)

    gen = FakeGenerator(answer_script({0: "1"}))
    events = run(SearchConfig(n=1, agg=agg), gen, Seq())
    (fin,) = [e for e in events if isinstance(e, CandidateFinished)]
    assert fin.score == pytest.approx(expected, abs=1e-9)


def test_summary_gives_beams_their_inherited_prefix() -> None:
    gen = FakeGenerator(answer_script(ANSWERS, steps=3))
    events = run(SearchConfig(strategy="beam", n=4, width=2), gen, SeedScoreVerifier({}))
    s = summarize(events)
    finished = [c for c in s["candidates"] if c["finished"]]
    assert finished
    for c in finished:
        assert c["text"].startswith("Step 1 of seed"), c["text"]
        assert c["text"].count("Step ") == 3 and "The answer is" in c["text"]
    assert any(c["inherited_steps"] > 0 for c in finished)
