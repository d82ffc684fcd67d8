"""The Models window with a Hub that cannot be reached: an error within seconds that says what
to do, and a button that opens the Settings dialog at the Hub mirror field."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from outthink.config import Settings, config_dir
from outthink.gui.models_dialog import ModelsController, ModelsDialog
from tests.hub_server import catalog_entry, closed_port_url

REPO = "org/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"


@pytest.fixture(autouse=True)
def unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> str:
    url = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", url)
    path = config_dir() / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("schema = 1\n\n" + catalog_entry("tiny-test", REPO, FILE, size=1000),
                    encoding="utf-8")
    return url


def start_download(dialog: ModelsDialog, qtbot: Any) -> float:
    """Press Download (the app's own retry budget) and wait until it has failed."""
    controller = dialog.controller
    dialog.select_model("tiny-test")
    start = time.monotonic()
    dialog.download_button.click()
    assert "tiny-test" in controller.active
    qtbot.waitUntil(lambda: "tiny-test" not in controller.active, timeout=8000)
    return time.monotonic() - start


def test_unreachable_hub_says_what_to_do_within_seconds(qtbot: Any) -> None:
    controller = ModelsController(Settings())
    dialog = ModelsDialog(controller)
    qtbot.addWidget(dialog)
    dialog.show()
    try:
        took = start_download(dialog, qtbot)
        assert took < 5
        banner = dialog.banner
        assert banner.level == "error"
        assert banner.message.startswith("Cannot reach the Hub mirror")
        assert "Network error" not in banner.message
        assert "internet connection" in banner.hint and "Import GGUF" in banner.hint
        assert "Settings" in banner.hint and "settings.toml" not in banner.hint
        assert banner.action_button.isVisible()
        assert banner.action_button.text() == "Open Settings…"
        with qtbot.waitSignal(dialog.settings_requested, timeout=1000) as asked:
            banner.action_button.click()
        assert asked.args == ["hf_endpoint"]
        assert controller.status("tiny-test").state == "missing"
    finally:
        controller.shutdown()


def test_open_settings_lands_on_the_hub_mirror_field(controller: Any, qtbot: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_ENDPOINT")
    controller.settings.hf_endpoint = closed_port_url()  # a mirror set in Settings
    controller.window.show()
    controller.open_models()
    dialog = controller.models_dialog
    start_download(dialog, qtbot)
    assert "Hub mirror's address in Settings" in dialog.banner.hint
    dialog.banner.action_button.click()
    settings = controller.settings_dialog
    qtbot.waitUntil(settings.isVisible, timeout=2000)
    assert settings.parent() is dialog  # above the Models window, not behind it
    assert settings.focusWidget() is settings.hf_endpoint
    assert settings.hf_endpoint.selectedText() == controller.settings.hf_endpoint
    settings.hf_endpoint.setText("https://hf-mirror.example")
    settings.accept()
    assert controller.models.settings.hf_endpoint == "https://hf-mirror.example"
    QApplication.processEvents()
    dialog.reject()


def test_the_hint_follows_where_the_endpoint_comes_from() -> None:
    from outthink.errors import HubUnreachableError
    from outthink.gui.models_dialog import unreachable_hint

    def hint(mirror: str) -> str:
        return unreachable_hint(HubUnreachableError("m", hint="", endpoint="x", mirror=mirror))

    assert "set a Hub mirror in Settings" in hint("") and "Import GGUF" in hint("")
    assert "Hub mirror's address in Settings" in hint("settings")
    assert "HF_ENDPOINT" in hint("environment") and "takes precedence" in hint("environment")
    for source in ("", "settings", "environment"):
        assert "settings.toml" not in hint(source) and "internet connection" in hint(source)
