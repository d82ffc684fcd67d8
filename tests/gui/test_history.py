"""Run history: every run kept in the data folder, listed with search, reopened, deleted."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from outthink.config import Settings, data_dir
from outthink.events import RunFailed
from outthink.gui.app_controller import AppController
from outthink.gui.history import (
    HistoryEntry,
    HistoryStore,
    Loaded,
    history_dir,
    when_text,
)
from tests.gui.conftest import make_fake_job
from tests.gui.test_run_views import run_fake


def saved_files() -> list[Path]:
    return sorted(p for p in history_dir().glob("*.json") if not p.name.startswith("."))


def wait_listed(app: AppController, qtbot: Any, count: int) -> None:
    qtbot.waitUntil(lambda: app.window.history.loaded
                    and len(app.window.history.model.entries) == count, timeout=5000)


def new_app(qtbot: Any) -> AppController:
    app = AppController(Settings())
    qtbot.addWidget(app.window)
    return app


def test_a_finished_run_is_saved_and_listed(controller: AppController, qtbot: Any) -> None:
    controller.window.show()
    wait_listed(controller, qtbot, 0)
    assert "No runs yet" in controller.window.history.note.text()
    c = controller.controls
    c.set_reference("What is 2 + 5?", "7")
    run_fake(controller, qtbot, n=6)
    wait_listed(controller, qtbot, 1)
    (path,) = saved_files()
    assert path.parent == data_dir() / "history"
    # The same JSON as File → Export run as JSON.
    assert json.loads(path.read_text(encoding="utf-8")) == [
        e.to_dict() for e in controller.runs.events
    ]
    entry = controller.window.history.model.entries[0]
    assert entry.name == path.name and entry.problem == "What is 2 + 5?"
    assert entry.answer == "7" and entry.correct is True and entry.strategy == "best-of-n"
    assert entry.status == "finished"
    assert controller.window.history.selected_names() == [path.name]  # the run shown
    assert controller.window.history.isVisibleTo(controller.window)
    controller.window.history_action.trigger()  # View → History hides it
    assert not controller.window.history.isVisibleTo(controller.window)


def test_stopped_and_failed_runs_are_kept_but_not_runs_that_never_started(
    controller: AppController, qtbot: Any
) -> None:
    controller.window.show()
    wait_listed(controller, qtbot, 0)
    c = controller.controls
    started = threading.Event()
    controller.runs._job = make_fake_job(step_delay=0.3, started=started)
    c.problem.setPlainText("What is 2 + 5?")
    c.n.setValue(2)
    assert controller.start_run()
    qtbot.waitUntil(lambda: bool(controller.runs.state.candidates), timeout=5000)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=5000):
        controller.stop_run()
    wait_listed(controller, qtbot, 1)
    assert controller.window.history.model.entries[0].status == "cancelled"

    def fails_before_starting(req: Any, cache: Any, cancel: Any) -> Any:
        yield RunFailed("The policy model is not installed.", "Download it under Models.")

    controller.runs._job = fails_before_starting
    with qtbot.waitSignal(controller.runs.run_ended, timeout=5000):
        assert controller.start_run()
    qtbot.wait(200)
    assert len(saved_files()) == 1  # nothing to keep of a run that never started

    def script(seed: int, index: int, text: str) -> Any:
        from outthink.errors import EngineError

        raise EngineError("llama.cpp refused to decode.")

    run_fake(controller, qtbot, n=2, script=script)
    wait_listed(controller, qtbot, 2)
    assert controller.window.history.model.entries[0].status == "failed"


def test_history_survives_a_restart_newest_first_and_skips_bad_files(
    qtbot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = new_app(qtbot)
    wait_listed(first, qtbot, 0)
    for problem in ("What is 2 + 5?", "How many pencils are left?"):
        first.runs._job = make_fake_job()
        first.controls.problem.setPlainText(problem)
        with qtbot.waitSignal(first.runs.run_ended, timeout=10_000):
            assert first.start_run()
        qtbot.wait(20)
    wait_listed(first, qtbot, 2)
    first.shutdown()
    folder = history_dir()
    (folder / "broken.json").write_text("[{\"event\": \"run_started\", ", encoding="utf-8")
    (folder / "not-a-run.json").write_text("{\"hello\": 1}", encoding="utf-8")

    caplog.set_level(logging.WARNING, logger="outthink.gui.history")
    second = new_app(qtbot)
    wait_listed(second, qtbot, 2)
    problems = [e.problem for e in second.window.history.model.entries]
    assert problems == ["How many pencils are left?", "What is 2 + 5?"]  # newest first
    assert sorted(second.window.history.skipped) == ["broken.json", "not-a-run.json"]
    assert "could not be read" in second.window.history.note.text()
    logged = [r.getMessage() for r in caplog.records]
    assert any("broken.json" in m for m in logged) and any("not-a-run.json" in m for m in logged)
    second.shutdown()


def test_search_filters_by_problem_and_answer(controller: AppController, qtbot: Any) -> None:
    wait_listed(controller, qtbot, 0)
    panel = controller.window.history
    panel.set_loaded(Loaded([
        HistoryEntry("a.json", "Tom has 3 apples and buys 5 more.", "8", saved_at=3.0),
        HistoryEntry("b.json", "A train leaves at 9 and travels 120 km.", "2", saved_at=2.0),
        HistoryEntry("c.json", "How many pencils are left?", "84", saved_at=1.0),
    ]))
    assert panel.entry_names() == ["a.json", "b.json", "c.json"]
    qtbot.keyClicks(panel.search, "APPLES")
    assert panel.entry_names() == ["a.json"]
    panel.search.setText("84")  # an answer
    assert panel.entry_names() == ["c.json"]
    panel.search.setText("train km")  # every word
    assert panel.entry_names() == ["b.json"]
    panel.search.setText("nothing like this")
    assert panel.entry_names() == [] and "No run matches" in panel.note.text()
    panel.search.clear()
    assert len(panel.entry_names()) == 3


def test_one_click_reopens_a_saved_run(controller: AppController, qtbot: Any) -> None:
    controller.window.show()
    wait_listed(controller, qtbot, 0)
    run_fake(controller, qtbot, n=3)
    first = controller.runs.state.selection
    run_fake(controller, qtbot, n=5)
    wait_listed(controller, qtbot, 2)
    panel = controller.window.history
    controller.window.modes.setCurrentIndex(1)  # the Benchmark tab: opening goes back
    older = panel.proxy.index(1, 0)
    rect = panel.view.visualRect(older)
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    st = controller.runs.state
    assert len(st.candidates) == 3 and st.selection == first
    qtbot.waitUntil(lambda: len(controller.window.candidates.cards) == 3, timeout=5000)
    assert controller.window.modes.currentIndex() == 0
    assert controller.history.current == panel.model.entries[1].name


def test_delete_from_the_menu_and_the_delete_key(controller: AppController, qtbot: Any) -> None:
    controller.window.show()
    wait_listed(controller, qtbot, 0)
    run_fake(controller, qtbot, n=2)
    run_fake(controller, qtbot, n=2)
    wait_listed(controller, qtbot, 2)
    panel = controller.window.history
    asked: list[int] = []
    answer = [False]

    def confirm(_parent: Any, count: int) -> bool:
        asked.append(count)
        return answer[0]

    controller.history.confirm = confirm
    top = panel.proxy.index(0, 0)
    entries = dict(panel.menu_entries(top))
    assert {"Open", "Copy answer", "Copy problem", "Delete…"} <= set(entries)
    entries["Delete…"]()
    assert asked == [1] and len(saved_files()) == 2  # cancelled: nothing removed
    answer[0] = True
    entries["Delete…"]()
    assert len(saved_files()) == 1 and len(panel.model.entries) == 1
    # The Delete key on the list.
    panel.view.setFocus()
    panel.view.setCurrentIndex(panel.proxy.index(0, 0))
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert saved_files() == [] and panel.model.entries == []
    # Gone for good: a restart does not list them.
    controller.history.reload()
    qtbot.wait(200)
    assert panel.model.entries == []


def test_a_rerank_updates_the_saved_file(controller: AppController, qtbot: Any) -> None:
    wait_listed(controller, qtbot, 0)
    run_fake(controller, qtbot, n=6, select_rule="weighted")
    wait_listed(controller, qtbot, 1)
    (path,) = saved_files()
    before = len(json.loads(path.read_text(encoding="utf-8")))
    controller.controls.select.setCurrentText("majority")
    with qtbot.waitSignal(controller.runs.reranked, timeout=10_000):
        assert controller.rerank()
    qtbot.waitUntil(lambda: len(json.loads(path.read_text(encoding="utf-8"))) == before + 1,
                    timeout=5000)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved[-1]["event"] == "answer_selected" and saved[-1]["rule"] == "majority"
    assert len(saved_files()) == 1


def test_hundreds_of_runs_load_off_the_gui_thread_and_from_the_index(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outthink.search.config import SearchConfig
    from tests.gui.test_runstate import events_of

    events = events_of(SearchConfig(n=2))
    store = HistoryStore()
    for i in range(300):
        store.save(f"run-{i:04d}.json", events)
    threads: list[str] = []
    real_load = HistoryStore.load

    def load(self: HistoryStore, *a: Any, **k: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real_load(self, *a, **k)

    monkeypatch.setattr(HistoryStore, "load", load)
    app = new_app(qtbot)
    wait_listed(app, qtbot, 300)
    assert threads and threading.main_thread().name not in threads
    assert app.history.store.parsed == 0  # every summary came from the index
    app.shutdown()
    # Without the index each file is read once, and the index is written again.
    (history_dir() / ".index.json").write_text("{not json", encoding="utf-8")
    fresh = HistoryStore()
    loaded = fresh.load()
    assert len(loaded.entries) == 300 and fresh.parsed == 300 and not loaded.skipped
    again = HistoryStore()
    assert len(again.load().entries) == 300 and again.parsed == 0


def test_the_list_is_capped(qtbot: Any) -> None:
    from outthink.search.config import SearchConfig
    from tests.gui.test_runstate import events_of

    events = events_of(SearchConfig(n=1))
    store = HistoryStore()
    for i in range(5):
        store.save(f"run-{i}.json", events)
    loaded = HistoryStore().load(limit=3)
    assert len(loaded.entries) == 3 and loaded.older == 2


def test_a_run_that_cannot_be_saved_is_reported(controller: AppController, qtbot: Any) -> None:
    wait_listed(controller, qtbot, 0)
    history_dir().parent.mkdir(parents=True, exist_ok=True)
    history_dir().write_text("a file where the folder should be", encoding="utf-8")
    run_fake(controller, qtbot, n=2)
    qtbot.waitUntil(lambda: "history" in controller.window.banner.message, timeout=5000)
    assert controller.window.banner.hint


def test_when_text() -> None:
    import time

    now = time.mktime((2025, 6, 15, 18, 0, 0, 0, 0, -1))
    assert when_text(now - 3600, now) == "17:00"
    assert when_text(now - 86400 * 3, now) == "12 Jun 18:00"
    assert when_text(time.mktime((2024, 3, 2, 9, 0, 0, 0, 0, -1)), now) == "2 Mar 2024"


def test_a_run_opened_from_elsewhere_is_not_saved_over_a_history_file(
    controller: AppController, qtbot: Any, tmp_path: Path
) -> None:
    wait_listed(controller, qtbot, 0)
    run_fake(controller, qtbot, n=3)
    wait_listed(controller, qtbot, 1)
    (saved,) = saved_files()
    before = saved.read_text(encoding="utf-8")
    other = controller.export_json(tmp_path / "other.json")
    assert other is not None and controller.open_run(other)  # File → Open saved run
    assert controller.history.current is None
    controller.controls.select.setCurrentText("majority")
    with qtbot.waitSignal(controller.runs.reranked, timeout=10_000):
        assert controller.rerank()
    qtbot.wait(200)
    assert saved.read_text(encoding="utf-8") == before
    assert saved_files() == [saved]
