"""The hostile cases the window can reach: each shows the same clear message there as on the
command line, loses nothing, and never freezes the window."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from outthink.config import Settings, load_settings, settings_path
from outthink.gui.app_controller import AppController
from tests.hostile.test_starter_damage import flip_one_byte, stand_in  # noqa: F401
from tests.hostile.test_starter_damage import starter_package as starter_package_fixture
from tests.tiny_gguf import write_tiny_model


@pytest.fixture
def app(qtbot: Any) -> Any:
    controller = AppController(Settings())
    qtbot.addWidget(controller.window)
    yield controller
    controller.runs.stop()
    controller.shutdown()


def _run_and_wait(app: Any, qtbot: Any, timeout: int = 60_000) -> str:
    with qtbot.waitSignal(app.runs.run_ended, timeout=timeout) as ended:
        assert app.start_run()
    return str(ended.args[0])


def test_a_model_llama_cpp_cannot_run_is_refused_in_the_models_window(
    qtbot: Any, tmp_path: Path
) -> None:
    from outthink.gui.models_dialog import ModelsController, ModelsDialog

    controller = ModelsController(Settings())
    dialog = ModelsDialog(controller)
    qtbot.addWidget(dialog)
    dialog.show()
    alien = write_tiny_model(tmp_path / "alien.gguf", arch="notarealarch")
    dialog.import_file(str(alien))
    qtbot.waitUntil(lambda: dialog.banner.level == "error", timeout=10_000)
    assert "notarealarch" in dialog.banner.message
    assert controller.status("alien") is None  # not listed as ready
    controller.shutdown()


def test_a_model_file_llama_cpp_cannot_run_fails_the_run_with_its_reason(
    app: Any, qtbot: Any, tmp_path: Path
) -> None:
    alien = write_tiny_model(tmp_path / "alien.gguf", arch="notarealarch")
    app.browse_policy(str(alien))
    app.controls.problem.setPlainText("What is 2 + 2?")
    assert _run_and_wait(app, qtbot) == "failed"
    assert app.window.banner.level == "error"
    assert "notarealarch" in app.window.banner.message + app.window.banner.hint


def test_control_characters_in_the_problem_never_break_the_settings_file(
    app: Any, qtbot: Any
) -> None:
    problem = "Line one\r\nA\x01B\x7f tab\there \u2028 end"
    app.controls.problem.setPlainText(problem)
    app.save_state()
    # Every later start reads the file: it must parse and give the text back.
    assert load_settings().last_problem == app.controls.problem.toPlainText()
    again = AppController()
    qtbot.addWidget(again.window)
    assert again.window.banner.isHidden()
    assert again.controls.problem.toPlainText() == app.controls.problem.toPlainText()
    again.shutdown()


def test_the_settings_file_is_private(app: Any) -> None:
    app.settings.hf_token = "hf_secret_token"
    app.save_state()
    assert settings_path().stat().st_mode & 0o077 == 0


def test_a_full_disk_when_saving_settings_is_reported_not_raised(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    app.save_state()  # a good file first
    before = settings_path().read_bytes()
    app.controls.problem.setPlainText("A new problem the disk has no room for")
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full)
        app.save_state()
    assert settings_path().read_bytes() == before  # the old file, whole
    shown = app.window.statusBar().currentMessage() + app.window.banner.message
    assert "disk is full" in shown.lower() or "no space" in shown.lower()
    assert not list(settings_path().parent.glob("*.tmp"))


starter_package = starter_package_fixture


def test_a_damaged_starter_fails_the_run_with_the_way_out(
    starter_package: Path, qtbot: Any
) -> None:
    from outthink.starter import STARTER_ID, starter_model_path

    target = starter_model_path(Settings())  # assembled from the stand-in package
    flip_one_byte(target, target.stat().st_size // 2)
    app = AppController(Settings())
    qtbot.addWidget(app.window)
    assert app.controls.policy.currentData() == STARTER_ID
    assert "damaged" in app.controls.policy.currentText()
    app.controls.problem.setPlainText("What is 2 + 2?")
    assert _run_and_wait(app, qtbot) == "failed"
    shown = app.window.banner.message + " " + app.window.banner.hint
    assert "starter model file" in shown and "models rm gemma-3-270m" in shown
    assert app.runs.cache.loads == 0  # refused before loading
    app.shutdown()


#: 200 KB of ordinary text (about a token per byte for the tiny vocabulary)
LONG = "Tom has 3 apples and buys 5 more apples at the market. " * 3700
SPIN = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"


def test_a_problem_too_long_for_the_model_is_refused_before_loading(
    app: Any, qtbot: Any, tmp_path: Path
) -> None:
    short = write_tiny_model(tmp_path / "short-context.gguf", context_length=512)
    app.browse_policy(str(short))
    app.controls.problem.setPlainText(LONG)
    assert _run_and_wait(app, qtbot, timeout=30_000) == "failed"
    shown = app.window.banner.message + " " + app.window.banner.hint
    assert "trained on a context of 512 tokens" in shown and "Shorten the problem" in shown
    assert app.runs.cache.loads == 0  # its weights were never loaded


def _heartbeat(qtbot: Any) -> tuple[list[float], Any]:
    """A 10 ms timer on the GUI thread: the longest gap is how long the window froze."""
    import time

    from PySide6.QtCore import QTimer

    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    timer.start()
    return gaps, timer


def _choose_spinning_template(app: Any, qtbot: Any, tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "spin.gguf", chat_template=SPIN)
    app.browse_policy(str(model))
    app.controls.problem.setPlainText("What is 2 + 3?")
    app.controls.max_tokens.setValue(16)
    qtbot.waitUntil(lambda: app.runs.warmed, timeout=120_000)


def test_a_runaway_chat_template_fails_the_run_and_never_freezes_the_window(
    app: Any, qtbot: Any, tmp_path: Path
) -> None:
    import time

    _choose_spinning_template(app, qtbot, tmp_path)
    gaps, timer = _heartbeat(qtbot)
    t0 = time.perf_counter()
    assert _run_and_wait(app, qtbot, timeout=30_000) == "failed"
    seconds = time.perf_counter() - t0
    timer.stop()
    assert "chat template" in app.window.banner.message
    assert "--prompt-format completion" in app.window.banner.message + app.window.banner.hint
    assert seconds < 10, seconds
    assert max(gaps) < 0.5, f"the window froze for {max(gaps):.2f} s"


def test_stop_ends_a_runaway_chat_template_at_once(
    app: Any, qtbot: Any, tmp_path: Path
) -> None:
    import time

    _choose_spinning_template(app, qtbot, tmp_path)
    assert app.start_run()
    qtbot.waitUntil(lambda: "Running" in app.window.statusBar().currentMessage(),
                    timeout=20_000)
    with qtbot.waitSignal(app.runs.run_ended, timeout=5000) as ended:
        t0 = time.perf_counter()
        app.stop_run()
    assert ended.args == ["cancelled"]
    assert time.perf_counter() - t0 < 1.0
