"""Ranking a run the way its verifier's scores mean: each verifier brings its aggregation,
a finished run is ranked again when the rule or aggregation changes, ties are reported, and
a policy model used as a verifier is warned about."""

from __future__ import annotations

from typing import Any

import pytest

from outthink.config import Settings
from outthink.gui import options
from outthink.gui.app_controller import AppController
from outthink.gui.controls import select
from outthink.search.runmodel import RunModel
from outthink.search.selection import Scored
from outthink.search.selection import select as select_answer
from outthink.starter import STARTER_ID
from tests.gui.conftest import TableVerifier, make_fake_job


def _pick(combo: Any, data: str) -> None:
    index = combo.findData(data)
    if index < 0:
        index = combo.findText(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_each_verifier_brings_its_aggregation(controller: AppController) -> None:
    c = controller.controls
    # A new user starts with the default verifier's own aggregation.
    assert c.verifier.currentData() == "self-certainty"
    assert c.agg.currentText() == "mean"
    _pick(c.verifier, "calculator")
    assert c.agg.currentText() == "min"
    _pick(c.verifier, "self-certainty")
    assert c.agg.currentText() == "mean"


def test_a_saved_aggregation_is_kept_at_start(qtbot: Any) -> None:
    settings = Settings()
    app = AppController(settings)
    qtbot.addWidget(app.window)
    _pick(app.controls.verifier, "calculator")
    _pick(app.controls.agg, "prod")
    app.shutdown()
    again = AppController(settings)
    qtbot.addWidget(again.window)
    assert again.controls.verifier.currentData() == "calculator"
    assert again.controls.agg.currentText() == "prod"
    again.shutdown()


def _finished_run(controller: AppController, qtbot: Any, strategy: str = "best-of-n") -> None:
    c = controller.controls
    # Candidate 0's last step is its best, candidate 1's its worst: "last" and "min" disagree.
    controller.runs._job = make_fake_job(verifier=TableVerifier({0: 0.6, 1: 0.7, 2: 0.2}))
    c.problem.setPlainText("What is 2 + 5?")
    select(c.strategy, strategy)
    controller.on_strategy_changed(strategy)
    c.n.setValue(4)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=10_000):
        assert controller.start_run()


def test_changing_the_rule_ranks_a_finished_run_again(
    controller: AppController, qtbot: Any
) -> None:
    _finished_run(controller, qtbot)
    st = controller.runs.state
    first = st.selection
    assert first is not None and first.rule == controller.controls.select.currentText()
    with qtbot.waitSignal(controller.runs.updated, timeout=5000):
        _pick(controller.controls.select, "majority")
    assert st.selection is not None and st.selection.rule == "majority"
    assert "Ranked again with majority" in st.selection.reason
    assert "majority" in controller.window.answer.reason.text()
    with qtbot.waitSignal(controller.runs.updated, timeout=5000):
        _pick(controller.controls.select, "vanilla")
    assert st.selection.rule == "vanilla"
    assert st.selection.candidate == 1  # the best single score


@pytest.mark.parametrize("strategy", ["best-of-n", "beam"])
def test_ranking_again_the_same_way_changes_nothing(
    controller: AppController, qtbot: Any, strategy: str
) -> None:
    _finished_run(controller, qtbot, strategy)
    st = controller.runs.state
    before = st.selection
    aggregates = {cid: c.aggregate for cid, c in st.candidates.items() if c.finished}
    values = controller.controls.values()
    new_aggregates, again = RunModel.reranked(st, values["select"], values["agg"])
    assert again is not None and before is not None
    assert again.candidate == before.candidate and again.answer == before.answer
    assert dict(again.votes) == dict(before.votes)
    for cid, value in new_aggregates.items():
        assert value == pytest.approx(aggregates[cid])


def test_ties_are_reported_with_the_rule_that_broke_them() -> None:
    tied = [Scored(0, "42", 0.9), Scored(1, "84", 0.9), Scored(2, "84", 0.9), Scored(3, "42", 0.9)]
    sel = select_answer(tied, "weighted")
    assert "tied at 1.80 with 84, broken by the answer seen first" in sel.reason
    sel = select_answer(tied, "majority")
    assert "tied on votes with 84" in sel.reason
    sel = select_answer(tied, "vanilla")
    assert sel.candidate == 0 and "Tied at that score with answer 84" in sel.reason
    clear = select_answer([Scored(0, "1", 0.9), Scored(1, "2", 0.5)], "weighted")
    assert "tied" not in clear.reason.lower()


def test_a_policy_model_as_verifier_model_is_warned_about(
    controller: AppController, qtbot: Any
) -> None:
    statuses = controller._statuses
    assert any(st.entry.id == STARTER_ID for st in statuses)
    warning = options.verifier_model_warning(STARTER_ID, statuses)
    assert "not a verifier model" in warning
    c = controller.controls
    _pick(c.verifier, "judge")
    assert not c.verifier_model.isHidden()
    controller.runs._job = make_fake_job()
    c.problem.setPlainText("What is 2 + 5?")
    assert select(c.verifier_model, STARTER_ID)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=10_000):
        assert controller.start_run()
    banner = controller.window.banner
    assert banner.level == "warning" and "not a verifier model" in banner.message
