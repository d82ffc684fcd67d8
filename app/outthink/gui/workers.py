"""Run core work off the GUI thread, superqt-style.

A worker is a :class:`QRunnable` holding its signals in a separate :class:`WorkerSignals`
QObject (composition: a QRunnable is not a QObject). ``run()`` is fixed and always ends in
exactly one of ``returned`` / ``errored``, then ``finished``; no exception escapes the thread.
A :class:`GeneratorWorker` emits every yielded value through ``yielded`` and checks its abort
flag between yields (an abort closes the generator, so its ``finally`` blocks run on the
worker thread, and then counts as ``returned(None)``).

The signals object is created on the GUI thread, so connections to GUI objects are queued:
slots run on the GUI thread, in emission order.

Pools: :func:`engine_pool` has one thread, so llama.cpp work (loading, decoding) is
serialised: two contexts must never decode at once (docs/engine.md), and a model is never closed
while another job uses it. Network and file work (downloads, imports) go to :func:`io_pool`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Status:
    """A progress line a job yields for its status label (not a core event; never exported)."""

    text: str


_ENGINE_POOL: QThreadPool | None = None
_IO_POOL: QThreadPool | None = None
#: Workers alive until they finish: PySide would otherwise garbage-collect a queued runnable.
_LIVE: set[QRunnable] = set()


#: How long a thread running Python keeps the GIL when another thread waits for it
#: (CPython's default: 5 ms). The GUI thread needs the GIL for every event that reaches
#: Python. Measured with a worker parsing a GGUF header in pure Python (about 0.2 s): at 5 ms
#: and even at 0.5 ms a 10 ms GUI timer stalled for 50-190 ms, because the worker releases
#: the GIL for each buffered-file refill and takes it straight back, which resets the waiting
#: GUI thread's countdown; at 0.1 ms no stall went over 40 ms. A short interval costs nothing
#: while the GUI is idle: it only applies when a second thread is waiting.
GIL_SWITCH_INTERVAL_S = 0.0001


def _share_the_gil() -> None:
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def engine_pool() -> QThreadPool:
    global _ENGINE_POOL
    _share_the_gil()
    if _ENGINE_POOL is None:
        _ENGINE_POOL = QThreadPool()
        _ENGINE_POOL.setMaxThreadCount(1)
        _ENGINE_POOL.setObjectName("outthink-engine")
    return _ENGINE_POOL


def io_pool() -> QThreadPool:
    global _IO_POOL
    _share_the_gil()
    if _IO_POOL is None:
        _IO_POOL = QThreadPool()
        _IO_POOL.setMaxThreadCount(2)
        _IO_POOL.setObjectName("outthink-io")
    return _IO_POOL


class WorkerSignals(QObject):
    started = Signal()
    yielded = Signal(object)
    progress = Signal(object)  # for callbacks from inside a function (download progress)
    returned = Signal(object)
    errored = Signal(object)  # the exception
    finished = Signal()


class _Worker(QRunnable):
    def __init__(self) -> None:
        super().__init__()
        # Kept alive by _LIVE instead: Qt deleting the C++ side while Python still holds the
        # wrapper (or the other way round) is how PySide apps crash at exit.
        self.setAutoDelete(False)
        self.signals = WorkerSignals()
        self._abort = False

    def abort(self) -> None:
        """Ask the worker to stop at its next opportunity (between yields)."""
        self._abort = True

    @property
    def abort_requested(self) -> bool:
        return self._abort

    def start(self, pool: QThreadPool) -> None:
        _LIVE.add(self)
        self.signals.finished.connect(lambda: _LIVE.discard(self))
        pool.start(self)

    def run(self) -> None:
        self.signals.started.emit()
        try:
            result = self.work()
        except BaseException as exc:  # every error reaches the GUI through one signal
            log.debug("Worker failed", exc_info=True)
            self.signals.errored.emit(exc)
        else:
            self.signals.returned.emit(result)
        finally:
            self.signals.finished.emit()

    def work(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class FunctionWorker(_Worker):
    """Calls ``fn(*args, **kwargs)`` once; its result arrives through ``returned``."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs

    @classmethod
    def with_progress(cls, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> FunctionWorker:
        """A worker whose function gets ``progress=``, a callback that emits ``progress``
        (callable from the worker thread; the GUI receives it queued)."""
        worker = cls(fn, *args, **kwargs)
        worker._kwargs["progress"] = worker.signals.progress.emit
        return worker

    def work(self) -> Any:
        return self._fn(*self._args, **self._kwargs)


class GeneratorWorker(_Worker):
    """Iterates ``fn(*args, **kwargs)``, emitting each value through ``yielded``."""

    def __init__(self, fn: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs

    def work(self) -> Any:
        gen = self._fn(*self._args, **self._kwargs)
        try:
            for value in gen:
                self.signals.yielded.emit(value)
                if self._abort:
                    return None
        finally:
            if isinstance(gen, Generator):
                gen.close()
        return None
