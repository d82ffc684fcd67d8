"""The Benchmark tab's Aggregation: the verifier's own by default, the user's choice kept, and
what the benchmark records; the wheel leaves the form's controls alone unless focused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import outthink.verifiers as verifiers
from tests.gui.test_benchmark_tab import Solvers, make_tab
from tests.gui.test_panel import _wheel


def _pick_verifier(tab: Any, kind: str) -> None:
    index = tab.verifier.findData(kind)
    tab.verifier.setCurrentIndex(index)
    tab.verifier.activated.emit(index)  # as a user's pick does


def test_aggregation_defaults_to_the_verifiers_own_and_keeps_the_users_choice(
    qtbot: Any, tmp_path: Path
) -> None:
    tab = make_tab(qtbot, tmp_path, Solvers())
    assert tab.verifier.currentData() == "self-certainty"
    assert tab.agg.currentText() == verifiers.VERIFIERS["self-certainty"].aggregation == "mean"
    _pick_verifier(tab, "calculator")
    assert tab.agg.currentText() == verifiers.VERIFIERS["calculator"].aggregation == "min"

    # The user's own choice survives the Solve panel's models being handed over again...
    tab.agg.setCurrentText("last")
    tab.set_models(None, "calculator")
    assert tab.agg.currentText() == "last"
    # ...until another verifier comes, with its own aggregation.
    tab.set_models(None, "self-certainty")
    assert tab.agg.currentText() == "mean"


def test_the_benchmark_runs_with_the_chosen_aggregation(qtbot: Any, tmp_path: Path) -> None:
    tab = make_tab(qtbot, tmp_path, Solvers(), limit=2)
    _pick_verifier(tab, "calculator")
    assert tab.request().spec.search.agg == "min"
    tab.agg.setCurrentText("prod")
    assert tab.request().spec.search.agg == "prod"
    with qtbot.waitSignal(tab.controller.finished, timeout=60_000) as done:
        assert tab.start()
    assert done.args == ["finished"]
    config = json.loads((Path(tab.out_dir.text()) / "config.json").read_text())
    assert config["search"]["agg"] == "prod"


def test_suggested_folder_names_an_aggregation_other_than_the_verifiers(
    qtbot: Any, tmp_path: Path
) -> None:
    from outthink.gui.benchmark_tab import BenchmarkTab

    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    _pick_verifier(tab, "calculator")
    assert tab.out_dir.text().endswith("arithmetic-calculator")
    tab.agg.setCurrentText("last")  # another experiment: another folder, not a refusal
    assert tab.out_dir.text().endswith("arithmetic-calculator-last")


def test_the_wheel_leaves_unfocused_benchmark_controls_alone(qtbot: Any, tmp_path: Path) -> None:
    tab = make_tab(qtbot, tmp_path, Solvers())
    tab.show()
    qtbot.waitExposed(tab)
    tab.budgets.setFocus()
    qtbot.waitUntil(tab.budgets.hasFocus)
    controls = (tab.max_tokens, tab.temperature, tab.limit, tab.seed, tab.verifier,
                tab.problem_set)
    before = [w.value() if hasattr(w, "value") else w.currentIndex() for w in controls]
    for widget in controls:
        _wheel(widget)
    after = [w.value() if hasattr(w, "value") else w.currentIndex() for w in controls]
    assert after == before
    agg = tab.agg.currentIndex()
    _wheel(tab.agg)
    assert tab.agg.currentIndex() == agg
    # A control the user clicked into takes the wheel, as everywhere else.
    tab.max_tokens.setFocus()
    qtbot.waitUntil(tab.max_tokens.hasFocus)
    _wheel(tab.max_tokens)
    assert tab.max_tokens.value() != before[0]
