"""A closed standard output (``outthink ... | head -1``) ends the command quietly with status
141 (128 + SIGPIPE), with no BrokenPipeError traceback or "Exception ignored" message, and a
solve streaming events stops its run instead of going on for nothing.

The pipe's reader is closed before the command writes anything, so every write fails: the
same thing as ``head -1`` having read its line, without a race.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.cli_process import COUNT_DECODES, closed_pipe, run_cli


def _run_into_closed_pipe(
    args: list[str], tmp: Path, **kw: Any
) -> subprocess.CompletedProcess[bytes]:
    out = closed_pipe()
    try:
        return run_cli(args, tmp, stdout=out, **kw)
    finally:
        os.close(out)


def _assert_quiet_141(proc: subprocess.CompletedProcess[bytes]) -> None:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 141, (proc.returncode, err)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception" not in err, err


@pytest.mark.parametrize("args", [["models", "list"], ["models", "list", "--json"], ["doctor"]])
def test_listing_into_a_closed_pipe_ends_quietly(args: list[str], tmp_path: Path) -> None:
    _assert_quiet_141(_run_into_closed_pipe(args, tmp_path))


def test_solve_events_into_a_closed_pipe_stop_the_run(tiny_model: Path, tmp_path: Path) -> None:
    count = tmp_path / "decodes"
    proc = _run_into_closed_pipe(
        ["solve", "--events", "--policy", str(tiny_model), "--n", "2", "--max-tokens", "64",
         "--verifier", "calculator", "What is 2+2?"],
        tmp_path,
        hook=COUNT_DECODES,
        env={"HOOK_DECODES_FILE": str(count)},
    )
    _assert_quiet_141(proc)
    # The first event (run_started) already failed to go out: the run stopped right there,
    # long before its 64 tokens per candidate.
    assert int(count.read_text()) < 8


def test_the_decode_counter_sees_a_whole_run(tiny_model: Path, tmp_path: Path) -> None:
    """The counter works: a run with somewhere to write decodes its tokens."""
    count = tmp_path / "decodes"
    proc = run_cli(
        ["solve", "--events", "--policy", str(tiny_model), "--n", "2", "--max-tokens", "16",
         "--temperature", "0", "--verifier", "calculator", "What is 2+2?"],
        tmp_path,
        hook=COUNT_DECODES,
        env={"HOOK_DECODES_FILE": str(count)},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert int(count.read_text()) >= 8
