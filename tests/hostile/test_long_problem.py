"""A problem that cannot fit in the context the model was trained on is refused with the numbers
and what to do, before the model is loaded (llama.cpp itself only logs a warning, then spends
minutes decoding the prompt)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny_gguf import write_tiny_model

OUTTHINK = Path(sys.executable).with_name("outthink")
#: 200 KB of ordinary text (the tiny vocabulary spends about a token per byte on it)
LONG = "Tom has 3 apples and buys 5 more apples at the market. " * 3700


@pytest.fixture(scope="module")
def short_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a trained context of 512 tokens."""
    return write_tiny_model(
        tmp_path_factory.mktemp("short") / "short-context.gguf", context_length=512
    )


def _solve(
    model: Path, *args: str, stdin: str | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    # --verbose: llama.cpp's log on stderr shows whether a context was created
    cmd = [str(OUTTHINK), "--verbose", "solve", "--policy", str(model), "--verifier", "none"]
    t0 = time.monotonic()
    proc = subprocess.run(
        [*cmd, "--n", "2", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    return proc, time.monotonic() - t0


def test_a_200_kb_problem_is_refused_before_loading(short_model: Path) -> None:
    assert len(LONG.encode()) > 200_000
    # too long for a command-line argument: "-" reads the problem from standard input
    proc, seconds = _solve(short_model, "--max-tokens", "64", "-", stdin=LONG)
    err = proc.stderr
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err and proc.stdout == ""
    line = next(x for x in err.splitlines() if x.startswith("Error: "))
    # the numbers: the problem's tokens (counted with the vocabulary), the max tokens, the
    # trained context; and what to do
    tokens = int(re.search(r"The problem has ([\d,]+) tokens", line)[1].replace(",", ""))
    assert tokens > 100_000
    assert "up to 64 new tokens" in line and "trained on a context of 512 tokens" in line
    assert "short-context.gguf" in line and "Shorten the problem" in line
    # refused before the model's weights were loaded (only its vocabulary, to count)
    assert "load_tensors" not in err and "llama_context" not in err
    assert seconds < 20, f"took {seconds:.1f} s"


def test_a_prompt_that_only_the_prompt_format_pushes_over_is_refused_before_decoding(
    short_model: Path,
) -> None:
    # the problem's bytes fit; the few-shot preamble of the completion format does not
    proc, _ = _solve(short_model, "--max-tokens", "200", "What is 2+3?")
    assert proc.returncode == 1, proc.stderr[-2000:]
    line = next(x for x in proc.stderr.splitlines() if x.startswith("Error: "))
    assert re.search(r"The prompt has [\d,]+ tokens; with up to 200 new tokens", line), line
    assert "--max-tokens" in line
    assert "load_tensors" in proc.stderr and "llama_context" not in proc.stderr  # no context


def test_max_tokens_past_the_trained_context_is_refused(short_model: Path) -> None:
    proc, _ = _solve(short_model, "--max-tokens", "4000", "What is 2+3?")
    assert proc.returncode == 1
    assert "trained on a context of 512 tokens" in proc.stderr, proc.stderr[-2000:]


def test_an_ordinary_problem_still_runs(tiny_model: Path) -> None:
    proc, _ = _solve(tiny_model, "--max-tokens", "16", "--json", "What is 2+3?")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["status"] == "finished"
    assert "training context overflow" not in proc.stderr
