"""A benchmark started from the window runs with the user's settings, and a results folder of
another benchmark is refused before any model loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outthink.config import Settings
from tests.test_bench import FakeSolver, arithmetic


class Loads:
    """Stands in for model resolution and loading: records the settings each was given."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import outthink.bench.runner as runner
        import outthink.resolve as resolve

        self.resolved: list[Settings] = []
        self.loaded: list[dict[str, Any]] = []
        path = tmp_path / "policy.gguf"

        def resolve_policy(spec: str | None, settings: Settings) -> Any:
            self.resolved.append(settings)
            return resolve.PolicyChoice(path, "my-policy", None)

        def load_solver(**kwargs: Any) -> FakeSolver:
            self.loaded.append(kwargs)
            return FakeSolver(arithmetic())

        monkeypatch.setattr(resolve, "resolve_policy", resolve_policy)
        monkeypatch.setattr(runner, "load_solver", load_solver)


def _app(qtbot: Any, settings: Settings, out: Path) -> Any:
    from outthink.gui.app_controller import AppController

    ctl = AppController(settings)
    qtbot.addWidget(ctl.window)
    tab = ctl.window.benchmark
    tab.problem_set.setEditText("arithmetic")
    tab.limit.setValue(2)
    tab.budgets.setText("1,2")
    tab.max_tokens.setValue(200)
    tab.out_dir.setText(str(out))
    return ctl


def _run(qtbot: Any, tab: Any) -> str:
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000) as done:
        assert tab.start()
    return str(done.args[0])


def test_gui_benchmark_uses_the_users_settings_and_follows_the_settings_dialog(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = Loads(tmp_path, monkeypatch)
    mine = tmp_path / "my-models"
    ctl = _app(qtbot, Settings(threads=3, gpu_layers=5, models_dir=str(mine)), tmp_path / "b")
    tab = ctl.window.benchmark
    assert _run(qtbot, tab) == "finished"
    used = loads.loaded[-1]["settings"]
    assert (used.threads, used.gpu_layers, used.models_path()) == (3, 5, mine)
    # The benchmark's stop flag reaches the verifier (model-based ones check it).
    from outthink.generation import CancelToken

    assert isinstance(loads.loaded[-1]["cancel"], CancelToken)
    assert all(s.models_path() == mine for s in loads.resolved)

    # Settings changed in the dialog reach the next benchmark.
    other = tmp_path / "other-models"
    ctl.open_settings()
    dialog = ctl.settings_dialog
    dialog.threads.setValue(2)
    dialog.models_dir.setText(str(other))
    dialog.accept()
    assert _run(qtbot, tab) == "finished"  # everything is done: a resume with nothing to run
    used = loads.loaded[-1]["settings"]
    assert (used.threads, used.gpu_layers, used.models_path()) == (2, 5, other)
    ctl.shutdown()


def test_another_benchmarks_folder_is_refused_before_the_models_load(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = Loads(tmp_path, monkeypatch)
    ctl = _app(qtbot, Settings(threads=1), tmp_path / "b")
    tab = ctl.window.benchmark
    assert _run(qtbot, tab) == "finished"
    assert len(loads.loaded) == 1
    statuses: list[str] = []
    tab.controller.status.connect(statuses.append)
    tab.max_tokens.setValue(100)  # another experiment in the same folder
    assert _run(qtbot, tab) == "failed"
    assert len(loads.loaded) == 1, "the models were loaded for a folder that was refused"
    assert "Loading the models…" not in statuses
    assert "different benchmark" in tab.error.text()
    assert "Choose another results folder" in tab.error.text()
    ctl.shutdown()
