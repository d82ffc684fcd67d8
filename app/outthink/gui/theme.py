"""Colours and sizes shared by the views.

Sizes come from font metrics (``em``), never from fixed pixel counts, so the layout follows
the user's font size and stays right on high-DPI screens.
"""

from __future__ import annotations

import math
from functools import cache

from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QWidget

#: Text colour on score tints: the tints are light whatever the palette, so text stays dark.
TINT_TEXT = QColor(20, 20, 20)
PRUNED = QColor(150, 150, 150)
SELECTED = QColor(33, 110, 220)
VOTES = QColor(86, 132, 214)
SCORES = QColor(82, 168, 98)
#: Right and wrong answers against a reference.
RIGHT = QColor(30, 140, 60)
WRONG = QColor(200, 50, 40)


def em(widget: QWidget, factor: float = 1.0) -> int:
    """``factor`` times the height of a line of the widget's font, in device-independent px."""
    return max(1, round(_line_height(widget.font().key()) * factor))


@cache
def _line_height(font_key: str) -> int:
    # Building QFontMetrics costs about 0.2 ms; cards ask hundreds of times per run.
    font = QFont()
    font.fromString(font_key)
    return QFontMetrics(font).height()


def score_color(score: float | None, *, light: bool = True) -> QColor:
    """Red (0) through amber (0.5) to green (1); grey when there is no score yet.

    ``light`` gives a pale tint for backgrounds behind dark text.
    """
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return QColor(225, 225, 225) if light else QColor(140, 140, 140)
    s = min(1.0, max(0.0, float(score)))
    hue = s * 120.0 / 360.0  # 0 = red, 1/3 = green
    if light:
        return QColor.fromHsvF(hue, 0.32, 0.98)
    return QColor.fromHsvF(hue, 0.75, 0.75)


def washed(color: QColor) -> QColor:
    """The colour with most of its saturation gone (pruned beams)."""
    hue, sat, val = color.hsvHueF(), color.hsvSaturationF(), color.valueF()
    return QColor.fromHsvF(max(hue, 0.0), sat * 0.25, min(1.0, val * 0.97 + 0.03), color.alphaF())


def fmt_score(score: float | None) -> str:
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return "–"
    return f"{score:.2f}"


def css(color: QColor) -> str:
    return color.name(QColor.NameFormat.HexRgb)
