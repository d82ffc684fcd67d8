"""The control panel (layout only): problem, examples, models, strategy and its knobs, Run/Stop.

What the menus offer and the defaults per strategy come from :mod:`outthink.gui.options`
(through the app controller); this module only builds widgets and reads/writes their values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from outthink.gui import theme
from outthink.gui.mathtext import latex_to_html
from outthink.gui.options import TOOLTIPS, ModelChoice, StrategyChoice
from outthink.gui.thinking import ThinkingControls
from outthink.ranges import option
from outthink.search.selection import AGGREGATIONS, SELECTION_RULES

BROWSE = "__browse__"  # the "Choose a GGUF file…" entry of the policy picker

_Index = QModelIndex | QPersistentModelIndex


class ExamplesModel(QAbstractListModel):
    """The example problems as a list model (first row: a prompt to pick one)."""

    ProblemRole = Qt.ItemDataRole.UserRole + 1
    AnswerRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self, examples: list[dict[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.examples = examples

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.examples) + 1

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.row() == 0:
            return "Examples…" if role == Qt.ItemDataRole.DisplayRole else None
        ex = self.examples[index.row() - 1]
        if role == Qt.ItemDataRole.DisplayRole:
            text = ex["problem"]
            return text if len(text) <= 60 else text[:58] + "…"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{ex['problem']}\n\nReference answer: {ex['answer']}"
        if role == self.ProblemRole:
            return ex["problem"]
        if role == self.AnswerRole:
            return ex["answer"]
        return None


def fill_choices(combo: QComboBox, choices: list[ModelChoice], keep: str | None = None) -> None:
    """Fill a model picker from choices (disabled items stay visible, greyed)."""
    current = keep if keep is not None else combo.currentData()
    model = QStandardItemModel(combo)
    for choice in choices:
        item = QStandardItem(choice.label)
        item.setData(choice.spec, Qt.ItemDataRole.UserRole)
        item.setToolTip(choice.tooltip)
        item.setEnabled(choice.enabled)
        model.appendRow(item)
    combo.setModel(model)
    select(combo, current)


def select(combo: QComboBox, spec: object) -> bool:
    index = combo.findData(spec)
    if index >= 0:
        combo.setCurrentIndex(index)
        return True
    return False


class WheelGuard(QObject):
    """Ignores wheel events on a control that does not have the keyboard focus, so they reach
    the scroll area around it."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(watched, QWidget)
            and not watched.hasFocus()
        ):
            event.ignore()
            return True
        return False


class ControlPanel(QWidget):
    run_clicked = Signal()
    stop_clicked = Signal()
    strategy_changed = Signal(str)  # by the user
    verifier_changed = Signal()
    verifier_picked = Signal()  # by the user
    browse_policy = Signal()

    def __init__(self, examples: list[dict[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.setMinimumWidth(theme.em(self, 17))

        # Problem
        box = QGroupBox("Problem")
        bl = QVBoxLayout(box)
        self.examples = QComboBox()
        self.examples_model = ExamplesModel(examples, self)
        self.examples.setModel(self.examples_model)
        self.examples.setToolTip(TOOLTIPS["examples"])
        bl.addWidget(self.examples)
        self.problem = QPlainTextEdit()
        self.problem.setPlaceholderText("Type or paste a problem, or pick an example above.")
        self.problem.setToolTip(TOOLTIPS["problem"])
        self.problem.setMinimumHeight(theme.em(self, 5))
        bl.addWidget(self.problem, 1)
        self.reference = QLabel("")
        self.reference.setTextFormat(Qt.TextFormat.RichText)
        self.reference.setToolTip("The example's reference answer (not shown to the model).")
        bl.addWidget(self.reference)
        layout.addWidget(box, 1)

        # Models
        box = QGroupBox("Models")
        form = QFormLayout(box)
        self.policy = QComboBox()
        self.policy.setToolTip(TOOLTIPS["policy"])
        form.addRow("Policy", self.policy)
        self.verifier = QComboBox()
        self.verifier.setToolTip(TOOLTIPS["verifier"])
        form.addRow("Verifier", self.verifier)
        self.verifier_model = QComboBox()
        self.verifier_model.setToolTip(TOOLTIPS["verifier_model"])
        self.verifier_model_label = QLabel("Verifier model")
        form.addRow(self.verifier_model_label, self.verifier_model)
        layout.addWidget(box)

        # Search
        box = QGroupBox("Search")
        form = QFormLayout(box)
        self.strategy = QComboBox()
        self.strategy.setToolTip(TOOLTIPS["strategy"])
        form.addRow("Strategy", self.strategy)
        self.n = QSpinBox()
        self.n.setRange(*option("n").bounds)
        self.n.setToolTip(TOOLTIPS["n"])
        form.addRow("Budget N", self.n)
        self.beam_width = QSpinBox()
        self.beam_width.setRange(*option("width").bounds)
        self.beam_width.setToolTip(TOOLTIPS["width"])
        self.width_label = QLabel("Beam width M")
        form.addRow(self.width_label, self.beam_width)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(*option("temperature").bounds)
        self.temperature.setSingleStep(0.05)
        self.temperature.setDecimals(2)
        self.temperature.setToolTip(TOOLTIPS["temperature"])
        form.addRow("Temperature", self.temperature)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(*option("max_tokens").bounds)
        self.max_tokens.setSingleStep(32)
        self.max_tokens.setToolTip(TOOLTIPS["max_tokens"])
        form.addRow("Max tokens", self.max_tokens)
        self.thinking = ThinkingControls()
        form.addRow("Thinking", self.thinking)
        self.seed = QSpinBox()
        self.seed.setRange(*option("seed").bounds)
        self.seed.setToolTip(TOOLTIPS["seed"])
        form.addRow("Seed", self.seed)
        self.select = QComboBox()
        self.select.addItems(list(SELECTION_RULES))
        self.select.setToolTip(TOOLTIPS["select"])
        form.addRow("Selection", self.select)
        self.agg = QComboBox()
        self.agg.addItems(list(AGGREGATIONS))
        self.agg.setToolTip(TOOLTIPS["agg"])
        form.addRow("Aggregation", self.agg)
        self.strategy_note = QLabel("")
        self.strategy_note.setWordWrap(True)
        self.strategy_note.setEnabled(False)
        form.addRow(self.strategy_note)
        layout.addWidget(box)

        # Run and Stop live in their own bar, which the window pins below the scrolling panel
        # so they stay in reach at any window height.
        self.button_bar = QWidget(self)
        buttons = QHBoxLayout(self.button_bar)
        buttons.setContentsMargins(0, 0, 0, 0)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip(TOOLTIPS["run"])
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(TOOLTIPS["stop"])
        self.stop_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)

        # Tab moves focus out of the problem box (a problem needs no tab characters), and the
        # mouse wheel scrolls the panel instead of changing a control that merely lies under
        # the pointer: only a control the user clicked or tabbed into takes wheel turns.
        self.problem.setTabChangesFocus(True)
        self._wheel_guard = WheelGuard(self)
        for widget in self.findChildren(QWidget):
            if not isinstance(widget, QComboBox | QSpinBox | QDoubleSpinBox):
                continue
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(self._wheel_guard)

        self.run_button.clicked.connect(self.run_clicked)
        self.stop_button.clicked.connect(self.stop_clicked)
        self.examples.activated.connect(self._on_example)
        self.problem.textChanged.connect(self._on_problem_edited)
        self.strategy.activated.connect(lambda _i: self.strategy_changed.emit(self.strategy_name()))
        self.verifier.currentIndexChanged.connect(lambda _i: self.verifier_changed.emit())
        self.verifier.activated.connect(lambda _i: self.verifier_picked.emit())
        self.policy.activated.connect(self._on_policy)
        self._policy_before: object = None
        #: The example whose reference answer is shown; cleared once the problem is edited.
        self._example_problem = ""
        self.reference_answer = ""

    # ------------------------------------------------------------------ filling

    def set_strategies(self, choices: list[StrategyChoice]) -> None:
        self.strategy.clear()
        for c in choices:
            self.strategy.addItem(c.name, c.name)
            self.strategy.setItemData(
                self.strategy.count() - 1, c.description, Qt.ItemDataRole.ToolTipRole
            )

    def set_policies(self, choices: list[ModelChoice], keep: str | None = None) -> None:
        fill_choices(self.policy, choices, keep)
        self.policy.addItem("Choose a GGUF file…", BROWSE)
        self._policy_before = self.policy.currentData()

    def add_policy_file(self, path: str) -> None:
        """Offer a model file from disk in the picker and select it."""
        if not select(self.policy, path):
            self.policy.insertItem(self.policy.count() - 1, Path(path).name, path)
            self.policy.setItemData(
                self.policy.count() - 2, path, Qt.ItemDataRole.ToolTipRole
            )
            select(self.policy, path)
        self._policy_before = path

    def _on_policy(self, _index: int) -> None:
        if self.policy.currentData() == BROWSE:
            # Back to the previous choice until a file is picked.
            select(self.policy, self._policy_before)
            self.browse_policy.emit()
        else:
            self._policy_before = self.policy.currentData()

    def _on_example(self, index: int) -> None:
        if index <= 0:
            return
        model_index = self.examples_model.index(index, 0)
        problem = str(model_index.data(ExamplesModel.ProblemRole))
        self.set_reference(problem, str(model_index.data(ExamplesModel.AnswerRole) or ""))
        self.problem.setPlainText(problem)
        self.examples.setCurrentIndex(0)

    def set_reference(self, problem: str, answer: str) -> None:
        """Show ``answer`` as the reference for ``problem`` (runs are graded against it) until
        the problem text is changed."""
        self._example_problem = problem.strip()
        self.reference_answer = answer.strip()
        self.reference.setText(
            f"Reference answer: <b>{latex_to_html(self.reference_answer)}</b>"
            if self.reference_answer
            else ""
        )

    def _on_problem_edited(self) -> None:
        if self.reference_answer and self.problem.toPlainText().strip() != self._example_problem:
            self.set_reference("", "")

    # ------------------------------------------------------------------ values

    def strategy_name(self) -> str:
        return str(self.strategy.currentData() or "")

    def values(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy_name(),
            "n": self.n.value(),
            "width": self.beam_width.value(),
            "temperature": round(self.temperature.value(), 4),
            "max_tokens": self.max_tokens.value(),
            "seed": self.seed.value(),
            "select": self.select.currentText(),
            "agg": self.agg.currentText(),
            "thinking": self.thinking.value(),
            "thinking_budget": self.thinking.budget.value(),
        }

    def set_values(self, values: dict[str, Any]) -> None:
        if "strategy" in values:
            select(self.strategy, values["strategy"])
        setters = {
            "n": self.n.setValue,
            "width": self.beam_width.setValue,
            "temperature": self.temperature.setValue,
            "max_tokens": self.max_tokens.setValue,
            "seed": self.seed.setValue,
            "thinking_budget": self.thinking.budget.setValue,
            "thinking": self.thinking.set_value,
        }
        for key, setter in setters.items():
            if key in values:
                try:
                    setter(values[key])
                except (TypeError, ValueError):
                    continue
        for key, combo in (("select", self.select), ("agg", self.agg)):
            if key in values:
                i = combo.findText(str(values[key]))
                if i >= 0:
                    combo.setCurrentIndex(i)

    def set_fixed(self, fixed: dict[str, Any], uses_width: bool, description: str = "") -> None:
        """Disable the fields the strategy fixes (showing their value) and the width when the
        strategy has none; say what the strategy does under the fields."""
        widgets = {
            "n": self.n,
            "temperature": self.temperature,
            "select": self.select,
            "agg": self.agg,
        }
        for key, widget in widgets.items():
            widget.setEnabled(key not in fixed)
        note = description
        if fixed:
            self.set_values(fixed)
            shown = ", ".join(f"{k} = {v}" for k, v in fixed.items())
            note = f"{note} It fixes {shown}.".strip()
        self.strategy_note.setText(note)
        self.beam_width.setEnabled(uses_width and "width" not in fixed)
        self.width_label.setEnabled(self.beam_width.isEnabled())

    def set_busy(self, busy: bool, *, blocked: bool = False) -> None:
        self.run_button.setEnabled(not busy and not blocked)
        self.run_button.setToolTip(
            "A benchmark is running; Run is back when it ends." if blocked else TOOLTIPS["run"]
        )
        self.stop_button.setEnabled(busy)
