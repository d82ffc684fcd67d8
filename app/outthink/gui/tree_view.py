"""The search tree: every step a node (left to right by depth), its score on it, kept and
pruned branches coloured; a click on a node shows its text.

Beam search and DVTS branch: a kept beam's children continue its node. Best-of-N draws N
independent chains. The layout is a plain tidy tree (leaves one below the other, a parent
centred on its children), computed by :func:`tree_layout` without Qt.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QShowEvent, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from outthink.gui import theme
from outthink.gui.runstate import Changes, NodeInfo, RunState

ROOT = -1  # the problem itself, parent of every first step

#: Coalesce tree rebuilds (a scene rebuild per 50 ms batch would be wasted work).
REBUILD_MS = 200
MAX_FIT_SCALE = 1.5


def tree_layout(
    nodes: Mapping[int, NodeInfo], children: Mapping[int | None, Sequence[int]]
) -> dict[int, tuple[int, float]]:
    """(depth, row) of every node and of :data:`ROOT` (depth 0).

    Leaves get consecutive rows in depth-first order (children by node id); a parent sits at
    the mean row of its children. Iterative, so a deep tree cannot hit the recursion limit.
    """
    pos: dict[int, tuple[int, float]] = {}
    next_row = 0.0

    def kids(parent: int | None) -> list[int]:
        return sorted(c for c in children.get(parent, []) if c in nodes)

    # Post-order walk with an explicit stack: (node, depth, expanded?)
    stack: list[tuple[int | None, int, bool]] = [(None, 0, False)]
    while stack:
        node, depth, expanded = stack.pop()
        below = kids(node)
        if not expanded and below:
            stack.append((node, depth, True))
            for child in reversed(below):
                stack.append((child, depth + 1, False))
            continue
        key = ROOT if node is None else node
        if below:
            rows = [pos[c][1] for c in below]
            pos[key] = (depth, (min(rows) + max(rows)) / 2)
        else:
            pos[key] = (depth, next_row)
            next_row += 1
    return pos


class NodeItem(QGraphicsRectItem):
    def __init__(self, node_id: int, rect: QRectF) -> None:
        super().__init__(rect)
        self.node_id = node_id
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)


class _View(QGraphicsView):
    def __init__(self, scene: QGraphicsScene) -> None:
        super().__init__(scene)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.user_zoomed = False

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
            self.scale(factor, factor)
            self.user_zoomed = True
            event.accept()
            return
        super().wheelEvent(event)


class SearchTreeView(QWidget):
    def __init__(self, state: RunState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.items: dict[int, NodeItem] = {}
        self.selected_node: int | None = None
        self._dirty = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.legend = QLabel(self._legend())
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        bar.addWidget(self.legend, 1)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the whole tree in view (Ctrl+wheel zooms).")
        self.fit_button.clicked.connect(self.fit)
        bar.addWidget(self.fit_button)
        layout.addLayout(bar)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.scene = QGraphicsScene(self)
        self.view = _View(self.scene)
        split.addWidget(self.view)
        self.details = QTextBrowser()
        self.details.setPlaceholderText("Click a node to see its step.")
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        # Initial sizes in text lines: without them a long step in the side panel could
        # claim most of the width before the first resize.
        split.setSizes([theme.em(self, 40), theme.em(self, 14)])
        self.details.setMinimumWidth(theme.em(self, 8))
        self.view.setMinimumWidth(theme.em(self, 12))
        layout.addWidget(split, 1)
        self.scene.selectionChanged.connect(self._on_selection)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REBUILD_MS)
        self._timer.timeout.connect(self.rebuild)

    @staticmethod
    def _legend() -> str:
        def swatch(color: QColor, text: str) -> str:
            return f"<span style='color:{theme.css(color)}'>■</span> {text}"

        return " &nbsp; ".join(
            [
                swatch(theme.score_color(0.1, light=False), "low score"),
                swatch(theme.score_color(0.9, light=False), "high score"),
                swatch(theme.PRUNED, "pruned (dashed)"),
                swatch(theme.SELECTED, "chosen path"),
            ]
        )

    # ------------------------------------------------------------------ updates

    def restyle(self) -> None:
        """The theme changed: the legend and the tree in its colours."""
        self.legend.setText(self._legend())
        self.rebuild()

    def apply(self, changes: Changes) -> None:
        if changes.started:
            self.selected_node = None
            self.details.clear()
            self.view.user_zoomed = False
            self.rebuild()
            return
        if changes.tree or changes.selection or changes.finished:
            self._dirty = True
            if not self.isVisible():
                return  # rebuilt when shown (showEvent)
            if changes.finished or changes.selection:
                self.rebuild()  # the final picture at once
            elif not self._timer.isActive():
                self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self.rebuild()

    def rebuild(self) -> None:
        self._dirty = False
        st = self.state
        self.scene.blockSignals(True)
        self.scene.clear()
        self.items = {}
        self.scene.blockSignals(False)
        if not st.nodes:
            return
        em = theme.em(self)
        box_w, box_h = em * 3.6, em * 1.5
        dx, dy = em * 5.2, em * 2.0
        pos = tree_layout(st.nodes, st.children)
        chosen = st.selected_path()

        def center(key: int) -> tuple[float, float]:
            depth, row = pos[key]
            return depth * dx + box_w / 2, row * dy + box_h / 2

        # Edges first, under the boxes.
        for node in st.nodes.values():
            parent_key = ROOT if node.parent is None or node.parent not in pos else node.parent
            if node.node not in pos:
                continue
            (x0, y0), (x1, y1) = center(parent_key), center(node.node)
            path = QPainterPath()
            path.moveTo(x0 + box_w / 2, y0)
            mid = (x0 + box_w / 2 + x1 - box_w / 2) / 2
            path.cubicTo(mid, y0, mid, y1, x1 - box_w / 2, y1)
            edge = QGraphicsPathItem(path)
            if node.node in chosen:
                pen = QPen(theme.SELECTED, 3)
            elif node.state == "pruned":
                pen = QPen(theme.PRUNED, 1.2, Qt.PenStyle.DashLine)
            else:
                pen = QPen(self.palette().text().color(), 1.2)
            edge.setPen(pen)
            edge.setZValue(0)
            self.scene.addItem(edge)

        # The root: the problem.
        rx, ry = center(ROOT)
        root_w = max(box_w, self.fontMetrics().horizontalAdvance("problem") + em * 0.8)
        root = QGraphicsRectItem(QRectF(rx + box_w / 2 - root_w, ry - box_h / 2, root_w, box_h))
        root.setBrush(QBrush(self.palette().alternateBase().color()))
        root.setPen(QPen(self.palette().text().color(), 1))
        root.setToolTip(html.escape(st.problem))
        self.scene.addItem(root)
        label = QGraphicsSimpleTextItem("problem", root)
        label.setBrush(self.palette().text())
        br = label.boundingRect()
        label.setPos(rx + box_w / 2 - root_w / 2 - br.width() / 2, ry - br.height() / 2)

        for node in st.nodes.values():
            if node.node not in pos:
                continue
            x, y = center(node.node)
            item = NodeItem(node.node, QRectF(x - box_w / 2, y - box_h / 2, box_w, box_h))
            fill = theme.score_color(node.score)
            if node.state == "pruned":
                fill = fill.lighter(112)
                fill.setAlpha(120)
                pen = QPen(theme.PRUNED, 1.2, Qt.PenStyle.DashLine)
            elif node.node in chosen:
                pen = QPen(theme.SELECTED, 3)
            elif node.state == "finished":
                pen = QPen(theme.TINT_TEXT, 2)
            else:
                pen = QPen(theme.score_color(node.score, light=False), 1.2)
            item.setBrush(QBrush(fill))
            item.setPen(pen)
            item.setZValue(1)
            item.setToolTip(self._tooltip(node))
            text = theme.fmt_score(node.score)
            if node.state == "finished":
                correct = st.candidates[node.candidate].correct if (
                    node.candidate in st.candidates) else None
                text += " ■" if correct is None else (" ✓" if correct else " ✗")
            label = QGraphicsSimpleTextItem(text, item)
            label.setBrush(QBrush(theme.TINT_TEXT))
            br = label.boundingRect()
            label.setPos(x - br.width() / 2, y - br.height() / 2)
            self.scene.addItem(item)
            self.items[node.node] = item
        self.scene.setSceneRect(self.scene.itemsBoundingRect().adjusted(-em, -em, em, em))
        if self.selected_node in self.items:
            self.scene.blockSignals(True)
            self.items[self.selected_node].setSelected(True)
            self.scene.blockSignals(False)
        if not self.view.user_zoomed:
            self.fit()

    def fit(self) -> None:
        rect = self.scene.sceneRect()
        if rect.isEmpty():
            return
        self.view.resetTransform()
        self.view.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        # Small trees are enlarged a little for legibility, not blown up.
        if self.view.transform().m11() > MAX_FIT_SCALE:
            self.view.resetTransform()
            self.view.scale(MAX_FIT_SCALE, MAX_FIT_SCALE)
        self.view.user_zoomed = False

    @staticmethod
    def _state(node: NodeInfo) -> str:
        if node.state == "pruned" and node.pruned_because:
            return f"pruned ({node.pruned_because})"
        return node.state

    @classmethod
    def _tooltip(cls, node: NodeInfo) -> str:
        text = node.text.strip()
        short = text if len(text) < 300 else text[:300] + "…"
        return (
            f"<b>Node {node.node}</b> · candidate #{node.candidate} · step {node.index + 1} · "
            f"score {theme.fmt_score(node.score)} · {cls._state(node)}<hr>{html.escape(short)}"
        )

    def _on_selection(self) -> None:
        selected = [i for i in self.scene.selectedItems() if isinstance(i, NodeItem)]
        if not selected:
            return
        self.show_node(selected[0].node_id)

    def show_node(self, node_id: int) -> None:
        node = self.state.nodes.get(node_id)
        if node is None:
            return
        self.selected_node = node_id
        self.details.setHtml(
            f"<p><b>Node {node.node}</b> (candidate #{node.candidate}, step {node.index + 1})"
            f"<br>score <b>{theme.fmt_score(node.score)}</b> · {self._state(node)} · "
            f"{node.tokens} tokens · ended by {html.escape(node.stop)}</p>"
            f"<pre style='white-space: pre-wrap'>{html.escape(node.text.strip())}</pre>"
        )
