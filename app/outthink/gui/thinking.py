"""Reasoning models in the window: a card's thinking block, and the thinking controls.

:class:`ThinkingBlock` sits at the top of a candidate's card. It holds the card's thinking
steps (each still tinted by its score when the verifier looks at the thinking) under a one-line
summary, "Thought for 1,240 tokens, 38 s", collapsed by default so that the final solution
below it is what the card shows; a click on the summary expands it. The summary reads the
run's thinking blocks (:meth:`~outthink.search.runmodel.RunModel.thinking_of`), so a candidate
that thinks several times shows the tokens and times of all its blocks together, and a beam
shows the thinking it inherited too.

:class:`ThinkingControls` is the panel's "Thinking" row: auto / on / off (the template's
thinking switch) and the thinking budget.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from outthink.gui import theme
from outthink.ranges import option
from outthink.search.config import THINKING_CHOICES
from outthink.search.runmodel import CandidateInfo, NodeInfo, ThinkingSummary
from outthink.thinking import strip_tags

__all__ = ["ThinkingBlock", "ThinkingControls", "answer_note", "summary_text"]

THINKING_TIPS = {
    "auto": "Reasoning models think as they do by default (Qwen3 and DeepSeek-R1 distills "
    "think first); other models are not affected.",
    "on": "Think before answering (the chat template's thinking switch).",
    "off": "Answer at once without thinking (Qwen3's enable_thinking = false); a model that "
    "always thinks refuses this.",
}


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def summary_text(thought: ThinkingSummary, *, live_tokens: int = 0) -> str:
    """The block's one line: "Thought for 1,240 tokens, 38 s", or what it is doing now."""
    if thought.open and not thought.unfinished:
        tokens = max(thought.tokens, live_tokens)
        return f"Thinking… {tokens:,} tokens"
    text = f"Thought for {thought.tokens:,} tokens, {_seconds(thought.seconds)}"
    if thought.blocks > 1:
        text += f" ({thought.blocks} blocks)"
    if thought.budget:
        text += " · stopped by the budget"
    if thought.unfinished:
        text += " · did not finish"
    return text


def summary_tooltip(thought: ThinkingSummary) -> str:
    lines = [f"<b>{html.escape(summary_text(thought))}</b>"]
    if thought.first is not None:
        lines.append(f"First thought {_seconds(thought.first)} into the run.")
    rate = thought.tokens_per_second
    if rate is not None:
        lines.append(f"{rate:,.1f} tokens/s while thinking.")
    if thought.blocks > 1:
        lines.append(f"{thought.blocks} thinking blocks; their times are added up.")
    if thought.budget:
        lines.append("The thinking budget ran out: its thinking was closed so that it answers.")
    if thought.unfinished:
        lines.append("It ended while thinking: its answer comes from its thoughts.")
    lines.append("Click to show or hide the thinking.")
    return "<br>".join(lines)


def answer_note(cand: CandidateInfo) -> str:
    """What a card's footer adds about where the answer came from (empty when nothing)."""
    if cand.answer_source == "thinking":
        return "taken from its thinking: it wrote no solution after it"
    return ""


class ThinkingBlock(QFrame):
    """A card's thinking, collapsed under its summary line (see the module notes)."""

    toggled = Signal(bool)  # expanded

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thinking")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.expanded = False
        self._widgets: list[QWidget] = []
        layout = QVBoxLayout(self)
        pad = theme.em(self, 0.2)
        layout.setContentsMargins(pad, pad, pad, pad)
        layout.setSpacing(pad)
        self.header = QToolButton()
        self.header.setObjectName("thinking-summary")
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.RightArrow)
        self.header.setAutoRaise(True)
        self.header.setCheckable(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        font = self.header.font()
        font.setItalic(True)
        self.header.setFont(font)
        layout.addWidget(self.header)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body_layout.setSpacing(theme.em(self, 0.25))
        self.body.hide()
        layout.addWidget(self.body)
        self.header.toggled.connect(self.set_expanded)
        self.hide()

    # ------------------------------------------------------------------ steps

    def take(self, widget: QWidget, node: NodeInfo) -> bool:
        """Hold the step's widget if it is a thinking step (its text without the tags)."""
        if not node.thinking:
            return False
        label = getattr(widget, "text", None)
        if label is not None:
            label.setText(strip_tags(node.text).strip() or "(end of thinking)")
        self.body_layout.addWidget(widget)
        self._widgets.append(widget)
        self.show()
        return True

    def holds(self, widget: QWidget) -> bool:
        return widget in self._widgets

    def solution_index(self, steps: Sequence[QWidget]) -> int:
        """Where the next solution step goes in the card's layout: after this block and the
        solution steps already there."""
        return 1 + sum(not self.holds(w) for w in steps)

    def clear(self) -> None:
        self._widgets.clear()  # the card deletes the widgets themselves
        self.hide()

    # ------------------------------------------------------------------ summary

    def set_expanded(self, expanded: bool) -> None:
        if expanded == self.expanded:
            return
        self.expanded = expanded
        self.header.setChecked(expanded)
        self.header.setArrowType(
            Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow
        )
        self.body.setVisible(expanded)
        self.toggled.emit(expanded)

    def update_summary(self, thought: ThinkingSummary | None, *, live_tokens: int = 0) -> None:
        if thought is None:
            self.header.setText("")
            return
        self.header.setText(summary_text(thought, live_tokens=live_tokens))
        self.header.setToolTip(summary_tooltip(thought))
        self.show()

    @property
    def summary(self) -> str:
        return self.header.text()


class ThinkingControls(QWidget):
    """Thinking: auto / on / off, and the thinking budget in tokens (0 = no limit)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.choice = QComboBox()
        for name in THINKING_CHOICES:
            self.choice.addItem(name, name)
            self.choice.setItemData(
                self.choice.count() - 1, THINKING_TIPS[name], Qt.ItemDataRole.ToolTipRole
            )
        self.choice.setToolTip(
            "Reasoning models think in a <think> block before they answer: auto leaves it to "
            "the model, on and off use its chat template's switch."
        )
        self.budget = QSpinBox()
        self.budget.setRange(*option("thinking_budget").bounds)
        self.budget.setSingleStep(256)
        self.budget.setSpecialValueText("no budget")
        self.budget.setSuffix(" tokens")
        self.budget.setToolTip(
            "Thinking budget: when a candidate has thought this many tokens its thinking is "
            "closed for it and it must answer (0 = no budget but Max tokens). It has to be "
            "below Max tokens."
        )
        layout.addWidget(self.choice)
        layout.addWidget(self.budget, 1)

    def value(self) -> str:
        return str(self.choice.currentData() or "auto")

    def set_value(self, value: object) -> None:
        index = self.choice.findData(value)
        if index >= 0:
            self.choice.setCurrentIndex(index)
