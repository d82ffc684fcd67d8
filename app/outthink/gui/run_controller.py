"""Runs a search for the window: model loading and the event stream, off the GUI thread.

:func:`run_job` is a plain generator that runs on the engine worker thread: it resolves the
policy (:func:`~outthink.resolve.resolve_policy`, as the CLI does), loads it (or reuses the
cached one), builds the verifier (:func:`~outthink.resolve.build_verifier`) and then yields the
core's events from :func:`~outthink.search.runner.solve`. Whatever fails before the search starts is
turned into a ``RunFailed`` event, so the GUI has one error path: the stream.

:class:`RunController` lives on the GUI thread. It receives every event through a queued
signal and applies them in batches: at most every :data:`FLUSH_MS` (token events of many
candidates arrive hundreds of times a second; repainting cards for each would flood the GUI),
at once for the events that end a run.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from outthink.config import Settings
from outthink.errors import Cancelled, OutthinkError, describe
from outthink.events import Event, RunFailed, RunFinished
from outthink.generation import CancelToken
from outthink.gui.runstate import Changes, RunState
from outthink.gui.workers import FunctionWorker, GeneratorWorker, Status, engine_pool, io_pool
from outthink.search.config import SearchConfig
from outthink.thinking import REASONING_DEFAULTS

log = logging.getLogger(__name__)

#: Longest time an event waits before the views see it (also the repaint rate during a run).
FLUSH_MS = 50
#: Delay between Run and the worker's start (see RunController.start).
LAUNCH_DELAY_MS = 50


@dataclass(frozen=True, slots=True)
class RunRequest:
    problem: str
    policy: str  # catalog id or .gguf path
    verifier: str  # verifier kind or catalog verifier id
    cfg: SearchConfig
    settings: Settings
    verifier_model: str | None = None
    #: The problem's reference answer (an example's): each finished answer is graded against it.
    reference: str | None = None
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def threads(self) -> int | None:
        return self.settings.threads or None

    @property
    def gpu_layers(self) -> int:
        return self.settings.gpu_layers


class ModelCache:
    """The loaded policy model, kept between runs with the same file and settings.

    Used only from the engine worker thread (one thread: loads, runs and closes never
    overlap). Switching to another model closes the old one first, so two never sit in memory
    together.
    """

    def __init__(self, loader: Callable[..., Any] | None = None) -> None:
        self._loader = loader
        self._key: tuple[str, int, int, int] | None = None
        self._model: Any = None
        self.loads = 0

    def get(self, path: Path, gpu_layers: int) -> Any:
        st = path.stat()
        # Size and mtime in the key: a file replaced on disk (re-downloaded) is loaded again.
        key = (str(path.resolve()), int(gpu_layers), st.st_size, st.st_mtime_ns)
        if key == self._key and self._model is not None:
            return self._model
        self.close()
        loader = self._loader
        if loader is None:
            from outthink.engine import Model

            loader = Model
        self._model = loader(path, n_gpu_layers=gpu_layers)
        self._key = key
        self.loads += 1
        return self._model

    @property
    def loaded_path(self) -> str | None:
        return self._key[0] if self._key else None

    def close(self) -> None:
        if self._model is not None:
            try:
                self._model.close()
            finally:
                self._model = None
                self._key = None


def _finding_message(req: RunRequest) -> str:
    """The first status line; says so when the starter model is assembled on first use."""
    from outthink.starter import STARTER_ID

    if req.policy == STARTER_ID:
        try:
            import outthink.catalog as catalog

            entry = catalog.load_catalog(req.settings).get(STARTER_ID)
            if catalog.model_status(entry, req.settings).state == "available":
                return "Preparing the starter model (first use, a few seconds)…"
        except OutthinkError:
            pass  # resolving it next will report the problem
    return "Finding the policy model…"


def run_job(
    req: RunRequest, cache: ModelCache, cancel: CancelToken
) -> Iterator[Event | Status]:
    """Everything a run does off the GUI thread; ends with RunFinished or RunFailed."""
    from outthink.resolve import build_verifier, preflight, resolve_policy
    from outthink.search.runner import solve

    loaded: list[Any] = []
    try:
        yield Status(_finding_message(req))
        choice = resolve_policy(req.policy, req.settings)
        cfg = req.cfg
        if choice.thinks(cfg.thinking) and not cfg.min_step_tokens:
            # a reasoning model's short paragraphs of self-talk make a step together
            cfg = cfg.with_(min_step_tokens=REASONING_DEFAULTS["min_step_tokens"])
        preflight(choice, req.problem, cfg, req.settings)  # before loading anything
        if cancel.cancelled:
            raise Cancelled()
        yield Status(f"Loading {choice.label}…")
        policy = cache.get(choice.path, req.gpu_layers)
        yield Status(f"Preparing the {req.verifier} verifier…")
        verifier, loaded = build_verifier(
            req.verifier,
            req.settings,
            model=req.verifier_model,
            threads=req.threads or None,
            gpu_layers=req.gpu_layers,
            cancel=cancel,
        )
        if cancel.cancelled:
            raise Cancelled()
    except Cancelled:
        yield RunFinished({}, cancelled=True)
        return
    except OutthinkError as exc:
        log.info("Run could not start: %s", exc)
        yield RunFailed(exc.message, exc.hint)
        return
    except Exception as exc:  # a bug: report it in the stream like any other failure
        log.exception("Run could not start")
        yield RunFailed(describe(exc))
        return
    try:
        yield Status("Running…")
        yield from solve(
            req.problem,
            policy,
            verifier,
            cfg,
            prompt_format=choice.prompt_format,
            threads=req.threads,
            cancel=cancel,
            run_info={"policy": choice.label, **req.run_info},
            n_ctx=req.settings.context_size,
        )
    finally:
        verifier.close()  # its context goes before its model
        for model in loaded:  # verifier models: loaded per run (the policy is the cached one)
            model.close()


def _graded_job(
    job: Callable[..., Iterator[Any]], req: RunRequest, cache: ModelCache, cancel: CancelToken
) -> Iterator[Any]:
    """The job's stream with each finished answer graded against the reference (on the
    engine thread: comparing answers can take a moment)."""
    from outthink.search.grading import graded

    yield from graded(job(req, cache, cancel), req.reference)


def _first_candidates(cfg: SearchConfig) -> int:
    """How many candidates the strategy starts with (N after its own adjustments)."""
    from outthink.search.strategies import get_strategy

    try:
        return get_strategy(cfg.strategy).prepare(cfg).n
    except (OutthinkError, ValueError, TypeError):
        return 0


def warm_up() -> None:
    """Import what a run needs before the first run, on the engine thread.

    The first run would otherwise spend a second or more importing the run assembly, the
    native llama.cpp library and math-verify (sympy and an ANTLR grammar, first used when
    the answers are grouped). Imports execute Python code that competes with the GUI thread
    for the GIL; done while the user is still typing the problem, nobody notices.
    """
    import importlib

    from outthink import engine
    from outthink.answers import answers_equivalent

    for module in ("outthink.resolve", "outthink.search.runner"):
        importlib.import_module(module)
    engine._llama()
    answers_equivalent("\\frac{1}{2}", "0.5")


class RunController(QObject):
    """Starts and stops runs; owns the run's state and event record."""

    busy_changed = Signal(bool)
    status = Signal(str)
    updated = Signal(object)  # Changes
    failed = Signal(str, str)  # message, hint: the one error path
    run_ended = Signal(str)  # final status: finished, cancelled, failed
    reranked = Signal()  # a finished run was ranked again (its events grew)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        job: Callable[..., Any] = run_job,
        warm: bool = True,
    ) -> None:
        super().__init__(parent)
        self.state = RunState()
        self.events: list[Event] = []
        self.cache = ModelCache()
        self._job = job
        self._worker: GeneratorWorker | None = None
        self._cancel: CancelToken | None = None
        self._pending: list[Event] = []
        self._arrivals: list[float] = []  # when each pending event arrived (timing per candidate)
        self._reported = False
        self._closing = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)
        self.warmed = not warm
        if warm:
            self._warm = FunctionWorker(warm_up)
            self._warm.signals.errored.connect(
                lambda exc: log.warning("Warm-up failed (the first run will say why): %s", exc)
            )
            self._warm.signals.finished.connect(self._on_warmed)
            self._warm.start(engine_pool())

    # ------------------------------------------------------------------ commands

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def start(self, req: RunRequest) -> bool:
        """Start a run; False (and nothing happens) while another one is going."""
        if self.busy:
            return False
        self.state.reset()
        self.events = []
        self._pending = []
        self._arrivals = []
        self._reported = False
        self._cancel = CancelToken()
        worker = GeneratorWorker(_graded_job, self._job, req, self.cache, self._cancel)
        worker.signals.yielded.connect(self._on_item)
        worker.signals.errored.connect(self._on_error)
        worker.signals.finished.connect(self._on_finished)
        self._worker = worker
        self.busy_changed.emit(True)
        self.updated.emit(Changes(started=True, expected=_first_candidates(req.cfg)))
        # Start the worker once the new cards are laid out and painted. Painting new widgets
        # calls into Python hundreds of times (PySide checks every virtual call for a Python
        # override, under the GIL); done while the worker parses the model's header in pure
        # Python, each of those calls waits for the GIL, and the first paint took a fifth of a
        # second instead of a few milliseconds. Nobody notices a model loading 50 ms later.
        QTimer.singleShot(LAUNCH_DELAY_MS, self._launch)
        return True

    def _launch(self) -> None:
        if self._worker is not None and not self._closing:
            self._worker.start(engine_pool())

    def stop(self) -> None:
        """Stop the run: the engine notices within one decode step; results are kept."""
        if self._cancel is not None:
            self._cancel.cancel()
            self.status.emit("Stopping…")

    def rerank(self, rule: str, agg: str) -> bool:
        """Rank the finished run again under ``rule`` and ``agg`` (off the GUI thread: answers
        are compared with math-verify); the views update when it is done. False when there is
        no finished run to rank."""
        st = self.state
        if self.busy or st.status not in ("finished", "cancelled") or not st.candidates:
            return False
        worker = FunctionWorker(st.reranked, rule, agg)
        run = id(st.selection), len(self.events)

        def done(result: tuple[dict[int, float], Any]) -> None:
            if self.busy or (id(st.selection), len(self.events)) != run:
                return  # a new run (or another re-rank) came first
            aggregates, selection = result
            for cid, value in aggregates.items():
                st.candidates[cid].aggregate = value
            changes = Changes(candidates=set(st.candidates), tree=True, selection=True)
            if selection is not None:
                self.events.append(selection)
                changes.merge(st.apply(selection))
            self.updated.emit(changes)
            self.reranked.emit()

        worker.signals.returned.connect(done)
        worker.signals.errored.connect(lambda exc: self.failed.emit(describe(exc), ""))
        self._rerank_worker = worker  # kept alive until it reports
        worker.start(io_pool())
        return True

    def load_events(self, events: list[Event]) -> None:
        """Show a saved run (File → Open run)."""
        if self.busy:
            return
        self.state.reset()
        self.events = list(events)
        changes = self.state.apply_all(self.events)
        changes.started = True
        self.updated.emit(changes)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop any run, wait for the engine thread, free the model (window closing)."""
        self._closing = True
        if self._cancel is not None:
            self._cancel.cancel()
        if self._worker is not None:
            self._worker.abort()
        engine_pool().waitForDone(timeout_ms)
        # The cache is only touched on the engine thread; it is idle now, so closing here is
        # safe. It runs as a job anyway when the thread did not finish in time.
        if engine_pool().activeThreadCount() == 0:
            self.cache.close()

    # ------------------------------------------------------------------ worker signals

    def _on_warmed(self) -> None:
        self.warmed = True
        # Everything imported so far (Qt wrappers, sympy, llama.cpp bindings: about a million
        # objects) lives as long as the app. Freezing moves it out of the collector's sight:
        # a full collection during a run otherwise scanned it all, stalling whichever thread
        # triggered it (the GUI thread included) for over 100 ms.
        gc.freeze()

    def _on_item(self, item: object) -> None:
        if isinstance(item, Status):
            self.status.emit(item.text)
            return
        if not isinstance(item, Event):  # pragma: no cover - the job yields nothing else
            return
        self.events.append(item)
        self._pending.append(item)
        self._arrivals.append(time.perf_counter())
        if isinstance(item, RunFinished | RunFailed):
            self.flush()  # a run's end is shown at once
        elif not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        self._flush_timer.stop()
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        arrivals, self._arrivals = self._arrivals, []
        changes = self.state.apply_all(batch, arrivals)
        self.updated.emit(changes)
        for ev in batch:
            if isinstance(ev, RunFailed):
                self._report(ev.error, ev.hint)
            elif isinstance(ev, RunFinished):
                self.status.emit(
                    "Stopped: the results so far are kept." if ev.cancelled else "Done."
                )

    def _on_error(self, exc: object) -> None:
        # Only a bug in the job can get here (run_job turns every failure into RunFailed).
        log.error("Run worker failed", exc_info=exc if isinstance(exc, BaseException) else None)
        message = describe(exc) if isinstance(exc, BaseException) else str(exc)
        self._report(message, "")

    def _report(self, message: str, hint: str) -> None:
        if self._reported:  # one error per run, shown once
            return
        self._reported = True
        self.status.emit("Failed.")
        self.failed.emit(message, hint)

    def _on_finished(self) -> None:
        self.flush()
        self._worker = None
        self._cancel = None
        if self.state.status in ("running", "idle"):
            # The stream ended without RunFinished (the worker errored or was aborted).
            self.state.status = "failed" if self._reported else "cancelled"
        self.busy_changed.emit(False)
        self.run_ended.emit(self.state.status)
