"""The window across restarts and at quit: its size, position and panes are remembered; quitting
while a run goes on asks first, and a confirmed quit stops the run cleanly (it is kept in the
history) before the window closes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)

#: Longest wait for a stopped run to end before the window closes anyway (the engine notices a
#: stop within one decode step; a model still loading finishes its load first).
STOP_WAIT_MS = 10_000


# ---------------------------------------------------------------------- size and position


def window_state(window: Any) -> dict[str, Any]:
    """What to keep of the window (``Settings.extra`` keys without the ``gui.`` prefix)."""
    return {
        "geometry": _b64(window.saveGeometry()),
        "splitter": _b64(window.splitter.saveState()),
        "history": window.history_action.isChecked(),
    }


def restore_window(window: Any, extra: dict[str, Any]) -> None:
    """Put the window back as :func:`window_state` kept it (anything unreadable is ignored:
    the default layout stays)."""
    geometry = extra.get("geometry")
    if isinstance(geometry, str) and geometry and not window.restoreGeometry(_unb64(geometry)):
        log.info("Ignoring a saved window geometry that Qt cannot read")
    splitter = extra.get("splitter")
    if isinstance(splitter, str) and splitter:
        window.splitter.restoreState(_unb64(splitter))
        window.splitter.setCollapsible(2, False)
    if isinstance(extra.get("history"), bool):
        window.history_action.setChecked(extra["history"])


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def _unb64(text: str) -> QByteArray:
    return QByteArray.fromBase64(QByteArray(text.encode("ascii", "replace")))


# ---------------------------------------------------------------------- quitting mid-run


def ask_quit(parent: QWidget, what: str) -> bool:
    """Ask whether to stop ``what`` and quit."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Quit Outthink")
    if what == "run":
        box.setText("A run is going. Stop it and quit?")
        box.setInformativeText(
            "What it produced so far is kept in the history, to open again later."
        )
    else:
        box.setText("A benchmark is running. Stop it and quit?")
        box.setInformativeText(
            "The problems it finished are kept in its results; running it again with the same "
            "output folder goes on where it stopped."
        )
    quit_button = box.addButton("Stop and quit", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is quit_button


class QuitGuard(QObject):
    """Decides whether the window may close now (``MainWindow.close_guard``)."""

    def __init__(self, window: Any, runs: Any, bench: Any) -> None:
        super().__init__(window)
        self.window = window
        self.runs = runs
        self.bench = bench
        self.ask: Callable[[QWidget, str], bool] = ask_quit
        #: The user said quit: the window closes as soon as the run has ended.
        self.quitting = False
        window.close_guard = self.may_close

    def may_close(self) -> bool:
        if self.quitting and not self.runs.busy:
            return True
        if self.runs.busy:
            if not self.quitting:
                if not self.ask(self.window, "run"):
                    return False
                self.quitting = True
                self.runs.run_ended.connect(self._close_soon)
                # Never stuck: close anyway if the run does not end in time.
                QTimer.singleShot(STOP_WAIT_MS, self._close_anyway)
                self.runs.stop()
                self.window.statusBar().showMessage("Stopping the run, then quitting…")
            return False
        if self.bench.busy and not self.quitting:
            if not self.ask(self.window, "benchmark"):
                return False
            self.quitting = True  # closing stops it (the app controller's shutdown)
        return True

    def _close_soon(self, _status: str = "") -> None:
        # After the other slots of run_ended (the history starts saving the run).
        QTimer.singleShot(0, self.window.close)

    def _close_anyway(self) -> None:
        if self.runs.busy and self.window.isVisible():
            log.warning("The run did not stop in %d ms; closing anyway", STOP_WAIT_MS)
            self.window.close_guard = None  # the app controller's shutdown waits for it
            self.window.close()
