"""Answer extraction, equivalence, grouping and grading (outthink.answers)."""

from __future__ import annotations

import threading
import time

import pytest

from outthink import answers
from outthink.answers import (
    AnswerGroup,
    answers_equivalent,
    extract_answer,
    group_answers,
    has_final_answer,
    is_correct,
)

# (text, extracted answer, explicit final answer?)
EXTRACTION = [
    (r"So $x = \boxed{\frac{1}{2}}$.", r"\frac{1}{2}", True),
    (r"First \boxed{3}, but on reflection \boxed{4}.", "4", True),
    (r"\boxed {x^{2}+1}", "x^{2}+1", True),
    (r"\fbox{7} is it", "7", True),
    (r"The set is \boxed{\{1, 2\}}", r"\{1, 2\}", True),
    (r"unclosed \boxed{5 and then 12 more", "12", False),
    ("The answer is 42.", "42", True),
    ("Therefore, the final answer is: $8$. I hope it is correct.", "8", True),
    ("THE ANSWER IS 3/4", "3/4", True),
    ("So the answer is 18 apples.", "18", True),
    ("The answer is (1, 2).", "(1, 2)", True),
    (r"Therefore, the final answer is: $\boxed{12}$.", "12", True),
    ("Final answer: 3.5", "3.5", True),
    ("Answer: 12", "12", True),
    ("The answer is not obvious yet. We have 3 and 4", "4", False),
    ("To see what the answer is, we compute 3 + 4", "4", False),
    ("The answer is that we need 3 more", "3", False),
    ("The answer is 18 apples, because she had 3 more.", "18", True),
    ("The answer is 3 + 5 = 8 apples.", "8", True),
    ("The answer is x = 3.", "3", True),
    ("The answer is yes.", "yes", True),
    ("The answer is \\$5.", "5", True),
    ("She pays 1,000 dollars in total", "1000", False),
    ("The change is -3.5 degrees", "-3.5", False),
    ("3/4 of the class passed", "3/4", False),
    ("Between 5-3 units", "3", False),
    ("x2 is a name, and so is y", None, False),
    ("Nothing numeric here.", None, False),
    ("", None, False),
]


@pytest.mark.parametrize(("text", "expected", "final"), EXTRACTION)
def test_extract_answer(text: str, expected: str | None, final: bool) -> None:
    assert extract_answer(text) == expected
    assert has_final_answer(text) is final


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1/2", "0.5"),
        ("0.5", r"\frac{1}{2}"),
        (r"\dfrac{1}{2}", "1/2"),
        ("8", "8.0"),
        ("x=3", "3"),
        ("1,000", "1000"),
        (r"\{1, 2\}", r"\{2, 1\}"),
        ("[1,2)", "[1, 2)"),
        (r"2\sqrt{2}", r"\sqrt{8}"),
        ("$18$", "18"),
    ],
)
def test_equivalent(a: str, b: str) -> None:
    assert answers_equivalent(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("8", "9"),
        ("1/2", "0.52"),
        ("(1,2]", "[1,2)"),
        ("3.14", r"\pi"),
        ("x^2", "2x"),
    ],
)
def test_not_equivalent(a: str, b: str) -> None:
    assert not answers_equivalent(a, b)


def test_identical_strings_skip_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> bool:
        raise AssertionError("math-verify should not be called")

    monkeypatch.setattr(answers, "_verify", boom)
    assert answers_equivalent(" 1 + 2 ", "1+2")
    assert answers_equivalent(r"\boxed{7}", "$7$")


def test_unparseable_answers_are_not_equivalent() -> None:
    assert not answers_equivalent("}{", "banana")


def test_group_answers_by_equivalence_in_first_seen_order() -> None:
    groups = group_answers(["1/2", None, "3", "0.5", r"\frac{1}{2}", "3.0", "4", None])
    assert groups == [
        AnswerGroup(answer="1/2", members=(0, 3, 4)),
        AnswerGroup(answer="3", members=(2, 5)),
        AnswerGroup(answer="4", members=(6,)),
    ]


def test_group_answers_empty_and_all_none() -> None:
    assert group_answers([]) == []
    assert group_answers([None, None]) == []


def test_group_answers_caches_repeated_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = answers._verify

    def counting(gold: list[object], target: list[object]) -> bool:
        calls.append(1)
        return real(gold, target)

    monkeypatch.setattr(answers, "_verify", counting)
    groups = group_answers(["5", "6"] * 20)
    assert [g.members for g in groups] == [tuple(range(0, 40, 2)), tuple(range(1, 40, 2))]
    # "6" vs "5" once; every other repeat hits the fast path or the pair cache.
    assert len(calls) == 1


def test_is_correct() -> None:
    assert is_correct("0.5", r"\frac{1}{2}")
    assert is_correct("x = 3", "3")
    assert not is_correct("4", "3")
    assert not is_correct(None, "3")


def test_equivalence_works_off_the_main_thread() -> None:
    out: list[bool] = []
    worker = threading.Thread(
        target=lambda: out.extend([answers_equivalent("1/2", "0.5"), is_correct("7", "8")])
    )
    worker.start()
    worker.join(30)
    assert out == [True, False]


def test_time_limit_off_the_main_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def stuck(gold: list[object], target: list[object]) -> bool:
        release.wait(10)  # a runaway sympy comparison, stopped at the end of the test
        return True

    monkeypatch.setattr(answers, "_verify", stuck)
    out: list[tuple[bool, float]] = []

    def compare() -> None:
        start = time.monotonic()
        result = answers_equivalent("1/2", "0.5", timeout=0.2)
        out.append((result, time.monotonic() - start))

    try:
        worker = threading.Thread(target=compare)
        worker.start()
        worker.join(5)
        assert out, "the comparison did not return"
        result, seconds = out[0]
        assert result is False  # timed out counts as not equivalent
        assert 0.15 <= seconds < 2.0
    finally:
        release.set()
