"""Dark theme: follows the desktop, or forced from View → Theme; kept in the settings; cards,
tree and answer stay readable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from outthink.config import Settings, load_settings
from outthink.gui import theme
from outthink.gui.app_controller import AppController
from tests.gui.test_run_views import run_fake

#: WCAG contrast for body text.
READABLE = 4.5


@pytest.fixture(autouse=True)
def desktop(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Qt.ColorScheme]]:
    """The desktop's colour scheme, as the test sets it; the app's look is put back after."""
    scheme = [Qt.ColorScheme.Unknown]
    monkeypatch.setattr(theme, "system_scheme", lambda: scheme[0])
    yield scheme
    scheme[0] = Qt.ColorScheme.Unknown
    theme.apply_theme("system")
    assert not theme.is_dark()


def window_is_dark() -> bool:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def assert_readable(controller: AppController) -> None:
    """Every step's text on its tint, every tree label on its node, the right/wrong mark."""
    cards = controller.window.candidates.cards.values()
    steps = [step for card in cards for step in card.steps]
    assert steps
    for step in steps:
        text = step.palette().color(QPalette.ColorRole.WindowText)
        assert theme.contrast(text, step._bg) >= READABLE, (text.name(), step._bg.name())
    for card in cards:  # the card's own text on its background
        pal = card.palette()
        assert theme.contrast(pal.color(QPalette.ColorRole.WindowText),
                              pal.color(QPalette.ColorRole.Base)) >= READABLE
    tree = controller.window.tree
    tree.rebuild()
    for item in tree.items.values():
        label = item.childItems()[0]
        fill = item.brush().color()
        assert theme.contrast(label.brush().color(), fill) >= READABLE, fill.name()
    window = QApplication.palette().color(QPalette.ColorRole.Window)
    assert theme.contrast(theme.RIGHT, window) >= 3 and theme.contrast(theme.WRONG, window) >= 3


def test_dark_from_the_view_menu_is_readable_and_kept(controller: AppController,
                                                      qtbot: Any) -> None:
    w = controller.window
    w.show()
    controller.controls.set_reference("What is 2 + 5?", "7")
    run_fake(controller, qtbot, n=6)
    assert not window_is_dark()
    assert_readable(controller)  # light, to begin with
    menu = {a.text().replace("&", ""): a for a in w.theme_menu.actions()}
    assert set(menu) == {"Follow the system", "Light", "Dark"}
    assert menu["Follow the system"].isChecked()
    menu["Dark"].trigger()
    assert window_is_dark() and theme.is_dark()
    assert QApplication.style().name().lower() == "fusion"
    assert_readable(controller)
    assert theme.RIGHT.name() in w.answer.answer.text()  # the mark in the dark variant
    assert load_settings().extra["gui.theme"] == "dark"
    menu["Light"].trigger()
    assert not window_is_dark()
    assert_readable(controller)
    assert load_settings().extra["gui.theme"] == "light"


def test_the_saved_theme_is_used_at_start(qtbot: Any) -> None:
    app = AppController(Settings(extra={"gui.theme": "dark"}))
    qtbot.addWidget(app.window)
    assert window_is_dark()
    assert app.appearance.actions["dark"].isChecked()
    app.shutdown()


def test_following_the_system(controller: AppController, qtbot: Any,
                              desktop: list[Qt.ColorScheme]) -> None:
    native = QPalette(QApplication.palette())
    hints = QGuiApplication.styleHints()
    desktop[0] = Qt.ColorScheme.Dark
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert window_is_dark()
    desktop[0] = Qt.ColorScheme.Light
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not window_is_dark()
    assert QApplication.palette().color(QPalette.ColorRole.Window) == native.color(
        QPalette.ColorRole.Window)
    # Forced light stays light when the desktop turns dark.
    controller.appearance.set_mode("light")
    desktop[0] = Qt.ColorScheme.Dark
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not window_is_dark()
    controller.appearance.set_mode("system")
    assert window_is_dark()
