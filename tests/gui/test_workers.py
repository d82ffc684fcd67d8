"""Workers: exactly one of returned/errored, then finished; generators abort between yields."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from PySide6.QtCore import QThreadPool

from outthink.gui.workers import FunctionWorker, GeneratorWorker, engine_pool


def test_engine_pool_runs_one_job_at_a_time() -> None:
    assert engine_pool().maxThreadCount() == 1


def test_function_worker_signal_order(qtbot: Any) -> None:
    worker = FunctionWorker(lambda a, b: a + b, 2, b=3)
    results: list[object] = []
    worker.signals.returned.connect(results.append)
    sig = worker.signals
    with qtbot.waitSignals([sig.started, sig.returned, sig.finished], order="strict", timeout=5000):
        worker.start(QThreadPool.globalInstance())
    assert results == [5]


def test_function_worker_errors_never_escape(qtbot: Any) -> None:
    def boom() -> None:
        raise ValueError("nope")

    worker = FunctionWorker(boom)
    errors: list[object] = []
    returned: list[object] = []
    worker.signals.errored.connect(errors.append)
    worker.signals.returned.connect(returned.append)
    sig = worker.signals
    with qtbot.waitSignals([sig.started, sig.errored, sig.finished], order="strict", timeout=5000):
        worker.start(QThreadPool.globalInstance())
    assert isinstance(errors[0], ValueError) and returned == []


def test_generator_worker_emits_every_value(qtbot: Any) -> None:
    worker = GeneratorWorker(lambda n: iter(range(n)), 4)
    seen: list[object] = []
    worker.signals.yielded.connect(seen.append)
    with qtbot.waitSignal(worker.signals.finished, timeout=5000):
        worker.start(QThreadPool.globalInstance())
    assert seen == [0, 1, 2, 3]


def test_generator_worker_abort_closes_the_generator(qtbot: Any) -> None:
    gate = threading.Event()
    closed = threading.Event()

    def gen() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
                gate.wait(5)  # let the test abort after the first value
        finally:
            closed.set()

    worker = GeneratorWorker(gen)
    seen: list[object] = []
    worker.signals.yielded.connect(seen.append)
    returned: list[object] = []
    worker.signals.returned.connect(returned.append)

    def first(value: object) -> None:
        worker.abort()
        gate.set()

    worker.signals.yielded.connect(first)
    with qtbot.waitSignal(worker.signals.finished, timeout=5000):
        worker.start(QThreadPool.globalInstance())
    assert closed.is_set() and returned == [None]
    assert len(seen) <= 2  # stopped at the next yield, not at the end

