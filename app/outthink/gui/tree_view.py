"""The search tree: every step a node (left to right by depth), its score on it, kept and
pruned branches coloured; a click on a node shows the path to it, every step from the problem
down to that one, and outlines that path.

Labels stay readable: fitting a big tree (DVTS) in view never shrinks them below
:data:`MIN_LABEL_FRACTION` of the text size (nor :data:`MIN_LABEL_PX`); the rest of the tree
is a drag or a scroll away. Zoom is at hand: − and + buttons with the zoom level, Ctrl+wheel,
Ctrl++ / Ctrl+− / Ctrl+0; zoomed out further than readable, the boxes keep their colours and
tooltips but drop their labels.

Beam search and DVTS branch: a kept beam's children continue its node. Best-of-N draws N
independent chains. The layout is a plain tidy tree (leaves one below the other, a parent
centred on its children), computed by :func:`tree_layout` without Qt.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontInfo,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPen,
    QShortcut,
    QShowEvent,
    QWheelEvent,
)
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
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from outthink.gui import theme
from outthink.gui.runstate import Changes, NodeInfo, RunState

ROOT = -1  # the problem itself, parent of every first step

#: Coalesce tree rebuilds (a scene rebuild per 50 ms batch would be wasted work).
REBUILD_MS = 200
MAX_FIT_SCALE = 1.5
#: Labels are never drawn smaller than this fraction of the text size, nor than MIN_LABEL_PX.
MIN_LABEL_FRACTION = 0.8
MIN_LABEL_PX = 9
#: The zoom range the user can reach (below the readable scale, labels are dropped).
MIN_ZOOM, MAX_ZOOM = 0.15, 4.0
ZOOM_STEP = 1.25


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
    zoomed = Signal()  # the scale changed

    def __init__(self, scene: QGraphicsScene) -> None:
        super().__init__(scene)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.user_zoomed = False

    def zoom_by(self, factor: float) -> None:
        """Zoom around the middle of the view, within MIN_ZOOM..MAX_ZOOM (the user's zoom)."""
        now = self.transform().m11()
        factor = max(MIN_ZOOM / now, min(MAX_ZOOM / now, factor))
        self.scale(factor, factor)
        self.user_zoomed = True
        self.zoomed.emit()

    def set_scale(self, scale: float) -> None:
        self.resetTransform()
        self.scale(scale, scale)
        self.zoomed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            anchor = self.transformationAnchor()
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
            self.zoom_by(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)
            self.setTransformationAnchor(anchor)
            event.accept()
            return
        super().wheelEvent(event)


class SearchTreeView(QWidget):
    view: _View

    def __init__(self, state: RunState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.items: dict[int, NodeItem] = {}
        #: Each node's own outline, to put back when it leaves the outlined path.
        self._pens: dict[int, QPen] = {}
        self.labels: list[QGraphicsSimpleTextItem] = []
        self.selected_node: int | None = None
        self._dirty = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.legend = QLabel(self._legend())
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.legend, 1)
        layout.addLayout(bar)
        zoom_bar = QHBoxLayout()
        self.zoom_out_button = QToolButton()
        self.zoom_out_button.setText("−")
        self.zoom_out_button.setToolTip("Zoom out (Ctrl+−, or Ctrl+wheel down).")
        self.zoom_out_button.clicked.connect(lambda: self.view.zoom_by(1 / ZOOM_STEP))
        self.zoom_label = QLabel("100%")
        self.zoom_label.setToolTip(
            "Zoom level. Ctrl+wheel zooms where the pointer is; drag the tree to move around."
        )
        self.zoom_in_button = QToolButton()
        self.zoom_in_button.setText("+")
        self.zoom_in_button.setToolTip("Zoom in (Ctrl++, or Ctrl+wheel up).")
        self.zoom_in_button.clicked.connect(lambda: self.view.zoom_by(ZOOM_STEP))
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip(
            "Fit the tree in view (Ctrl+0), as small as its labels stay readable; a bigger "
            "tree is then scrolled or dragged."
        )
        self.fit_button.clicked.connect(self.fit)
        self.hint = QLabel("Ctrl+wheel zooms · drag to move")
        self.hint.setToolTip("Click a node to see the path to it. Ctrl++, Ctrl+− and Ctrl+0 "
                             "zoom in, out and fit.")
        self.hint.setEnabled(False)  # greyed: a hint
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        zoom_bar.addWidget(self.hint, 1)
        for widget in (self.zoom_out_button, self.zoom_label, self.zoom_in_button,
                       self.fit_button):
            zoom_bar.addWidget(widget)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.scene = QGraphicsScene(self)
        self.view = _View(self.scene)
        self.view.zoomed.connect(self._on_zoomed)
        for keys, action in (
            (("Ctrl++", "Ctrl+="), lambda: self.view.zoom_by(ZOOM_STEP)),
            (("Ctrl+-",), lambda: self.view.zoom_by(1 / ZOOM_STEP)),
            (("Ctrl+0",), self.fit),
        ):
            for key in keys:
                shortcut = QShortcut(QKeySequence(key), self)
                shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                shortcut.activated.connect(action)
        split.addWidget(self.view)
        self.details = QTextBrowser()
        self.details.setPlaceholderText(
            "Click a node to see the path to it: every step from the problem down to it."
        )
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
        layout.addLayout(zoom_bar)
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
        self._pens = {}
        self.labels = []
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
            fill = theme.score_color(node.score if node.checked else None)
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
            text = theme.fmt_score(node.score) if node.checked else "n/a"
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
            self._pens[node.node] = pen
            self.labels.append(label)
        self.scene.setSceneRect(self.scene.itemsBoundingRect().adjusted(-em, -em, em, em))
        if self.selected_node in self.items:
            self.scene.blockSignals(True)
            self.items[self.selected_node].setSelected(True)
            self.scene.blockSignals(False)
        self._outline_path()
        if not self.view.user_zoomed:
            self.fit()
        else:
            self._on_zoomed()

    # ------------------------------------------------------------------ zoom

    def min_scale(self) -> float:
        """The smallest scale at which node labels stay readable."""
        pixels = QFontInfo(self.font()).pixelSize() or theme.em(self)
        return max(MIN_LABEL_FRACTION, MIN_LABEL_PX / pixels)

    def fit(self) -> None:
        """The whole tree in view, unless its labels would get too small: then the readable
        scale, showing the chosen path (or the problem) first."""
        rect = self.scene.sceneRect()
        if rect.isEmpty():
            return
        self.view.resetTransform()
        self.view.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        scale = self.view.transform().m11()
        # Small trees are enlarged a little for legibility, not blown up; big ones are not
        # shrunk past readable.
        scale = min(MAX_FIT_SCALE, max(self.min_scale(), scale))
        self.view.set_scale(scale)
        # Too big to fit: the problem at the left edge, the chosen answer's row in the middle.
        seen = self.view.viewport().width() / scale
        x = rect.center().x() if rect.width() <= seen else rect.left() + seen / 2
        chosen = [n for n in self.state.selected_path() if n in self.items]
        y = rect.center().y()
        if chosen:
            last = max(chosen, key=lambda n: self.state.nodes[n].index)
            y = self.items[last].sceneBoundingRect().center().y()
        self.view.centerOn(x, y)
        self.view.user_zoomed = False

    def _on_zoomed(self) -> None:
        scale = self.view.transform().m11()
        readable = scale >= self.min_scale() - 1e-6
        for label in self.labels:
            if label.isVisible() != readable:
                label.setVisible(readable)
        self.zoom_label.setText(f"{round(scale * 100)}%")
        self.zoom_out_button.setEnabled(scale > MIN_ZOOM + 1e-6)
        self.zoom_in_button.setEnabled(scale < MAX_ZOOM - 1e-6)
        self.zoom_label.setToolTip(
            "Zoom level. Ctrl+wheel zooms where the pointer is; drag the tree to move around."
            + ("" if readable else " Zoomed out this far, the scores are in the tooltips.")
        )

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
        """Show the path to the node: every step from the problem down to it, that one last
        and marked, each with its score; outline the path in the tree."""
        node = self.state.nodes.get(node_id)
        if node is None:
            return
        self.selected_node = node_id
        chain = self.state.chain(node_id)
        steps = len(chain)
        parts = [
            f"<p><b>Path to node {node.node}</b>: {steps} step{'s' if steps != 1 else ''}, "
            f"ending at step {node.index + 1} of candidate #{node.candidate}.</p>"
        ]
        highlight = theme.css(self.palette().highlight().color())
        for step in chain:
            last = step.node == node_id
            head = (
                f"<b>Step {step.index + 1}</b> · score <b>{theme.fmt_score(step.score)}</b> · "
                f"node {step.node}, candidate #{step.candidate} · {self._state(step)} · "
                f"{step.tokens} tokens · ended by {html.escape(step.stop)}"
            )
            if last:
                head = f"<span style='color:{highlight}'>▶</span> {head} (this node)"
            parts.append(
                f"<p style='margin-bottom:0'>{head}</p>"
                f"<pre style='white-space: pre-wrap; margin-top:2px'>"
                f"{html.escape(step.text.strip())}</pre>"
            )
        self.details.setHtml("".join(parts))
        self._outline_path()

    def path_nodes(self) -> list[int]:
        """The nodes on the path to the clicked node (none clicked: empty)."""
        if self.selected_node is None:
            return []
        return [n.node for n in self.state.chain(self.selected_node)]

    def _outline_path(self) -> None:
        """The steps leading to the clicked node get the highlight outline."""
        on_path = set(self.path_nodes())
        pen = QPen(self.palette().highlight().color(), 3, Qt.PenStyle.DotLine)
        for node_id, item in self.items.items():
            item.setPen(pen if node_id in on_path else self._pens[node_id])
