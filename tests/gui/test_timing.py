"""Time to first token and tokens per second, per candidate and for the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outthink.events import (
    CandidateFinished,
    RunFinished,
    RunStarted,
    StepProposed,
    StepScored,
    TokensGenerated,
)
from outthink.gui.app_controller import AppController
from outthink.gui.runstate import RunState
from tests.gui.test_run_views import run_fake

EVENTS = [
    RunStarted("What is 2 + 5?", {"strategy": "best-of-n"}),
    TokensGenerated(0, "The"),
    TokensGenerated(1, "We"),
    TokensGenerated(0, " answer"),
    TokensGenerated(0, " is 7."),
    StepProposed(0, None, 0, 0, "The answer is 7.", 4, "eog"),
    StepScored(0, 0, 0.9, 0.9),
    CandidateFinished(0, 0, "7", 0.9, "answer"),
    RunFinished({"policy_tokens": 5, "seconds": 4.0}, cancelled=True),
]
#: When the window received each event (seconds on the perf_counter clock).
ARRIVALS = [100.0, 100.5, 100.8, 101.0, 101.5, 101.5, 103.0, 103.0, 104.0]


def test_timing_comes_from_when_the_text_arrived() -> None:
    st = RunState()
    st.apply_all(EVENTS, ARRIVALS)
    assert st.first_token_seconds(0) == pytest.approx(0.5)
    assert st.first_token_seconds(1) == pytest.approx(0.8)
    assert st.first_token_seconds() == pytest.approx(0.5)  # the run's: its first candidate
    # Candidate 0: 4 tokens, the first at 100.5 and the last at 101.5 (scoring is not
    # writing): 3 tokens in 1 s.
    assert st.candidate_tokens(0) == 4
    assert st.candidate_rate(0) == pytest.approx(3.0)
    # Candidate 1 wrote one token: no speed to speak of.
    assert st.candidate_tokens(1) == 1 and st.candidate_rate(1) is None


def test_a_saved_run_has_no_made_up_timing() -> None:
    st = RunState()
    st.apply_all(EVENTS)  # no arrival times: a run opened from a file
    assert st.first_token_seconds() is None and st.first_token_seconds(0) is None
    assert st.candidate_rate(0) is None


def test_cards_and_the_answer_panel_show_the_timing(controller: AppController,
                                                   qtbot: Any) -> None:
    controller.window.show()
    run_fake(controller, qtbot, n=2, step_delay=0.15)
    st = controller.runs.state
    for cid, card in controller.window.candidates.cards.items():
        text = card.timing.text()
        assert card.timing.isVisibleTo(card), cid
        assert f"first token {st.first_token_seconds(cid):.2f} s" in text
        assert "tokens/s" in text
        assert "measured by the window" in card.timing.toolTip()
    first = st.first_token_seconds()
    assert first is not None and first > 0.1  # the fake model's first step takes 0.15 s
    stats = controller.window.answer.stats
    assert f"first token {first:.2f} s" in stats.text()
    assert "First token" in stats.toolTip()
    # Compact cards have no room for it.
    controller.window.candidates.compact_box.setChecked(True)
    assert not any(card.timing.isVisibleTo(card)
                   for card in controller.window.candidates.cards.values())


def test_a_reopened_run_shows_no_timing(controller: AppController, qtbot: Any,
                                        tmp_path: Path) -> None:
    run_fake(controller, qtbot, n=2)
    path = controller.export_json(tmp_path / "run.json")
    assert path is not None and controller.open_run(path)
    qtbot.waitUntil(lambda: len(controller.window.candidates.cards) == 2, timeout=5000)
    for card in controller.window.candidates.cards.values():
        assert card.timing.text() == "" and card.timing.isHidden()
    assert "first token" not in controller.window.answer.stats.text()
