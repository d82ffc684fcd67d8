"""Ctrl-C while llama.cpp loads a model stops the command: exit 130, "Interrupted.", no run.

llama.cpp calls back into Python (its log) while it loads. A ``KeyboardInterrupt`` raised in a
ctypes callback is printed as "Exception ignored ..." and dropped, so the command used to go on
and finish with status 0. The hook sends SIGINT from inside that callback during
``llama_model_load_from_file``: exactly the loading phase, every time.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.hostile.cli_process import SIGINT_WHILE_LOADING, run_cli


def _assert_interrupted(
    proc: subprocess.CompletedProcess[bytes], *, stdout_empty: bool = True
) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.rstrip().endswith("Interrupted."), err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    if stdout_empty:
        assert proc.stdout == b"", proc.stdout
    return err


@pytest.mark.parametrize("output", [[], ["--events"]])
def test_solve_stops_when_interrupted_while_loading(
    tiny_model: Path, tmp_path: Path, output: list[str]
) -> None:
    proc = run_cli(
        ["solve", *output, "--policy", str(tiny_model), "--n", "2", "--max-tokens", "8",
         "--verifier", "calculator", "What is 2+2?"],
        tmp_path,
        hook=SIGINT_WHILE_LOADING,
    )
    _assert_interrupted(proc)  # nothing printed on stdout: no run happened


def test_bench_stops_when_interrupted_while_loading(tiny_model: Path, tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    problems.write_text('{"id": "a", "problem": "What is 2+2?", "answer": "4"}\n')
    out = tmp_path / "bench"
    proc = run_cli(
        ["bench", "--problems", str(problems), "--strategies", "greedy", "--budgets", "1",
         "--max-tokens", "8", "--policy", str(tiny_model), "--verifier", "calculator",
         "--out", str(out)],
        tmp_path,
        hook=SIGINT_WHILE_LOADING,
    )
    _assert_interrupted(proc)
    assert not (out / "summary.csv").exists()  # no run, no report
    results = out / "results.jsonl"
    assert not results.exists() or results.read_text() == ""


def test_self_check_stops_when_interrupted_while_loading(
    tiny_model: Path, tmp_path: Path
) -> None:
    proc = run_cli(["--self-check", str(tiny_model)], tmp_path, hook=SIGINT_WHILE_LOADING)
    _assert_interrupted(proc, stdout_empty=False)
    out = proc.stdout.decode()
    assert "Model:" in out  # it got as far as loading
    assert "Generated:" not in out and "Self-check passed." not in out


def test_a_second_ctrl_c_while_loading_quits_at_once(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_cli(
        ["solve", "--policy", str(tiny_model), "--n", "2", "--max-tokens", "8",
         "--verifier", "calculator", "What is 2+2?"],
        tmp_path,
        hook=SIGINT_WHILE_LOADING,
        env={"HOOK_SIGINTS": "2"},
    )
    err = _assert_interrupted(proc)
    assert "Ctrl-C again to quit at once" in err


def test_without_the_interrupt_the_hooked_solve_runs(tiny_model: Path, tmp_path: Path) -> None:
    """The hook alone changes nothing: the tests above measure the interrupt, not the hook."""
    proc = run_cli(
        ["solve", "--json", "--policy", str(tiny_model), "--n", "2", "--max-tokens", "8",
         "--verifier", "calculator", "What is 2+2?"],
        tmp_path,
        hook=SIGINT_WHILE_LOADING,
        env={"HOOK_SIGINTS": "0"},
    )
    assert proc.returncode == 0, proc.stderr.decode()
