"""Colours and sizes shared by the views.

Sizes come from font metrics (``em``), never from fixed pixel counts, so the layout follows
the user's font size and stays right on high-DPI screens.

Light and dark: :func:`apply_theme` sets the application's look (``system`` follows the
desktop's colour scheme; ``dark`` and ``light`` force one, with the Fusion style and a palette
of its own) and switches the colours below to their variants for that background: score tints
stay pale behind dark text on a light palette and become deep behind light text on a dark one.
Views read the colours when they paint (``theme.TINT_TEXT``, never a copy taken at import), and
are told to repaint when the theme changes.
"""

from __future__ import annotations

import math
from functools import cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory, QWidget

#: Text colour on score tints (pale tints, dark text; deep tints, light text when dark).
TINT_TEXT = QColor(20, 20, 20)
PRUNED = QColor(150, 150, 150)
#: Text of a pruned step, on its washed-out tint.
PRUNED_TEXT = QColor(100, 100, 100)
SELECTED = QColor(33, 110, 220)
VOTES = QColor(86, 132, 214)
SCORES = QColor(82, 168, 98)
#: Right and wrong answers against a reference.
RIGHT = QColor(30, 140, 60)
WRONG = QColor(200, 50, 40)

#: The colours above, for a light and for a dark background.
_LIGHT = {
    "TINT_TEXT": QColor(20, 20, 20),
    "PRUNED_TEXT": QColor(100, 100, 100),
    "SELECTED": QColor(33, 110, 220),
    "RIGHT": QColor(30, 140, 60),
    "WRONG": QColor(200, 50, 40),
}
_DARK = {
    "TINT_TEXT": QColor(236, 236, 236),
    "PRUNED_TEXT": QColor(170, 170, 170),
    "SELECTED": QColor(88, 160, 255),
    "RIGHT": QColor(96, 200, 120),
    "WRONG": QColor(255, 120, 105),
}

#: Theme choices (``Settings.extra["gui.theme"]``).
THEMES = ("system", "light", "dark")
_dark = False
#: The platform's own style and palette, captured before the first change.
_native: tuple[str, QPalette] | None = None
_changed = False
_applying = False


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

    ``light`` gives a tint for backgrounds behind :data:`TINT_TEXT`: pale in the light theme,
    deep in the dark one.
    """
    if score is None or (isinstance(score, float) and math.isnan(score)):
        if light:
            return QColor(70, 70, 70) if _dark else QColor(225, 225, 225)
        return QColor(140, 140, 140)
    s = min(1.0, max(0.0, float(score)))
    hue = s * 120.0 / 360.0  # 0 = red, 1/3 = green
    if light:
        return QColor.fromHsvF(hue, 0.55, 0.36) if _dark else QColor.fromHsvF(hue, 0.32, 0.98)
    return QColor.fromHsvF(hue, 0.75, 0.75)


def washed(color: QColor) -> QColor:
    """The colour with most of its saturation gone (pruned beams)."""
    hue, sat, val = color.hsvHueF(), color.hsvSaturationF(), color.valueF()
    value = val * 0.85 if _dark else min(1.0, val * 0.97 + 0.03)
    return QColor.fromHsvF(max(hue, 0.0), sat * 0.25, value, color.alphaF())


def fmt_score(score: float | None) -> str:
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return "–"
    return f"{score:.2f}"


def css(color: QColor) -> str:
    return color.name(QColor.NameFormat.HexRgb)


# ---------------------------------------------------------------------- light and dark


def is_dark() -> bool:
    """True when the views are drawn for a dark background."""
    return _dark


def system_scheme() -> Qt.ColorScheme:
    """The desktop's colour scheme (Unknown where the platform does not say)."""
    return QGuiApplication.styleHints().colorScheme()


def palette_is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style (text contrast above 4.5:1 everywhere)."""
    p = QPalette()
    window, base, alt = QColor(45, 45, 48), QColor(30, 30, 32), QColor(54, 54, 58)
    text, dim = QColor(232, 232, 232), QColor(150, 150, 150)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: alt,
        QPalette.ColorRole.ToolTipBase: QColor(60, 60, 64),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: dim,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(58, 58, 62),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 110, 100),
        QPalette.ColorRole.Light: QColor(80, 80, 84),
        QPalette.ColorRole.Midlight: QColor(66, 66, 70),
        QPalette.ColorRole.Mid: QColor(90, 90, 96),
        QPalette.ColorRole.Dark: QColor(25, 25, 27),
        QPalette.ColorRole.Shadow: QColor(10, 10, 10),
        QPalette.ColorRole.Highlight: QColor(42, 110, 200),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 170, 255),
        QPalette.ColorRole.LinkVisited: QColor(170, 140, 255),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        p.setColor(disabled, role, QColor(135, 135, 135))
    p.setColor(disabled, QPalette.ColorRole.Base, window)
    p.setColor(disabled, QPalette.ColorRole.Button, QColor(50, 50, 54))
    p.setColor(disabled, QPalette.ColorRole.Highlight, QColor(80, 80, 84))
    return p


def light_palette() -> QPalette:
    style = QStyleFactory.create("Fusion")
    return style.standardPalette() if style is not None else QPalette()


def apply_theme(mode: str) -> bool:
    """Set the application's look for ``mode`` (one of :data:`THEMES`; anything else counts
    as ``system``); returns True when it is dark.

    ``system`` keeps the platform's own style and palette when they already match the
    desktop's scheme, and draws dark with Fusion when the desktop is dark but the platform's
    palette is not (Linux without a desktop theme for Qt). ``dark`` and ``light`` use Fusion
    with a palette of their own.
    """
    global _native, _changed, _dark, _applying
    app = QApplication.instance()
    if not isinstance(app, QApplication) or _applying:
        return _dark
    if _native is None:
        _native = (app.style().name(), QPalette(app.palette()))
    _applying = True
    try:
        # Where the platform can (Qt 6.8+: Windows, macOS), its own parts (title bars) follow;
        # "system" hands the choice back to the desktop.
        hints = QGuiApplication.styleHints()
        request = getattr(hints, "setColorScheme", None)
        if request is not None:
            request({"dark": Qt.ColorScheme.Dark, "light": Qt.ColorScheme.Light}.get(
                mode, Qt.ColorScheme.Unknown))
    finally:
        _applying = False
    native_style, native_palette = _native
    native_dark = palette_is_dark(native_palette)
    if mode not in ("light", "dark"):
        scheme = system_scheme()
        if scheme == Qt.ColorScheme.Dark:
            want_dark = True
        elif scheme == Qt.ColorScheme.Light:
            want_dark = False
        else:  # the platform does not say: whatever its palette is
            want_dark = native_dark
        forced = want_dark != native_dark
    else:
        want_dark = mode == "dark"
        forced = True
    if forced:
        if app.style().name().lower() != "fusion":
            app.setStyle("Fusion")
        app.setPalette(dark_palette() if want_dark else light_palette())
        _changed = True
    elif _changed:  # back to the platform's own look
        if app.style().name().lower() != native_style.lower():
            app.setStyle(native_style)
        app.setPalette(native_palette)
        _changed = False
    _dark = palette_is_dark(app.palette())
    for name, colour in (_DARK if _dark else _LIGHT).items():
        globals()[name] = QColor(colour)
    return _dark


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG contrast ratio of two colours (1 to 21; 4.5 is enough for text)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(
            c.blueF()
        )

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
