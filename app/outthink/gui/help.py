"""Help → About Outthink and Help → Keyboard shortcuts: small windows that do not block the app."""

from __future__ import annotations

import html
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMainWindow,
    QMenu,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from outthink.config import data_dir, log_dir
from outthink.gui import theme
from outthink.resources import resource_path

LICENCE = "Apache-2.0"
LICENCE_URL = "https://www.apache.org/licenses/LICENSE-2.0"
#: The README's sections a user looks for, in its order.
README_SECTIONS = ("The app", "Command line", "The desktop app", "GPU builds",
                   "Which backend is running")

#: Shortcuts that belong to no menu action (listed after the actions').
OTHER_SHORTCUTS = (
    ("Tab / Shift+Tab", "Move between the controls (also out of the problem box)"),
    ("Delete", "Delete the runs selected in the history (after a question)"),
    ("Return", "Open the run selected in the history"),
    ("Ctrl+wheel, Ctrl++ / Ctrl+−", "Zoom the search tree (drag it to move around)"),
    ("Ctrl+0", "Fit the whole search tree in view"),
    ("Right-click", "Copy from a candidate's card, the answer panel or the history"),
)


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def about_html() -> str:
    """The About text: versions, licence, where the documentation and the files are."""
    import outthink

    readme = resource_path("README.md")
    if readme.is_file():
        url = QUrl.fromLocalFile(str(readme)).toString()
        sections = " · ".join(html.escape(s) for s in README_SECTIONS)
        docs = (f"<a href='{url}'>README.md</a>: {sections}. "
                "<code>outthink --help</code> lists the command line.")
    else:
        docs = ("The README of the source package explains the app, the command line and GPU "
                "builds; <code>outthink --help</code> lists the command line and "
                "<code>outthink doctor</code> shows this build and its folders.")

    def folder(path: Any) -> str:
        url = QUrl.fromLocalFile(str(path)).toString()
        return f"<a href='{url}'>{html.escape(str(path))}</a>"

    return (
        f"<h2>Outthink {html.escape(outthink.__version__)}</h2>"
        "<p>Small language models out-think big ones on your own computer: many candidate "
        "solutions, each step scored by a verifier, the answer picked by search.</p>"
        "<table cellspacing='4'>"
        f"<tr><td>llama.cpp</td><td>llama-cpp-python "
        f"{html.escape(package_version('llama-cpp-python'))}</td></tr>"
        f"<tr><td>Qt</td><td>PySide6 {html.escape(package_version('PySide6-Essentials'))}"
        "</td></tr>"
        f"<tr><td>Licence</td><td><a href='{LICENCE_URL}'>{LICENCE}</a></td></tr>"
        f"<tr><td>Documentation</td><td>{docs}</td></tr>"
        f"<tr><td>Run history, models</td><td>{folder(data_dir())}</td></tr>"
        f"<tr><td>Log files</td><td>{folder(log_dir())}</td></tr>"
        "</table>"
        "<p>Please include the output of <code>outthink --self-check</code> in bug "
        "reports.</p>"
    )


def shortcuts_html(actions: list[QAction]) -> str:
    """A table of the menu actions' shortcuts, then the others."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
        keys = [k for k in keys if k]
        name = action.text().replace("&", "").rstrip("…").strip()
        if not keys or name in seen:
            continue
        seen.add(name)
        rows.append((" / ".join(keys), name))
    rows.extend(OTHER_SHORTCUTS)
    body = "".join(
        f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(what)}</td></tr>"
        for keys, what in rows
    )
    return f"<h3>Keyboard shortcuts</h3><table cellspacing='6'>{body}</table>"


def menu_actions(menu_bar_menus: list[QMenu]) -> list[QAction]:
    """Every action of the menus, submenus included, in menu order."""
    out: list[QAction] = []
    for menu in menu_bar_menus:
        for action in menu.actions():
            sub = action.menu()
            if isinstance(sub, QMenu):
                out.extend(menu_actions([sub]))
            elif not action.isSeparator():
                out.append(action)
    return out


class TextWindow(QDialog):
    """A non-modal window with rich text (links open in the browser or file manager)."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(text)
        layout.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(theme.em(self, 34), theme.em(self, 24))


class HelpMenu:
    """Help → About Outthink, Keyboard shortcuts; each opens (or raises) its window."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        menu = window.menuBar().addMenu("&Help")
        self.shortcuts_action = QAction("&Keyboard shortcuts", window)
        self.shortcuts_action.setShortcut(QKeySequence("Ctrl+/"))
        self.about_action = QAction("&About Outthink", window)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        menu.addAction(self.shortcuts_action)
        menu.addSeparator()
        menu.addAction(self.about_action)
        window.addAction(self.shortcuts_action)
        self.windows: dict[str, TextWindow] = {}
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        self.about_action.triggered.connect(self.show_about)

    def show_about(self) -> TextWindow:
        return self._show("about", "About Outthink", about_html())

    def show_shortcuts(self) -> TextWindow:
        menus = [a.menu() for a in self.window.menuBar().actions()]
        actions = menu_actions([m for m in menus if isinstance(m, QMenu)])
        return self._show("shortcuts", "Keyboard shortcuts", shortcuts_html(actions))

    def _show(self, key: str, title: str, text: str) -> TextWindow:
        shown = self.windows.get(key)
        if shown is None:
            shown = self.windows[key] = TextWindow(title, text, self.window)
        else:
            shown.browser.setHtml(text)
        shown.show()
        shown.raise_()
        shown.activateWindow()
        return shown
