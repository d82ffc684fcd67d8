"""The Models window says what each model is for, which ones suit this computer's RAM, which
one is recommended, and how much disk is free; it opens at a size made for its content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtGui import QFont

from outthink import memory
from outthink.config import Settings
from outthink.gui import theme
from outthink.gui.models_dialog import ModelsController, ModelsDialog

GIB = 1 << 30


@pytest.fixture
def small_computer(monkeypatch: pytest.MonkeyPatch) -> None:
    """4 GiB of RAM and 12 GiB free on the disk of the models folder."""
    monkeypatch.setattr(memory, "physical_memory", lambda: 4 * GIB)
    monkeypatch.setattr(memory, "disk_free", lambda folder: 12 * GIB)


@pytest.fixture
def dialog(qtbot: Any, small_computer: None) -> Iterator[ModelsDialog]:
    controller = ModelsController(Settings())
    dlg = ModelsDialog(controller)
    qtbot.addWidget(dlg)
    dlg.show()
    yield dlg
    controller.shutdown()


def row(dlg: ModelsDialog, model_id: str) -> dict[str, str]:
    model = dlg.controller.model
    r = model.row_of(model_id)
    return {name: str(model.index(r, col).data())
            for col, name in enumerate(model.COLUMNS)}


def column(dlg: ModelsDialog, name: str) -> int:
    return dlg.controller.model.COLUMNS.index(name)


def test_each_model_says_what_it_is_for(dialog: ModelsDialog) -> None:
    assert row(dialog, "qwen2.5-math-1.5b-instruct")["Purpose"] == "Solves problems"
    assert row(dialog, "llama3.1-8b-prm-deepseek")["Purpose"] == "Checks steps (reward model)"
    assert row(dialog, "qwen2.5-1.5b-instruct-judge")["Purpose"] == \
        "Checks steps (yes/no judge)"
    dialog.select_model("qwen2.5-math-1.5b-instruct")
    details = dialog.details.text()
    assert "Qwen2.5-Math 1.5B Instruct" in details and "Tuned for maths problems" in details
    model = dialog.controller.model
    tip = model.index(model.row_of("qwen2.5-0.5b-instruct"), 0).data(3)  # ToolTipRole
    assert "Solves problems" in tip and "first download" in tip


def test_fit_marks_follow_this_computers_ram(dialog: ModelsDialog) -> None:
    assert row(dialog, "qwen2.5-0.5b-instruct")["This computer"] == "fits"
    assert row(dialog, "llama-3.2-3b-instruct")["This computer"] == "tight"
    assert row(dialog, "llama3.1-8b-prm-deepseek")["This computer"] == "too big"
    # the recommendation: the best ranked model of each purpose that fits
    assert row(dialog, "qwen2.5-math-1.5b-instruct")["This computer"] == "★ recommended"
    assert row(dialog, "qwen2.5-1.5b-instruct-judge")["This computer"] == "★ recommended"
    model = dialog.controller.model
    tip = model.index(model.row_of("llama3.1-8b-prm-deepseek"), column(dialog, "This computer"))
    assert "4.0 GiB of RAM in this computer" in tip.data(3) and "too big" in tip.data(3)
    dialog.select_model("llama3.1-8b-prm-deepseek")
    assert "too big" in dialog.details.text()
    dialog.select_model("qwen2.5-math-1.5b-instruct")
    assert "Recommended" in dialog.details.text()


def test_ram_needed_is_the_estimate_the_fit_is_judged_by(dialog: ModelsDialog) -> None:
    fit = dialog.controller.model.fits["llama3.1-8b-prm-deepseek"]
    assert row(dialog, "llama3.1-8b-prm-deepseek")["RAM needed"] == \
        f"{fit.needed / GIB:.1f} GiB"


def test_free_disk_space_is_shown(dialog: ModelsDialog, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "12.0 GiB free" in dialog.folder_label.text()
    assert str(Settings().models_path()) in dialog.folder_label.text()
    dialog.select_model("qwen2.5-1.5b-instruct")
    assert "Download: 1.0 GiB; 12.0 GiB free" in dialog.details.text()
    monkeypatch.setattr(memory, "disk_free", lambda folder: 200 << 20)
    dialog.controller.refresh()
    dialog.select_model("qwen2.5-1.5b-instruct")
    assert "not enough" in dialog.details.text()


def test_default_size_comes_from_the_font_and_shows_every_column(qtbot: Any,
                                                                 small_computer: None) -> None:
    controller = ModelsController(Settings())
    dlg = ModelsDialog(controller)
    qtbot.addWidget(dlg)
    screen = dlg.screen().availableGeometry()
    assert dlg.width() >= min(theme.em(dlg, 70), int(screen.width() * 0.9))
    assert dlg.height() >= min(theme.em(dlg, 34), int(screen.height() * 0.9))
    assert dlg.size() == dlg.default_size()
    assert not dlg.progress.isVisible()  # no empty bar while nothing downloads
    sizes = []
    for points in (9, 14):
        other = ModelsDialog(controller)
        qtbot.addWidget(other)
        font = QFont(other.font())
        font.setPointSize(points)
        other.setFont(font)
        sizes.append(other.default_size())
    small, large = sizes
    assert large.height() > small.height()  # (the width is bounded by the test's small screen)
    assert large.width() >= small.width()
    controller.shutdown()
