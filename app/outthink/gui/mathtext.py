"""Readable maths for answers: a small LaTeX subset rendered as Qt rich text or plain Unicode.

Final answers come out of ``\\boxed{...}`` as LaTeX (``\\frac{3}{4}``, ``2\\sqrt{3}``,
``x^2``). Qt has no maths renderer, and QtWebEngine (MathJax) is not part of the build, so
the common constructs are mapped by hand: fractions become a superscript/subscript pair around
a fraction slash (or ``(a)/(b)`` when a part is long), roots get a radical sign with an
overline, powers become superscripts. Anything unknown is shown as written, minus its
backslash, so nothing is ever hidden from the user.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["html_with_answers", "latex_to_html", "latex_to_unicode"]

_SYMBOLS = {
    "pi": "π",
    "theta": "θ",
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "Delta": "Δ",
    "lambda": "λ",
    "mu": "μ",
    "sigma": "σ",
    "phi": "φ",
    "omega": "ω",
    "infty": "∞",
    "cdot": "·",
    "times": "×",
    "div": "÷",
    "pm": "±",
    "mp": "∓",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "ne": "≠",
    "neq": "≠",
    "approx": "≈",
    "circ": "°",
    "degree": "°",
    "to": "→",
    "rightarrow": "→",
    "in": "∈",
    "cup": "∪",
    "cap": "∩",
    "emptyset": "∅",
    "ldots": "…",
    "dots": "…",
    "cdots": "⋯",
    "%": "%",
    "$": "$",
    "{": "{",
    "}": "}",
    "_": "_",
    "&": "&",
    "#": "#",
    ",": "\u2009",  # thin space
    ";": " ",
    ":": " ",
    "!": "",
    " ": " ",
    "quad": " ",
    "qquad": "  ",
    "left": "",
    "right": "",
    "big": "",
    "Big": "",
    "displaystyle": "",
    "lvert": "|",
    "rvert": "|",
    "mid": "|",
    "langle": "⟨",
    "rangle": "⟩",
    "lfloor": "⌊",
    "rfloor": "⌋",
    "lceil": "⌈",
    "rceil": "⌉",
}
# Commands whose argument is shown as plain text.
_TEXT_COMMANDS = {
    "text",
    "textrm",
    "textbf",
    "mathrm",
    "mathbf",
    "mathit",
    "mathbb",
    "mathcal",
    "operatorname",
    "boxed",
    "fbox",
    "mbox",
    "textnormal",
}
_FRACTIONS = {"frac", "dfrac", "tfrac", "cfrac"}
_SUPERSCRIPTS = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_SUBSCRIPTS = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_VULGAR = {
    ("1", "2"): "½",
    ("1", "3"): "⅓",
    ("2", "3"): "⅔",
    ("1", "4"): "¼",
    ("3", "4"): "¾",
    ("1", "5"): "⅕",
    ("1", "6"): "⅙",
    ("1", "8"): "⅛",
}


# --------------------------------------------------------------------------------- parsing
# A tiny recursive-descent parser into a tree of nodes; two printers walk the tree.


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _Group:
    items: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class _Frac:
    num: _Group
    den: _Group


@dataclass(frozen=True, slots=True)
class _Sqrt:
    body: _Group
    index: _Group | None


@dataclass(frozen=True, slots=True)
class _Script:
    body: _Group
    up: bool


class _Parser:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0

    def parse(self) -> _Group:
        return self._sequence(stop=None)

    def _sequence(self, stop: str | None) -> _Group:
        items: list[object] = []
        while self.i < len(self.s):
            ch = self.s[self.i]
            if stop is not None and ch == stop:
                self.i += 1
                return _Group(tuple(items))
            items.append(self._atom_or_text())
        return _Group(tuple(items))

    def _argument(self) -> _Group:
        """A braced group, or else the next single character or command."""
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1
        if self.i >= len(self.s):
            return _Group(())
        if self.s[self.i] == "{":
            self.i += 1
            return self._sequence(stop="}")
        return _Group((self._atom_or_text(single=True),))

    def _optional(self) -> _Group | None:
        if self.i < len(self.s) and self.s[self.i] == "[":
            self.i += 1
            return self._sequence(stop="]")
        return None

    def _atom_or_text(self, *, single: bool = False) -> object:
        ch = self.s[self.i]
        if ch == "\\":
            return self._command()
        if ch == "{":
            self.i += 1
            return self._sequence(stop="}")
        if ch in "^_":
            self.i += 1
            return _Script(self._argument(), up=ch == "^")
        if ch == "$":  # inline-maths delimiters carry no meaning in an answer
            self.i += 1
            return _Text("")
        self.i += 1
        return _Text(ch)

    def _command(self) -> object:
        self.i += 1  # the backslash
        if self.i >= len(self.s):
            return _Text("\\")
        start = self.i
        if self.s[self.i].isalpha():
            while self.i < len(self.s) and self.s[self.i].isalpha():
                self.i += 1
        else:
            self.i += 1
        name = self.s[start : self.i]
        if name in _FRACTIONS:
            return _Frac(self._argument(), self._argument())
        if name == "sqrt":
            index = self._optional()
            return _Sqrt(self._argument(), index)
        if name in _TEXT_COMMANDS:
            return self._argument()
        if name in _SYMBOLS:
            return _Text(_SYMBOLS[name])
        return _Text(name)  # unknown: show the name rather than hide it


def _flat(group: _Group) -> str:
    """Plain text of a group when it holds only text (None-free helper for short checks)."""
    out = []
    for item in group.items:
        if isinstance(item, _Text):
            out.append(item.text)
        elif isinstance(item, _Group):
            out.append(_flat(item))
        else:
            return "\x00"  # has structure
    return "".join(out)


def _is_simple(group: _Group) -> bool:
    """A part that reads unambiguously without brackets: a number, a symbol or a word."""
    text = _flat(group).strip()
    return bool(text) and "\x00" not in text and all(c.isalnum() or c in ".πθ∞" for c in text)


# --------------------------------------------------------------------------------- printers


def _render(group: _Group, leaf: Callable[[str], str], node: Callable[[object], str]) -> str:
    return "".join(leaf(i.text) if isinstance(i, _Text) else node(i) for i in group.items)


def _to_html(group: _Group) -> str:
    def node(item: object) -> str:
        if isinstance(item, _Group):
            return _to_html(item)
        if isinstance(item, _Frac):
            num, den = _to_html(item.num), _to_html(item.den)
            if _is_simple(item.num) and _is_simple(item.den):
                return f"<sup>{num}</sup>\u2044<sub>{den}</sub>"
            num = num if _is_simple(item.num) else f"({num})"
            den = den if _is_simple(item.den) else f"({den})"
            return f"{num}/{den}"
        if isinstance(item, _Sqrt):
            index = f"<sup>{_to_html(item.index)}</sup>" if item.index else ""
            body = _to_html(item.body)
            return f'{index}√<span style="text-decoration: overline">{body}</span>'
        if isinstance(item, _Script):
            if item.up and _flat(item.body).strip() == "°":
                return "°"
            tag = "sup" if item.up else "sub"
            return f"<{tag}>{_to_html(item.body)}</{tag}>"
        return ""  # pragma: no cover - the parser makes no other nodes

    return _render(group, lambda t: html.escape(t, quote=False), node)


def _script_unicode(group: _Group, up: bool) -> str:
    text = _to_unicode(group).strip()
    if not text:
        return ""
    if up and text == "°":  # ^\circ is a degree sign, not a raised ring
        return text
    keys = "0123456789+-=()n" if up else "0123456789+-=()"
    if text and all(c in keys for c in text):
        return text.translate(_SUPERSCRIPTS if up else _SUBSCRIPTS)
    return ("^" if up else "_") + (text if len(text) == 1 else f"({text})")


def _to_unicode(group: _Group) -> str:
    def node(item: object) -> str:
        if isinstance(item, _Group):
            return _to_unicode(item)
        if isinstance(item, _Frac):
            num, den = _to_unicode(item.num).strip(), _to_unicode(item.den).strip()
            if (num, den) in _VULGAR:
                return _VULGAR[(num, den)]
            num = num if _is_simple(item.num) or not num else f"({num})"
            den = den if _is_simple(item.den) or not den else f"({den})"
            return f"{num}/{den}"
        if isinstance(item, _Sqrt):
            body = _to_unicode(item.body)
            body = body if _is_simple(item.body) else f"({body})"
            if item.index is not None:
                index = _to_unicode(item.index).strip()
                sign = {"3": "∛", "4": "∜"}.get(index)
                return f"{sign}{body}" if sign else f"{index.translate(_SUPERSCRIPTS)}√{body}"
            return f"√{body}"
        if isinstance(item, _Script):
            return _script_unicode(item.body, item.up)
        return ""  # pragma: no cover

    return _render(group, lambda t: t, node)


def _tidy(text: str) -> str:
    return " ".join(text.split())


def latex_to_html(latex: str | None) -> str:
    """Qt rich text for a LaTeX answer (fractions, roots, powers, common symbols)."""
    if not latex:
        return ""
    return _tidy(_to_html(_Parser(latex.strip()).parse()))


def latex_to_unicode(latex: str | None) -> str:
    """Plain Unicode for a LaTeX answer, for places without rich text (chart labels)."""
    if not latex:
        return ""
    return _tidy(_to_unicode(_Parser(latex.strip()).parse()))


def html_with_answers(text: str, answers: Iterable[str | None]) -> str:
    """Escape ``text`` for rich text, rendering every occurrence of one of ``answers`` as
    maths (the selection's reason quotes answers as the model wrote them, in LaTeX)."""
    out = html.escape(text, quote=False)
    for answer in sorted({a for a in answers if a}, key=len, reverse=True):
        if any(c in answer for c in "\\^_"):  # plain answers read fine as they are
            out = out.replace(html.escape(answer, quote=False), latex_to_html(answer))
    return out
