"""Copying text out of the views: one place that writes the clipboard and builds the menus."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QWidget


def copy_text(text: str) -> bool:
    """Put ``text`` on the clipboard (and the X11 selection); False when there is none."""
    if not text:
        return False
    clipboard = QApplication.clipboard()
    clipboard.setText(text)
    if clipboard.supportsSelection():
        clipboard.setText(text, clipboard.Mode.Selection)
    return True


def selected_text(widget: QWidget | None) -> str:
    """The text selected with the mouse in ``widget`` when it is a label ('' otherwise)."""
    return widget.selectedText() if isinstance(widget, QLabel) else ""


def defer_context_menus(root: QWidget) -> None:
    """Let right-clicks on the labels inside ``root`` reach ``root``'s own menu (a selectable
    label would otherwise show its two-entry Copy / Select All menu)."""
    for label in root.findChildren(QLabel):
        label.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)


def popup(
    parent: QWidget, entries: list[tuple[str, Callable[[], object] | None]], at: QPoint
) -> QMenu:
    """Show a context menu of ``(label, action)`` entries at ``at`` (global position); an
    entry without an action is shown disabled. The menu deletes itself when closed."""
    menu = QMenu(parent)
    menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    for label, action in entries:
        item = menu.addAction(label)
        if action is None:
            item.setEnabled(False)
        else:
            item.triggered.connect(lambda _checked=False, act=action: act())
    menu.popup(at)
    return menu
