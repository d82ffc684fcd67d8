"""Soak: many runs in one process, checking that memory, threads and open files stay flat.

Runs a fixed schedule of searches one after the other: the strategies in turn (Best-of-N,
greedy, beam search, DVTS, adaptive), some stopped midway (the cancel token is set from the
event stream after a few events, as Ctrl-C or Stop would), switching models between runs
(two tiny random models written here, and every tenth run the starter model), now and then
with a model-based verifier. Two ways in:

- ``core``: the calls ``outthink solve`` makes (resolve the policy, check the file, the
  context and memory, build the verifier, load, :func:`outthink.search.runner.solve`, close);
- ``gui``: the desktop app's window and run controller (offscreen Qt), driven as a user
  would: pick the strategy, budget and model, Run, and Stop for the runs stopped midway.

The process's resident memory, OS threads and open file descriptors are measured before the
first run, after the warm-up runs (imports, caches, the first model loads) and after the last.
The script exits 1 when any of them grew after the warm-up by more than the tolerances
(``--rss-mib``, ``--threads``, ``--fds``), and prints the figures either way. Every folder
(data, config, cache, logs, models) is a temporary one, removed at the end (``--keep`` keeps
it); the starter model is assembled there from its package.

    python benchmarks/soak.py [--runs 50] [--mode core|gui|both] [--warmup 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))
sys.path.insert(1, str(ROOT))  # tests/tiny_gguf.py writes the tiny models

STRATEGIES = ("best-of-n", "greedy", "beam", "dvts", "adaptive")
PROBLEMS = (
    "Tom has 3 apples and buys 5 more. How many apples does he have?",
    "What is 12 + 30?",
    "A box holds 6 eggs. How many eggs are in 4 boxes?",
)
#: Events before a run that is stopped midway is stopped (core; the GUI stops at its first
#: repaint after the run started).
STOP_AFTER = 6


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Sample:
    rss_kib: int
    threads: int
    fds: int

    def line(self) -> str:
        return f"RSS {self.rss_kib / 1024:7.1f} MiB, {self.threads:3d} threads, {self.fds:3d} fds"


def measure() -> Sample:
    """Resident memory, OS threads (llama.cpp's and Qt's included) and open descriptors."""
    gc.collect()
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(
            line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
        )
        rss = int(fields["VmRSS"].split()[0])
        threads = int(fields["Threads"])
    else:  # not Linux
        import psutil  # type: ignore[import-not-found]

        proc = psutil.Process()
        rss, threads = proc.memory_info().rss // 1024, proc.num_threads()
    fd_dir = Path("/proc/self/fd")
    if fd_dir.exists():
        fds = len(os.listdir(fd_dir)) - 1  # the listing's own descriptor
    else:
        import psutil  # type: ignore[import-not-found]

        fds = psutil.Process().num_fds()
    return Sample(rss, threads, fds)


# --------------------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class RunSpec:
    index: int
    strategy: str
    policy: Path
    policy_label: str
    n: int
    max_tokens: int
    problem: str
    stop_midway: bool
    verifier: str = "self-certainty"
    verifier_model: Path | None = None


@dataclass(frozen=True)
class Models:
    tiny: Path
    tiny_chat: Path
    starter: Path | None


def schedule(runs: int, models: Models, *, model_verifier: bool) -> list[RunSpec]:
    """The same runs every time. The starter model serves every tenth run from the 3rd: its
    first load is part of the warm-up (the allocator keeps the heap its first run grew, about
    50 MiB, for later runs to reuse), and neither the warm-up's last run nor the final one
    uses it, so both measurements follow a tiny-model run."""
    specs = []
    for i in range(runs):
        starter = models.starter is not None and i % 10 == 2 and i < runs - 2
        if starter:
            assert models.starter is not None
            policy, label = models.starter, "starter"
        elif i % 2:
            policy, label = models.tiny_chat, "tiny-chat"
        else:
            policy, label = models.tiny, "tiny"
        verifier, verifier_model = "self-certainty", None
        if model_verifier and i % 7 == 5 and not starter:
            verifier, verifier_model = "prm-math-shepherd", models.tiny_chat
        specs.append(
            RunSpec(
                index=i,
                strategy=STRATEGIES[i % len(STRATEGIES)],
                policy=policy,
                policy_label=label,
                n=1 + i % 4,
                max_tokens=24 if starter else 16 + 8 * (i % 5),  # at most 48
                problem=PROBLEMS[i % len(PROBLEMS)],
                stop_midway=i % 4 == 3,
                verifier=verifier,
                verifier_model=verifier_model,
            )
        )
    return specs


# --------------------------------------------------------------------------- core runs


def core_run(spec: RunSpec) -> tuple[str, int]:
    """One run the way ``outthink solve`` makes it; returns (final status, events seen)."""
    from outthink.config import load_settings
    from outthink.engine import Model
    from outthink.events import RunFailed, RunFinished
    from outthink.generation import CancelToken
    from outthink.resolve import build_verifier, natural_aggregation, preflight, resolve_policy
    from outthink.search.config import SearchConfig
    from outthink.search.runner import solve

    settings = load_settings()
    cfg = SearchConfig(
        strategy=spec.strategy,
        n=spec.n,
        max_tokens=spec.max_tokens,
        seed=spec.index,
        agg=natural_aggregation(spec.verifier, settings),
    ).validate()
    choice = resolve_policy(str(spec.policy), settings)
    preflight(choice, spec.problem, cfg, settings)  # before loading anything
    cancel = CancelToken()
    verifier, loaded = build_verifier(
        spec.verifier,
        settings,
        model=str(spec.verifier_model) if spec.verifier_model else None,
        cancel=cancel,
    )
    try:
        policy = Model(choice.path)
    except BaseException:
        verifier.close()
        for m in loaded:
            m.close()
        raise
    loaded.append(policy)
    count, last = 0, None
    stream = solve(
        spec.problem, policy, verifier, cfg, prompt_format=choice.prompt_format, cancel=cancel,
        run_info={"policy": choice.label},
    )
    try:
        for event in stream:
            count, last = count + 1, event
            if spec.stop_midway and count == STOP_AFTER:
                cancel.cancel()
    finally:
        stream.close()
        verifier.close()
        for m in loaded:
            m.close()
    if isinstance(last, RunFailed):
        return f"failed: {last.error}", count
    if isinstance(last, RunFinished):
        return "cancelled" if last.cancelled else "finished", count
    return "no end event", count


# --------------------------------------------------------------------------- GUI runs


class GuiDriver:
    """The app's window and controllers, driven through their widgets."""

    def __init__(self, models_dir: Path) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication

        from outthink.config import Settings
        from outthink.gui.app_controller import AppController

        self.qt = QApplication.instance() or QApplication([])
        self.app = AppController(Settings(models_dir=str(models_dir)))
        self.app.window.show()
        self.stop_at: int | None = None
        self.app.runs.updated.connect(self._on_updated)
        self.wait_until(lambda: self.app.runs.warmed, timeout=300)

    def _on_updated(self, _changes: Any) -> None:
        # A repaint batch: Stop once the run has produced events (a tiny model's whole run
        # takes a few batches, so waiting for STOP_AFTER events would often be too late).
        if self.stop_at is not None and len(self.app.runs.events) >= self.stop_at:
            self.stop_at = None
            self.app.window.stop_action.trigger()

    def wait_until(self, done: Callable[[], bool], timeout: float) -> None:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                raise TimeoutError("the app did not get there in time")
            self.qt.processEvents()
            time.sleep(0.005)

    def run(self, spec: RunSpec) -> tuple[str, int]:
        from outthink.gui.controls import select
        from outthink.starter import STARTER_ID

        c = self.app.controls
        index = c.strategy.findData(spec.strategy)
        c.strategy.setCurrentIndex(index)
        c.strategy.activated.emit(index)  # as a user's pick
        if spec.policy_label == "starter" and select(c.policy, STARTER_ID):
            pass  # the catalog's entry: its own prompt format
        else:
            c.add_policy_file(str(spec.policy))
        if c.n.isEnabled():
            c.n.setValue(spec.n)
        c.max_tokens.setValue(spec.max_tokens)
        c.seed.setValue(spec.index)
        c.problem.setPlainText(spec.problem)
        ended: list[str] = []
        self.app.runs.run_ended.connect(ended.append)
        self.stop_at = 2 if spec.stop_midway else None  # RunStarted and one more
        try:
            if not self.app.start_run():
                return f"not started: {self.app.window.statusBar().currentMessage()}", 0
            self.wait_until(lambda: bool(ended), timeout=600)
        finally:
            self.app.runs.run_ended.disconnect(ended.append)
            self.stop_at = None
        return ended[0], len(self.app.runs.events)

    def close(self) -> None:
        self.app.shutdown()
        self.app.window.close()
        self.qt.processEvents()


# --------------------------------------------------------------------------- the soak


@dataclass
class Tolerance:
    rss_mib: float
    threads: int
    fds: int


def soak(
    name: str,
    run: Callable[[RunSpec], tuple[str, int]],
    specs: list[RunSpec],
    warmup: int,
    tol: Tolerance,
) -> bool:
    print(f"\n== {name}: {len(specs)} runs, warm-up {warmup}", flush=True)
    before = measure()
    print(f"before           {before.line()}", flush=True)
    after_warmup = before
    statuses: dict[str, int] = {}
    t0 = time.perf_counter()
    for spec in specs:
        started = time.perf_counter()
        status, events = run(spec)
        kind = status.split(":")[0]
        statuses[kind] = statuses.get(kind, 0) + 1
        sample = measure()
        print(
            f"run {spec.index + 1:3d} {spec.strategy:<9} {spec.policy_label:<9} "
            f"n={spec.n} max={spec.max_tokens:<2} {spec.verifier:<17} "
            f"{'stop' if spec.stop_midway else '    '} -> {status:<10} {events:4d} events "
            f"{time.perf_counter() - started:5.1f} s | {sample.line()}",
            flush=True,
        )
        if spec.index + 1 == warmup:
            after_warmup = sample
    end = measure()
    grew_rss = (end.rss_kib - after_warmup.rss_kib) / 1024
    grew_threads = end.threads - after_warmup.threads
    grew_fds = end.fds - after_warmup.fds
    print(f"before           {before.line()}")
    print(f"after warm-up    {after_warmup.line()}")
    print(f"after {len(specs):3d} runs   {end.line()}")
    print(
        f"growth after warm-up: RSS {grew_rss:+.1f} MiB (tolerance {tol.rss_mib}), threads "
        f"{grew_threads:+d} (tolerance {tol.threads}), fds {grew_fds:+d} (tolerance {tol.fds})"
    )
    print(f"statuses: {statuses}; {time.perf_counter() - t0:.0f} s")
    ok = grew_rss <= tol.rss_mib and grew_threads <= tol.threads and grew_fds <= tol.fds
    unexpected = {k: v for k, v in statuses.items() if k not in ("finished", "cancelled")}
    if unexpected:
        print(f"runs that did not finish or stop: {unexpected}")
        ok = False
    print(f"{name}: {'OK' if ok else 'FAILED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5, help="runs before the reference figures")
    p.add_argument("--mode", choices=("core", "gui", "both"), default="both")
    p.add_argument("--no-starter", action="store_true", help="tiny models only")
    p.add_argument("--rss-mib", type=float, default=48.0, help="RSS growth allowed after warm-up")
    p.add_argument("--threads", type=int, default=1, help="thread growth allowed after warm-up")
    p.add_argument("--fds", type=int, default=2, help="fd growth allowed after warm-up")
    p.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = p.parse_args(argv)
    if args.runs <= args.warmup:
        p.error("--runs must be larger than --warmup")

    tmp = Path(tempfile.mkdtemp(prefix="outthink-soak-"))
    try:
        return _soak_in(tmp, args)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _soak_in(tmp: Path, args: argparse.Namespace) -> int:
    for folder in ("DATA", "CONFIG", "CACHE", "LOG"):
        os.environ[f"OUTTHINK_{folder}_DIR"] = str(tmp / folder.lower())
    models_dir = tmp / "models"
    os.environ["OUTTHINK_MODELS_DIR"] = str(models_dir)

    from tests.tiny_gguf import CHAT_TEMPLATE, write_tiny_model

    from outthink.config import Settings

    (tmp / "tiny").mkdir()
    # A trained context long enough for the few-shot prompt the plain tiny model gets.
    tiny = write_tiny_model(tmp / "tiny" / "tiny.gguf", context_length=8192)
    tiny_chat = write_tiny_model(
        tmp / "tiny" / "tiny-chat.gguf", chat_template=CHAT_TEMPLATE, seed=1,
        context_length=8192,
    )
    starter = None
    if not args.no_starter:
        from outthink.starter import starter_model_path

        t0 = time.perf_counter()
        starter = starter_model_path(Settings(models_dir=str(models_dir)))
        print(f"starter model assembled in {time.perf_counter() - t0:.1f} s: {starter}")
    models = Models(tiny, tiny_chat, starter)
    tol = Tolerance(args.rss_mib, args.threads, args.fds)
    print(f"Python threads now: {threading.active_count()}; folders under {tmp}")

    ok = True
    if args.mode in ("core", "both"):
        specs = schedule(args.runs, models, model_verifier=True)
        ok &= soak("core", core_run, specs, args.warmup, tol)
    if args.mode in ("gui", "both"):
        driver = GuiDriver(models_dir)
        try:
            specs = schedule(args.runs, models, model_verifier=False)
            ok &= soak("gui", driver.run, specs, args.warmup, tol)
        finally:
            driver.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
