"""A reasoning model's card: its thinking collapsed under one line above the solution, and the
panel's thinking controls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt

from outthink.events import Event
from outthink.generation import CancelToken, StopReason
from outthink.gui import options
from outthink.gui.app_controller import AppController
from outthink.gui.controls import select
from outthink.gui.run_controller import ModelCache, RunRequest
from outthink.gui.thinking import summary_text
from outthink.prompts import Prompt
from outthink.search.runner import run_search
from outthink.thinking import FORCE_CLOSE
from tests.fakes import FakeGenerator, Script
from tests.gui.conftest import TableVerifier

THINKING = Prompt("<|im_start|>assistant\n", "chat", has_bos=False, thinks=True)


def two_blocks(seed: int, index: int, text: str) -> tuple[str, StopReason]:
    return [
        ("<think>\nLet me add 2 and 5.\n\n", "delimiter"),
        (f"That is 7, for seed {seed}.</think>", "delimiter"),
        ("\n\nDraft: 2 + 5 = 7.\n\n", "delimiter"),
        ("<think>Check: 7 - 5 = 2. Yes.</think>", "delimiter"),
        ("\n\nThe answer is \\boxed{7}.", "eog"),
    ][index]  # type: ignore[return-value]


def thinks_forever(seed: int, index: int, text: str) -> tuple[str, StopReason]:
    if text.endswith(FORCE_CLOSE):
        return "The answer is 7.", "eog"
    if index == 0:
        return "<think>\nHmm, 2 + 5.\n\n", "delimiter"
    return f"Still thinking ({index}).\n\n", "delimiter"


def run_thinking(controller: AppController, qtbot: Any, script: Script, *, n: int = 3,
                 budget: int = 0) -> None:
    def job(req: RunRequest, cache: ModelCache, cancel: CancelToken) -> Iterator[Event]:
        gen = FakeGenerator(script, cancel=cancel)
        cfg = req.cfg.with_(thinking_budget=budget, max_tokens=4096, max_steps=100)
        yield from run_search(req.problem, THINKING, cfg, make_generator=lambda _c: gen,
                              verifier=TableVerifier(), cancel=cancel)

    c = controller.controls
    controller.runs._job = job
    c.problem.setPlainText("What is 2 + 5?")
    select(c.strategy, "best-of-n")
    c.n.setValue(n)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=10_000):
        assert controller.start_run()
    view = controller.window.candidates
    qtbot.waitUntil(lambda: len(view.cards) == n, timeout=5000)
    qtbot.wait(20)  # widgets added to a shown card show on the next event-loop turn


def test_a_card_shows_its_thinking_collapsed_above_the_solution(
    controller: AppController, qtbot: Any
) -> None:
    controller.window.show()
    run_thinking(controller, qtbot, two_blocks)
    state = controller.runs.state
    assert state.status == "finished"
    for card in controller.window.candidates.cards.values():
        block = card.thinking
        assert block.isVisibleTo(card) and not block.expanded
        assert not block.body.isVisibleTo(card)  # collapsed: only the summary line shows
        thought = state.thinking_of(card.cid)
        assert thought is not None and thought.blocks == 2
        assert block.summary == summary_text(thought)
        assert re.fullmatch(r"Thought for [\d,]+ tokens, [\d.]+ s \(2 blocks\)", block.summary)
        # Thinking steps sit in the block, without their tags; the solution below it.
        held = [w for w in card.steps if block.holds(w)]
        solution = [w for w in card.steps if not block.holds(w)]
        assert len(held) == 3 and len(solution) == 2
        assert held[0].text.text() == "Let me add 2 and 5."
        assert not any("think>" in w.text.text() for w in card.steps)
        assert solution[-1].text.text() == "The answer is \\boxed{7}."
        assert card.body_layout.indexOf(block) == 0
        assert card.body_layout.indexOf(solution[0]) == 1
        assert all(w.isVisibleTo(card) for w in solution)
        assert "Answer: <b>7</b>" in card.footer.text()
        assert "From its thinking" not in card.footer.text()
    # A click on the summary line opens the thinking.
    card = controller.window.candidates.cards[0]
    qtbot.mouseClick(card.thinking.header, Qt.MouseButton.LeftButton)
    assert card.thinking.expanded and card.thinking.body.isVisibleTo(card)
    assert all(w.isVisibleTo(card) for w in card.steps if card.thinking.holds(w))
    qtbot.mouseClick(card.thinking.header, Qt.MouseButton.LeftButton)
    assert not card.thinking.body.isVisibleTo(card)


def test_the_summary_says_when_the_budget_closed_the_thinking(
    controller: AppController, qtbot: Any
) -> None:
    run_thinking(controller, qtbot, thinks_forever, n=2, budget=60)
    for card in controller.window.candidates.cards.values():
        assert card.thinking.summary.startswith("Thought for 60 tokens, ")
        assert card.thinking.summary.endswith("stopped by the budget")
        assert "thinking budget ran out" in card.thinking.header.toolTip()
        assert "Answer: <b>7</b>" in card.footer.text()


def test_an_answer_from_inside_the_thinking_is_marked(
    controller: AppController, qtbot: Any
) -> None:
    def unfinished(seed: int, index: int, text: str) -> tuple[str, StopReason]:
        if index == 0:
            return "<think>\nIt must be \\boxed{7}.\n\n", "delimiter"
        return "Let me check that again", "length"

    run_thinking(controller, qtbot, unfinished, n=1)
    card = controller.window.candidates.cards[0]
    assert card.thinking.summary.endswith("did not finish")
    assert "Answer: <b>7</b>" in card.footer.text()
    assert "taken from its thinking" in card.footer.text()


def test_thinking_controls_reach_the_run_and_follow_the_policy(
    controller: AppController,
) -> None:
    c = controller.controls
    c.problem.setPlainText("What is 2 + 5?")
    c.set_values({"thinking": "off", "thinking_budget": 200, "max_tokens": 1000})
    cfg = controller.build_request().cfg
    assert (cfg.thinking, cfg.thinking_budget, cfg.max_tokens) == ("off", 200, 1000)
    # Picking a reasoning model brings the budgets its thinking needs.
    c.set_values({"thinking": "auto", "thinking_budget": 0, "max_tokens": 384})
    assert select(c.policy, "qwen3-4b")
    controller.on_policy_picked()
    values = c.values()
    assert (values["max_tokens"], values["thinking_budget"]) == (4096, 3072)
    # Another model drops them again.
    assert select(c.policy, "gemma-3-270m")
    controller.on_policy_picked()
    values = c.values()
    assert (values["max_tokens"], values["thinking_budget"], values["thinking"]) == (
        384, 0, "auto")


@pytest.mark.parametrize(
    ("values", "reasoning", "changes"),
    [
        ({"max_tokens": 384, "thinking_budget": 0}, True,
         {"max_tokens": 4096, "thinking_budget": 3072}),
        ({"max_tokens": 8000, "thinking_budget": 1000}, True, {}),
        ({"max_tokens": 4096, "thinking_budget": 3072, "thinking": "on"}, False,
         {"max_tokens": 384, "thinking_budget": 0, "thinking": "auto"}),
        ({"max_tokens": 512, "thinking_budget": 0, "thinking": "auto"}, False, {}),
    ],
)
def test_model_values(values: dict, reasoning: bool, changes: dict) -> None:
    assert options.model_values(values, reasoning) == changes
