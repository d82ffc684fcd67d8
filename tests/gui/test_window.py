"""The main window: builds, offers the registries' choices, keeps state, one error path."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from outthink.config import Settings, load_settings
from outthink.gui.app_controller import AppController
from outthink.gui.controls import select
from outthink.search.strategies import strategy_names
from outthink.starter import STARTER_ID


def test_window_builds_with_defaults(controller: AppController) -> None:
    c = controller.controls
    controller.window.show()
    assert controller.window.isVisible()
    assert c.policy.currentData() == STARTER_ID
    assert c.verifier.currentData() == "self-certainty"
    assert [c.strategy.itemData(i) for i in range(c.strategy.count())] == strategy_names()
    assert c.strategy_name() == "best-of-n" and c.n.value() == 8
    assert not c.beam_width.isEnabled()  # Best-of-N has no beam width
    assert c.run_button.isEnabled() and not c.stop_button.isEnabled()
    assert c.examples.count() >= 11  # "Examples…" and the shipped problems


def test_every_control_explains_itself(controller: AppController) -> None:
    c = controller.controls
    for widget in (c.problem, c.examples, c.policy, c.verifier, c.strategy, c.n, c.beam_width,
                   c.temperature, c.max_tokens, c.seed, c.select, c.agg, c.run_button,
                   c.stop_button):
        assert isinstance(widget, QWidget) and len(widget.toolTip()) > 20, widget


def test_strategy_change_applies_defaults_and_fixed_fields(controller: AppController) -> None:
    c = controller.controls
    c.n.setValue(13)
    select(c.strategy, "greedy")
    controller.on_strategy_changed("greedy")
    assert c.n.value() == 1 and not c.n.isEnabled()
    assert c.temperature.value() == 0.0 and not c.temperature.isEnabled()
    assert "fixes" in c.strategy_note.text() and "temperature 0" in c.strategy_note.text()
    if "beam" in strategy_names():
        select(c.strategy, "beam")
        controller.on_strategy_changed("beam")
        assert c.n.isEnabled() and c.beam_width.isEnabled()
        assert c.n.value() == 4 and c.beam_width.value() == 2


def test_example_picker_fills_the_problem(controller: AppController, qtbot: Any) -> None:
    c = controller.controls
    c.examples.setCurrentIndex(1)
    c.examples.activated.emit(1)
    assert c.problem.toPlainText() == c.examples_model.examples[0]["problem"]
    assert "Reference answer" in c.reference.text()


def test_empty_problem_is_an_error_in_the_banner(controller: AppController) -> None:
    controller.controls.problem.setPlainText("   ")
    assert controller.start_run() is False
    banner = controller.window.banner
    assert banner.isVisibleTo(controller.window) and "empty" in banner.message
    assert banner.hint
    assert controller.controls.run_button.isEnabled()
    assert controller.window.statusBar().currentMessage() == banner.message


def test_state_is_saved_and_restored(qtbot: Any) -> None:
    first = AppController(Settings())
    qtbot.addWidget(first.window)
    c = first.controls
    c.problem.setPlainText("What is 6 times 7?")
    c.n.setValue(12)
    c.seed.setValue(99)
    select(c.verifier, "none")
    first.window.candidates.compact_box.setChecked(True)
    first.shutdown()

    stored = load_settings()
    assert stored.last_problem == "What is 6 times 7?"
    assert stored.extra["gui.n"] == 12

    second = AppController()  # reads the settings file
    qtbot.addWidget(second.window)
    c2 = second.controls
    assert c2.problem.toPlainText() == "What is 6 times 7?"
    assert c2.n.value() == 12 and c2.seed.value() == 99
    assert c2.verifier.currentData() == "none"
    assert second.window.candidates.compact_box.isChecked()
    second.shutdown()


def test_broken_settings_file_is_reported_not_overwritten(qtbot: Any) -> None:
    from outthink.config import settings_path

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("threads = [oops\n", encoding="utf-8")
    app = AppController()
    qtbot.addWidget(app.window)
    assert "settings" in app.window.banner.message.lower()
    app.shutdown()
    assert path.read_text(encoding="utf-8") == "threads = [oops\n"


def test_shortcuts(controller: AppController, qtbot: Any) -> None:
    w = controller.window
    keys = {s.toString() for s in w.run_action.shortcuts()}
    assert "Ctrl+Return" in keys
    assert w.stop_action.shortcut().toString() == "Esc"
    assert w.stop_action.shortcutContext() == Qt.ShortcutContext.WindowShortcut


def test_main_runs_the_app_until_the_window_closes(qtbot: Any) -> None:
    import logging

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from outthink.gui.app import main

    before = list(logging.getLogger().handlers)
    closed: list[str] = []

    def close_windows() -> None:
        for widget in QApplication.topLevelWidgets():
            if widget.windowTitle() == "Outthink" and widget.isVisible():
                closed.append(widget.windowTitle())
                widget.close()

    QTimer.singleShot(300, close_windows)
    try:
        assert main([]) == 0
    finally:
        for handler in logging.getLogger().handlers:
            if handler not in before:
                logging.getLogger().removeHandler(handler)
                handler.close()
    assert closed == ["Outthink"]


def test_no_solve_run_while_a_benchmark_runs(controller: AppController,
                                             monkeypatch: Any) -> None:
    bench = controller.window.benchmark.controller
    running = [True]
    monkeypatch.setattr(type(bench), "busy", property(lambda self: running[0]))
    bench.busy_changed.emit(True)
    c = controller.controls
    assert not c.run_button.isEnabled() and not controller.window.run_action.isEnabled()
    assert "benchmark" in c.run_button.toolTip().lower()
    c.problem.setPlainText("What is 2 + 2?")
    assert controller.start_run() is False
    assert "benchmark" in controller.window.banner.message.lower()
    running[0] = False
    bench.busy_changed.emit(False)
    assert c.run_button.isEnabled() and controller.window.run_action.isEnabled()
