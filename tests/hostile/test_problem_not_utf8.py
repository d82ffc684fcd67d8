"""A problem that is not valid UTF-8 (argument or standard input) is refused with a clear
message and exit status 1, whatever the locale's IO encoding says; it used to end in a
UnicodeEncodeError ("surrogates not allowed") or UnicodeDecodeError traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.hostile.cli_process import run_cli

SOLVE = ["solve", "--n", "1", "--max-tokens", "4", "--verifier", "calculator"]
BAD = b"What is 2\xff+2?"


def _assert_refused(proc: subprocess.CompletedProcess[bytes], where: str) -> None:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert f"Error: {where} is not valid UTF-8: byte 0xff after 'What is 2'" in err, err
    assert "UTF-8" in err.split("after 'What is 2'.", 1)[1]  # the hint: how to fix it
    assert proc.stdout == b""


def test_a_problem_argument_that_is_not_utf8_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_cli([*SOLVE, "--policy", str(tiny_model), BAD], tmp_path)
    _assert_refused(proc, "The problem")


@pytest.mark.parametrize("io_encoding", [None, "utf-8:strict", "utf-8:surrogateescape"])
def test_a_problem_on_stdin_that_is_not_utf8_is_refused(
    tiny_model: Path, tmp_path: Path, io_encoding: str | None
) -> None:
    env = {"PYTHONIOENCODING": io_encoding} if io_encoding else {}
    proc = run_cli([*SOLVE, "--policy", str(tiny_model), "-"], tmp_path, stdin=BAD, env=env)
    _assert_refused(proc, "The problem on standard input")


def test_a_system_prompt_that_is_not_utf8_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_cli(
        [*SOLVE, "--policy", str(tiny_model), "--system-prompt", BAD, "What is 2+2?"],
        tmp_path,
    )
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    assert b"The --system-prompt text is not valid UTF-8: byte 0xff" in proc.stderr


def test_utf8_on_strict_stdin_runs_without_its_byte_order_mark(
    tiny_model: Path, tmp_path: Path
) -> None:
    proc = run_cli(
        [*SOLVE, "--json", "--policy", str(tiny_model), "-"],
        tmp_path,
        stdin="\ufeffWhat is 2×2?".encode(),
        env={"PYTHONIOENCODING": "utf-8:strict"},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["problem"] == "What is 2×2?"
