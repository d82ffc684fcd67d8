"""Help → About and Help → Keyboard shortcuts."""

from __future__ import annotations

from typing import Any

from outthink.gui.app_controller import AppController
from outthink.gui.help import package_version


def test_about_says_versions_licence_and_where_the_docs_are(controller: AppController) -> None:
    import outthink

    w = controller.window
    menus = [a.text().replace("&", "") for a in w.menuBar().actions()]
    assert menus[-1] == "Help"
    w.help.about_action.trigger()
    about = w.help.windows["about"]
    assert about.isVisible() and not about.isModal()
    text = about.browser.toPlainText()
    assert f"Outthink {outthink.__version__}" in text
    assert f"llama-cpp-python {package_version('llama-cpp-python')}" in text
    assert "Apache-2.0" in text
    assert "README.md" in text and "GPU builds" in text
    links = about.browser.toHtml()
    assert "README.md'" in links or "README.md\"" in links  # a link to the file
    assert "apache.org/licenses" in links
    # Asked again: the same window, not a second one.
    w.help.about_action.trigger()
    assert w.help.windows["about"] is about


def test_keyboard_shortcuts_lists_what_the_menus_and_views_offer(controller: AppController,
                                                                qtbot: Any) -> None:
    w = controller.window
    w.help.shortcuts_action.trigger()
    text = w.help.windows["shortcuts"].browser.toPlainText()
    for keys, what in (("Ctrl+Return", "Run"), ("Esc", "Stop"), ("Ctrl+E", "Export run"),
                       ("Ctrl+O", "Open saved run"), ("Ctrl+H", "History"),
                       ("Delete", "history"), ("Ctrl+wheel", "Zoom the search tree"),
                       ("Tab", "problem box")):
        assert keys in text and what in text, (keys, what)
