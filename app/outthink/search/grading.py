"""Right or wrong: each finished candidate's answer against a reference answer.

:func:`graded` passes a run's events through and adds an :class:`AnswerGraded` after every
finished candidate, so everything that reads the stream (the GUI's cards and answer panel,
``solve --json``) can show correctness without comparing answers itself. The comparison
(:func:`outthink.answers.is_correct`, math-verify) can take milliseconds to a second, so it
runs where the events are produced (the engine thread), once per distinct answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from outthink.answers import is_correct
from outthink.events import AnswerGraded, CandidateFinished

T = TypeVar("T")


def graded(
    events: Iterable[T],
    reference: str | None,
    grade: Callable[[str | None, str], bool] = is_correct,
) -> Iterator[T | AnswerGraded]:
    """``events`` with an ``AnswerGraded`` after each finished candidate; unchanged when
    there is no reference."""
    if not reference or not reference.strip():
        yield from events
        return
    verdicts: dict[str | None, bool] = {}
    for ev in events:
        yield ev
        if isinstance(ev, CandidateFinished):
            if ev.answer not in verdicts:
                verdicts[ev.answer] = ev.answer is not None and grade(ev.answer, reference)
            yield AnswerGraded(ev.candidate, ev.answer, reference, verdicts[ev.answer])
