"""A step the verifier had nothing to check is marked so (shown "n/a"), not as a 0.50 score."""

from __future__ import annotations

from typing import Any

from outthink.events import StepScored
from outthink.search.config import SearchConfig
from outthink.search.runner import run_search
from outthink.search.summary import summarize
from outthink.verifiers.calculator import CalculatorVerifier
from tests.fakes import FakeGenerator
from tests.gui.conftest import PROMPT


def _script(seed: int, index: int, text: str) -> tuple[str, Any]:
    steps = [
        "Let us think about the boxes.\n\n",  # nothing to check
        "7 * 12 = 84.\n\n",
        "The answer is 84.",
    ]
    return steps[index], "eog" if index == 2 else "delimiter"


def _events() -> list[Any]:
    gen = FakeGenerator(_script)
    return list(
        run_search(
            "A box holds 12 pencils. How many pencils are in 7 boxes?",
            PROMPT,
            SearchConfig(n=1, agg="min"),
            make_generator=lambda _cfg: gen,
            verifier=CalculatorVerifier(),
        )
    )


def test_steps_without_arithmetic_are_unchecked_and_keep_a_neutral_value() -> None:
    scored = [e for e in _events() if isinstance(e, StepScored)]
    assert [e.checked for e in scored] == [False, True, True]
    assert [e.score for e in scored] == [0.5, 0.9, 0.9]
    assert type(scored[0].score) is float  # a plain float in the event (JSON as before)


def test_the_summary_marks_only_unchecked_steps() -> None:
    (cand,) = summarize(_events())["candidates"]
    assert [s.get("checked", True) for s in cand["steps"]] == [False, True, True]
    assert "checked" not in cand["steps"][1]


def test_cards_show_unchecked_steps_as_n_a_in_grey(qtbot: Any) -> None:
    from outthink.gui import theme
    from outthink.gui.candidates import StepWidget
    from outthink.gui.runstate import RunState

    st = RunState()
    for ev in _events():
        st.apply(ev)
    first, second = st.path(0)[:2]
    widget = StepWidget(first, 0, False)
    qtbot.addWidget(widget)
    widget.update_node(first)
    assert widget.badge.text() == "n/a"
    assert widget._bg == theme.score_color(None)
    other = StepWidget(second, 0, False)
    qtbot.addWidget(other)
    other.update_node(second)
    assert other.badge.text() == theme.fmt_score(0.9)
