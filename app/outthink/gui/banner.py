"""A non-modal message strip at the top of a window: the place errors are shown.

Modal message boxes block the event loop (and tests); a banner does not, and it keeps the
message in view while the user fixes the cause. Every error of the app reaches the user
through :meth:`MessageBanner.show_error` (plus a line in the status bar). A message may come
with one action button (for example "Open Settings…") that takes the user to the fix.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

#: A button's text and what it does.
Action = tuple[str, Callable[[], None]]

_STYLES = {
    "error": ("#fdecea", "#8a1c13", "#e3a29b"),
    "warning": ("#fff4e0", "#6b4500", "#e8c07a"),
    "info": ("#e8f1fd", "#133d73", "#9dbbe6"),
}


class MessageBanner(QFrame):
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.level = ""
        self.message = ""
        self.hint = ""
        layout = QHBoxLayout(self)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self._action: Callable[[], None] | None = None
        self.action_button = QPushButton()
        self.action_button.hide()
        self.action_button.clicked.connect(self._run_action)
        layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.dismiss)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(
        self, level: str, message: str, hint: str = "", action: Action | None = None
    ) -> None:
        bg, fg, border = _STYLES.get(level, _STYLES["info"])
        self.level, self.message, self.hint = level, message, hint
        self.setStyleSheet(
            f"#messageBanner {{ background: {bg}; border: 1px solid {border}; "
            f"border-radius: 4px; }} #messageBanner QLabel {{ color: {fg}; }}"
        )
        text = f"<b>{html.escape(message)}</b>"
        if hint:
            text += f"<br>{html.escape(hint)}"
        self.label.setText(text)
        self._action = action[1] if action is not None else None
        self.action_button.setText(action[0] if action is not None else "")
        self.action_button.setVisible(action is not None)
        self.show()

    def show_error(self, message: str, hint: str = "") -> None:
        self.show_message("error", message, hint)

    def dismiss(self) -> None:
        self.hide()
        self.level = self.message = self.hint = ""
        self._action = None
        self.action_button.hide()
        self.dismissed.emit()

    def _run_action(self) -> None:
        if self._action is not None:
            self._action()
