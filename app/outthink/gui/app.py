"""Start the desktop app: ``outthink`` with no arguments, or ``python -m outthink.gui``."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from outthink.config import APP_NAME
from outthink.resources import resource_path

log = logging.getLogger(__name__)


def create_app(argv: Sequence[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    # Qt 6 scales by the screen's device pixel ratio already; rounding the factor would
    # make 150% screens draw at 100% or 200%.
    QApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    # The desktop file's name lets Wayland match the window to its launcher entry.
    app.setDesktopFileName("outthink")
    icon = resource_path("assets", "icons", "outthink-256.png")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app until its window closes; returns the exit code."""
    from outthink.gui.app_controller import AppController
    from outthink.logs import setup_logging

    if not any(getattr(h, "_outthink", False) for h in logging.getLogger().handlers):
        setup_logging()
    app = create_app(argv)
    controller = AppController()

    def excepthook(
        kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        # A bug in a slot must not kill the app silently: log it and say so, once.
        log.error("Unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        controller.report_error(
            f"Unexpected error: {kind.__name__}: {exc}.",
            "This is a bug in Outthink; the log file has the details.",
        )

    sys.excepthook = excepthook
    controller.window.show()
    try:
        return int(app.exec())
    finally:
        sys.excepthook = sys.__excepthook__
