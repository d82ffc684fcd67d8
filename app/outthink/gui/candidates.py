"""Candidates side by side: one card (column) per candidate or beam.

A card shows the candidate's solution split into steps, each tinted by its verifier score with
the number on it, the step being written (live text), and at the bottom the aggregated score
and the extracted answer. Pruned beams are greyed and collapsed to a narrow strip; a click on
the header expands them. The chosen candidate is outlined and says why it was chosen.

In beam search and DVTS a beam that survives a round is continued by new candidates (its
children); its own card would only repeat their prefix, so it is hidden (the search tree
shows it), and each child's card shows the inherited steps marked with the beam they came
from.

Many candidates (N = 32 or more) stay usable: the row scrolls, ``compact`` shrinks every card
to a strip of step scores (text in tooltips), and ``sort_by_score`` orders the cards.

A right-click on a card copies its whole solution or its answer. Under the footer, a live run's
card shows the candidate's time to first token and its tokens per second.
"""

from __future__ import annotations

import html
import math
from typing import Any

from PySide6.QtCore import QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QContextMenuEvent, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from outthink.gui import theme
from outthink.gui.clipboard import copy_text, defer_context_menus, popup, selected_text
from outthink.gui.mathtext import html_with_answers, latex_to_html
from outthink.gui.runstate import CandidateInfo, Changes, NodeInfo, RunState
from outthink.gui.thinking import ThinkingBlock, answer_note
from outthink.thinking import strip_tags

#: Cards built per event-loop turn: a card costs a few milliseconds of GUI time on a busy
#: machine, and a run with N = 64 announces all its candidates at once.
NEW_CARDS_PER_UPDATE = 2
#: Cards built at once when a run starts (the rest follow a few per turn).
STARTUP_CARDS = 16

PRUNE_REASONS = {
    "score": "better-scored beams took its place",
    "duplicate": "the same text as a better-ranked beam",
}

_REASONS = {
    "answer": "gave a final answer",
    "eog": "ended",
    "length": "hit the token limit",
    "steps": "hit the step limit",
    "cancelled": "stopped",
}


TIMING_TIP = (
    "Time to first token: from the start of the run (the model loaded) to this candidate's "
    "first text. Tokens/s: the tokens it wrote after that one, over the time it was writing. "
    "Both are measured by the window as the text arrives (shown every 50 ms), so they are "
    "close, not exact. All candidates are decoded together, so the run's speed is about the "
    "sum of theirs. A saved run that is opened again has no timing."
)


def timing_text(ttft: float | None, rate: float | None) -> str:
    """'first token 0.42 s · 18.3 tokens/s' (what is known of it; '' when nothing is)."""
    parts = []
    if ttft is not None:
        parts.append(f"first token {ttft:.2f} s")
    if rate is not None:
        parts.append(f"{rate:.1f} tokens/s")
    return " · ".join(parts)


def _show(widget: QWidget, visible: bool) -> None:
    """setVisible only when it changes anything: on hundreds of labels it is not free."""
    if widget.isHidden() == visible:
        widget.setVisible(visible)


def _tooltip_text(text: str, limit: int = 600) -> str:
    text = text.strip()
    return html.escape(text if len(text) <= limit else text[:limit] + "…")


class StepWidget(QWidget):
    """One step: its text on a tint of its score, the score in a badge.

    Painted by hand rather than styled with a style sheet: a style sheet per step (each with
    its own colour) made creating 32 cards take hundreds of milliseconds on the GUI thread.
    """

    def __init__(self, node: NodeInfo, owner: int, compact: bool) -> None:
        super().__init__()
        self.node_id = node.node
        self._score: float | None = -1.0  # forces the first update
        self._checked = True
        self._dimmed = False
        self._bg = theme.score_color(None)
        self._edge = theme.score_color(None, light=False)
        layout = QHBoxLayout(self)
        m = theme.em(self, 0.25)
        layout.setContentsMargins(m + theme.em(self, 0.15), m, m, m)
        layout.setSpacing(m)
        self._set_text_colour()
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        f = self.badge.font()
        f.setBold(True)
        self.badge.setFont(f)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        defer_context_menus(self)  # right-click: the card's menu
        self.inherited = node.candidate != owner
        self.text.setText(node.text.strip() or "(empty step)")
        self.set_compact(compact)
        self.update_node(node)

    def set_compact(self, compact: bool) -> None:
        _show(self.text, not compact)

    def set_dimmed(self, dimmed: bool) -> None:
        """Pruned: washed-out colours and grey text, still readable."""
        if dimmed == self._dimmed:
            return
        self._dimmed = dimmed
        self._set_text_colour()
        self._set_colours()

    def restyle(self) -> None:
        """The theme changed: text and tints in its colours."""
        self._set_text_colour()
        self._set_colours()

    def _set_text_colour(self) -> None:
        palette = self.palette()
        colour = theme.PRUNED_TEXT if self._dimmed else theme.TINT_TEXT
        palette.setColor(QPalette.ColorRole.WindowText, colour)
        palette.setColor(QPalette.ColorRole.Text, colour)
        self.setPalette(palette)

    def _set_colours(self) -> None:
        # A step the verifier had nothing to check is grey, like a step not scored yet.
        shown = self._score if self._checked else None
        self._bg = theme.score_color(shown)
        self._edge = theme.score_color(shown, light=False)
        if self._dimmed:
            self._bg = theme.washed(self._bg)
            self._edge = theme.washed(self._edge)
        self.update()

    def update_node(self, node: NodeInfo) -> None:
        if node.score == self._score and node.checked == self._checked:
            return
        self._score, self._checked = node.score, node.checked
        self._set_colours()
        badge = theme.fmt_score(node.score) if node.checked else "n/a"
        if not node.checked:
            badge_tip = "n/a: the verifier found nothing to check in this step"
            self.badge.setToolTip(badge_tip)
        self.badge.setText(f"{badge} ↰" if self.inherited else badge)
        origin = f"<br>Inherited from candidate #{node.candidate}." if self.inherited else ""
        self.setToolTip(
            f"<b>Step {node.index + 1}</b> · score {badge} · {node.tokens} tokens · "
            f"ended by {node.stop}{origin}<hr>{_tooltip_text(node.text)}"
        )
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect())
        radius = theme.em(self, 0.2)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self._bg)
        p.drawRoundedRect(r, radius, radius)
        p.setBrush(self._edge)
        p.drawRoundedRect(QRectF(r.left(), r.top(), theme.em(self, 0.2), r.height()), 1, 1)
        p.end()


class CandidateCard(QFrame):
    """One candidate's column."""

    toggled = Signal(int)
    #: Right-click: candidate id, global position, text selected under the pointer.
    menu_requested = Signal(int, QPoint, str)

    def __init__(self, cid: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cid = cid
        self.setObjectName("card")
        self.compact = False
        self.collapsed = False
        self.user_expanded = False
        self._style_key: tuple[object, ...] = ()
        self.steps: list[StepWidget] = []
        self._live = ""
        outer = self._outer = QVBoxLayout(self)
        pad = theme.em(self, 0.3)
        outer.setContentsMargins(pad, pad, pad, pad)
        outer.setSpacing(pad)

        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setCursor(Qt.CursorShape.PointingHandCursor)
        self.header.setWordWrap(True)
        self.header.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        outer.addWidget(self.header)

        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        # Transparent viewport, so the card's own painted background shows through.
        self.scroll_area.viewport().setAutoFillBackground(False)
        body = QWidget()
        self.body_layout = QVBoxLayout(body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body_layout.setSpacing(theme.em(self, 0.25))
        # A reasoning model's thinking, collapsed under one line, above the solution's steps.
        self.thinking = ThinkingBlock()
        self.body_layout.addWidget(self.thinking)
        self.live = QLabel()
        self.live.setObjectName("live")
        self.live.setTextFormat(Qt.TextFormat.PlainText)
        self.live.setWordWrap(True)
        self.live.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # The step being written: italic on the alternate background, until it is scored.
        self.live.setAutoFillBackground(True)
        self.live.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        font = self.live.font()
        font.setItalic(True)
        self.live.setFont(font)
        self.live.setMargin(theme.em(self, 0.2))
        self.live.hide()
        self.body_layout.addWidget(self.live)
        self.body_layout.addStretch(1)
        self.scroll_area.setWidget(body)
        outer.addWidget(self.scroll_area, 1)

        self.footer = QLabel()
        self.footer.setTextFormat(Qt.TextFormat.RichText)
        self.footer.setWordWrap(True)
        outer.addWidget(self.footer)
        self.timing = QLabel()
        self.timing.setTextFormat(Qt.TextFormat.PlainText)
        self.timing.setWordWrap(True)
        self.timing.setEnabled(False)  # greyed: secondary information
        small = self.timing.font()
        small.setPointSizeF(small.pointSizeF() * 0.85)
        self.timing.setFont(small)
        self.timing.setToolTip(TIMING_TIP)
        self.timing.hide()
        outer.addWidget(self.timing)
        defer_context_menus(self)
        self._apply_width()

    # ------------------------------------------------------------------ interaction

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        under = self.childAt(event.pos())
        self.menu_requested.emit(self.cid, event.globalPos(), selected_text(under))
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        # A click on the header (or anywhere on a collapsed strip) expands or collapses; the
        # right button opens the card's menu instead.
        on_header = self.header.geometry().contains(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and (self.collapsed or on_header):
            self.toggled.emit(self.cid)
            event.accept()
            return
        super().mousePressEvent(event)

    def set_collapsed(self, collapsed: bool) -> None:
        if collapsed == self.collapsed:
            return
        self.collapsed = collapsed
        _show(self.scroll_area, not collapsed)
        _show(self.footer, not collapsed)
        _show(self.timing, not collapsed and bool(self.timing.text()) and not self.compact)
        # Keep the header at the top of a collapsed strip (it would take the whole height).
        self._outer.setStretchFactor(self.header, 1 if collapsed else 0)
        self._apply_width()

    def set_compact(self, compact: bool) -> None:
        if compact == self.compact:
            return
        self.compact = compact
        for step in self.steps:
            step.set_compact(compact)
        self._apply_width()

    def _apply_width(self) -> None:
        # Widths in lines of text (em), so cards keep their proportions at any font size/DPI.
        if self.collapsed:
            width = theme.em(self, 3.2)
        elif self.compact:
            width = theme.em(self, 6.5)
        else:
            width = theme.em(self, 17)
        self.setFixedWidth(width)

    # ------------------------------------------------------------------ content

    def refresh(self, state: RunState) -> None:
        cand = state.candidates.get(self.cid)
        if cand is None:  # built ahead of the run's first tokens
            self.header.setText(f"<b>#{self.cid}</b> <small>waiting for the model…</small>")
            return
        path = state.path(self.cid)
        ids = [n.node for n in path]
        have = [s.node_id for s in self.steps]
        if have != ids[: len(have)]:
            for s in self.steps:
                s.setParent(None)
                s.deleteLater()
            self.steps, have = [], []
            self.thinking.clear()
        for node in path[len(have) :]:
            widget = StepWidget(node, self.cid, self.compact)
            widget.set_dimmed(cand.pruned)
            if not self.thinking.take(widget, node):
                self.body_layout.insertWidget(self.thinking.solution_index(self.steps), widget)
            self.steps.append(widget)
        for widget, node in zip(self.steps, path, strict=True):
            widget.update_node(node)
        self.thinking.update_summary(state.thinking_of(self.cid))
        live = strip_tags(cand.live_text).strip()
        if live != self._live:
            self._live = live
            self.live.setText(live)
            _show(self.live, bool(live) and not self.compact)
            self.live.setToolTip(_tooltip_text(cand.live_text))
        self._update_header(cand, len(path), stopped=state.status == "cancelled")
        self._update_footer(cand, state)
        self._update_timing(state)
        self._update_style(cand)
        if state.running and not cand.finished:
            # After the layout has grown (next turn), follow the text being written.
            QTimer.singleShot(0, self._follow)

    def _follow(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _update_header(self, cand: CandidateInfo, n_steps: int, stopped: bool = False) -> None:
        score = theme.fmt_score(cand.aggregate)
        if self.collapsed:
            self.header.setText(f"<b>#{cand.id}</b><br>{score}")
            self.header.setToolTip(
                f"Candidate #{cand.id}, {'pruned' if cand.pruned else 'collapsed'}, "
                f"score {score}. Click to expand."
            )
            return
        if cand.selected:
            state = "★ chosen"
        elif cand.pruned:
            state = "pruned"
        elif cand.finished and cand.reason != "cancelled":
            state = "finished"
        elif stopped or cand.reason == "cancelled":
            state = "stopped"
        else:
            state = "writing…"
        if cand.correct is not None:
            state += " · ✓ right" if cand.correct else " · ✗ wrong"
        plural = "" if n_steps == 1 else "s"
        if self.compact:
            self.header.setText(f"<b>#{cand.id}</b> {score}<br><small>{state}</small>")
        else:
            self.header.setText(
                "<table width='100%' cellspacing='0' cellpadding='0'><tr>"
                f"<td><b>#{cand.id}</b> &nbsp;<small>{state} · {n_steps} step{plural}</small></td>"
                f"<td align='right'><b>{score}</b></td></tr></table>"
            )
        tip = f"Candidate #{cand.id}: aggregated score {score}. Click the header to collapse."
        if cand.pruned:
            tip += " Pruned by the search; click to collapse."
        self.header.setToolTip(tip)

    def _update_footer(self, cand: CandidateInfo, state: RunState) -> None:
        parts = []
        if cand.finished:
            answer = latex_to_html(cand.answer) if cand.answer else "<i>no answer</i>"
            parts.append(f"Answer: <b>{answer}</b>")
            if answer_note(cand):
                parts.append(f"<small><i>{html.escape(answer_note(cand))}</i></small>")
            reason = _REASONS.get(cand.reason, cand.reason)
            if not self.compact:
                score = theme.fmt_score(cand.aggregate)
                parts.append(f"<small>{html.escape(reason)} · score {score}</small>")
        elif cand.pruned:
            why = PRUNE_REASONS.get(cand.pruned_because, cand.pruned_because or "pruned")
            parts.append(f"<small>pruned: {html.escape(why)}</small>")
        if cand.selected and state.selection is not None and not self.compact:
            sel = state.selection
            reason = html_with_answers(sel.reason, [sel.answer, *sel.votes])
            parts.append(f"<small><b>Chosen</b> ({html.escape(sel.rule)}): {reason}</small>")
        self.footer.setText("<br>".join(parts))
        _show(self.footer, bool(parts) and not self.collapsed)

    def _update_timing(self, state: RunState) -> None:
        text = timing_text(state.first_token_seconds(self.cid), state.candidate_rate(self.cid))
        if text != self.timing.text():
            self.timing.setText(text)
        _show(self.timing, bool(text) and not self.compact and not self.collapsed)

    def restyle(self) -> None:
        for step in self.steps:
            step.restyle()
        self.update()

    def _update_style(self, cand: CandidateInfo) -> None:
        key = (cand.selected, cand.pruned, cand.finished)
        if key == self._style_key:
            return
        self._style_key = key
        # Greyed out: pruned beams stay readable but clearly out of the race.
        for step in self.steps:
            step.set_dimmed(cand.pruned)
        for w in (self.header, self.footer):
            w.setEnabled(not cand.pruned)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        selected, pruned, _finished = self._style_key or (False, False, False)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        if selected:
            pen = QPen(theme.SELECTED, max(2.0, theme.em(self, 0.18)))
        elif pruned:
            pen = QPen(theme.PRUNED, 1.0, Qt.PenStyle.DashLine)
        else:
            pen = QPen(pal.mid().color(), 1.0)
        p.setPen(pen)
        p.setBrush(pal.window().color() if pruned else pal.base().color())
        half = pen.widthF() / 2
        radius = theme.em(self, 0.4)
        p.drawRoundedRect(QRectF(self.rect()).adjusted(half, half, -half, -half), radius, radius)
        p.end()


class CandidatesView(QWidget):
    """The row of cards, with compact and sort toggles."""

    #: Something was copied to the clipboard: a line for the status bar.
    copied = Signal(str)

    def __init__(self, state: RunState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.cards: dict[int, CandidateCard] = {}
        self._order: list[int] = []
        self._more_pending = False
        self._expected = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.summary = QLabel("No run yet. Pick a problem and press Run.")
        # Wraps rather than widening the window (it must fit 1024 px with the history shown).
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.summary, 1)
        self.compact_box = QCheckBox("Compact")
        self.compact_box.setToolTip(
            "Shrink every card to its step scores (step text in tooltips): for large N."
        )
        self.sort_box = QCheckBox("Sort by score")
        self.sort_box.setToolTip("Order the cards by aggregated score, best first.")
        self.pruned_box = QCheckBox("Show pruned")
        self.pruned_box.setChecked(True)
        self.pruned_box.setToolTip("Show the beams the search pruned (greyed, collapsed).")
        for box in (self.compact_box, self.sort_box, self.pruned_box):
            bar.addWidget(box)
        layout.addLayout(bar)

        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.row_widget = QWidget()
        self.row = QHBoxLayout(self.row_widget)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(theme.em(self, 0.4))
        self.row.addStretch(1)
        self.scroll_area.setWidget(self.row_widget)
        layout.addWidget(self.scroll_area, 1)

        self.compact_box.toggled.connect(self.set_compact)
        self.sort_box.toggled.connect(lambda _on: self._reorder(force=True))
        self.pruned_box.toggled.connect(lambda _on: self._sync_visibility())

    # ------------------------------------------------------------------ updates

    def clear(self) -> None:
        self._expected = 0
        for card in self.cards.values():
            card.setParent(None)
            card.deleteLater()
        self.cards.clear()
        self._order = []
        self._update_summary()

    def apply(self, changes: Changes) -> None:
        if changes.started:
            self.clear()
            self._expected = changes.expected
        if changes.finished:
            # Placeholders of candidates that never came (adaptive runs stop early).
            self._expected = 0
            for cid in [c for c in self.cards if c not in self.state.candidates]:
                stale = self.cards.pop(cid)
                self._order.remove(cid)
                stale.setParent(None)
                stale.deleteLater()
        self._create_cards(changes)
        refresh = set(changes.candidates)
        if changes.finished:
            # Every card says how the run ended for it ("stopped" after Stop).
            refresh |= set(self.state.candidates)
        for cid in refresh:
            card = self.cards.get(cid)
            cand = self.state.candidates.get(cid)
            if card is None or cand is None:
                continue
            if cand.pruned and not card.user_expanded:
                card.set_collapsed(True)
            card.refresh(self.state)
        if changes.candidates or changes.tree:
            self._sync_visibility()
        self._reorder()
        self._update_summary()
        if changes.selection and self.state.selection is not None:
            QTimer.singleShot(0, self._show_chosen)

    def _show_chosen(self) -> None:
        sel = self.state.selection
        chosen = self.cards.get(sel.candidate if sel and sel.candidate is not None else -1)
        if chosen is not None:
            self.scroll_area.ensureWidgetVisible(chosen)

    def _create_cards(self, changes: Changes) -> None:
        """Build a few missing cards now and schedule the rest for the next event-loop turns,
        so a run announcing 64 candidates never holds the GUI thread for long."""
        wanted = set(self.state.candidates) | set(range(self._expected))
        missing = [cid for cid in sorted(wanted) if cid not in self.cards]
        # A new run's first cards are built at once, before its worker starts: building
        # widgets sends hundreds of events through Python, and each needs the GIL, which the
        # worker holds most of the time while it loads a model (pure-Python header parsing).
        # Built now, they cost a few milliseconds; built during loading, ten times as much.
        now = missing[: STARTUP_CARDS if changes.started else NEW_CARDS_PER_UPDATE]
        for cid in now:
            card = CandidateCard(cid)
            card.set_compact(self.compact_box.isChecked())
            card.toggled.connect(self._toggle)
            card.menu_requested.connect(self.show_card_menu)
            self.cards[cid] = card
            self.row.insertWidget(self.row.count() - 1, card)
            self._order.append(cid)
            card.refresh(self.state)
            changes.candidates.add(cid)
        if len(missing) > len(now) and not self._more_pending:
            self._more_pending = True
            QTimer.singleShot(0, self._create_more)

    # ------------------------------------------------------------------ copying

    def card_menu_entries(self, cid: int, selected: str = "") -> list[tuple[str, Any]]:
        """The card's context menu: (label, action), the action None when there is nothing
        to copy."""
        cand = self.state.candidates.get(cid)
        entries: list[tuple[str, Any]] = []
        if selected:
            entries.append(("Copy selected text", lambda: self._copy(selected, "Selected text")))
        solution = self.state.solution_text(cid)
        entries.append(("Copy solution", (lambda: self.copy_solution(cid)) if solution else None))
        answer = cand.answer if cand is not None else None
        entries.append(("Copy answer", (lambda: self.copy_answer(cid)) if answer else None))
        return entries

    def show_card_menu(self, cid: int, at: QPoint, selected: str = "") -> QMenu:
        self.menu = popup(self, self.card_menu_entries(cid, selected), at)
        return self.menu

    def copy_solution(self, cid: int) -> bool:
        return self._copy(self.state.solution_text(cid), f"Solution of candidate #{cid}")

    def copy_answer(self, cid: int) -> bool:
        cand = self.state.candidates.get(cid)
        return self._copy(cand.answer or "" if cand else "", f"Answer of candidate #{cid}")

    def _copy(self, text: str, what: str) -> bool:
        if not copy_text(text):
            return False
        self.copied.emit(f"{what} copied to the clipboard.")
        return True

    def _create_more(self) -> None:
        self._more_pending = False
        self.apply(Changes())

    def restyle(self) -> None:
        """The theme changed: every card in its colours."""
        for card in self.cards.values():
            card.restyle()

    def set_compact(self, compact: bool) -> None:
        for card in self.cards.values():
            card.set_compact(compact)
            card.refresh(self.state)

    def _toggle(self, cid: int) -> None:
        card = self.cards[cid]
        if cid not in self.state.candidates:
            return
        card.user_expanded = card.collapsed
        card.set_collapsed(not card.collapsed)
        card.refresh(self.state)

    def continued(self, cand: CandidateInfo) -> bool:
        """True for a beam that lives on in children (its card would repeat their prefix)."""
        if cand.finished or cand.pruned or cand.last_node is None:
            return False
        return any(
            self.state.nodes[child].candidate != cand.id
            for child in self.state.children.get(cand.last_node, [])
        )

    def _sync_visibility(self) -> None:
        show_pruned = self.pruned_box.isChecked()
        for cid, card in self.cards.items():
            cand = self.state.candidates.get(cid)
            visible = cand is None or (
                not self.continued(cand) and (show_pruned or not cand.pruned)
            )
            _show(card, visible)

    def _sort_key(self, cid: int) -> tuple[float, int]:
        cand = self.state.candidates.get(cid)
        score = cand.aggregate if cand is not None else None
        if cand is None or score is None or math.isnan(score):
            return (math.inf, cid)
        return (-score - (1.0 if cand.selected else 0.0), cid)

    def _reorder(self, force: bool = False) -> None:
        order = sorted(self.cards, key=self._sort_key) if self.sort_box.isChecked() else sorted(
            self.cards
        )
        if order == self._order and not force:
            return
        for index, cid in enumerate(order):
            self.row.insertWidget(index, self.cards[cid])
        self._order = order

    def _update_summary(self) -> None:
        st = self.state
        if not st.candidates:
            if st.status == "idle":
                return
            self.summary.setText("Starting…" if st.running else "No candidates.")
            return
        cands = list(st.candidates.values())
        finished = sum(c.finished for c in cands)
        pruned = sum(c.pruned for c in cands)
        shown = sum(1 for c in self.cards.values() if c.isVisibleTo(self.row_widget))
        parts = [f"{shown} cards", f"{finished} finished"]
        if pruned:
            parts.append(f"{pruned} pruned")
        self.summary.setText(" · ".join(parts))
