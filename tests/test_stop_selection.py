"""A stopped run still answers from the candidates that had finished."""

from __future__ import annotations

from outthink.events import AnswerSelected, CandidateFinished, RunFinished
from outthink.generation import CancelToken, StopReason
from outthink.search.config import SearchConfig
from outthink.search.runner import run_search
from tests.fakes import FakeGenerator
from tests.gui.conftest import PROMPT, TableVerifier


def _script(seed: int, index: int, text: str) -> tuple[str, StopReason]:
    # Candidates 0-3 answer in one step; 4-5 would write for a long time.
    if seed < 4:
        return f"The answer is {7 if seed != 2 else 9}.", "eog"
    return f"Step {index + 1}: still thinking.\n\n", "delimiter"


def _run(cfg: SearchConfig, stop_after: int) -> list[object]:
    cancel = CancelToken()
    gen = FakeGenerator(_script, cancel=cancel)
    events = []
    for ev in run_search(
        "What is 2 + 5?",
        PROMPT,
        cfg,
        make_generator=lambda _cfg: gen,
        verifier=TableVerifier({0: 0.9, 1: 0.8, 2: 0.95, 3: 0.7}),
        cancel=cancel,
    ):
        events.append(ev)
        finished = [e for e in events if isinstance(e, CandidateFinished)]
        if len(finished) >= stop_after and not cancel.cancelled:
            cancel.cancel()
    return events


def test_stop_selects_among_the_finished_candidates() -> None:
    events = _run(SearchConfig(n=6, max_steps=50, select="weighted"), stop_after=4)
    last = events[-1]
    assert isinstance(last, RunFinished) and last.cancelled
    selections = [e for e in events if isinstance(e, AnswerSelected)]
    assert len(selections) == 1
    sel = selections[0]
    # 7 has three finished candidates (0.9 + 0.8 + 0.7), 9 one (0.95).
    assert sel.answer == "7" and sel.candidate in (0, 1, 3)
    assert sel.votes == {"7": 3, "9": 1}
    assert "Stopped early" in sel.reason and "4 candidates" in sel.reason


def test_stop_before_any_candidate_finished_selects_nothing() -> None:
    events = _run(SearchConfig(n=6, max_steps=50), stop_after=0)
    assert not any(isinstance(e, AnswerSelected) for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].cancelled
