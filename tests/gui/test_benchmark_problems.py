"""Double-clicking a configuration in the Benchmark tab's table shows which problems it got
right and wrong: problem text, reference, chosen answer, ✓/✗, from results.jsonl and the
problem file the benchmark read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from outthink.bench.problems import load_problem_set, resolve_source
from outthink.bench.runner import read_results
from tests.gui.test_benchmark_tab import Solvers, make_tab
from tests.test_bench import REPO, FakeSolver, drive, spec


def _double_click_row(qtbot: Any, tab: Any, row: int) -> Any:
    index = tab.table_model.index(row, 0)
    tab.table.scrollTo(index)
    rect = tab.table.visualRect(index)
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = getattr(tab, "problems_dialog", None)
    assert dialog is not None, "double-clicking a row opened nothing"
    return dialog


def _texts_loaded(dialog: Any) -> bool:
    return dialog.note.text() != "Reading the problem file…"


def _cells(dialog: Any) -> list[list[str]]:
    model = dialog.model
    return [[model.item(r, c).text() for c in range(model.columnCount())]
            for r in range(model.rowCount())]


def test_double_click_shows_each_problem_right_or_wrong(qtbot: Any, tmp_path: Path) -> None:
    tab = make_tab(qtbot, tmp_path, Solvers(), limit=6)
    tab.show()
    qtbot.waitExposed(tab)
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000):
        tab.start()
    labels = [tab.table_model.item(r, 0).text() + " " + tab.table_model.item(r, 2).text()
              for r in range(tab.table_model.rowCount())]
    row = labels.index("best-of-n 2")
    dialog = _double_click_row(qtbot, tab, row)
    qtbot.waitUntil(lambda: _texts_loaded(dialog), timeout=10_000)
    assert dialog.isVisible() and "best-of-n (weighted), N = 2" in dialog.windowTitle()

    problems, _ = load_problem_set(resolve_source("arithmetic")).choose(limit=6)
    mine = {r["problem_id"]: r for r in read_results(tmp_path / "bench")
            if (r["strategy"], r["budget"]) == ("best-of-n", 2)}
    cells = _cells(dialog)
    assert len(cells) == 6
    for p, (mark, text, reference, chosen, counted) in zip(problems, cells, strict=True):
        record = mine[p.id]
        assert text == " ".join(p.problem.split())
        assert reference == p.answer
        assert chosen == record["answer"]
        assert mark == ("✓" if record["correct"] else "✗")
        assert counted == f"{record['samples_correct']} of 2"
    right = sum(r["correct"] for r in mine.values())
    assert f"{right} of 6 problems right" in dialog.summary.text()
    assert not dialog.note.isVisibleTo(dialog)

    # Only the wrong ones, and the selected problem in full.
    dialog.only_wrong.setChecked(True)
    shown = [r for r in range(6) if not dialog.table.isRowHidden(r)]
    assert len(shown) == 6 - right
    if shown:
        dialog.table.selectRow(shown[0])
        assert "✗ wrong" in dialog.detail.toPlainText()
        assert problems[shown[0]].problem.split()[0] in dialog.detail.toPlainText()
    # The Problems… button opens the selected row too.
    tab.table.selectRow(0)
    assert tab.problems_button.isEnabled()
    tab.problems_button.click()
    assert tab.problems_dialog is not dialog and tab.problems_dialog.row.strategy == "greedy"
    tab.problems_dialog.close()
    dialog.close()


def _earlier(tmp_path: Path) -> tuple[Path, Path]:
    """An earlier benchmark whose problem file is a copy the test can move or change."""
    source = tmp_path / "my-set.jsonl"
    shutil.copy(REPO / "assets" / "problems" / "arithmetic.jsonl", source)
    problem_set = load_problem_set(resolve_source(str(source)))
    problems, info = problem_set.choose(limit=4)
    out = tmp_path / "earlier"
    drive(problems, spec(("greedy", "best-of-n"), (1, 2)), out, FakeSolver(problems),
          problem_info=info)
    # One run failed (a resume retries it): it is shown as failed, with its error.
    lines = (out / "results.jsonl").read_text().splitlines()
    failed = json.loads(lines[0])
    failed.update(status="failed", answer=None, correct=False, error="out of memory")
    (out / "results.jsonl").write_text(
        "\n".join([json.dumps(failed), *lines[1:]]) + "\n", encoding="utf-8")
    return out, source


def test_problems_of_earlier_results_and_a_problem_file_that_changed(
    qtbot: Any, tmp_path: Path
) -> None:
    out, source = _earlier(tmp_path)
    tab = make_tab(qtbot, tmp_path, Solvers())
    tab.show()
    qtbot.waitExposed(tab)
    assert tab.open_results(out) == 4 * 3
    dialog = _double_click_row(qtbot, tab, 0)  # greedy
    qtbot.waitUntil(lambda: _texts_loaded(dialog), timeout=10_000)
    cells = _cells(dialog)
    assert cells[0][0] == "failed" and cells[0][3] == "no answer"
    assert dialog.model.item(0, 0).toolTip() == "out of memory"
    assert "1 failed" in dialog.summary.text()
    assert all(row[1] and row[2] for row in cells)  # texts and references are there
    dialog.close()

    # The file changed since: no texts that might not belong; answers and marks still there.
    source.write_text(source.read_text(encoding="utf-8").replace("apples", "pears"),
                      encoding="utf-8")
    dialog = tab.show_problems(1)
    assert dialog is not None
    qtbot.waitUntil(lambda: _texts_loaded(dialog), timeout=10_000)
    assert "has changed since this benchmark ran" in dialog.note.text()
    assert dialog.note.isVisibleTo(dialog)
    cells = _cells(dialog)
    assert len(cells) == 4 and all(row[0] in ("✓", "✗") and row[2] == "" for row in cells)
    dialog.close()

    source.unlink()  # and gone: the note says how to get the texts back
    dialog = tab.show_problems(1)
    assert dialog is not None
    qtbot.waitUntil(lambda: _texts_loaded(dialog), timeout=10_000)
    assert "is not there any more" in dialog.note.text() and "Put the file back" in (
        dialog.note.text())
    dialog.close()
