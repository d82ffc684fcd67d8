"""Settings: values round-trip through the TOML file; GPU offload explained when absent."""

from __future__ import annotations

from typing import Any

from outthink.config import Settings, load_settings, save_settings
from outthink.gui import settings_dialog
from outthink.gui.settings_dialog import SettingsDialog


def test_values_round_trip(qtbot: Any) -> None:
    original = Settings(threads=3, context_size=4096, extra={"gui.n": 5}, last_problem="x")
    dlg = SettingsDialog(original)
    qtbot.addWidget(dlg)
    assert dlg.threads.value() == 3 and dlg.context_size.value() == 4096
    dlg.threads.setValue(2)
    dlg.models_dir.setText("/tmp/my-models")
    dlg.data_dir.setText("/tmp/my-data")
    dlg.hf_token.setText("hf_secret")
    dlg.hf_endpoint.setText("https://hf-mirror.example")
    dlg.offline.setChecked(True)
    result = dlg.result_settings()
    save_settings(result)
    stored = load_settings()
    assert stored.threads == 2 and stored.models_dir == "/tmp/my-models"
    assert stored.data_dir == "/tmp/my-data"
    assert stored.hf_token == "hf_secret" and stored.hf_endpoint == "https://hf-mirror.example"
    assert stored.offline and stored.context_size == 4096
    assert stored.extra == {"gui.n": 5} and stored.last_problem == "x"  # kept
    assert dlg.hf_token.echoMode() == dlg.hf_token.EchoMode.Password


def test_gpu_field_is_disabled_with_a_reason(qtbot: Any) -> None:
    dlg = SettingsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.set_gpu_support(False)
    assert not dlg.gpu_layers.isEnabled()
    assert "(CPU) only" in dlg.gpu_note.text() and "GPU builds" in dlg.gpu_note.text()
    dlg.set_gpu_support(True)
    assert dlg.gpu_layers.isEnabled()


def test_gpu_support_is_asked_off_the_gui_thread(qtbot: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(settings_dialog, "_GPU_OFFLOAD", None)
    dlg = SettingsDialog(Settings())
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: settings_dialog._GPU_OFFLOAD is not None, timeout=20_000)
    from outthink.engine import supports_gpu_offload

    assert dlg.gpu_layers.isEnabled() == supports_gpu_offload()
    assert "physical cores" in dlg.threads.specialValueText()


def test_a_bad_mirror_is_refused_in_place(qtbot: Any) -> None:
    dlg = SettingsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.hf_endpoint.setText("hf-mirror.example")
    dlg.accept()
    assert dlg.isVisible() and "http" in dlg.error.text()
