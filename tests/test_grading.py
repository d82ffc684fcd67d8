"""Right or wrong against a reference answer, in the event stream and the JSON summary."""

from __future__ import annotations

from outthink.events import AnswerGraded, event_from_dict
from outthink.search.config import SearchConfig
from outthink.search.grading import graded
from outthink.search.runner import run_search
from outthink.search.summary import summarize
from tests.fakes import FakeGenerator
from tests.gui.conftest import ANSWERS, PROMPT, TableVerifier, answer_script


def _events(reference: str | None) -> list:
    gen = FakeGenerator(answer_script(ANSWERS))
    stream = run_search(
        "What is 2 + 5?",
        PROMPT,
        SearchConfig(n=6),
        make_generator=lambda _cfg: gen,
        verifier=TableVerifier(),
    )
    return list(graded(stream, reference))


def test_each_finished_answer_is_graded_once_per_answer() -> None:
    calls: list[str | None] = []

    def grade(answer: str | None, reference: str) -> bool:
        calls.append(answer)
        return answer == reference

    gen = FakeGenerator(answer_script(ANSWERS))
    events = list(
        graded(
            run_search("q", PROMPT, SearchConfig(n=6), make_generator=lambda _c: gen,
                       verifier=TableVerifier()),
            "7",
            grade,
        )
    )
    grades = {e.candidate: e.correct for e in events if isinstance(e, AnswerGraded)}
    assert grades == {c: ANSWERS[c] == "7" for c in range(6)}
    assert sorted(calls, key=str) == sorted(set(ANSWERS.values()), key=str)  # cached


def test_equivalent_spellings_count_as_right() -> None:
    events = _events("0.5")
    grades = {e.candidate: e.correct for e in events if isinstance(e, AnswerGraded)}
    assert grades[3] is True  # \frac{1}{2}
    assert grades[0] is False


def test_summary_reports_correctness_only_when_graded() -> None:
    plain = summarize(_events(None))
    assert "reference" not in plain and "correct" not in plain
    assert all("correct" not in c for c in plain["candidates"])

    summary = summarize(_events("7"))
    assert summary["reference"] == "7"
    assert summary["answer"] == "7" and summary["correct"] is True
    assert {c["id"]: c["correct"] for c in summary["candidates"]} == {
        c: ANSWERS[c] == "7" for c in range(6)
    }


def test_graded_events_round_trip_through_json() -> None:
    ev = AnswerGraded(2, "7", "7", True)
    assert event_from_dict(ev.to_dict()) == ev
