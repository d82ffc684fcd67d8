"""The theme switch: View → Theme (follow the system, light, dark), kept in the settings, and
followed live when the desktop's colour scheme changes while the theme follows it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication
from PySide6.QtWidgets import QMenu

from outthink.gui import theme

#: Where the choice is kept in ``Settings.extra``.
THEME_KEY = "gui.theme"
_LABELS = {
    "system": "Follow the &system",
    "light": "&Light",
    "dark": "&Dark",
}


def theme_mode(extra: dict[str, Any]) -> str:
    mode = extra.get(THEME_KEY)
    return mode if isinstance(mode, str) and mode in theme.THEMES else "system"


class ThemeSwitch(QObject):
    """Applies the theme and offers the choice in ``menu``."""

    #: The look changed (True: dark): views whose colours are their own repaint.
    changed = Signal(bool)
    #: The user picked a theme (to be saved).
    chosen = Signal(str)

    def __init__(self, menu: QMenu, mode: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.mode = mode if mode in theme.THEMES else "system"
        self.menu = menu
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for name, label in _LABELS.items():
            action = QAction(label, self)
            action.setCheckable(True)
            action.setData(name)
            action.setChecked(name == self.mode)
            self.group.addAction(action)
            menu.addAction(action)
            self.actions[name] = action
        self.actions["system"].setToolTip("Dark when the desktop is dark, light when it is not.")
        self.group.triggered.connect(self._on_triggered)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system)
        self.dark = theme.apply_theme(self.mode)

    def set_mode(self, mode: str) -> bool:
        """Use ``mode`` (as if picked in the menu); returns True when the look is dark."""
        self.mode = mode if mode in theme.THEMES else "system"
        self.actions[self.mode].setChecked(True)
        self._apply()
        self.chosen.emit(self.mode)
        return self.dark

    def _on_triggered(self, action: QAction) -> None:
        self.set_mode(str(action.data()))

    def _on_system(self, _scheme: Qt.ColorScheme) -> None:
        if self.mode == "system":
            self._apply()

    def _apply(self) -> None:
        self.dark = theme.apply_theme(self.mode)
        self.changed.emit(self.dark)
