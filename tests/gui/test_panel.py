"""The left panel as a daily tool: it keeps what the user set and never changes a value behind
their back (per-strategy values, the wheel, Tab), and Run/Stop stay in reach."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from outthink.config import Settings
from outthink.gui.app_controller import AppController


def _pick_strategy(controller: AppController, name: str) -> None:
    """As the user does it: select in the combo, which emits ``activated``."""
    c = controller.controls
    index = c.strategy.findData(name)
    assert index >= 0, name
    c.strategy.setCurrentIndex(index)
    c.strategy.activated.emit(index)


def test_switching_strategies_never_loses_what_the_user_set(controller: AppController) -> None:
    c = controller.controls
    _pick_strategy(controller, "best-of-n")
    c.n.setValue(12)
    c.max_tokens.setValue(128)
    c.select.setCurrentIndex(c.select.findText("majority"))
    c.agg.setCurrentIndex(c.agg.findText("min"))

    _pick_strategy(controller, "beam")
    # Beam search has its own N and selection; the shared fields carry over.
    assert c.max_tokens.value() == 128
    assert c.agg.currentText() == "min"
    c.n.setValue(6)

    _pick_strategy(controller, "best-of-n")
    assert c.n.value() == 12
    assert c.select.currentText() == "majority"
    assert c.max_tokens.value() == 128
    assert c.agg.currentText() == "min"

    _pick_strategy(controller, "beam")
    assert c.n.value() == 6


def test_per_strategy_values_survive_a_restart(qtbot: Any) -> None:
    settings = Settings()
    app = AppController(settings)
    qtbot.addWidget(app.window)
    _pick_strategy(app, "best-of-n")
    app.controls.n.setValue(11)
    _pick_strategy(app, "beam")
    app.controls.n.setValue(5)
    app.shutdown()

    again = AppController(settings)
    qtbot.addWidget(again.window)
    assert again.controls.strategy_name() == "beam"
    assert again.controls.n.value() == 5
    _pick_strategy(again, "best-of-n")
    assert again.controls.n.value() == 11
    again.shutdown()


def _wheel(widget: QWidget, steps: int = -1) -> None:
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(
        pos,
        QPointF(widget.mapToGlobal(pos.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_does_not_change_a_control_the_user_did_not_pick(
    controller: AppController, qtbot: Any
) -> None:
    c = controller.controls
    controller.window.show()
    qtbot.waitExposed(controller.window)
    c.problem.setFocus()
    tokens, strategy = c.max_tokens.value(), c.strategy_name()
    _wheel(c.max_tokens)
    _wheel(c.strategy)
    assert c.max_tokens.value() == tokens
    assert c.strategy_name() == strategy
    # A control the user clicked into takes the wheel, as everywhere else.
    c.max_tokens.setFocus()
    qtbot.waitUntil(c.max_tokens.hasFocus)
    _wheel(c.max_tokens)
    assert c.max_tokens.value() != tokens


def test_tab_leaves_the_problem_box(controller: AppController, qtbot: Any) -> None:
    c = controller.controls
    controller.window.show()
    qtbot.waitExposed(controller.window)
    c.problem.setPlainText("What is 2 + 2?")
    c.problem.setFocus()
    qtbot.waitUntil(c.problem.hasFocus)
    qtbot.keyClick(c.problem, Qt.Key.Key_Tab)
    assert "\t" not in c.problem.toPlainText()
    assert not c.problem.hasFocus()


def test_run_and_stop_are_visible_at_a_small_window_height(
    controller: AppController, qtbot: Any
) -> None:
    w = controller.window
    w.resize(1024, 560)
    w.show()
    qtbot.waitExposed(w)
    w.statusBar().showMessage("Loading the policy model… a long status line " * 3)
    QApplication.processEvents()
    button = controller.controls.run_button
    assert button.isVisible()
    # The whole button lies inside the window's visible area, not scrolled away.
    top_left = button.mapTo(w, QPoint(0, 0))
    assert top_left.y() >= 0
    assert top_left.y() + button.height() <= w.statusBar().mapTo(w, QPoint(0, 0)).y()
