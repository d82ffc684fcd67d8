"""The main window's layout: controls on the left; candidates / search tree tabs and the
answer panel on the right; a message banner on top; menus and shortcuts. No logic here: the
:class:`~outthink.gui.app_controller.AppController` wires it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from outthink.gui import theme
from outthink.gui.answer_panel import AnswerPanel
from outthink.gui.banner import MessageBanner
from outthink.gui.candidates import CandidatesView
from outthink.gui.controls import ControlPanel
from outthink.gui.history import HistoryPanel, toggle_action
from outthink.gui.runstate import RunState
from outthink.gui.tree_view import SearchTreeView


class MainWindow(QMainWindow):
    closing = Signal()

    def __init__(self, state: RunState, examples: list[dict[str, str]]) -> None:
        super().__init__()
        #: Asked before the window closes; False keeps it open.
        self.close_guard: Callable[[], bool] | None = None
        self.setWindowTitle("Outthink")
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(
            theme.em(self, 0.4), theme.em(self, 0.4), theme.em(self, 0.4), theme.em(self, 0.4)
        )
        self.banner = MessageBanner()
        outer.addWidget(self.banner)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.controls = ControlPanel(examples)
        left = QScrollArea()
        left.setWidgetResizable(True)
        left.setWidget(self.controls)
        left.setFrameShape(QScrollArea.Shape.NoFrame)
        # Run/Stop pinned under the scrolling panel: always visible, whatever the height.
        left_pane = QWidget()
        left_layout = QVBoxLayout(left_pane)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(left, 1)
        left_layout.addWidget(self.controls.button_bar)
        self.controls.button_bar.show()
        self.left_scroll = left
        split.addWidget(left_pane)

        right = QSplitter(Qt.Orientation.Vertical)
        self.tabs = QTabWidget()
        self.candidates = CandidatesView(state)
        self.tree = SearchTreeView(state)
        self.tabs.addTab(self.candidates, "Candidates")
        self.tabs.addTab(self.tree, "Search tree")
        right.addWidget(self.tabs)
        self.answer = AnswerPanel(state)
        right.addWidget(self.answer)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setChildrenCollapsible(False)
        right.setSizes([theme.em(self, 34), theme.em(self, 11)])
        split.addWidget(right)
        # The run history, on the right of the Solve tab (View → History hides it).
        self.history = HistoryPanel()
        split.addWidget(self.history)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setCollapsible(2, False)  # hidden through View → History, never squeezed away
        # Two modes: solve one problem, or benchmark a problem set.
        from outthink.gui.benchmark_tab import BenchmarkTab

        self.modes = QTabWidget()
        self.modes.setDocumentMode(True)
        self.modes.addTab(split, "Solve")
        self.benchmark = BenchmarkTab()
        self.modes.addTab(self.benchmark, "Benchmark")
        outer.addWidget(self.modes, 1)
        self.setCentralWidget(central)
        self.splitter = split
        self.resize(theme.em(self, 80), theme.em(self, 46))
        split.setSizes([theme.em(self, 21), theme.em(self, 47), theme.em(self, 12)])

        # Menus and shortcuts
        file_menu = self.menuBar().addMenu("&File")
        self.open_run_action = QAction("&Open saved run…", self)
        self.open_run_action.setShortcut(QKeySequence.StandardKey.Open)
        self.export_json_action = QAction("Export run as &JSON…", self)
        self.export_json_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_png_action = QAction("Export window as &PNG…", self)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        for action in (self.open_run_action, self.export_json_action, self.export_png_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        run_menu = self.menuBar().addMenu("&Run")
        self.run_action = QAction("&Run", self)
        # Ctrl+Return (and Ctrl+Enter on the keypad); window-wide, also from the editor.
        self.run_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.run_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.stop_action = QAction("&Stop", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.stop_action.setEnabled(False)
        run_menu.addAction(self.run_action)
        run_menu.addAction(self.stop_action)

        models_menu = self.menuBar().addMenu("&Models")
        self.models_action = QAction("&Manage models…", self)
        models_menu.addAction(self.models_action)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        models_menu.addAction(self.settings_action)
        self.view_menu = self.menuBar().addMenu("&View")
        self.history_action = toggle_action(self.history, self)
        self.view_menu.addAction(self.history_action)
        self.theme_menu = self.view_menu.addMenu("&Theme")  # filled by the theme switch
        for action in (self.run_action, self.stop_action, self.history_action):
            self.addAction(action)
        from outthink.gui.help import HelpMenu

        self.help = HelpMenu(self)

    def set_busy(self, busy: bool, *, blocked: bool = False) -> None:
        """``busy``: a Solve run is going; ``blocked``: the engine is busy elsewhere."""
        self.controls.set_busy(busy, blocked=blocked)
        self.run_action.setEnabled(not busy and not blocked)
        self.stop_action.setEnabled(busy)
        self.open_run_action.setEnabled(not busy)

    def restyle(self) -> None:
        """The theme changed: views that paint in colours of their own repaint."""
        self.candidates.restyle()
        self.tree.restyle()
        self.answer.restyle()
        self.history.view.viewport().update()

    def closeEvent(self, event: QCloseEvent) -> None:
        # The guard asks before a run in progress is stopped (see lifetime.QuitGuard).
        if self.close_guard is not None and not self.close_guard():
            event.ignore()
            return
        self.closing.emit()
        super().closeEvent(event)
