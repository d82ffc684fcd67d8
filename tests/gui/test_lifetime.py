"""The window across restarts (size, position, panes) and quitting while a run goes on."""

from __future__ import annotations

import json
import threading
from typing import Any

from outthink.config import Settings, load_settings
from outthink.gui.app_controller import AppController
from outthink.gui.history import history_dir
from tests.gui.conftest import make_fake_job


def test_window_size_position_and_panes_survive_a_restart(qtbot: Any) -> None:
    first = AppController(Settings())
    qtbot.addWidget(first.window)
    w = first.window
    w.show()
    default = w.size()
    # Qt's offscreen screen is 800 px wide, less than the window's minimum width: only the
    # height can differ from the default there.
    w.resize(w.width(), 730)
    w.move(20, 30)
    w.splitter.setSizes([300, 500, 190])
    w.history_action.setChecked(False)  # View → History: hidden
    qtbot.waitUntil(lambda: w.height() == 730, timeout=2000)
    sizes = w.splitter.sizes()
    geometry = w.geometry()
    first.shutdown()
    assert "gui.geometry" in load_settings().extra

    second = AppController()
    qtbot.addWidget(second.window)
    w2 = second.window
    w2.show()
    assert w2.height() == 730 != default.height()
    assert w2.geometry().top() == geometry.top()
    assert not w2.history_action.isChecked() and w2.history.isHidden()
    assert w2.splitter.sizes()[0] == sizes[0]
    second.shutdown()


def test_a_broken_saved_geometry_keeps_the_default_layout(qtbot: Any) -> None:
    app = AppController(Settings(extra={"gui.geometry": "not base64 at all ✗",
                                        "gui.splitter": "###", "gui.history": "yes"}))
    qtbot.addWidget(app.window)
    app.window.show()
    assert app.window.width() > 500 and app.window.history_action.isChecked()
    app.shutdown()


def start_slow_run(controller: AppController, qtbot: Any) -> None:
    started = threading.Event()
    controller.runs._job = make_fake_job(step_delay=0.3, started=started)
    controller.controls.problem.setPlainText("What is 2 + 5?")
    controller.controls.n.setValue(2)
    assert controller.start_run()
    qtbot.waitUntil(lambda: bool(controller.runs.state.candidates), timeout=5000)


def test_quitting_mid_run_asks_and_cancel_keeps_it_going(controller: AppController,
                                                        qtbot: Any) -> None:
    w = controller.window
    w.show()
    asked: list[str] = []

    def ask(_parent: Any, what: str) -> bool:
        asked.append(what)
        return False

    controller.quit_guard.ask = ask
    start_slow_run(controller, qtbot)
    closing: list[bool] = []
    w.closing.connect(lambda: closing.append(True))
    assert w.close() is False  # the window stays
    assert asked == ["run"] and w.isVisible() and not closing
    assert controller.runs.busy  # and the run goes on


def test_quitting_mid_run_stops_it_cleanly_and_keeps_it(controller: AppController,
                                                        qtbot: Any) -> None:
    w = controller.window
    w.show()
    controller.quit_guard.ask = lambda _parent, _what: True
    start_slow_run(controller, qtbot)
    ended: list[str] = []
    controller.runs.run_ended.connect(ended.append)
    with qtbot.waitSignal(w.closing, timeout=5000):
        w.close()  # File → Quit, Ctrl+Q or the window's close button
    assert ended == ["cancelled"]
    assert not w.isVisible()
    # What it produced is in the history, as a stopped run.
    files = [p for p in history_dir().glob("*.json") if not p.name.startswith(".")]
    assert len(files) == 1
    saved = json.loads(files[0].read_text(encoding="utf-8"))
    assert saved[-1]["event"] == "run_finished" and saved[-1]["cancelled"] is True


def test_quitting_when_idle_asks_nothing(controller: AppController, qtbot: Any) -> None:
    w = controller.window
    w.show()

    def ask(_parent: Any, _what: str) -> bool:
        raise AssertionError("nothing to ask")

    controller.quit_guard.ask = ask
    with qtbot.waitSignal(w.closing, timeout=2000):
        assert w.close()
