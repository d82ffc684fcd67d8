"""Copying out of the views: a candidate's solution or answer (card menu), the chosen answer
(answer panel button and menu)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from outthink.gui.app_controller import AppController
from outthink.search.strategies import strategy_names
from tests.gui.test_run_views import run_fake


def right_click(widget: QWidget) -> None:
    """A context-menu request as the platform sends it on a right-click over ``widget``."""
    pos = widget.rect().center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, widget.mapToGlobal(pos))
    QApplication.sendEvent(widget, event)


def menu_actions(menu: QMenu) -> dict[str, Any]:
    return {a.text(): a for a in menu.actions()}


def test_a_right_click_on_a_card_copies_its_solution_or_answer(
    controller: AppController, qtbot: Any
) -> None:
    controller.window.show()
    run_fake(controller, qtbot, n=3)
    st = controller.runs.state
    view = controller.window.candidates
    card = view.cards[1]
    # On the step text (a selectable label, which has a menu of its own otherwise).
    right_click(card.steps[0].text)
    menu = view.menu
    assert isinstance(menu, QMenu) and menu.isVisible()
    actions = menu_actions(menu)
    assert {"Copy solution", "Copy answer"} <= set(actions)
    assert actions["Copy solution"].isEnabled() and actions["Copy answer"].isEnabled()
    actions["Copy solution"].trigger()
    text = QApplication.clipboard().text()
    assert text == st.solution_text(1)
    assert text.startswith("Step 1") and text.endswith("The answer is 7.")
    assert all(node.text.strip() in text for node in st.path(1))
    assert "copied" in controller.window.statusBar().currentMessage()
    menu.close()
    right_click(card.footer)
    menu_actions(view.menu)["Copy answer"].trigger()
    assert QApplication.clipboard().text() == st.candidates[1].answer == "7"
    view.menu.close()


def test_a_right_click_on_the_header_opens_the_menu_without_collapsing(
    controller: AppController, qtbot: Any
) -> None:
    controller.window.show()
    run_fake(controller, qtbot, n=2)
    view = controller.window.candidates
    card = view.cards[0]
    qtbot.mouseClick(card.header, Qt.MouseButton.RightButton)
    assert not card.collapsed
    right_click(card.header)
    assert view.menu.isVisible()
    view.menu.close()


def test_a_card_still_writing_copies_what_it_has(controller: AppController) -> None:
    from outthink.events import RunStarted, TokensGenerated

    runs = controller.runs
    runs.load_events([RunStarted("What is 2 + 5?", {"strategy": "best-of-n"}),
                      TokensGenerated(0, "Step 1: 2 + 5"), TokensGenerated(0, " = 7")])
    entries = dict(controller.window.candidates.card_menu_entries(0))
    assert entries["Copy answer"] is None  # no answer yet: offered, greyed
    entries["Copy solution"]()
    assert QApplication.clipboard().text() == "Step 1: 2 + 5 = 7"


def test_the_answer_panel_copies_the_chosen_answer(controller: AppController,
                                                   qtbot: Any) -> None:
    controller.window.show()
    panel = controller.window.answer
    assert not panel.copy_button.isEnabled()  # nothing to copy before a run
    assert dict(panel.menu_entries())["Copy answer"] is None
    run_fake(controller, qtbot, n=6)
    st = controller.runs.state
    assert panel.copy_button.isEnabled() and panel.copy_button.isVisible()
    QApplication.clipboard().clear()
    qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == st.selection.answer == "7"
    right_click(panel.answer)
    actions = menu_actions(panel.menu)
    assert actions["Copy answer"].isEnabled()
    actions["Copy the chosen solution"].trigger()
    assert QApplication.clipboard().text() == st.solution_text(st.selection.candidate)
    panel.menu.close()


@pytest.mark.skipif("beam" not in strategy_names(), reason="beam search not registered")
def test_a_beams_solution_includes_the_steps_it_inherited(controller: AppController,
                                                         qtbot: Any) -> None:
    run_fake(controller, qtbot, strategy="beam", n=4, width=2, select_rule="vanilla")
    st = controller.runs.state
    cid = next(c.id for c in st.candidates.values() if c.finished and st.inherited(c.id))
    assert controller.window.candidates.copy_solution(cid)
    text = QApplication.clipboard().text()
    inherited = st.inherited(cid)
    assert text.startswith(inherited[0].text.strip())
    assert text == "".join(n.text for n in st.path(cid)).strip()
