"""The search tree: the path to a clicked node, readable labels on big trees, zoom at hand."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFontInfo, QWheelEvent
from PySide6.QtWidgets import QApplication

from outthink.gui.app_controller import AppController
from outthink.gui.tree_view import MIN_LABEL_FRACTION, MIN_LABEL_PX, ZOOM_STEP
from outthink.search.strategies import strategy_names
from tests.gui.test_run_views import run_fake


@pytest.mark.skipif("beam" not in strategy_names(), reason="beam search not registered")
def test_a_click_on_a_node_shows_the_path_to_it(controller: AppController, qtbot: Any) -> None:
    w = controller.window
    w.show()
    run_fake(controller, qtbot, strategy="beam", n=4, width=2, select_rule="vanilla")
    w.tabs.setCurrentWidget(w.tree)
    st = controller.runs.state
    tree = w.tree
    deepest = max(st.nodes.values(), key=lambda n: n.index)
    chain = st.chain(deepest.node)
    assert len(chain) == 3 and len({n.candidate for n in chain}) > 1  # inherited steps
    tree.items[deepest.node].setSelected(True)
    text = tree.details.toPlainText()
    positions = [text.find(n.text.strip()) for n in chain]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
    assert "Path to node" in text and "Step 1" in text and "Step 3" in text
    assert "(this node)" in text
    # The path is outlined in the tree; the other nodes keep their own outline.
    highlight = tree.palette().highlight().color()
    on_path = {n.node for n in chain}
    for node_id, item in tree.items.items():
        assert (item.pen().color() == highlight and item.pen().style() == Qt.PenStyle.DotLine) \
            == (node_id in on_path), node_id
    # A rebuild (the next repaint of the run) keeps it.
    tree.rebuild()
    assert tree.items[chain[0].node].pen().style() == Qt.PenStyle.DotLine


@pytest.mark.skipif("dvts" not in strategy_names(), reason="DVTS not registered")
def test_big_trees_keep_readable_labels_and_zoom_is_at_hand(controller: AppController,
                                                           qtbot: Any) -> None:
    w = controller.window
    w.show()
    w.tabs.setCurrentWidget(w.tree)
    run_fake(controller, qtbot, strategy="dvts", n=32, width=4)
    tree = w.tree
    tree.rebuild()
    assert len(tree.items) > 60
    scale = tree.view.transform().m11()
    pixels = QFontInfo(tree.font()).pixelSize()
    label_px = QFontInfo(tree.labels[0].font()).pixelSize() * scale
    assert label_px >= MIN_LABEL_PX and label_px >= MIN_LABEL_FRACTION * pixels - 0.01
    assert tree.view.verticalScrollBar().maximum() > 0  # the rest is a scroll away
    # The chosen answer is in view.
    chosen = [n for n in controller.runs.state.selected_path() if n in tree.items]
    leaf = max(chosen, key=lambda n: controller.runs.state.nodes[n].index)
    seen = tree.view.mapToScene(tree.view.viewport().rect()).boundingRect()
    assert seen.contains(tree.items[leaf].sceneBoundingRect().center())
    # Zoom: the buttons, the level shown, the hint.
    assert "Ctrl+wheel" in tree.hint.text() and tree.hint.isVisible()
    assert tree.zoom_label.text() == f"{round(scale * 100)}%"
    qtbot.mouseClick(tree.zoom_in_button, Qt.MouseButton.LeftButton)
    assert tree.view.transform().m11() == pytest.approx(scale * ZOOM_STEP)
    assert tree.view.user_zoomed
    for _ in range(3):
        qtbot.mouseClick(tree.zoom_out_button, Qt.MouseButton.LeftButton)
    # Further out than readable: an overview without labels (never 7 px text).
    assert tree.view.transform().m11() < tree.min_scale()
    assert not any(label.isVisible() for label in tree.labels)
    qtbot.mouseClick(tree.fit_button, Qt.MouseButton.LeftButton)
    assert tree.view.transform().m11() == pytest.approx(scale)
    assert all(label.isVisible() for label in tree.labels)
    # Ctrl+wheel zooms too.
    center = tree.view.viewport().rect().center()
    wheel = QWheelEvent(QPointF(center), QPointF(tree.view.viewport().mapToGlobal(center)),
                        QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(tree.view.viewport(), wheel)
    assert tree.view.transform().m11() > scale
    # Ctrl+0 fits again.
    tree.view.setFocus()
    qtbot.keyClick(tree.view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert tree.view.transform().m11() == pytest.approx(scale)


def test_small_trees_still_fit_whole(controller: AppController, qtbot: Any) -> None:
    w = controller.window
    w.show()
    w.tabs.setCurrentWidget(w.tree)
    run_fake(controller, qtbot, n=2)
    tree = w.tree
    tree.rebuild()
    seen = tree.view.mapToScene(tree.view.viewport().rect()).boundingRect()
    assert seen.contains(tree.scene.itemsBoundingRect())
