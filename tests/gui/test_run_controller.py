"""The run controller: model cache, loading off the GUI thread, event batching."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from outthink.config import Settings
from outthink.errors import ModelCorruptError
from outthink.events import RunFailed, TokensGenerated
from outthink.gui.run_controller import ModelCache, RunController, RunRequest
from outthink.search.config import SearchConfig
from tests.gui.conftest import make_fake_job, request


class FakeModel:
    def __init__(self, path: Path, *, n_gpu_layers: int = 0) -> None:
        self.path, self.gpu_layers = path, n_gpu_layers
        self.closed = False
        self.thread = threading.current_thread()

    def close(self) -> None:
        self.closed = True


def test_model_cache_reuses_and_switches(tmp_path: Path) -> None:
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(b"a")
    b.write_bytes(b"bb")
    cache = ModelCache(loader=FakeModel)
    first = cache.get(a, 0)
    assert cache.get(a, 0) is first and cache.loads == 1  # same file, same settings
    other = cache.get(b, 0)
    assert first.closed and not other.closed and cache.loads == 2  # switching closes first
    again = cache.get(b, 10)
    assert other.closed and again.gpu_layers == 10  # other GPU layers: loaded again
    b.write_bytes(b"changed on disk")
    assert cache.get(b, 10) is not again  # a replaced file is loaded again
    cache.close()
    assert cache.loaded_path is None


def test_models_load_on_the_engine_thread(qtbot: Any, tiny_model: Path,
                                          monkeypatch: Any) -> None:
    model_file = tiny_model  # a real GGUF header: the run checks the file before loading it
    loaded: list[FakeModel] = []

    def loader(path: Path, *, n_gpu_layers: int = 0) -> FakeModel:
        m = FakeModel(path, n_gpu_layers=n_gpu_layers)
        loaded.append(m)
        raise ModelCorruptError("stop here", hint="the test is over")

    runs = RunController(warm=False)
    runs.cache = ModelCache(loader=loader)
    req = RunRequest("What is 1 + 1?", str(model_file), "none", SearchConfig(n=2),
                     Settings())
    with qtbot.waitSignal(runs.run_ended, timeout=10_000) as ended:
        runs.start(req)
    assert ended.args == ["failed"]
    assert loaded and loaded[0].thread is not threading.main_thread()
    assert isinstance(runs.events[-1], RunFailed) and runs.events[-1].error == "stop here"


def test_token_events_reach_the_views_in_batches(qtbot: Any) -> None:
    runs = RunController(warm=False, job=make_fake_job())
    batches: list[Any] = []
    runs.updated.connect(batches.append)
    with qtbot.waitSignal(runs.run_ended, timeout=10_000):
        runs.start(request(SearchConfig(n=8)))
    tokens = sum(isinstance(e, TokensGenerated) for e in runs.events)
    assert tokens >= 24
    # Far fewer repaints than events: one per flush, not one per token event.
    assert len(batches) < len(runs.events) / 3
    assert runs.state.status == "finished"


def test_stop_before_anything_was_produced(qtbot: Any) -> None:
    started = threading.Event()
    runs = RunController(warm=False, job=make_fake_job(step_delay=0.5, started=started))
    with qtbot.waitSignal(runs.run_ended, timeout=10_000) as ended:
        runs.start(request())
        qtbot.waitUntil(started.is_set, timeout=5000)
        runs.stop()
    assert ended.args == ["cancelled"]
    assert runs.events[-1].cancelled  # type: ignore[attr-defined]
