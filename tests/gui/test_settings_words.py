"""The Settings dialog explains GPU offload in plain words, never cut off, at a size taken from
the font; its Hub section is where download errors send the user."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from outthink.config import Settings
from outthink.gui import settings_dialog, theme
from outthink.gui.settings_dialog import SettingsDialog

JARGON = ("llama-cpp-python", "build of", "offload layers", "CUDA")


def shown(qtbot: Any, font_points: int | None = None) -> SettingsDialog:
    """The dialog, made (and so sized) with the application's font at ``font_points``."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = QFont(app.font())
    if font_points is not None:
        font = QFont(original)
        font.setPointSize(font_points)
        app.setFont(font)
    try:
        dlg = SettingsDialog(Settings())
    finally:
        app.setFont(original)
    qtbot.addWidget(dlg)
    if font_points is not None:
        dlg.setFont(font)
    dlg.show()
    return dlg


def note_is_whole(dlg: SettingsDialog) -> bool:
    note = dlg.gpu_note
    return note.height() >= note.heightForWidth(note.width())


@pytest.mark.parametrize("supported", [False, True])
def test_a_late_answer_about_the_gpu_is_shown_whole_in_plain_words(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, supported: bool
) -> None:
    monkeypatch.setattr(settings_dialog, "_GPU_OFFLOAD", None)
    monkeypatch.setattr(settings_dialog, "_probe_gpu", lambda: (supported, 4))
    dlg = shown(qtbot)
    first = dlg.gpu_note.text()
    qtbot.waitUntil(lambda: dlg.gpu_note.text() != first, timeout=5000)
    QApplication.processEvents()
    text = dlg.gpu_note.text()
    assert "graphics card (GPU)" in text and "faster" in text
    assert not [word for word in JARGON if word in text], text
    if not supported:
        assert "processor (CPU) only" in text and "README's \"GPU builds\" section" in text
    assert note_is_whole(dlg), (dlg.gpu_note.size(), dlg.gpu_note.heightForWidth(
        dlg.gpu_note.width()))
    assert dlg.gpu_layers.isEnabled() == supported
    assert "graphics card" in dlg.gpu_layers.toolTip()


def test_a_runtime_that_fails_to_load_is_explained(qtbot: Any) -> None:
    dlg = shown(qtbot)
    dlg._on_probe_error(RuntimeError("no library"))
    QApplication.processEvents()
    assert "outthink doctor" in dlg.gpu_note.text() and note_is_whole(dlg)


def test_size_comes_from_the_font(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_dialog, "_GPU_OFFLOAD", False)
    small = shown(qtbot)
    assert small.width() >= theme.em(small, 40)
    assert note_is_whole(small)
    large = shown(qtbot, font_points=16)
    assert large.width() > small.width() and note_is_whole(large)


def test_hub_fields_have_their_own_section(qtbot: Any) -> None:
    dlg = shown(qtbot)
    for field in (dlg.hf_endpoint, dlg.hf_token, dlg.offline):
        assert dlg.hub_box.isAncestorOf(field)
    dlg.focus_field("hf_endpoint")
    qtbot.waitUntil(lambda: dlg.focusWidget() is dlg.hf_endpoint, timeout=2000)
