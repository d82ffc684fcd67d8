"""The models manager against the fake Hub on 127.0.0.1 (tests/hub_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outthink.config import Settings, config_dir
from outthink.gui.models_dialog import ModelsController, ModelsDialog, progress_text
from outthink.hub import DownloadOptions, DownloadProgress
from tests.hub_server import FakeHub, catalog_entry, gguf_bytes

REPO = "org/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
FAST = DownloadOptions(retries=1, backoff_s=0.01, backoff_max_s=0.05, stall_s=2.0,
                       timeout_s=3.0, progress_interval_s=0.0)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        data = gguf_bytes(tmp_path / "src" / "tiny.gguf", payload_bytes=1 << 20)
        server.add_file(REPO, FILE, data)
        path = config_dir() / "models.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("schema = 1\n\n" + catalog_entry("tiny-test", REPO, FILE,
                                                         size=len(data)), encoding="utf-8")
        yield server


@pytest.fixture
def dialog(qtbot: Any) -> Iterator[ModelsDialog]:
    controller = ModelsController(Settings())
    controller.download_options = FAST
    dlg = ModelsDialog(controller)
    qtbot.addWidget(dlg)
    dlg.show()
    yield dlg
    controller.shutdown()


def status(dlg: ModelsDialog, model_id: str) -> str:
    return str(dlg.controller.status(model_id).state)


def test_catalog_table_lists_roles_sizes_and_state(dialog: ModelsDialog, hub: FakeHub) -> None:
    dialog.controller.refresh()
    model = dialog.controller.model
    ids = [st.entry.id for st in model.rows]
    assert "gemma-3-270m" in ids and "tiny-test" in ids
    row = model.row_of("tiny-test")
    cells = [model.index(row, col).data() for col in range(model.columnCount())]
    assert cells[1] == "Solves problems" and cells[2] == "1.0 MiB"
    assert cells[model.STATUS] == "not downloaded"
    starter = model.row_of("gemma-3-270m")
    assert model.index(starter, model.RAM).data() != "–"  # RAM needed is shown


def test_download_shows_progress_and_installs(dialog: ModelsDialog, hub: FakeHub,
                                              qtbot: Any) -> None:
    hub.throttle_s = 0.01  # 64 pieces of 16 KiB: about 0.6 s, long enough to watch
    dialog.controller.refresh()
    dialog.select_model("tiny-test")
    assert dialog.download_button.isEnabled()
    seen: list[DownloadProgress] = []
    dialog.controller.model.dataChanged.connect(
        lambda *_: seen.append(dialog.controller.model.progress.get("tiny-test"))
    )
    values: list[int] = []
    dialog.controller.model.dataChanged.connect(lambda *_: values.append(dialog.progress.value()))
    dialog.download_button.click()
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    qtbot.waitUntil(lambda: status(dialog, "tiny-test") == "present", timeout=15_000)
    assert any(p is not None and p.state == "downloading" for p in seen)
    assert any(0 < v < 1000 for v in values), "the progress bar moved"
    texts = [progress_text(p) for p in seen if p is not None and p.state == "downloading"]
    assert any(" of 1.0 MiB" in t and "/s" in t for t in texts), texts
    assert "installed" in dialog.banner.message
    assert not dialog.cancel_button.isEnabled()
    assert dialog.delete_button.isEnabled()


def test_cancel_keeps_the_part_and_resume_finishes(dialog: ModelsDialog, hub: FakeHub,
                                                   qtbot: Any) -> None:
    hub.throttle_s = 0.02
    c = dialog.controller
    c.refresh()
    dialog.select_model("tiny-test")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: (p := c.model.progress.get("tiny-test")) is not None
                    and p.downloaded > 100_000, timeout=15_000)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: "tiny-test" not in c.active, timeout=5000)
    assert status(dialog, "tiny-test") == "partial"
    assert "resume" in (dialog.banner.message + dialog.banner.hint).lower()
    dialog.select_model("tiny-test")
    assert dialog.download_button.text() == "Resume download"
    hub.throttle_s = 0.0
    dialog.download_button.click()
    qtbot.waitUntil(lambda: status(dialog, "tiny-test") == "present", timeout=15_000)
    gets = hub.requests("GET", FILE)
    assert gets[-1].range is not None and gets[-1].range.startswith("bytes=")


def test_hub_unreachable_is_explained(dialog: ModelsDialog, hub: FakeHub, qtbot: Any) -> None:
    hub.fail(FILE, 404, times=None)
    hub.fail(REPO, 404, times=None)
    c = dialog.controller
    c.refresh()
    dialog.select_model("tiny-test")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "tiny-test" not in c.active, timeout=15_000)
    assert dialog.banner.level == "error" and dialog.banner.hint
    assert status(dialog, "tiny-test") == "missing"


def test_network_down_is_explained(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    path = config_dir() / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("schema = 1\n\n" + catalog_entry("tiny-test", REPO, FILE, size=1000),
                    encoding="utf-8")
    controller = ModelsController(Settings())
    controller.download_options = FAST
    dlg = ModelsDialog(controller)
    qtbot.addWidget(dlg)
    dlg.select_model("tiny-test")
    dlg.download_button.click()
    qtbot.waitUntil(lambda: "tiny-test" not in controller.active, timeout=20_000)
    assert dlg.banner.level == "error"
    assert "network" in dlg.banner.message.lower() or "connect" in dlg.banner.message.lower()
    assert dlg.banner.hint
    controller.shutdown()


def test_offline_mode_downloads_nothing(qtbot: Any, hub: FakeHub) -> None:
    controller = ModelsController(Settings(offline=True))
    dlg = ModelsDialog(controller)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.select_model("tiny-test")
    assert dlg.offline_note.isVisible()
    assert not dlg.download_button.isEnabled()
    assert controller.download("tiny-test") is False
    assert "Offline" in dlg.banner.message
    assert hub.log == []


def test_import_and_delete_a_local_file(dialog: ModelsDialog, qtbot: Any,
                                        tmp_path: Path) -> None:
    src = tmp_path / "my-model.gguf"
    src.write_bytes(gguf_bytes(tmp_path / "gen" / "m.gguf", payload_bytes=64 * 1024))
    c = dialog.controller
    changed: list[bool] = []
    c.changed.connect(lambda: changed.append(True))
    dialog.import_file(str(src))
    qtbot.waitUntil(lambda: c.status("my-model") is not None, timeout=10_000)
    assert c.status("my-model").present and changed
    assert "Imported" in dialog.banner.message
    asked: list[str] = []
    c.confirm = lambda text: asked.append(text) or True
    dialog.select_model("my-model")
    assert dialog.delete_button.isEnabled()
    dialog.delete_button.click()
    assert len(asked) == 1 and "Delete" in asked[0]
    assert c.status("my-model") is None
    assert src.exists()  # imported in place: forgotten, never deleted


def test_controller_outlives_a_closed_dialog(qtbot: Any, hub: FakeHub) -> None:
    controller = ModelsController(Settings())
    dlg = ModelsDialog(controller)
    dlg.show()
    dlg.accept()
    with qtbot.waitSignal(dlg.destroyed, timeout=2000):
        dlg.deleteLater()
    controller.refresh()
    controller.model.set_progress("tiny-test", None)  # would reach a deleted dialog
    assert controller.confirm("Delete?") is True
    controller.shutdown()
