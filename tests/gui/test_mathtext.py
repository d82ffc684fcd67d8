"""LaTeX answers rendered readably (rich text and plain Unicode)."""

from __future__ import annotations

import pytest

from outthink.gui.mathtext import latex_to_html, latex_to_unicode


@pytest.mark.parametrize(
    ("latex", "html", "text"),
    [
        ("\\frac{3}{4}", "<sup>3</sup>\u2044<sub>4</sub>", "¾"),
        ("\\dfrac{5}{6}", "<sup>5</sup>\u2044<sub>6</sub>", "5/6"),
        ("\\frac12", "<sup>1</sup>\u2044<sub>2</sub>", "½"),
        ("\\frac{x+1}{2}", "(x+1)/2", "(x+1)/2"),
        ("2\\sqrt{3}", '2√<span style="text-decoration: overline">3</span>', "2√3"),
        ("\\sqrt{x+1}", '√<span style="text-decoration: overline">x+1</span>', "√(x+1)"),
        ("\\sqrt[3]{8}", '<sup>3</sup>√<span style="text-decoration: overline">8</span>', "∛8"),
        ("x^2", "x<sup>2</sup>", "x²"),
        ("x^{10}+y_1", "x<sup>10</sup>+y<sub>1</sub>", "x¹⁰+y₁"),
        ("2^{x+1}", "2<sup>x+1</sup>", "2^(x+1)"),
        ("90^\\circ", "90°", "90°"),
        ("\\dfrac{\\pi}{2}", "<sup>π</sup>\u2044<sub>2</sub>", "π/2"),
        ("\\text{5 apples}", "5 apples", "5 apples"),
        ("3 \\times 4 \\le 12", "3 × 4 ≤ 12", "3 × 4 ≤ 12"),
        ("\\left(1, 2\\right)", "(1, 2)", "(1, 2)"),
        ("\\boxed{42}", "42", "42"),
        ("$15$", "15", "15"),
        ("42", "42", "42"),
    ],
)
def test_common_constructs(latex: str, html: str, text: str) -> None:
    assert latex_to_html(latex) == html
    assert latex_to_unicode(latex) == text


def test_html_is_escaped_and_nothing_is_hidden() -> None:
    assert latex_to_html("a<b & c") == "a&lt;b &amp; c"
    assert latex_to_unicode("\\mathbb{R}") == "R"
    # An unknown command keeps its name (never silently dropped).
    assert latex_to_unicode("\\foo{x}") == "foox"


def test_empty_and_unbalanced_input() -> None:
    assert latex_to_html(None) == latex_to_html("") == ""
    assert latex_to_unicode("\\frac{1}{") == "1/"  # broken input does not raise
    assert latex_to_unicode("x^") == "x"


def test_answers_inside_a_sentence_are_rendered() -> None:
    from outthink.gui.mathtext import html_with_answers

    text = "2 answered \\frac{1}{2} & 1 answered 3 (x<y)."
    out = html_with_answers(text, ["\\frac{1}{2}", "3", None])
    assert out == "2 answered <sup>1</sup>\u2044<sub>2</sub> &amp; 1 answered 3 (x&lt;y)."
