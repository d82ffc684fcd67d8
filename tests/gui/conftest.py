"""GUI test support: the app built against isolated folders, and fake runs without a model.

:func:`fake_job` stands in for :func:`outthink.gui.run_controller.run_job`: it drives the real
strategies through :func:`outthink.search.runner.run_search` with the scripted
:class:`tests.fakes.FakeGenerator`, so cards, tree and chart get a real event stream in
milliseconds. ``step_delay`` slows every step down (on the worker thread), for Stop tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from outthink.config import Settings
from outthink.events import Event
from outthink.generation import CancelToken, StopReason
from outthink.gui.run_controller import ModelCache, RunRequest
from outthink.prompts import Prompt
from outthink.search.config import SearchConfig
from outthink.search.runner import run_search
from outthink.verifiers.base import StatelessSession, StepRecord
from tests.fakes import FakeGenerator, Script

PROMPT = Prompt("Problem: x\nSolution:", "completion", has_bos=False, end_markers=("Problem:",))

#: candidate seed -> final answer
ANSWERS = {0: "5", 1: "7", 2: "7", 3: "\\frac{1}{2}", 4: "7", 5: "9"}


class TableVerifier:
    """Scores each step of candidate c with table[c] (default 0.5): tests pick the winner."""

    name = "table"
    informative = True

    def __init__(self, table: Mapping[int, float] | None = None) -> None:
        self.table = dict(table or {})

    def open(self, problem: str) -> StatelessSession:
        table = self.table

        class Session(StatelessSession):
            def score_step(self, candidate: int, step: StepRecord) -> float:
                return table.get(candidate, 0.3 + 0.1 * (candidate % 5))

        return Session(problem)


def answer_script(answers: Mapping[int, str], steps: int = 2, delay: float = 0.0) -> Script:
    def script(seed: int, index: int, text: str) -> tuple[str, StopReason]:
        if delay:
            time.sleep(delay)  # on the worker thread: a slow "model"
        if index < steps:
            return f"Step {index + 1}: we compute 2 + {seed} = {2 + seed}.\n\n", "delimiter"
        return f"The answer is {answers.get(seed % 6, '0')}.", "eog"

    return script


def make_fake_job(
    *,
    script: Script | None = None,
    verifier: Any = None,
    step_delay: float = 0.0,
    started: threading.Event | None = None,
) -> Callable[[RunRequest, ModelCache, CancelToken], Iterator[Event]]:
    def job(req: RunRequest, cache: ModelCache, cancel: CancelToken) -> Iterator[Event]:
        gen = FakeGenerator(script or answer_script(ANSWERS, delay=step_delay), cancel=cancel)
        if started is not None:
            started.set()
        yield from run_search(
            req.problem,
            PROMPT,
            req.cfg,
            make_generator=lambda _cfg: gen,
            verifier=verifier or TableVerifier(),
            cancel=cancel,
        )

    return job


def request(cfg: SearchConfig | None = None, problem: str = "What is 2 + 5?") -> RunRequest:
    return RunRequest(problem, "fake", "table", cfg or SearchConfig(n=4), Settings())


@pytest.fixture
def controller(qtbot: Any) -> Iterator[Any]:
    """The whole app (window and controllers) on isolated folders; closed afterwards."""
    from outthink.gui.app_controller import AppController

    app = AppController(Settings())
    qtbot.addWidget(app.window)
    yield app
    app.runs.stop()
    app.shutdown()
