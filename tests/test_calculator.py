"""The calculator verifier (outthink.verifiers.calculator)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from outthink.errors import ConfigError
from outthink.verifiers import VERIFIERS, StepRecord, VerifierContext, get_spec
from outthink.verifiers.calculator import CalculatorVerifier, check_equalities

# Steps whose every equality holds.
TRUE_STEPS = [
    "3 * 6 = 18",
    "So she has 3 × 6 = 18 apples.",
    "3 x 6 = 18",
    "5 times 4 = 20",
    r"$3 \times 4 = 12$",
    r"\[ 2 \cdot 7 = 14 \]",
    r"12 \div 4 = 3",
    "12 ÷ 4 · 2 = 6",
    "2 + 3 = 4 + 1 = 5",
    "3/4 + 1/4 = 1",
    "0.1 + 0.2 = 0.3",
    "25% of 80 = 20",
    "20% = 0.2",
    "50/200 = 25%",
    "1,200 / 4 = 300",
    "1{,}500 + 500 = 2000",
    r"\frac{3}{4} = 0.75",
    r"$\dfrac{1}{2} \times 8 = 4$",
    r"\frac{\frac{1}{2}}{2} = \frac14",
    r"2^{10} = 1024",
    "2^3 * 3 = 24",
    "(3 + 4) * 2 = 14",
    "2(3 + 4) = 14",
    r"\left(5 - 2\right)^2 = 9",
    "$12 * 3 = $36",
    "The total is $6.50 × 2 = $13.00.",
    "18 apples - 3 apples = 15 apples",
    "10/3 = 3.33",
    "2/3 = 0.67",
    "1/3 = 33.3%",
    r"2\frac{1}{2} + 1 = 3.5",
    "1. 3 + 4 = 7",
    "First 3 + 4 = 7. Then 7 * 2 = 14.",
    "(so 3 + 4 = 7)",
    "The change is -3 + 5 = 2 degrees",
    "**Step 2:** 100 - 35 = 65",
    "123456789 * 987654321 = 121932631112635269",
]

# Steps with at least one wrong equality.
FALSE_STEPS = [
    "3 * 6 = 19",
    "3 × 6 = 24 apples",
    r"$3 \times 4 = 14$",
    "2 + 3 = 5 + 1 = 6",  # running-total shorthand: 2 + 3 is not 5 + 1
    "3/4 + 1/4 = 2",
    "25% of 80 = 25",
    "20% = 2",
    "1,200 / 4 = 30",
    r"\frac{3}{4} = 0.74",
    r"2^{10} = 1000",
    "2/3 = 0.68",
    "7/2 = 3",
    "First 3 + 4 = 7. Then 7 * 2 = 15.",
    "$6.50 × 2 = $12.00",
    "0.1 + 0.2 = 0.30000000000000004",
]

# Steps with nothing to check: variables, labels, dates, ranges, other relations.
SKIPPED_STEPS = [
    "x + 3 = 5",
    "x - 3 = 5",
    "3x = 6",
    "5 = 2 + x",
    "f(3) = 9",
    r"\sqrt{16} = 4",
    "Step 1 = 3",
    "2 = 2",
    "2024-05-01 = 3",
    "ages 3–5 = 2",
    "10/3 ≈ 3.3",
    "3 + 4 < 9",
    "There are no equations in this step.",
    "2^1000 = 5",
]


@pytest.mark.parametrize("text", TRUE_STEPS)
def test_true_steps(text: str) -> None:
    checks = check_equalities(text)
    assert checks, "expected at least one checked equality"
    assert all(c.ok for c in checks), [(c.text, c.left, c.right) for c in checks]


@pytest.mark.parametrize("text", FALSE_STEPS)
def test_false_steps(text: str) -> None:
    checks = check_equalities(text)
    assert any(not c.ok for c in checks), [(c.text, c.left, c.right) for c in checks]


@pytest.mark.parametrize("text", SKIPPED_STEPS)
def test_skipped_steps(text: str) -> None:
    assert check_equalities(text) == []


def test_check_values_are_exact() -> None:
    (check,) = check_equalities("So 3 × 6 = 18 apples.")
    assert check.text == "3 * 6 = 18"
    assert (check.left, check.right, check.ok) == (Fraction(18), Fraction(18), True)
    (frac,) = check_equalities(r"\frac{1}{3} = 0.33")
    assert (frac.left, frac.right, frac.ok) == (Fraction(1, 3), Fraction(33, 100), True)


def test_chain_checks_each_adjacent_pair() -> None:
    checks = check_equalities("2 + 3 = 5 + 1 = 6")
    assert [(c.text, c.ok) for c in checks] == [("2 + 3 = 5 + 1", False), ("5 + 1 = 6", True)]


def test_multiline_step() -> None:
    checks = check_equalities("Apples: 3 * 4 = 12\nPears: 12 + 5 = 16\nTotal 16")
    assert [c.ok for c in checks] == [True, False]


def _score(verifier: CalculatorVerifier, *texts: str) -> list[float]:
    session = verifier.open("problem")
    session.add(0)
    return [session.score({0: StepRecord(text)})[0] for text in texts]


def test_scores_with_default_options() -> None:
    verifier = get_spec("calculator").factory({}, VerifierContext())
    assert isinstance(verifier, CalculatorVerifier)
    assert verifier.informative and verifier.name == "calculator"
    assert _score(verifier, "no numbers", "3 * 6 = 18", "3 * 6 = 18 and 2 + 2 = 5") == [
        0.5,
        0.9,
        0.05,
    ]


def test_scores_follow_options() -> None:
    options = {"neutral": 1.0, "true_score": 1, "false_score": 0.0}
    verifier = get_spec("calculator").factory(options, VerifierContext())
    assert isinstance(verifier, CalculatorVerifier)
    assert _score(verifier, "words", "2 + 2 = 4", "2 + 2 = 5") == [1.0, 1.0, 0.0]


@pytest.mark.parametrize(
    "options", [{"neutral": 2.0}, {"true_score": "high"}, {"false_score": True}, {"nuetral": 0.5}]
)
def test_bad_options_are_config_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        get_spec("calculator").factory(options, VerifierContext())
    assert info.value.hint


def test_registered() -> None:
    assert VERIFIERS["calculator"].needs_model is False


def test_final_answer_must_match_the_last_computed_result() -> None:
    from outthink.verifiers.base import StepRecord
    from outthink.verifiers.calculator import CalculatorVerifier

    v = CalculatorVerifier()
    s = v.open("A box holds 12 pencils. How many pencils are in 7 boxes?")
    for cand in (0, 1, 2):
        s.add(cand)
    first = s.score(
        {0: StepRecord("So 7 * 12 = 84 pencils.\n\n"), 1: StepRecord("So 7 * 12 = 84.\n\n"),
         2: StepRecord("There are 7 boxes.\n\n")}
    )
    assert first == {0: v.true_score, 1: v.true_score, 2: v.neutral}
    last = s.score(
        {0: StepRecord("The answer is 84."), 1: StepRecord("The answer is 90."),
         2: StepRecord("The answer is 84.")}
    )
    # 0 states what it computed; 1 contradicts its own arithmetic; 2 computed nothing
    assert last == {0: v.true_score, 1: v.false_score, 2: v.neutral}
    s.add(3, parent=0)  # a fork inherits the history it must agree with
    assert s.score({3: StepRecord("The answer is 85.")}) == {3: v.false_score}
    assert v.score_text("The answer is 85.") == v.neutral  # no history: nothing to compare
