"""The ``calculator`` verifier: checks the arithmetic a step writes down, exactly, with no model.

Every equality between two pieces of pure arithmetic in a step is evaluated with exact
rational arithmetic (:class:`fractions.Fraction`, Python's :mod:`ast` on a whitelist of nodes;
raw text is never evaluated). A step's score:

- no checkable equality: ``neutral`` (default 0.5): nothing learned;
- every equality holds: ``true_score`` (default 0.9): correct arithmetic does not make the
  reasoning correct, so it is not 1;
- any equality is false: ``false_score`` (default 0.05).

To use it purely as a penalty inside a ``product`` verifier, set ``neutral`` and
``true_score`` to 1.0: it then leaves other verifiers' scores alone unless a sum is wrong.

What counts as arithmetic: numbers (``1,200``, ``0.25``, ``3/4``, ``$12``), ``+ - * / ^``,
``×``/``·``/``÷``, LaTeX ``\\frac``/``\\dfrac``/``\\times``/``\\cdot``/``\\div``, parentheses,
percentages (``20%`` is 0.2, ``25% of 80`` is 0.25 * 80), powers with integer exponents up to
:data:`MAX_EXPONENT`. A unit word after a number ("18 apples") is dropped. Chains
``a = b = c`` check each adjacent pair, as written: the running-total shorthand
``2 + 3 = 5 + 1 = 6`` is false, because 2 + 3 is not 5 + 1.

Rounded decimals: when one side is a decimal literal with d digits after the point and the
other side's exact value needs more digits, the literal is accepted if it is that value cut
or rounded (half up) to d digits: ``10/3 = 3.33`` and ``2/3 = 0.67`` and ``2/3 = 0.66`` hold,
``2/3 = 0.68`` does not. A percent literal counts its digits as of the fraction (``33.3%`` is
0.333). Whole-number literals get no such tolerance: ``7/2 = 3`` is false.

Skipped (neither true nor false): anything with a variable or a function (``x + 3 = 5``,
``f(2) = 4``, ``\\sqrt{16} = 4``), ``number = number`` with no operation (labels such as
"Step 1 = ..." look like that), dates (2024-05-01, 05/01/2024), en-dash ranges (3–5),
relations other than ``=`` (``≈``, ``<``, ``≠``), division by zero, and huge numbers.
"""

from __future__ import annotations

import ast
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from outthink.answers import extract_answer, has_final_answer
from outthink.verifiers.base import (
    ModelFreeVerifier,
    StatelessSession,
    StepRecord,
    Unchecked,
    VerifierContext,
    VerifierSpec,
    register,
)
from outthink.verifiers.simple import NEUTRAL, check_option_keys, unit_interval_option

logger = logging.getLogger(__name__)

__all__ = ["MAX_EXPONENT", "CalculatorVerifier", "EqualityCheck", "check_equalities"]

#: Largest integer exponent evaluated; bigger powers are skipped (and rarely hand-written).
MAX_EXPONENT = 128
#: Numerators/denominators beyond this many bits are not worth checking (and cost time).
_MAX_BITS = 4096
#: Longest expression (characters) evaluated.
_MAX_EXPR = 200


@dataclass(frozen=True, slots=True)
class EqualityCheck:
    """One checked equality: ``text`` is ``left = right`` after normalisation."""

    text: str
    left: Fraction
    right: Fraction
    ok: bool


# --------------------------------------------------------------------------------------------
# Normalising a step's text into plain arithmetic notation
# --------------------------------------------------------------------------------------------

_OTHER = "≈"  # every relation that is not "=" becomes this; the pair around it is not checked

_REPLACEMENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        # Relations spelled with "=" characters first, so that "=" later means equality.
        (r"<=|=<|\\le(?:q)?(?![a-zA-Z])|≤", _OTHER),
        (r">=|=>|\\ge(?:q)?(?![a-zA-Z])|≥", _OTHER),
        (r"!=|\\neq?(?![a-zA-Z])|≠", _OTHER),
        (r":=|==", "="),
        (
            r"\\approx|\\sim(?:eq)?|\\equiv|\\cong|\\propto|\\(?:Right|Left|long)?"
            r"[Rr]ightarrow|\\implies|\\iff|\\to(?![a-zA-Z])|\\[lg]t(?![a-zA-Z])|[<>≈≃≅→⇒⇔]",
            _OTHER,
        ),
        # LaTeX spacing, sizing and delimiters that carry no arithmetic.
        (r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])", ""),
        (r"\\[!,;: ]|~", " "),
        (r"\{,\}", ""),  # 1{,}200: LaTeX thousands separator
        (r"\\%", "%"),
        (r"\\\$|\$|€|£", ""),  # math delimiters and currency signs alike
        (r"\\[()\[\]]", " "),
        (r"\\[{}]", "|"),  # set braces: not arithmetic, stop expressions there
        (r"\*\*|`", ""),  # Markdown bold and code marks
        (r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}", r" \1 "),
        # Operators.
        (r"\\(?:times|cdot|ast)(?![a-zA-Z])|[×·⋅∙∗]", " * "),
        (r"\\div(?![a-zA-Z])|÷", " / "),
        (r"−", "-"),
    )
)

_MIXED = re.compile(r"(?<![\d.])(\d+)\s*\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC_SHORT = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_POWER_BRACES = re.compile(r"\^\s*\{([^{}]*)\}")
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])")
_WORD_OPERATORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(r"(?<=[\d)%])\s+" + words + r"\s+(?=[\d(.$])", re.IGNORECASE), repl)
    for words, repl in (
        (r"(?:x|times|multiplied\s+by)", " * "),
        (r"divided\s+by", " / "),
        (r"plus", " + "),
        (r"minus", " - "),
    )
)
_PERCENT_OF = re.compile(r"%\s*of\s+(?=[\d(.])", re.IGNORECASE)
# A unit word between a number and an operator ("3 apples * 6") is dropped; before "=" only
# when an operator precedes the number ("18 - 3 apples = 15"), since "Day 2 sales = 12" is a
# label, not arithmetic.
_UNIT_BEFORE_OP = re.compile(r"(?<=\d)[ \t]+[A-Za-z]{2,}(?=[ \t]*[-+*/^])")
_UNIT_BEFORE_EQ = re.compile(r"([-+*/^][ \t]*\(?[\d.]+\)?)[ \t]+[A-Za-z]{2,}(?=[ \t]*=)")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4}")


def _normalise(text: str) -> str:
    for pattern, repl in _REPLACEMENTS:
        text = pattern.sub(repl, text)
    text = _MIXED.sub(r"(\1+\2/\3)", text)
    # Innermost first, until nothing changes: \frac{\frac{1}{2}}{3}, 2^{\frac{1}{2}}.
    while True:
        new = _FRAC.sub(r"((\1)/(\2))", text)
        new = _FRAC_SHORT.sub(r"((\1)/(\2))", new)
        new = _POWER_BRACES.sub(r"^(\1)", new)
        if new == text:
            break
        text = new
    text = text.replace("{", "(").replace("}", ")")
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    for pattern, repl in _WORD_OPERATORS:
        text = pattern.sub(repl, text)
    text = _PERCENT_OF.sub("% * ", text)
    text = _UNIT_BEFORE_OP.sub("", text)
    text = _UNIT_BEFORE_EQ.sub(r"\1", text)
    return text


# --------------------------------------------------------------------------------------------
# Finding the two sides of each "="
# --------------------------------------------------------------------------------------------

_ARITH = frozenset("0123456789.+-*/^()% \t")
_OPENERS = frozenset("([:;,\"'")
_CLOSERS = frozenset(")]:;,.!?\"'")
_LIST_NUMBER = re.compile(r"^\d+\.\s+(?=[\d(-])")


def _left_side(segment: str) -> str | None:
    """The arithmetic at the end of ``segment`` (the text before an "="), or None."""
    start = len(segment)
    while start > 0 and segment[start - 1] in _ARITH:
        start -= 1
    # An unmatched "(" belongs to the prose around the equality: "(so 3 + 4 = 7)".
    depth = 0
    for j in range(len(segment) - 1, start - 1, -1):
        depth += (segment[j] == ")") - (segment[j] == "(")
        if depth < 0:
            start = j + 1
            break
    # Spaces, and a period that ended the previous sentence ("Done. 3 + 4 = 7").
    while start < len(segment) and (
        segment[start] in " \t"
        or (segment[start] == "." and not segment[start + 1 : start + 2].isdigit())
    ):
        start += 1
    before, expr = segment[:start], segment[start:].rstrip()
    if before and not (before[-1].isspace() or before[-1] in _OPENERS):
        return None  # glued to a word or symbol: "x2 + 1", "f(3)", "3–5"
    if m := _LIST_NUMBER.match(expr):
        expr = expr[m.end() :]  # "1. 3 + 4 = 7": a numbered list item, never arithmetic
    if expr.startswith("-") and expr[1:2].isspace():
        if before.strip():
            return None  # "x - 3 = 5": a minus whose left operand is not arithmetic
        expr = expr[1:].lstrip()  # "- 3 + 4 = 7" at a line start: a Markdown bullet
    if not expr or expr[0] in "+*/^%)":
        return None  # "x + 3 = 5" leaves "+ 3"
    return expr


def _right_side(segment: str) -> str | None:
    """The arithmetic at the start of ``segment`` (the text after an "="), or None."""
    end = 0
    while end < len(segment) and segment[end] in _ARITH:
        end += 1
    depth = 0
    for j in range(end):
        depth += (segment[j] == "(") - (segment[j] == ")")
        if depth < 0:  # "(so 3 + 4 = 7)": this ")" closes the prose
            end = j
            break
    expr = segment[:end].rstrip()
    after = segment[len(expr) :]
    if after and not (after[0].isspace() or after[0] in _CLOSERS):
        return None  # glued to a word: "= 3x", "= 2^x"
    # A period that ends the sentence ("= 18.") is not part of the number.
    expr = expr.strip().rstrip(". \t")
    if not expr or expr[-1] in "+-*/^(":
        return None  # "= 2 + x" leaves "2 +"
    return expr


# --------------------------------------------------------------------------------------------
# Evaluating
# --------------------------------------------------------------------------------------------


class _NotArithmetic(Exception):
    pass


_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*%")
_IMPLICIT_BEFORE = re.compile(r"(?<=[\d.)])\s*\(")
_IMPLICIT_AFTER = re.compile(r"\)\s*(?=[\d.])")
_LEADING_ZEROS = re.compile(r"(?<![\d.])0+(?=\d)")


def _to_python(expr: str) -> str:
    src = _PERCENT.sub(r"(\1/100)", expr)
    src = _IMPLICIT_BEFORE.sub("*(", src)  # 2(3 + 4): implied multiplication
    src = _IMPLICIT_AFTER.sub(")*", src)
    src = _LEADING_ZEROS.sub("", src)  # Python rejects 05
    return src.replace("^", "**")


def _check_size(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > _MAX_BITS or value.denominator.bit_length() > _MAX_BITS:
        raise _NotArithmetic("number too large")
    return value


def _eval_node(node: ast.AST, src: str) -> Fraction:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _NotArithmetic(repr(node.value))
        # The literal's own digits, not the float: 0.1 must be exactly 1/10.
        literal = ast.get_source_segment(src, node)
        return _check_size(Fraction(literal if literal is not None else str(node.value)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _eval_node(node.operand, src)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _eval_node(node.left, src)
        right = _eval_node(node.right, src)
        if isinstance(node.op, ast.Add):
            return _check_size(left + right)
        if isinstance(node.op, ast.Sub):
            return _check_size(left - right)
        if isinstance(node.op, ast.Mult):
            return _check_size(left * right)
        if isinstance(node.op, ast.Div):
            return _check_size(left / right)  # ZeroDivisionError: skipped by the caller
        if isinstance(node.op, ast.Pow):
            if right.denominator != 1 or abs(right) > MAX_EXPONENT:
                raise _NotArithmetic("exponent")
            bits = max(left.numerator.bit_length(), left.denominator.bit_length())
            if bits * abs(int(right)) > _MAX_BITS:
                raise _NotArithmetic("number too large")
            return left ** int(right)
    raise _NotArithmetic(type(node).__name__)


def _evaluate(expr: str) -> Fraction | None:
    if len(expr) > _MAX_EXPR or _DATE.search(expr) or not any(c.isdigit() for c in expr):
        return None
    src = _to_python(expr)
    if "%" in src:
        return None  # a percent sign not after a number: Python would read it as modulo
    try:
        tree = ast.parse(src, mode="eval")
        return _eval_node(tree.body, src)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError, _NotArithmetic):
        return None


_BARE_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
_DECIMAL_LITERAL = re.compile(r"^-?\d*\.(\d+)(%?)$")


def _shown_decimals(expr: str) -> int:
    """Digits after the point if ``expr`` is a decimal literal (percent: as a fraction)."""
    m = _DECIMAL_LITERAL.match(expr.replace(" ", ""))
    if m is None:
        return 0
    return len(m.group(1)) + (2 if m.group(2) else 0)


def _matches_rounded(exact: Fraction, shown: Fraction, decimals: int) -> bool:
    """True if ``shown`` is ``exact`` cut or rounded half-up to ``decimals`` digits."""
    if decimals < 1:
        return False
    scaled = abs(exact) * 10**decimals
    if scaled.denominator == 1:
        return False  # the exact value fits in the digits shown: no rounding excuse
    if shown != 0 and (shown < 0) != (exact < 0):
        return False
    written = abs(shown) * 10**decimals
    down = math.floor(scaled)
    return written == down or (written == down + 1 and scaled - down >= Fraction(1, 2))


def check_equalities(text: str) -> list[EqualityCheck]:
    """Every checkable equality in ``text``, in order, with whether it holds."""
    checks: list[EqualityCheck] = []
    for line in _normalise(text).splitlines():
        if "=" not in line:
            continue
        parts = re.split(f"(=|{_OTHER})", line)
        for k in range(1, len(parts) - 1, 2):
            if parts[k] != "=":
                continue
            left, right = _left_side(parts[k - 1]), _right_side(parts[k + 1])
            if left is None or right is None:
                continue
            if _BARE_NUMBER.match(left.replace(" ", "")) and _BARE_NUMBER.match(
                right.replace(" ", "")
            ):
                continue  # nothing computed: a label or a restatement
            lv, rv = _evaluate(left), _evaluate(right)
            if lv is None or rv is None:
                continue
            ok = (
                lv == rv
                or _matches_rounded(lv, rv, _shown_decimals(right))
                or _matches_rounded(rv, lv, _shown_decimals(left))
            )
            shown = " ".join(f"{left} = {right}".split())
            check = EqualityCheck(text=shown, left=lv, right=rv, ok=ok)
            if not ok:
                logger.debug("Calculator: %s is false (%s != %s)", check.text, lv, rv)
            checks.append(check)
    return checks


# --------------------------------------------------------------------------------------------
# The verifier
# --------------------------------------------------------------------------------------------


class _CalculatorSession(StatelessSession):
    def __init__(self, problem: str, verifier: CalculatorVerifier) -> None:
        super().__init__(problem)
        self.verifier = verifier

    def score_step(self, candidate: int, step: StepRecord) -> float:
        v = self.verifier
        score = v.score_text(step.text)
        if score == v.false_score or not has_final_answer(step.text):
            return score
        # A final answer must be what the solution computed: compare it with the result of
        # the last equality written before it (this step's own, else an earlier step's).
        history = self.history.get(candidate, [])
        checks = check_equalities(step.text) or [
            c for earlier in history[:-1] for c in check_equalities(earlier.text)
        ]
        answer = extract_answer(step.text)
        value = _evaluate(_normalise(answer)) if answer else None
        if not checks or value is None:
            return score
        return v.true_score if value == checks[-1].right else v.false_score


class CalculatorVerifier(ModelFreeVerifier):
    """Scores a step by whether the arithmetic it writes down is right."""

    def __init__(
        self, *, neutral: float = NEUTRAL, true_score: float = 0.9, false_score: float = 0.05
    ) -> None:
        self.name = "calculator"
        self.informative = True
        self.neutral = neutral
        self.true_score = true_score
        self.false_score = false_score

    def score_text(self, text: str) -> float:
        checks = check_equalities(text)
        if not checks:
            return Unchecked(self.neutral)
        return self.true_score if all(c.ok for c in checks) else self.false_score

    def open(self, problem: str) -> _CalculatorSession:
        return _CalculatorSession(problem, self)


_OPTIONS = {"neutral": NEUTRAL, "true_score": 0.9, "false_score": 0.05}


def _factory(options: Mapping[str, Any], context: VerifierContext) -> CalculatorVerifier:
    check_option_keys("calculator", options, _OPTIONS)
    values = {
        name: unit_interval_option("calculator", options, name, default)
        for name, default in _OPTIONS.items()
    }
    return CalculatorVerifier(**values)


register(
    VerifierSpec(
        kind="calculator",
        # One false equation makes the solution wrong; "The answer is X." checks nothing.
        aggregation="min",
        description=(
            "No model: checks every arithmetic equality a step writes (3 × 6 = 18) exactly; "
            "a wrong one scores the step low."
        ),
        factory=_factory,
    )
)
