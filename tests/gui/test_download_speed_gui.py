"""The Models window shows each download's speed and time left in its row, readable in the
column, and how long it took and its mean speed when it is done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outthink.config import Settings, config_dir
from outthink.gui.models_dialog import ModelsController, ModelsDialog
from outthink.hub import DownloadOptions
from tests.hub_server import FakeHub, catalog_entry, gguf_bytes

REPO = "org/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        data = gguf_bytes(tmp_path / "src" / "tiny.gguf", payload_bytes=2 << 20)
        server.add_file(REPO, FILE, data)
        path = config_dir() / "models.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("schema = 1\n\n" + catalog_entry("a-model-with-a-long-id", REPO, FILE,
                                                         size=len(data)), encoding="utf-8")
        yield server


def test_row_shows_speed_and_time_left_within_its_column(hub: FakeHub, qtbot: Any) -> None:
    hub.throttle_s = 0.01  # 128 pieces of 16 KiB: about 1.5 s
    controller = ModelsController(Settings())
    controller.download_options = DownloadOptions(progress_interval_s=0.0)
    dialog = ModelsDialog(controller)
    qtbot.addWidget(dialog)
    dialog.show()
    model = controller.model
    seen: list[str] = []
    tips: list[str] = []

    def record(*_args: object) -> None:
        row = model.row_of("a-model-with-a-long-id")
        cell = model.index(row, model.COLUMNS.index("Status"))
        if "a-model-with-a-long-id" in model.progress:
            seen.append(str(cell.data()))
            tips.append(str(cell.data(3)))  # ToolTipRole

    model.dataChanged.connect(record)
    dialog.select_model("a-model-with-a-long-id")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "a-model-with-a-long-id" not in controller.active, timeout=20_000)
    moving = [text for text in seen if "/s" in text and "left" in text]
    assert moving, seen
    width = dialog.table.horizontalHeader().sectionSize(model.COLUMNS.index("Status"))
    metrics = dialog.table.fontMetrics()
    padding = 12  # the cell's margins
    too_wide = [t for t in moving if metrics.horizontalAdvance(t) + padding > width]
    assert not too_wide, (width, too_wide)
    assert any(" of 2.0 MiB" in tip for tip in tips)  # the byte counts in the tooltip
    assert controller.status("a-model-with-a-long-id").state == "present"
    message = dialog.banner.message
    assert message.startswith("a-model-with-a-long-id is installed (2.0 MiB in 0:0"), message
    assert "/s on average" in message
    controller.shutdown()
