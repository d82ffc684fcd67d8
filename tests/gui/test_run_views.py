"""Cards, chart and tree filled by a real strategy event stream (scripted generator)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from outthink.events import RunFinished, event_from_dict
from outthink.gui.app_controller import AppController
from outthink.gui.candidates import CandidateCard
from outthink.gui.controls import select
from outthink.search.strategies import strategy_names
from tests.gui.conftest import ANSWERS, TableVerifier, make_fake_job


def run_fake(controller: AppController, qtbot: Any, *, strategy: str = "best-of-n", n: int = 6,
             width: int = 2, select_rule: str = "weighted", **job: Any) -> None:
    c = controller.controls
    controller.runs._job = make_fake_job(**job)
    c.problem.setPlainText("What is 2 + 5?")
    select(c.strategy, strategy)
    c.n.setValue(n)
    c.beam_width.setValue(width)
    c.select.setCurrentText(select_rule)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=10_000):
        assert controller.start_run()
    # Cards are built a few per event-loop turn; the last ones may still be on their way.
    view = controller.window.candidates
    qtbot.waitUntil(lambda: len(view.cards) == len(controller.runs.state.candidates), timeout=5000)


def visible_cards(controller: AppController) -> list[CandidateCard]:
    view = controller.window.candidates
    return [card for card in view.cards.values() if card.isVisibleTo(view.row_widget)]


def test_best_of_n_fills_one_card_per_candidate(controller: AppController, qtbot: Any) -> None:
    controller.window.show()
    run_fake(controller, qtbot, n=6)
    st = controller.runs.state
    assert st.status == "finished"
    cards = visible_cards(controller)
    assert len(cards) == 6
    for card in cards:
        assert len(card.steps) == 3
        assert all(step.badge.text() not in ("", "–") for step in card.steps)  # scored
        assert card.steps[0].text.text().startswith("Step 1")
        assert "Answer:" in card.footer.text()
    chosen = [card for card in cards if st.candidates[card.cid].selected]
    assert len(chosen) == 1
    assert "chosen" in chosen[0].header.text() and "Chosen" in chosen[0].footer.text()
    # The answer panel: the winner in large type and the reason; one bar row per answer.
    panel = controller.window.answer
    assert panel.answer.text() == "7"
    assert "weighted" in panel.reason.text()
    assert {g[0] for g in panel.chart.groups} == set(ANSWERS.values())
    assert panel.chart.winner == "7"
    assert "tokens" in panel.stats.text() and "tokens/s" in panel.stats.text()
    # Run can go again; Stop is off.
    assert controller.controls.run_button.isEnabled()
    assert not controller.controls.stop_button.isEnabled()


def test_fraction_answers_render_as_maths(controller: AppController, qtbot: Any) -> None:
    run_fake(controller, qtbot, n=6, verifier=TableVerifier({3: 0.99}), select_rule="vanilla")
    assert controller.runs.state.selection.answer == "\\frac{1}{2}"
    assert "<sup>1</sup>" in controller.window.answer.answer.text()
    card = controller.window.candidates.cards[3]
    assert "<sup>1</sup>" in card.footer.text() and "frac" not in card.footer.text()


def test_compact_and_sort(controller: AppController, qtbot: Any) -> None:
    run_fake(controller, qtbot, n=6, verifier=TableVerifier({0: 0.1, 1: 0.9, 2: 0.5}))
    view = controller.window.candidates
    wide = view.cards[0].width()
    view.compact_box.setChecked(True)
    assert view.cards[0].width() < wide / 2
    assert all(not s.text.isVisibleTo(view.cards[0]) for s in view.cards[0].steps)
    view.sort_box.setChecked(True)
    order = [view.row.itemAt(i).widget().cid for i in range(len(view.cards))]
    scores = [controller.runs.state.candidates[c].aggregate for c in order]
    assert order[0] == 1 and scores[1:] == sorted(scores[1:], reverse=True)


def test_many_candidates_stay_usable(controller: AppController, qtbot: Any) -> None:
    controller.window.show()
    run_fake(controller, qtbot, n=40)
    assert "40 cards" in controller.window.candidates.summary.text()
    assert controller.window.candidates.scroll_area.horizontalScrollBar().maximum() > 0


@pytest.mark.skipif("beam" not in strategy_names(), reason="beam search not registered")
def test_beam_search_prunes_and_draws_a_tree(controller: AppController, qtbot: Any) -> None:
    w = controller.window
    w.show()
    run_fake(controller, qtbot, strategy="beam", n=4, width=2, select_rule="vanilla")
    st = controller.runs.state
    view = w.candidates
    pruned = [view.cards[c.id] for c in st.candidates.values() if c.pruned]
    assert pruned and all(card.collapsed for card in pruned)
    # Greyed and collapsed, but a click expands it to read it.
    card = pruned[0]
    qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
    assert not card.collapsed and card.steps
    # Parents that live on in children have no card of their own; finished beams do.
    finished = [c.id for c in st.candidates.values() if c.finished]
    assert len(finished) == 4
    shown = {card.cid for card in visible_cards(controller)}
    assert set(finished) <= shown
    assert all(not view.continued(st.candidates[cid]) for cid in shown)
    inherited = [s for cid in finished for s in view.cards[cid].steps if s.inherited]
    assert inherited and all("↰" in s.badge.text() for s in inherited)
    # The tree: one item per step; clicking a node shows its text.
    w.tabs.setCurrentWidget(w.tree)
    tree = w.tree
    assert set(tree.items) == set(st.nodes)
    node_id = next(iter(st.selected_path()))
    tree.items[node_id].setSelected(True)
    assert st.nodes[node_id].text.strip()[:10] in tree.details.toPlainText()
    pruned_nodes = [n for n in st.nodes.values() if n.state == "pruned"]
    assert pruned_nodes
    pen = tree.items[pruned_nodes[0].node].pen()
    assert pen.style() == Qt.PenStyle.DashLine


def test_stop_keeps_what_was_produced(controller: AppController, qtbot: Any) -> None:
    controller.window.show()
    c = controller.controls
    started = threading.Event()
    controller.runs._job = make_fake_job(step_delay=0.3, started=started)
    c.problem.setPlainText("What is 2 + 5?")
    c.n.setValue(3)
    assert controller.start_run()
    assert not c.run_button.isEnabled() and c.stop_button.isEnabled()
    assert controller.start_run() is False  # never two runs at once
    # Wait until the first step of every candidate is on screen, then stop.
    qtbot.waitUntil(lambda: all(len(card.steps) >= 1 for card in
                                controller.window.candidates.cards.values())
                    and len(controller.window.candidates.cards) == 3, timeout=10_000)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=2000) as ended:
        qtbot.mouseClick(c.stop_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["cancelled"]
    last = controller.runs.events[-1]
    assert isinstance(last, RunFinished) and last.cancelled
    for card in controller.window.candidates.cards.values():
        assert card.steps and card.steps[0].text.text().startswith("Step 1")
    assert c.run_button.isEnabled() and not c.stop_button.isEnabled()
    assert "stopped" in controller.window.answer.answer.text()


def test_keyboard_runs_and_stops(controller: AppController, qtbot: Any) -> None:
    w = controller.window
    with qtbot.waitActive(w):  # shortcuts with window context need the active window
        w.show()
        w.activateWindow()
    controller.runs._job = make_fake_job(step_delay=0.3)
    controller.controls.problem.setPlainText("What is 2 + 5?")
    controller.controls.problem.setFocus()
    with qtbot.waitSignal(controller.runs.busy_changed, timeout=2000):
        qtbot.keyClick(controller.controls.problem, Qt.Key.Key_Return,
                       Qt.KeyboardModifier.ControlModifier)
    assert controller.runs.busy
    assert "\n" not in controller.controls.problem.toPlainText()  # the shortcut, not a newline
    with qtbot.waitSignal(controller.runs.run_ended, timeout=3000) as ended:
        qtbot.keyClick(controller.controls.problem, Qt.Key.Key_Escape)
    assert ended.args == ["cancelled"]


def test_export_and_reopen_a_run(controller: AppController, qtbot: Any, tmp_path: Path) -> None:
    run_fake(controller, qtbot, n=3)
    events = controller.runs.events
    path = controller.export_json(tmp_path / "run.json")
    assert path is not None
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == [e.to_dict() for e in events]
    assert [event_from_dict(d) for d in data] == events
    png = controller.export_png(tmp_path / "window.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Reopened, the saved run draws the same cards and answer.
    controller.window.candidates.clear()
    assert controller.open_run(path)
    qtbot.waitUntil(lambda: len(controller.window.candidates.cards) == 3, timeout=5000)
    assert controller.window.answer.answer.text() == controller.runs.state.selection.answer


def test_a_bad_saved_run_is_reported(controller: AppController, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"event\": \"nonsense\"}]", encoding="utf-8")
    assert controller.open_run(bad) is False
    assert "Could not read" in controller.window.banner.message


def test_a_failed_run_shows_its_error_once(controller: AppController, qtbot: Any) -> None:
    def script(seed: int, index: int, text: str) -> Any:
        from outthink.errors import EngineError

        raise EngineError("llama.cpp refused to decode.", hint="Lower N and try again.")

    shown: list[tuple[str, str]] = []
    controller.runs.failed.connect(lambda m, h: shown.append((m, h)))
    run_fake(controller, qtbot, n=2, script=script)
    assert shown == [("llama.cpp refused to decode.", "Lower N and try again.")]
    assert controller.window.banner.message == "llama.cpp refused to decode."
    assert controller.controls.run_button.isEnabled()


def test_stop_answers_from_finished_candidates_and_cards_say_stopped(
    controller: AppController, qtbot: Any
) -> None:
    import time

    def script(seed: int, index: int, text: str) -> tuple[str, Any]:
        if seed < 2:  # two quick candidates
            return f"The answer is {ANSWERS[seed]}.", "eog"
        time.sleep(0.2)  # the others keep writing until Stop
        return f"Step {index + 1}: still working.\n\n", "delimiter"

    controller.window.show()
    c = controller.controls
    controller.runs._job = make_fake_job(script=script)
    c.problem.setPlainText("What is 2 + 5?")
    c.n.setValue(4)
    c.max_tokens.setValue(4000)
    assert controller.start_run()
    st = controller.runs.state
    qtbot.waitUntil(lambda: sum(x.finished for x in st.candidates.values()) == 2
                    and len(controller.window.candidates.cards) == 4, timeout=10_000)
    # Text has streamed, so the live counter is not 0.
    qtbot.waitUntil(lambda: "0 tokens" not in controller.window.answer.stats.text(),
                    timeout=2000)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=3000):
        qtbot.mouseClick(c.stop_button, Qt.MouseButton.LeftButton)
    assert st.selection is not None and st.selection.candidate in (0, 1)
    assert "Stopped early" in st.selection.reason
    cards = controller.window.candidates.cards
    for cid, card in cards.items():
        header = card.header.text()
        assert "writing" not in header
        if cid >= 2:
            assert "stopped" in header
    assert "chosen" in cards[st.selection.candidate].header.text()


def test_right_and_wrong_are_shown_against_the_reference(
    controller: AppController, qtbot: Any
) -> None:
    c = controller.controls
    controller.runs._job = make_fake_job()
    c.set_reference("What is 2 + 5?", "7")
    c.problem.setPlainText("What is 2 + 5?")
    assert c.reference_answer == "7" and "7" in c.reference.text()
    select(c.strategy, "best-of-n")
    c.n.setValue(6)
    with qtbot.waitSignal(controller.runs.run_ended, timeout=10_000):
        assert controller.start_run()
    qtbot.waitUntil(lambda: len(controller.window.candidates.cards) == 6, timeout=5000)
    st = controller.runs.state
    assert st.reference == "7" and st.chosen_correct() is True
    cards = controller.window.candidates.cards
    for cid, card in cards.items():
        mark = "✓ right" if ANSWERS[cid] == "7" else "✗ wrong"
        assert mark in card.header.text(), (cid, card.header.text())
    assert "✓ right" in controller.window.answer.answer.text()
    tree = controller.window.tree
    tree.rebuild()
    labels = [item.childItems()[0].text() for item in tree.items.values()
              if st.nodes[item.node_id].state == "finished"]
    assert any("✓" in t for t in labels) and any("✗" in t for t in labels)


def test_the_reference_clears_when_the_problem_changes(controller: AppController) -> None:
    c = controller.controls
    c.examples.setCurrentIndex(1)
    c.examples.activated.emit(1)
    assert c.reference_answer and "Reference answer" in c.reference.text()
    assert controller.build_request().reference == c.reference_answer
    c.problem.setPlainText("What is 40 + 2?")
    assert c.reference_answer == "" and c.reference.text() == ""
    assert controller.build_request().reference is None
