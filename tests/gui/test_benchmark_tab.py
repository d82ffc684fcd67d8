"""The Benchmark tab with fake solvers: live results, Stop and resume, earlier results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from outthink.bench.runner import RESULTS_FILE, read_results
from outthink.config import Settings
from outthink.gui import benchmark_tab
from outthink.gui.benchmark_tab import BenchmarkController, BenchmarkTab, BenchRequest
from tests.test_bench import FakeSolver, arithmetic, drive, spec


class Solvers:
    """make_solver for the controller: a FakeSolver per run, kept for inspection."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.made: list[FakeSolver] = []

    def __call__(self, req: BenchRequest, cancel: Any = None) -> FakeSolver:
        solver = FakeSolver(arithmetic(), delay=self.delay)
        self.made.append(solver)
        return solver


def make_tab(qtbot: Any, tmp_path: Path, solvers: Solvers, *, limit: int = 4) -> BenchmarkTab:
    controller = BenchmarkController(make_solver=solvers)
    tab = BenchmarkTab(Settings(), controller=controller)
    qtbot.addWidget(tab)
    tab.resize(1200, 700)
    tab.problem_set.setEditText("arithmetic")
    tab.limit.setValue(limit)
    tab.budgets.setText("1,2")
    tab.max_tokens.setValue(200)
    tab.out_dir.setText(str(tmp_path / "bench"))
    return tab


def test_run_fills_table_and_plot_and_writes_the_report(qtbot: Any, tmp_path: Path) -> None:
    solvers = Solvers()
    tab = make_tab(qtbot, tmp_path, solvers)
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000) as done:
        assert tab.start()
        assert not tab.run_button.isEnabled() and tab.stop_button.isEnabled()
    assert done.args == ["finished"]
    out = tmp_path / "bench"
    records = read_results(out)
    assert len(records) == 4 * 3  # greedy + best-of-n at 1 and 2
    assert tab.table_model.rowCount() == 3
    cells = [tab.table_model.item(r, 0).text() + " " + tab.table_model.item(r, 2).text()
             for r in range(3)]
    assert cells == ["greedy 1", "best-of-n 1", "best-of-n 2"]
    labels = {s.label for s in tab.plot.data.series}
    assert labels == {"greedy (no search)", "best-of-n (weighted)",
                      "best-of-n pass@k (oracle upper bound)"}
    qtbot.waitUntil(lambda: tab.plot.image is not None and not tab.plot.rendering)
    assert not tab.plot.image.isNull()
    assert tab.progress.value() == tab.progress.maximum() == 8
    assert (out / "summary.csv").exists() and (out / "accuracy_vs_compute.png").exists()
    assert tab.controller.report is not None and len(tab.controller.report.rows) == 3
    assert tab.run_button.isEnabled() and not tab.stop_button.isEnabled()
    # The plot shows the measured accuracy of each budget.
    bon = next(s for s in tab.plot.data.series if s.label == "best-of-n (weighted)")
    for budget, acc in zip(bon.budgets, bon.accuracy, strict=True):
        mine = [r for r in records if r["strategy"] == "best-of-n" and r["budget"] == budget]
        assert acc == pytest.approx(100 * sum(r["correct"] for r in mine) / len(mine))


def test_plot_updates_while_the_benchmark_runs(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(benchmark_tab, "REPLOT_MS", 30)
    tab = make_tab(qtbot, tmp_path, Solvers(delay=0.03), limit=6)
    seen_while_busy: list[int] = []
    tab.controller.plot_changed.connect(
        lambda data: tab.controller.busy and seen_while_busy.append(
            max((s.budgets[-1] for s in data.series), default=0))
    )
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000):
        tab.start()
    # Besides the empty plot at the start, results appeared in the plot before the end.
    assert len(seen_while_busy) >= 3 and max(seen_while_busy) >= 1


def test_stop_keeps_finished_runs_and_run_resumes(qtbot: Any, tmp_path: Path) -> None:
    solvers = Solvers(delay=0.05)
    tab = make_tab(qtbot, tmp_path, solvers, limit=6)
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000) as stopped:
        tab.start()
        qtbot.waitUntil(lambda: len(tab.controller.records) >= 3, timeout=30_000)
        tab.stop_button.click()
    assert stopped.args == ["cancelled"]
    out = tmp_path / "bench"
    kept = read_results(out)
    assert 3 <= len(kept) < 6 * 3
    first_calls = list(solvers.made[0].calls)
    assert "Run again to resume" in tab.status.text()

    with qtbot.waitSignal(tab.controller.finished, timeout=60_000) as resumed:
        tab.start()
    assert resumed.args == ["finished"]
    second_calls = solvers.made[1].calls
    finished_first = {(r["problem_id"], r["strategy"]) for r in kept}
    assert not {(pid, s) for pid, s, _ in second_calls} & finished_first
    assert len(first_calls) + len(second_calls) <= 6 * 2 + 1  # at most the stopped run again
    lines = (out / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == len(read_results(out)) == 6 * 3  # nothing recorded twice


def test_open_results_of_an_earlier_run(qtbot: Any, tmp_path: Path) -> None:
    problems = arithmetic(5)
    earlier = tmp_path / "earlier"
    drive(problems, spec(("greedy", "best-of-n"), (1, 2, 4)), earlier, FakeSolver(problems),
          problem_info={"name": "arithmetic"})
    tab = make_tab(qtbot, tmp_path, Solvers())
    assert tab.open_results(earlier) == 5 * 4
    assert tab.table_model.rowCount() == 4
    assert {s.label for s in tab.plot.data.series} >= {"greedy (no search)"}
    assert "arithmetic" in tab.plot.data.subtitle
    tab.reference.setChecked(True)  # switched on without a new run: not over arithmetic
    assert tab.plot.data.reference == ()
    assert tab.reference_note.isVisibleTo(tab) and "neither" in tab.reference_note.text()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert tab.open_results(empty) == 0
    assert tab.error.isVisibleTo(tab) and "no benchmark results" in tab.error.text()


def test_bad_input_is_reported_without_starting(qtbot: Any, tmp_path: Path) -> None:
    tab = make_tab(qtbot, tmp_path, Solvers())
    tab.budgets.setText("1,two")
    assert not tab.start()
    assert tab.error.isVisibleTo(tab) and "not a list like 1,4,8" in tab.error.text()
    assert not tab.controller.busy

    tab.budgets.setText("1,2")
    tab.problem_set.setEditText("no-such-set")
    with qtbot.waitSignal(tab.controller.finished, timeout=30_000) as done:
        assert tab.start()
    assert done.args == ["failed"]
    assert "Unknown problem set" in tab.error.text()


def test_resuming_another_benchmarks_folder_is_refused(qtbot: Any, tmp_path: Path) -> None:
    tab = make_tab(qtbot, tmp_path, Solvers(), limit=2)
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000):
        tab.start()
    tab.max_tokens.setValue(100)  # another experiment in the same folder
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000) as done:
        tab.start()
    assert done.args == ["failed"] and "different benchmark" in tab.error.text()
    config = json.loads((tmp_path / "bench" / "config.json").read_text())
    assert config["search"]["max_tokens"] == 200  # the saved configuration is untouched


def test_main_window_has_a_benchmark_mode_prefilled_with_the_solve_models(qtbot) -> None:
    from outthink.gui.app_controller import AppController

    ctl = AppController()
    qtbot.addWidget(ctl.window)
    w = ctl.window
    assert w.modes.tabText(1) == "Benchmark" and w.modes.widget(1) is w.benchmark
    w.modes.setCurrentIndex(1)
    assert w.benchmark.verifier.currentData() == ctl.controls.verifier.currentData()
    ctl.shutdown()


def test_benchmark_run_waits_while_a_solve_run_holds_the_engine(qtbot, monkeypatch) -> None:
    from outthink.gui.app_controller import AppController

    ctl = AppController()
    qtbot.addWidget(ctl.window)
    tab = ctl.window.benchmark
    assert tab.run_button.isEnabled()
    solving = {"busy": True}
    monkeypatch.setattr(type(ctl.runs), "busy", property(lambda self: solving["busy"]))
    ctl.runs.busy_changed.emit(True)
    assert not tab.run_button.isEnabled() and "Solve" in tab.run_button.toolTip()
    solving["busy"] = False
    ctl.runs.busy_changed.emit(False)
    assert tab.run_button.isEnabled()
    ctl.shutdown()
