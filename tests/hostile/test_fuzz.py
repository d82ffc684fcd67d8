"""Fuzzing what a user or a file can hand Outthink: problem text, numeric options, catalog TOML,
GGUF headers.

Every target must either work or fail with a clear, typed message (``Error: ...`` and exit 1,
or argparse's usage text and exit 2): never a traceback, never an "unexpected error", never a
file changed that the command had no business changing. Hypothesis runs derandomized and without
a database, so every run (and CI) draws the same examples; the whole file stays within about a
minute and a half on a small machine.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

import outthink
import outthink.cli as cli
import outthink.cli.solve as cli_solve
from outthink import engine
from outthink.answers import (
    _BOXED,
    _balanced_from,
    _last_boxed,
    _normalise,
    extract_answer,
    has_final_answer,
)
from outthink.catalog import parse_catalog_text, shipped_catalog_path
from outthink.catalog.entries import _ID_RE, _KIND_RE, _REVISION_RE, _SHA_RE
from outthink.catalog.paths import _SEGMENT_RE
from outthink.errors import ModelFileError, OutthinkError
from outthink.generation import CancelToken
from outthink.gguf_file import read_header
from outthink.prompts import PromptFormat, build_prompt
from tests.tiny_gguf import CHAT_TEMPLATE

OUTTHINK = Path(sys.executable).with_name("outthink")
#: The outthink package this test imported: the subprocesses must run the same code.
APP_DIR = str(Path(outthink.__file__).resolve().parents[1])

_COMMON: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
#: In-process targets: cheap, many examples.
CHEAP = settings(max_examples=300, **_COMMON)
#: Subprocess and model-running targets: few examples, and no shrinking (each try costs a
#: process start); a failure still reports the example that failed.
COSTLY = settings(
    max_examples=15, phases=(Phase.explicit, Phase.reuse, Phase.generate), **_COMMON
)

TRACEBACK = "Traceback (most recent call last)"
BUG = "This is a bug in Outthink"


# --------------------------------------------------------------------------- helpers


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` (the log folder excepted) -> hash of its bytes."""
    files: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and "outthink-log" not in path.parts:
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def strict_json(text: str) -> Any:
    """Parse JSON as a strict parser would: NaN and Infinity are not JSON."""

    def reject(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=reject)


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (APP_DIR, env.get("PYTHONPATH", "")) if p)
    return env


def run_cli(
    args: Sequence[str | bytes], *, stdin: bytes = b"", timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(OUTTHINK), *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=cli_env(),
        check=False,
    )


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def check_clean(self, *, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
        """A clean end: a known exit code, the message that goes with it, no traceback."""
        assert self.code in allowed, f"exit {self.code}\n{self.err[-2000:]}"
        assert TRACEBACK not in self.err and TRACEBACK not in self.out, self.err[-2000:]
        assert BUG not in self.err and BUG not in self.out, self.err[-2000:]
        if self.code == 2:
            assert "usage:" in self.err, self.err
        elif self.code == 1 and "Error: " not in self.err:
            # --json reports a failed run in the summary object instead of on stderr.
            data = strict_json(self.out)
            assert data["status"] == "failed" and data["error"]["error"], data
        if self.code == 0:
            strict_json(self.out)


def solve_args(model: Path, *extra: str) -> list[str]:
    return [
        "solve", "--policy", str(model), "--n", "1", "--max-tokens", "4",
        "--strategy", "greedy", "--json", *extra,
    ]


# --------------------------------------------------------------------------- problem text

# Text a hostile user might type or paste: every category of code point (control and format
# characters, combining marks, private use, unassigned), minus what a command line cannot
# carry (NUL) and what is not text at all (lone surrogates: tested as raw bytes below).
ANY_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
WHITESPACE = st.text(st.sampled_from(" \t\r\n\x0b\x0c\x1c\x85\xa0\u2028\u2029\u3000"), max_size=8)
PROBLEM_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    WHITESPACE,
    st.text(st.characters(max_codepoint=0x20, exclude_characters="\x00"), max_size=30),
    st.text(ANY_CHAR, min_size=600, max_size=900),
    st.sampled_from(["-", "--", "-x", "What is 2+3?", "\\boxed{", "{{ 7*7 }}", "%s%n"]),
)


@COSTLY
@given(problem=PROBLEM_TEXT, via_stdin=st.booleans())
def test_problem_text_through_the_cli(
    problem: str, via_stdin: bool, tiny_model: Path, isolated_env: Path
) -> None:
    before = snapshot(isolated_env, tiny_model.parent)
    if via_stdin:
        proc = run_cli([*solve_args(tiny_model), "-"], stdin=problem.encode("utf-8"))
    else:
        proc = run_cli([*solve_args(tiny_model), "--", problem])
    expected = problem.strip()
    outcome = Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    outcome.check_clean(allowed=(0, 1))
    if outcome.code == 0:
        # Nothing lost: the run worked on exactly the problem given.
        assert strict_json(outcome.out)["problem"] == expected
    elif not expected or expected == "-":
        assert "The problem is empty" in outcome.err
    assert snapshot(isolated_env, tiny_model.parent) == before


def _with_invalid_utf8(data: bytes, where: int, bad: bytes) -> bytes:
    where = min(where, len(data))
    return data[:where] + bad + data[where:]


INVALID_UTF8 = st.sampled_from(
    [b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80abc", b"\xe2\x82"]
)


@settings(COSTLY, max_examples=6)
@given(
    text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    where=st.integers(0, 20),
    bad=INVALID_UTF8,
    via_stdin=st.booleans(),
)
def test_invalid_utf8_problem_through_the_cli(
    text: str, where: int, bad: bytes, via_stdin: bool, tiny_model: Path, isolated_env: Path
) -> None:
    before = snapshot(isolated_env, tiny_model.parent)
    raw = _with_invalid_utf8(text.encode(), where, bad)
    if via_stdin:
        proc = run_cli([*solve_args(tiny_model), "-"], stdin=raw)
    else:
        proc = run_cli([*solve_args(tiny_model), "--", raw])
    # Refused with a message, or run with U+FFFD in place of the bad bytes: both are fine.
    outcome = Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode("utf-8", "replace"))
    outcome.check_clean(allowed=(0, 1))
    assert snapshot(isolated_env, tiny_model.parent) == before


def test_problem_longer_than_the_trained_context_is_refused(
    tiny_model: Path, isolated_env: Path
) -> None:
    # The tiny model is trained for 1024 tokens; these 6000 characters are several thousand
    # byte tokens.
    problem = "abc def " * 750
    proc = run_cli([*solve_args(tiny_model), "--", problem])
    outcome = Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    outcome.check_clean(allowed=(1,))
    assert "Error: " in outcome.err


FORMATS = [
    (PromptFormat("completion"), None),
    (PromptFormat("chat"), CHAT_TEMPLATE),
    (PromptFormat("chat"), None),
    (PromptFormat("chat", system_prompt=""), CHAT_TEMPLATE),
]


@CHEAP
@given(problem=st.one_of(st.text(), WHITESPACE), which=st.integers(0, len(FORMATS) - 1))
def test_prompt_building_keeps_any_problem(problem: str, which: int) -> None:
    fmt, template = FORMATS[which]
    try:
        prompt = build_prompt(problem, fmt, chat_template=template, bos_token="<s>")
    except OutthinkError as exc:
        assert not problem.strip(), exc  # only an empty problem is refused
        assert "empty" in exc.message
        return
    assert problem.strip() in prompt.text


# Fragments that steer extraction into its corners: boxes, braces, escapes, "answer is"
# sentences, numbers with separators, markup.
ANSWER_SOUP = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "\\boxed{", "\\fbox{", "{", "}", "\\{", "\\}", "\\", "$", "**", "\\(", "\\)",
                "The answer is ", "answer is", "Final answer:", "answer:", "\n", " ", ".",
                ",", ";", "=", "(", ")", "1,000", "3.5", "-2", "1/2", "\\frac{1}{2}", "x",
                "not", "yes", "\u00a0", "\u2028",
            ]
        ),
        st.text(max_size=4),
    ),
    max_size=40,
).map("".join)


def _timed(func: Callable[[], Any], limit: float = 1.0) -> Any:
    t0 = time.perf_counter()
    result = func()
    took = time.perf_counter() - t0
    assert took < limit, f"took {took:.2f} s"
    return result


def _reference_last_boxed(text: str) -> str | None:
    """The last box with text in it, each box's braces matched on their own."""
    for match in reversed(list(_BOXED.finditer(text))):
        content = _balanced_from(text, match.end())
        if content is not None and content.strip():
            return content.strip()
    return None


@CHEAP
@given(text=st.one_of(ANSWER_SOUP, st.text()))
@example(text="\\boxed{" * 1500)
@example(text="\\boxed{" * 1500 + "}")
@example(text="{" * 3000 + "\\boxed{1}" + "}" * 3000)
def test_answer_extraction_never_fails(text: str) -> None:
    answer = _timed(lambda: extract_answer(text))
    assert _last_boxed(text) == _reference_last_boxed(text)
    assert answer is None or (isinstance(answer, str) and answer.strip())
    final = _timed(lambda: has_final_answer(text))
    assert isinstance(final, bool)
    if final:
        assert answer is not None
    if answer is not None:
        assert isinstance(_timed(lambda: _normalise(answer)), str)


def test_answer_extraction_is_linear_in_unclosed_boxes() -> None:
    # Every \boxed{ without its closing brace used to be scanned to the end of the text: a
    # quadratic cost: 8 s for 6000 of them, 80 s for 20000.
    text = "\\boxed{" * 6_000
    assert _timed(lambda: extract_answer(text), limit=1.0) is None
    assert _timed(lambda: has_final_answer(text), limit=1.0) is False
    assert extract_answer(text + "42}") == "42"


def _reference_hit(data: bytes, before: int, delimiters: Sequence[str]) -> bool:
    """A delimiter ends a step when it lies (at least partly) in the new bytes and some
    visible text comes before it."""
    for d in delimiters:
        db = d.encode()
        start = max(0, before - len(db) + 1)
        idx = data.find(db, start)
        while idx != -1:
            if idx > 0 and data[:idx].strip():
                return True
            idx = data.find(db, idx + 1)
    return False


STEP_BYTES = st.lists(st.sampled_from([b"\n", b"\n\n", b" ", b"\t", b"a", b"7", b"\xe2\x80\xa8"]),
                      max_size=12).map(b"".join)


@CHEAP
@given(
    data=st.one_of(STEP_BYTES, st.binary(max_size=30)),
    cut=st.integers(0, 40),
    delimiters=st.one_of(
        st.just(("\n\n",)), st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=3)
    ),
)
@example(data=b"\n\nab\n\n", cut=0, delimiters=("\n\n",))
def test_step_splitting_matches_its_definition(
    data: bytes, cut: int, delimiters: Sequence[str]
) -> None:
    before = min(cut, len(data))
    got = engine.LlamaGenerator._hit_delimiter(bytearray(data), before, tuple(delimiters))
    assert got == _reference_hit(data, before, delimiters)


# --------------------------------------------------------------------------- numeric options

INT_OPTIONS = ["--n", "--width", "--top-k", "--max-tokens", "--max-steps", "--seed"]
FLOAT_OPTIONS = ["--temperature", "--top-p", "--min-p"]
#: llama.cpp sizes per-thread buffers from these: huge values abort the process (tested in
#: subprocesses below), so the in-process fuzz keeps them to what a machine could have.
THREAD_OPTIONS = ["--threads", "--gpu-layers"]

ODD_NUMBER_TEXT = st.sampled_from(
    ["", " ", "1e3", " 7 ", "0x10", "1_000", "\u0663", "+5", "-0", "1.5", "1,5", "½",
     "9" * 40, "-" + "9" * 40, "0.0", "1e-400", "5e-324", "\U0001d7d9", "None", "true"]
)
SMALL_INT_TEXT = st.integers(-3, 300).map(str)
INT_TEXT = st.one_of(SMALL_INT_TEXT, st.integers(-(2**70), 2**70).map(str))
FINITE_TEXT = st.one_of(
    st.floats(-2, 2, allow_nan=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
# "--option=--" is left to test_double_dash_as_a_value (argparse gives the option []).
GARBAGE_TEXT = st.one_of(st.text(max_size=10).filter(lambda t: t != "--"), ODD_NUMBER_TEXT)
STRATEGIES = ["best-of-n", "greedy", "beam", "dvts", "adaptive"]


def _option_value(option: str) -> st.SearchStrategy[str]:
    """Mostly numbers of the option's type (so that runs happen), some of the other type and
    some text that is no number at all."""
    if option in THREAD_OPTIONS:
        return st.one_of(st.integers(-4096, 4096).map(str), SMALL_INT_TEXT, GARBAGE_TEXT)
    if option in FLOAT_OPTIONS:
        return st.one_of(FINITE_TEXT, SMALL_INT_TEXT, FINITE_TEXT, GARBAGE_TEXT)
    return st.one_of(SMALL_INT_TEXT, INT_TEXT, FINITE_TEXT, GARBAGE_TEXT)


OPTION_VALUES = st.sampled_from(INT_OPTIONS + FLOAT_OPTIONS + THREAD_OPTIONS).flatmap(
    lambda option: st.tuples(st.just(option), _option_value(option))
)

#: Cancel checks (one per decode call) a fuzzed run may make before the test stops it, so
#: that an accepted --max-tokens 100000 cannot keep one example busy for minutes.
CHECK_BUDGET = 48


class BudgetToken(CancelToken):
    spent = False

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.checks > CHECK_BUDGET:
            BudgetToken.spent = True
            self.cancel()
        super().check()


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


@settings(COSTLY, max_examples=150)
@given(
    options=st.lists(OPTION_VALUES, min_size=1, max_size=2),
    strategy=st.sampled_from(STRATEGIES),
)
def test_numeric_options_in_process(
    options: list[tuple[str, str]],
    strategy: str,
    tiny_model: Path,
    isolated_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_solve, "CancelToken", BudgetToken)
    BudgetToken.spent = False
    before = snapshot(isolated_env, tiny_model.parent)
    argv = solve_args(tiny_model, "--strategy", strategy)
    for option, value in options:
        argv.append(f"{option}={value}")  # "=": a value that starts with "-" stays a value
    outcome = run_main([*argv, "--", "What is 2+3?"], capsys)
    event(f"exit {outcome.code}")
    outcome.check_clean(allowed=(0, 1, 2, 130) if BudgetToken.spent else (0, 1, 2))
    assert snapshot(isolated_env, tiny_model.parent) == before


def test_non_finite_numbers_are_refused(
    tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted = []
    for option in FLOAT_OPTIONS:
        for value in ("nan", "inf", "-inf", "NaN", "1e999"):
            outcome = run_main([*solve_args(tiny_model), f"{option}={value}", "--", "2+3?"],
                               capsys)
            outcome.check_clean(allowed=(0, 1, 2))
            if outcome.code == 0:
                accepted.append(f"{option}={value}")
    assert not accepted, f"ran with {accepted}"


def test_double_dash_as_a_value(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for option in INT_OPTIONS + FLOAT_OPTIONS + THREAD_OPTIONS:
        outcome = run_main([*solve_args(tiny_model), f"{option}=--", "--", "2+3?"], capsys)
        outcome.check_clean(allowed=(1, 2))
        assert "[]" not in outcome.err, outcome.err  # the user typed "--", not a list


@settings(COSTLY, max_examples=5)
@given(options=st.lists(OPTION_VALUES, min_size=1, max_size=2))
def test_numeric_options_through_the_cli(
    options: list[tuple[str, str]], tiny_model: Path, isolated_env: Path
) -> None:
    before = snapshot(isolated_env, tiny_model.parent)
    argv = solve_args(tiny_model, "--max-tokens", "4")
    argv += [f"{option}={value}" for option, value in options if option != "--max-tokens"]
    proc = run_cli([*argv, "--", "What is 2+3?"])
    Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode()).check_clean()
    assert snapshot(isolated_env, tiny_model.parent) == before


def test_huge_thread_counts_are_refused(tiny_model: Path) -> None:
    for value in ("1000000", "2147483647", "-2147483649"):
        proc = run_cli([*solve_args(tiny_model), f"--threads={value}", "--", "2+3?"])
        Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode()).check_clean(
            allowed=(1, 2)
        )


# --------------------------------------------------------------------------- catalog TOML

SHIPPED_TOML = shipped_catalog_path().read_text(encoding="utf-8")
TOML_VALUES = [
    "1", "-1", "0", "1e400", "-1e400", "nan", "inf", "true", '"x"', '""', "[]", "{}",
    "1979-05-27", "07:32:00", '"a\\nb"', '"abc\\n"', '"../x.gguf"', "'''multi\nline'''",
    '"\\u0000"', '"owner/name"', '"x.gguf"', '"Q4/../x"', '"package:"', '"package:x y"',
    '"chat"', '"completion"', '"verifier"', '"policy"', "9223372036854775807",
    '"' + "a" * 300 + '"', '"fewshot_math.txt"', '"judge"', "{ a = 1 }", '"CON.gguf"',
]
TOML_KEYS = [
    "id", "name", "role", "source", "repo", "file", "revision", "quantization", "params",
    "size_bytes", "sha256", "license", "ram_bytes", "kv_bytes_per_token", "context_length",
    "prompt_format", "preamble", "system_prompt", "verifier_kind", "verifier_options",
    "description", "schema", "models", "x",
]


@st.composite
def mutated_catalog(draw: st.DrawFn) -> str:
    lines = SHIPPED_TOML.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["value", "key", "delete", "duplicate", "splice", "chars"]))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if op == "value" and "=" in line:
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(TOML_VALUES))}"
        elif op == "key" and "=" in line:
            lines[i] = f"{draw(st.sampled_from(TOML_KEYS))} ={line.split('=', 1)[1]}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "splice":
            lines.insert(i, draw(st.sampled_from(["[[models]]", "[models]", "schema = 2",
                                                  "[x]", "models = 1", "[[models.x]]"])))
        else:
            at = draw(st.integers(0, len(line)))
            junk = draw(st.text(st.sampled_from('"\'[]{}=.,#\\ \tx1\n\x7f\u2028'), max_size=4))
            lines[i] = line[:at] + junk + line[at + draw(st.integers(0, 3)):]
        if not lines:
            break
    return "\n".join(lines)


TOML_SCALAR = st.one_of(
    st.text(max_size=12), st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.floats(), st.sampled_from(["hub", "package:pkg", "policy", "verifier", "x.gguf", "a/b"]),
)
TOML_VALUE = st.recursive(
    TOML_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(TOML_KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)


def _toml(value: Any) -> str:
    """A TOML literal for ``value`` (strings, numbers, booleans, arrays, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # Printable ASCII as is, everything else escaped (TOML has no surrogate escapes).
        return '"' + "".join(
            c if " " <= c <= "~" and c not in '"\\' else f"\\U{ord(c):08X}"
            for c in value if not 0xD800 <= ord(c) <= 0xDFFF
        ) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def random_catalog(draw: st.DrawFn) -> str:
    out = []
    if draw(st.booleans()):
        out.append(f"schema = {_toml(draw(st.one_of(st.just(1), TOML_SCALAR)))}")
    base = {
        "id": "m", "name": "M", "role": "policy", "repo": "o/r", "file": "m.gguf",
        "size_bytes": 1, "license": "x", "context_length": 8,
    }
    for _ in range(draw(st.integers(0, 3))):
        table = dict(base) if draw(st.booleans()) else {}
        table.update(draw(st.dictionaries(st.sampled_from(TOML_KEYS[:-3]), TOML_VALUE,
                                          max_size=4)))
        out.append("[[models]]")
        out.extend(f"{json.dumps(k)} = {_toml(v)}" for k, v in table.items())
    return "\n".join(out)


_TEXT_FIELDS = {
    "id": _ID_RE, "revision": _REVISION_RE, "sha256": _SHA_RE, "verifier_kind": _KIND_RE,
}


def check_catalog_text(text: str) -> None:
    try:
        entries = parse_catalog_text(text, source="models.toml", origin="user")
    except OutthinkError as exc:
        assert exc.message.strip() and "models.toml" in exc.message, exc
        return
    for entry in entries:
        # What a loaded entry holds becomes file paths and Hub URLs: it must be exactly what
        # the validation allows (a trailing newline slipping past `$` is not).
        for name, pattern in _TEXT_FIELDS.items():
            value = getattr(entry, name)
            assert value is None or pattern.fullmatch(value), (name, value)
        if entry.repo is not None:
            assert all(_SEGMENT_RE.fullmatch(p) for p in entry.repo.split("/")), entry.repo
        assert all(_SEGMENT_RE.fullmatch(p) for p in entry.filename.split("/")), entry.filename
        if entry.preamble is not None:
            assert _SEGMENT_RE.fullmatch(entry.preamble), entry.preamble


@CHEAP
@given(text=mutated_catalog())
def test_mutated_shipped_catalog(text: str) -> None:
    check_catalog_text(text)


@CHEAP
@given(text=st.one_of(random_catalog(), st.text(max_size=200)))
@example(text="x = " + "[" * 5000)
@example(text="x = " + "{a = " * 5000)
@example(text='[[models]]\nid = "abc\\n"')
def test_random_catalog_documents(text: str) -> None:
    check_catalog_text(text)


def test_catalog_values_with_a_trailing_newline_are_refused() -> None:
    entry = SHIPPED_TOML.split("# --- Policies")[0]
    for field, good in (
        ("id", '"gemma-3-270m"'),
        ("sha256", '"a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"'),
        ("file", '"gemma-3-270m-q4_k_m.gguf"'),
        ("preamble", '"fewshot_math.txt"'),
    ):
        assert f"{field} = {good}" in entry
        bad = entry.replace(f"{field} = {good}", f"{field} = {good[:-1]}\\n\"")
        with pytest.raises(OutthinkError, match=field):
            parse_catalog_text(bad, source="models.toml")


def test_user_catalog_with_invalid_utf8(capsys: pytest.CaptureFixture[str],
                                        isolated_env: Path) -> None:
    from outthink.catalog import user_catalog_path

    path = user_catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SHIPPED_TOML.encode().replace(b"Gemma 3", b"Gemma \xff", 1))
    outcome = run_main(["models", "list"], capsys)
    outcome.check_clean(allowed=(1,))
    assert "models.toml" in outcome.err


# --------------------------------------------------------------------------- GGUF headers


@dataclass(frozen=True)
class Field:
    offset: int
    size: int  # 4 or 8 bytes, little-endian unsigned
    kind: str


def header_fields(data: bytes) -> list[Field]:
    """The offsets of every count, length, type and offset field of a GGUF header."""
    fields: list[Field] = []
    pos = 4

    def num(size: int, kind: str) -> int:
        nonlocal pos
        fields.append(Field(pos, size, kind))
        (value,) = struct.unpack_from("<I" if size == 4 else "<Q", data, pos)
        pos += size
        return int(value)

    def string(kind: str) -> None:
        nonlocal pos
        length = num(8, kind)  # num moves pos: read it first
        pos += length

    def value(vtype: int) -> None:
        nonlocal pos
        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
        if vtype in sizes:
            if vtype in (4, 5, 10, 11):
                num(sizes[vtype], "value")
            else:
                pos += sizes[vtype]
        elif vtype == 8:
            string("string length")
        else:
            etype, count = num(4, "array type"), num(8, "array count")
            for _ in range(count):
                value(etype)

    num(4, "version")
    n_tensors, n_kv = num(8, "tensor count"), num(8, "key count")
    for _ in range(n_kv):
        string("key length")
        value(num(4, "value type"))
    for _ in range(n_tensors):
        string("tensor name length")
        for _ in range(num(4, "dimensions")):
            num(8, "dimension")
        num(4, "tensor type")
        num(8, "tensor offset")
    return fields


INTERESTING = [0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
               2**60, 2**63, 2**64 - 1]


@pytest.fixture(scope="module")
def tiny_bytes(tiny_model: Path) -> bytes:
    return tiny_model.read_bytes()


@pytest.fixture(scope="module")
def tiny_fields(tiny_bytes: bytes) -> list[Field]:
    return header_fields(tiny_bytes)


class Files:
    """A fresh file name per example: the header cache is keyed by (path, size, mtime)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def write(self, data: bytes) -> Path:
        self.count += 1
        path = self.folder / f"fuzz-{self.count}.gguf"
        path.write_bytes(data)
        return path


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    folder = tmp_path / "gguf-fuzz"
    folder.mkdir()
    yield Files(folder)


def check_model_file(path: Path) -> None:
    """What `solve` does with a model file before llama.cpp sees it."""
    t0 = time.perf_counter()
    try:
        header = read_header(path)
        assert isinstance(header.architecture, str) and isinstance(header.name, str)
        assert isinstance(header.vocab_size, int)
        assert header.chat_template is None or isinstance(header.chat_template, str)
        header = engine.check_model_file(path)
        engine.check_memory(header, 1024, 1)
    except ModelFileError as exc:
        assert exc.message.strip() and exc.hint.strip(), exc
    except OutthinkError as exc:  # MemoryBudgetError for absurd layer shapes
        assert exc.message.strip(), exc
    finally:
        path.unlink()
    took = time.perf_counter() - t0
    assert took < 2.0, f"took {took:.2f} s"


@settings(CHEAP, max_examples=250)
@given(data=st.data())
def test_gguf_byte_mutations_and_truncations(
    data: st.DataObject, tiny_bytes: bytes, tiny_fields: list[Field], files: Files
) -> None:
    header_end = read_header_end(tiny_bytes)
    buf = bytearray(tiny_bytes)
    for _ in range(data.draw(st.integers(0, 3), label="byte flips")):
        at = data.draw(st.integers(0, header_end + 64), label="at")
        buf[at] = data.draw(st.integers(0, 255), label="byte")
    for _ in range(data.draw(st.integers(0, 2), label="field changes")):
        f = data.draw(st.sampled_from(tiny_fields), label="field")
        value = data.draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**64 - 1)),
                          label="value")
        buf[f.offset : f.offset + f.size] = (value % (1 << (8 * f.size))).to_bytes(f.size, "little")
    if data.draw(st.booleans(), label="truncate"):
        buf = buf[: data.draw(st.integers(0, len(buf)), label="length")]
    check_model_file(files.write(bytes(buf)))


def read_header_end(data: bytes) -> int:
    fields = header_fields(data)
    last = fields[-1]
    return last.offset + last.size


def test_huge_counts_do_not_allocate(tiny_bytes: bytes, tiny_fields: list[Field],
                                     files: Files) -> None:
    tracemalloc.start()
    try:
        counts = [f for f in tiny_fields if f.kind in ("array count", "key count",
                                                       "tensor count", "tensor name length")]
        lengths = [f for f in tiny_fields if f.kind in ("key length", "string length")]
        for f in counts + lengths[:20] + lengths[-5:]:
            for value in (2**60, 2**64 - 1):
                buf = bytearray(tiny_bytes)
                buf[f.offset : f.offset + f.size] = value.to_bytes(f.size, "little")
                tracemalloc.reset_peak()
                check_model_file(files.write(bytes(buf)))
                assert tracemalloc.get_traced_memory()[1] < 32 << 20
    finally:
        tracemalloc.stop()


# Synthetic headers: metadata of any type under the keys the app reads.
GGUF_KEYS = [
    "general.architecture", "general.alignment", "general.name", "llama.block_count",
    "llama.embedding_length", "llama.attention.head_count", "llama.attention.head_count_kv",
    "llama.attention.key_length", "llama.attention.value_length", "llama.context_length",
    "tokenizer.ggml.tokens", "tokenizer.chat_template", "x",
]
_PACK = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
         11: "<q", 12: "<d"}


def _gguf_string(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(raw)) + raw


@st.composite
def gguf_value(draw: st.DrawFn, vtype: int, depth: int = 0) -> bytes:
    if vtype in _PACK:
        fmt = _PACK[vtype]
        if fmt in ("<f", "<d"):
            return struct.pack(fmt, draw(st.floats(width=32 if fmt == "<f" else 64)))
        if fmt == "<?":
            return struct.pack(fmt, draw(st.booleans()))
        size = struct.calcsize(fmt)
        signed = fmt.islower()
        lo, hi = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (
            0, (1 << (8 * size)) - 1)
        return struct.pack(fmt, draw(st.one_of(st.integers(lo, hi), st.integers(max(lo, -8), 64))))
    if vtype == 8:
        return _gguf_string(draw(st.one_of(st.text(max_size=12), st.sampled_from(["llama"]))))
    if vtype == 9 and depth < 3:
        etype = draw(st.sampled_from([*_PACK, 8, 9, 13]))
        items = draw(st.lists(gguf_value(etype, depth + 1), max_size=3))
        return struct.pack("<IQ", etype, len(items)) + b"".join(items)
    return draw(st.binary(max_size=12))  # an unknown type: whatever follows


@st.composite
def synthetic_gguf(draw: st.DrawFn) -> bytes:
    kvs = [_gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("llama")]
    for _ in range(draw(st.integers(0, 5))):
        vtype = draw(st.sampled_from([*_PACK, 8, 9, 13, 2**31]))
        kvs.append(
            _gguf_string(draw(st.sampled_from(GGUF_KEYS))) + struct.pack("<I", vtype)
            + draw(gguf_value(vtype))
        )
    if draw(st.booleans()):
        kvs.reverse()  # the architecture may come last, or be overridden
    tensors = []
    for i in range(draw(st.integers(0, 2))):
        dims = draw(st.lists(st.sampled_from([0, 1, 7, 32, 2**31, 2**63]), max_size=5))
        tensors.append(
            _gguf_string(f"t{i}") + struct.pack("<I", len(dims))
            + b"".join(struct.pack("<Q", d) for d in dims)
            + struct.pack("<IQ", draw(st.sampled_from([0, 1, 12, 30, 31, 99, 2**32 - 1])),
                          draw(st.sampled_from([0, 32, 2**63])))
        )
    head = b"GGUF" + struct.pack("<IQQ", draw(st.sampled_from([3, 2, 1, 4])), len(tensors),
                                 len(kvs))
    return head + b"".join(kvs) + b"".join(tensors) + bytes(draw(st.integers(0, 128)))


def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    return _gguf_string(key) + struct.pack("<I", vtype) + payload


def _header(*kvs: bytes) -> bytes:
    arch = _kv("general.architecture", 8, _gguf_string("llama"))
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs) + 1) + arch + b"".join(kvs) + bytes(64)


@CHEAP
@given(data=synthetic_gguf())
@example(data=_header(_kv("general.alignment", 8, _gguf_string("abc"))))
@example(data=_header(_kv("general.alignment", 6, struct.pack("<f", math.nan))))
@example(data=_header(_kv("general.alignment", 6, struct.pack("<f", math.inf))))
@example(data=_header(_kv("general.alignment", 5, struct.pack("<i", -7))))
@example(data=_header(_kv("general.alignment", 9, struct.pack("<IQI", 4, 1, 32))))
@example(data=_header(_kv("llama.block_count", 8, _gguf_string("x"))))
@example(data=_header(_kv("llama.attention.head_count", 6, struct.pack("<f", math.nan))))
@example(data=_header(_kv("llama.attention.head_count_kv", 9,
                          struct.pack("<IQ", 8, 1) + _gguf_string("a"))))
@example(data=_header(_kv("deep", 9, struct.pack("<IQ", 9, 1) * 3000)))
def test_synthetic_gguf_headers(data: bytes, files: Files) -> None:
    check_model_file(files.write(data))
