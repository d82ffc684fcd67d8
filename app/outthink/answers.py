"""Final answers: extract them from solutions, compare them, group them, grade them.

Extraction prefers what the model marked as its answer (the last ``\\boxed{...}``, then a
sentence like "The answer is 42"), and only then falls back to the last number in the text.
Equivalence is mathematical (``1/2``, ``0.5`` and ``\\frac{1}{2}`` are the same answer) and is
decided by Hugging Face's ``math-verify``, with a fast path for identical strings and a time
limit per comparison that works on any thread (the GUI runs searches on a worker thread).

Everything here is deterministic: the same inputs always give the same groups and grades.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "AnswerGroup",
    "answers_equivalent",
    "extract_answer",
    "group_answers",
    "has_final_answer",
    "is_correct",
]

# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")

# "The answer is 42", "the final answer is: $8$", "Final answer: 8", "Answer: 8" (at a line
# start only: mid-sentence "answer:" is too often prose, e.g. "to find the answer: first ...").
_ANSWER_IS = re.compile(
    r"(?:\b(?:the\s+)?(?:final\s+)?answer\s+is\b\s*:?"
    r"|\bfinal\s+answer\s*:"
    r"|^[ \t*#>_]*answer\s*:)"
    r"[ \t]*(?P<value>[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)

# The last-number fallback: thousands separators (1,000), decimals, simple fractions (3/4).
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>-)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:/\d+)?|\.\d+)"
    r"(?![\w])"
)

# A value after "answer is" counts only if it looks like an answer rather than prose ("The
# answer is not obvious yet", "what the answer is, we ..."): it has a digit or math markup,
# or it is a single short word ("yes", "B", "x"); and it does not open with a word that
# starts a clause.
_NUMBER_THEN_WORDS = re.compile(
    r"^(?P<num>-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)\s+[A-Za-z][A-Za-z ]*$"
)
_ANSWERISH = re.compile(r"[\d$\\^=/+*{}()\[\]]")
_MARKUP = re.compile(r"[$\\^={}]")
_CLAUSE_WORDS = frozenset(
    {
        "that",
        "to",
        "not",
        "what",
        "how",
        "why",
        "when",
        "where",
        "which",
        "because",
        "since",
        "if",
        "in",
        "at",
        "by",
        "we",
        "it",
        "this",
        "still",
        "unclear",
        "unknown",
        "given",
        "found",
        "determined",
        "obtained",
        "below",
        "above",
        "as",
        "simply",
        "clearly",
        "likely",
        "probably",
        "then",
    }
)
_MAX_PROSE_WORDS = 6


def _balanced_from(text: str, start: int) -> str | None:
    """The text between the brace at ``start - 1`` and its matching close, or None if unclosed."""
    depth = 1
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            # Escaped braces (\{ \}) are set notation, not grouping.
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


# A backslash and the character it escapes, or a brace: what brace matching looks at.
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)


def _brace_pairs(text: str) -> dict[int, int]:
    """Position of every closed ``{`` -> position of its ``}``, in one pass over the text.

    Escaped braces are skipped as in :func:`_balanced_from`, so the pair of a brace found
    here is what :func:`_balanced_from` finds from it.
    """
    pairs: dict[int, int] = {}
    opened: list[int] = []
    for match in _BRACE_TOKEN.finditer(text):
        token = match.group()
        if token == "{":
            opened.append(match.start())
        elif token == "}" and opened:
            pairs[opened.pop()] = match.start()
    return pairs


def _last_boxed(text: str) -> str | None:
    boxes = list(_BOXED.finditer(text))
    if not boxes:
        return None
    # One pass for all boxes: scanning from each unclosed box to the end of the text cost
    # quadratic time (minutes for a long run of "\boxed{").
    pairs = _brace_pairs(text)
    for match in reversed(boxes):
        close = pairs.get(match.end() - 1)  # the box's own brace: never escaped (see _BOXED)
        if close is not None and text[match.end() : close].strip():
            return text[match.end() : close].strip()
    return None


def _cut_sentence(value: str) -> str:
    """Cut the value at the end of its clause: ``. , ; ! ?`` followed by a space or the end.

    "3.5" and "1,000" are kept whole (no space after the mark), and marks inside brackets
    do not cut, so "(1, 2)" stays a tuple.
    """
    depth = 0
    for i, ch in enumerate(value):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in ".,;!?" and depth == 0 and (i + 1 == len(value) or value[i + 1].isspace()):
            return value[:i]
    return value


def _clean_answer_value(value: str) -> str | None:
    value = _cut_sentence(value.strip())
    inner = _last_boxed(value)
    if inner is not None:
        return inner
    # Markdown emphasis and math delimiters around the answer carry no meaning.
    value = value.replace("**", "").replace("\\(", "").replace("\\)", "")
    value = value.replace("\\[", "").replace("\\]", "").replace("\\$", "").replace("$", "")
    value = value.strip().rstrip(".,;:").strip()
    words = value.split()
    if not words or value.endswith(":") or value[0] in ",;":
        return None
    if words[0].lower() in _CLAUSE_WORDS:
        return None
    if not _ANSWERISH.search(value) and len(words) > 1:
        return None
    if len(words) > _MAX_PROSE_WORDS and not _MARKUP.search(value):
        return None
    # "The answer is 3 + 5 = 8 apples": the answer is what the computation ends in.
    if "=" in value and "\\" not in value:
        rhs = value.rsplit("=", 1)[1].strip()
        if rhs:
            value = rhs
    # "8 apples", "12 dollars": a number followed by a unit word is that number.
    unit = _NUMBER_THEN_WORDS.match(value)
    if unit is not None:
        value = unit.group("num").replace(",", "")
    return value


def _answer_sentence(text: str) -> str | None:
    for match in reversed(list(_ANSWER_IS.finditer(text))):
        value = _clean_answer_value(match.group("value"))
        if value is not None:
            return value
    return None


def _last_number(text: str) -> str | None:
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    number = last.group("num").replace(",", "")
    return f"-{number}" if last.group("sign") else number


def extract_answer(text: str) -> str | None:
    """The solution's final answer as a raw string, or None when there is none.

    Order: the last ``\\boxed{...}`` / ``\\fbox{...}`` (balanced braces), then the last
    "the (final) answer is X" / "Final answer: X", then the last number in the text.
    """
    return _last_boxed(text) or _answer_sentence(text) or _last_number(text)


def has_final_answer(text: str) -> bool:
    """True when the text states a final answer explicitly (boxed or "the answer is").

    The last-number fallback does not count: a step that merely contains a number must not
    end a candidate.
    """
    return _last_boxed(text) is not None or _answer_sentence(text) is not None


# --------------------------------------------------------------------------------------------
# Equivalence
# --------------------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_LATEX_NOISE = re.compile(r"\\(?:left|right|displaystyle)(?![a-zA-Z])|\\[!,;: ]")


def _normalise(answer: str) -> str:
    """A canonical spelling for the fast path and cache keys. Never changes the meaning."""
    s = answer.strip()
    wrapper = _BOXED.match(s)
    if wrapper is not None:
        inner = _balanced_from(s, wrapper.end())
        if inner is not None and wrapper.end() + len(inner) + 1 == len(s):
            s = inner  # the whole answer is one \boxed{...}
    s = (
        s.replace("\\$", "")
        .replace("$", "")
        .replace("\\dfrac", "\\frac")
        .replace("\\tfrac", "\\frac")
    )
    s = _LATEX_NOISE.sub(" ", s)
    s = re.sub(r"\s+", " ", s).strip()
    # Spaces next to operators and punctuation carry no meaning; between words they might
    # ("\pi r" is not "\pir"), so those stay.
    s = re.sub(r"\s*([^\w\s\\])\s*", r"\1", s)
    s = s.rstrip(".")
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return s


class _DropTimeoutDisabledNotice(logging.Filter):
    """math-verify warns once that its timeout is off; here the caller enforces one instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")


_NOTICE_FILTER = _DropTimeoutDisabledNotice()
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_NOTICE_FILTER)


def _parse(answer: str) -> list[Any]:
    # Imported here: math-verify pulls in sympy and an ANTLR grammar (about 0.3 s), which
    # the CLI's --help and the GUI's start-up should not pay for.
    from math_verify import parse

    # parsing_timeout=None: math-verify's own limit is signal.alarm (main thread only,
    # whole seconds, and it clobbers any other SIGALRM user such as pytest-timeout) or, on
    # Windows, a process per call. The caller enforces the limit instead (_run_limited).
    return list(parse(f"\\boxed{{{answer}}}", parsing_timeout=None))


def _verify(gold: list[Any], target: list[Any]) -> bool:
    from math_verify import verify

    return bool(verify(gold, target, timeout_seconds=None))


def _run_limited(func: Callable[[], bool], timeout: float, what: str) -> bool:
    """Run ``func`` on a daemon thread and wait at most ``timeout`` seconds for it.

    A comparison that runs out of time counts as False. Python cannot kill a thread, so a
    runaway sympy computation finishes in the background; it is a daemon, so it never keeps
    the app from exiting.
    """
    result: list[bool] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(func())
        except Exception as exc:  # math-verify raises many kinds on odd input
            errors.append(exc)

    worker = threading.Thread(target=target, name="outthink-answer-compare", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        logger.warning("Comparing %s took over %.1f s; counted as not equivalent.", what, timeout)
        return False
    if errors:
        logger.debug("Comparing %s failed: %r; counted as not equivalent.", what, errors[0])
        return False
    return bool(result and result[0])


class _Comparer:
    """Equivalence with caches that live for one call (grouping compares many equal strings)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._parsed: dict[str, list[Any]] = {}
        self._pairs: dict[tuple[str, str], bool] = {}

    def _parsed_answer(self, answer: str) -> list[Any]:
        # Read and written from worker threads; single dict operations are atomic, and a
        # late write by a timed-out worker stores a correct parse, so no lock is needed.
        parsed = self._parsed.get(answer)
        if parsed is None:
            parsed = _parse(answer)
            self._parsed[answer] = parsed
        return parsed

    def equivalent(self, gold: str, other: str) -> bool:
        a, b = _normalise(gold), _normalise(other)
        if a == b:
            return True
        if not a or not b:
            return False
        key = (a, b)
        cached = self._pairs.get(key)
        if cached is None:
            # The first import of math-verify (sympy, an ANTLR grammar) can take seconds on a
            # busy machine: do it here, outside the time limit, so it cannot fail a comparison.
            import math_verify  # noqa: F401

            cached = _run_limited(
                lambda: _verify(self._parsed_answer(a), self._parsed_answer(b)),
                self.timeout,
                f"{gold!r} with {other!r}",
            )
            self._pairs[key] = cached
        return cached


def answers_equivalent(a: str, b: str, *, timeout: float = 2.0) -> bool:
    """True when two answers are mathematically the same (``1/2``, ``0.5``, ``\\frac12``).

    ``a`` plays the reference ("gold") role in math-verify. A comparison that takes longer
    than ``timeout`` seconds, or that math-verify cannot parse, counts as not equivalent.
    """
    return _Comparer(timeout).equivalent(a, b)


def is_correct(predicted: str | None, reference: str, *, timeout: float = 2.0) -> bool:
    """Grade one predicted answer against the reference answer."""
    if predicted is None:
        return False
    return _Comparer(timeout).equivalent(reference, predicted)


@dataclass(frozen=True, slots=True)
class AnswerGroup:
    """Answers that are all equivalent to ``answer`` (the first one seen)."""

    answer: str
    members: tuple[int, ...]  # indices into the list given to group_answers, ascending


def group_answers(answers: Sequence[str | None], *, timeout: float = 2.0) -> list[AnswerGroup]:
    """Group answers by equivalence, in first-seen order. None answers are left out.

    Each answer is compared with each group's representative (its first answer) in order and
    joins the first group it matches; equivalence is not always transitive, so comparing with
    a fixed representative keeps the result independent of how groups grow.
    """
    comparer = _Comparer(timeout)
    reps: list[str] = []
    members: list[list[int]] = []
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        for rep, group in zip(reps, members, strict=True):
            if comparer.equivalent(rep, answer):
                group.append(index)
                break
        else:
            reps.append(answer)
            members.append([index])
    return [
        AnswerGroup(answer=rep, members=tuple(group))
        for rep, group in zip(reps, members, strict=True)
    ]
