"""The answer panel: the final answer in large type, why it won, the answer groups as a bar
chart (votes and summed scores), and the run's cost (tokens, time, tokens/s). A button and a
right-click menu copy the answer (or the chosen candidate's solution)."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QPoint, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QContextMenuEvent, QFontMetrics, QIcon, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from outthink.gui import theme
from outthink.gui.clipboard import copy_text, defer_context_menus, popup, selected_text
from outthink.gui.mathtext import html_with_answers, latex_to_html, latex_to_unicode
from outthink.gui.runstate import Changes, RunState

#: Rows drawn at most; the rest are summed up in one line.
MAX_ROWS = 8


class AnswerChart(QWidget):
    """Horizontal bars per answer group: votes (blue) and summed verifier score (green)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups: list[tuple[str, int, float]] = []
        self.winner: str | None = None
        self.setMinimumHeight(theme.em(self, 4))

    def set_groups(self, groups: list[tuple[str, int, float]], winner: str | None) -> None:
        # Best first: summed score, then votes (the weighted rule's order).
        ordered = sorted(groups, key=lambda g: (-g[2], -g[1], g[0]))
        if ordered == self.groups and winner == self.winner:
            return  # nothing new: no repaint during a run's token stream
        self.groups = ordered
        self.winner = winner
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        rows = min(len(self.groups), MAX_ROWS) + 2
        return QSize(theme.em(self, 24), round(rows * theme.em(self, 1.5)))

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = QFontMetrics(self.font())
        pal = self.palette()
        text_pen = QPen(pal.windowText().color())
        p.setPen(text_pen)
        rect = self.rect().adjusted(2, 2, -2, -2)
        if not self.groups:
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No answers yet")
            p.end()
            return
        line = fm.height()
        # Rows shrink to fit the panel (down to 1.15 lines each); what does not fit is summed
        # up in a last line.
        fit = int((rect.height() - line * 1.4) // (line * 1.15))
        rows = max(1, min(len(self.groups), MAX_ROWS, fit))
        if rows < len(self.groups):
            rows = max(1, min(rows, fit - 1))
        row_h = max(line * 1.15, min(line * 1.5, (rect.height() - line * 1.4) / (rows + 1)))
        shown = self.groups[:rows]
        labels = [latex_to_unicode(a) or a for a, _, _ in shown]
        widest = max([fm.horizontalAdvance(s) for s in labels] + [fm.horizontalAdvance("answer")])
        label_w = min(widest + line, rect.width() * 0.35)
        bars_x = rect.left() + label_w
        bars_w = max(1.0, rect.width() - label_w)
        half = bars_w / 2
        reserve = fm.horizontalAdvance("000.00") + line * 0.5  # room for the number
        bar_max = max(1.0, half - reserve)
        max_votes = max(v for _, v, _ in self.groups) or 1
        max_score = max(s for _, _, s in self.groups) or 1.0
        y = float(rect.top())
        title_h = line * 1.4
        middle = Qt.AlignmentFlag.AlignVCenter
        p.drawText(QRectF(rect.left(), y, label_w, title_h), middle, "answer")
        p.drawText(QRectF(bars_x, y, half, title_h), Qt.AlignmentFlag.AlignVCenter, "votes")
        p.drawText(
            QRectF(bars_x + half, y, half, title_h),
            Qt.AlignmentFlag.AlignVCenter,
            "summed score",
        )
        y += title_h
        bar_h = min(line * 1.0, row_h * 0.8)
        for (answer, votes, score), label in zip(shown, labels, strict=True):
            win = answer == self.winner
            font = p.font()
            font.setBold(win)
            p.setFont(font)
            p.setPen(text_pen)
            elided = fm.elidedText(label, Qt.TextElideMode.ElideRight, round(label_w - line * 0.5))
            p.drawText(QRectF(rect.left(), y, label_w, row_h), middle, elided)
            top = y + (row_h - bar_h) / 2
            for x0, value, full, colour, text in (
                (bars_x, votes, max_votes, theme.VOTES, str(votes)),
                (bars_x + half, score, max_score, theme.SCORES, f"{score:.2f}"),
            ):
                w = max(2.0, bar_max * (value / full if full else 0.0))
                # The other groups' bars recede: paler on a light palette, deeper on a dark one.
                faded = colour.darker(170) if theme.is_dark() else colour.lighter(135)
                c = colour if win or self.winner is None else faded
                p.fillRect(QRectF(x0, top, w, bar_h), c)
                if win:
                    p.setPen(QPen(theme.SELECTED, 2))
                    p.drawRect(QRectF(x0, top, w, bar_h))
                p.setPen(text_pen)
                p.drawText(
                    QRectF(x0 + w + line * 0.25, y, reserve, row_h),
                    Qt.AlignmentFlag.AlignVCenter,
                    text,
                )
            y += row_h
        if len(self.groups) > rows:
            rest = self.groups[rows:]
            font = p.font()
            font.setBold(False)
            p.setFont(font)
            p.setPen(text_pen)
            p.drawText(
                QRectF(rect.left(), y, rect.width(), row_h),
                Qt.AlignmentFlag.AlignVCenter,
                f"+ {len(rest)} more answers ({sum(v for _, v, _ in rest)} votes)",
            )
        p.end()


class AnswerPanel(QFrame):
    #: Something was copied to the clipboard: a line for the status bar.
    copied = Signal(str)

    def __init__(self, state: RunState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # Room for the caption, the answer in large type, two lines of reason and the stats.
        self.setMinimumHeight(theme.em(self, 9.5))
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        top = QHBoxLayout()
        caption = QLabel("Answer")
        caption.setEnabled(False)
        top.addWidget(caption)
        self.copy_button = QToolButton()
        self.copy_button.setIcon(QIcon.fromTheme("edit-copy"))
        self.copy_button.setText("Copy")
        self.copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.copy_button.setAutoRaise(True)
        self.copy_button.setToolTip(
            "Copy the chosen answer. Right-click the panel to copy the chosen candidate's "
            "whole solution; right-click a card to copy that candidate's."
        )
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_answer)
        top.addWidget(self.copy_button)
        top.addStretch(1)
        left.addLayout(top)
        self.answer = QLabel("–")
        self.answer.setTextFormat(Qt.TextFormat.RichText)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.answer.font()
        font.setPointSizeF(font.pointSizeF() * 2.4)
        font.setBold(True)
        self.answer.setFont(font)
        left.addWidget(self.answer)
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        self.reason.setTextFormat(Qt.TextFormat.RichText)
        left.addWidget(self.reason)
        self.stats = QLabel("")
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.stats.setToolTip(
            "The run's policy tokens, time and speed. First token: from the start of the run "
            "(the model loaded) to the first text of any candidate, measured by the window as "
            "the text arrives (close, not exact; not known for a saved run opened again)."
        )
        left.addWidget(self.stats)
        left.addStretch(1)
        layout.addLayout(left, 2)
        self.chart = AnswerChart()
        self.chart.setToolTip(
            "Answer groups (equivalent answers grouped): votes = candidates giving the answer; "
            "summed score = their aggregated verifier scores added up (the weighted rule)."
        )
        layout.addWidget(self.chart, 3)
        defer_context_menus(self)
        # Elapsed time and token count tick while a run goes on.
        self._clock = QTimer(self)
        self._clock.setInterval(500)
        self._clock.timeout.connect(self._update_stats)

    # ------------------------------------------------------------------ copying

    def chosen_answer(self) -> str:
        sel = self.state.selection
        return sel.answer or "" if sel is not None else ""

    def menu_entries(self, selected: str = "") -> list[tuple[str, Any]]:
        """The panel's context menu: (label, action), None when there is nothing to copy."""
        entries: list[tuple[str, Any]] = []
        if selected:
            entries.append(("Copy selected text", lambda: self._copy(selected, "Selected text")))
        entries.append(("Copy answer", self.copy_answer if self.chosen_answer() else None))
        sel = self.state.selection
        cid = sel.candidate if sel is not None else None
        has_solution = cid is not None and bool(self.state.solution_text(cid))
        entries.append(
            ("Copy the chosen solution", self.copy_solution if has_solution else None)
        )
        return entries

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        self.show_menu(event.globalPos(), selected_text(self.childAt(event.pos())))
        event.accept()

    def show_menu(self, at: QPoint, selected: str = "") -> QMenu:
        self.menu = popup(self, self.menu_entries(selected), at)
        return self.menu

    def copy_answer(self) -> bool:
        return self._copy(self.chosen_answer(), "Answer")

    def copy_solution(self) -> bool:
        sel = self.state.selection
        if sel is None or sel.candidate is None:
            return False
        return self._copy(self.state.solution_text(sel.candidate), "Chosen solution")

    def _copy(self, text: str, what: str) -> bool:
        if not copy_text(text):
            return False
        self.copied.emit(f"{what} copied to the clipboard.")
        return True

    # ------------------------------------------------------------------ updates

    def restyle(self) -> None:
        """The theme changed: the right/wrong mark and the chart in its colours."""
        if self.state.selection is not None:
            self.apply(Changes(selection=True))
        self.chart.update()

    def apply(self, changes: Changes) -> None:
        st = self.state
        if changes.started:
            self.answer.setText("…")
            self.reason.setText("")
            self.chart.set_groups([], None)
            self._clock.start()
        if changes.selection or changes.finished or changes.started or changes.candidates:
            winner = st.winning_group()
            self.chart.set_groups(st.answer_groups(), winner)
        if changes.selection and st.selection is not None:
            sel = st.selection
            shown = latex_to_html(sel.answer) if sel.answer else "<i>no answer found</i>"
            correct = st.chosen_correct()
            if correct is not None and st.reference is not None:
                ref = latex_to_html(st.reference)
                shown += (
                    f" <span style='color:{theme.RIGHT.name()}'>✓ right</span>"
                    if correct
                    else f" <span style='color:{theme.WRONG.name()}'>✗ wrong</span>"
                    f" <small>(reference {ref})</small>"
                )
            self.answer.setText(shown)
            reason = html_with_answers(sel.reason, [sel.answer, *sel.votes])
            self.reason.setText(f"<b>{html.escape(sel.rule)}</b>: {reason}")
        if changes.finished:
            self._clock.stop()
            if st.status == "cancelled" and st.selection is None:
                self.answer.setText("<i>stopped</i>")
                self.reason.setText("The run was stopped before an answer was chosen; "
                                    "the candidates keep what they wrote.")
            elif st.status == "failed":
                self.answer.setText("<i>failed</i>")
                if st.error:
                    self.reason.setText(html.escape(st.error[0]))
        self.copy_button.setEnabled(bool(self.chosen_answer()))
        self._update_stats()

    def _update_stats(self) -> None:
        st = self.state
        if st.status == "idle":
            self.stats.setText("")
            return
        tokens = st.tokens()
        secs = st.elapsed()
        rate = f" · {tokens / secs:.1f} tokens/s" if secs > 0 and tokens else ""
        verifier = int(st.usage.get("verifier_tokens", 0) or 0)
        extra = f" (+{verifier:,} verifier)" if verifier else ""
        ttft = st.first_token_seconds()
        first = f" · first token {ttft:.2f} s" if ttft is not None else ""
        self.stats.setText(f"{tokens:,} tokens{extra} · {secs:.1f} s{rate}{first}")
