"""Every numeric option of ``solve`` and ``bench`` has one declared range (outthink.ranges):
NaN, infinities, negative and huge values are refused before anything runs, by the command
line, by SearchConfig.validate (the GUI's path) and by the GUI's spin boxes; JSON output is
strict JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from outthink.cli import main

BAD = ["nan", "inf", "-inf", "-1", "99999999999999999999"]
SOLVE_FLAGS = [
    "--n", "--width", "--lookahead", "--temperature", "--top-p", "--top-k", "--min-p",
    "--max-tokens", "--max-steps", "--seed", "--threads", "--gpu-layers",
]  # fmt: skip
BENCH_FLAGS = [
    "--limit", "--sample-seed", "--max-tokens", "--temperature", "--top-p", "--top-k",
    "--min-p", "--seed", "--width", "--max-steps", "--threads", "--gpu-layers", "--budgets",
]  # fmt: skip
OUTTHINK = Path(sys.executable).with_name("outthink")


def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def solve_args(tiny_model: Path) -> list[str]:
    return ["solve", "--policy", str(tiny_model), "--verifier", "none", "--json",
            "--n", "1", "--max-tokens", "4", "What is 2+3?"]  # fmt: skip


@pytest.fixture
def bench_args(tiny_model: Path, tmp_path: Path) -> list[str]:
    problems = tmp_path / "one.jsonl"
    problems.write_text('{"id": "a", "problem": "What is 2+3?", "answer": "5"}\n')
    return ["bench", "--problems", str(problems), "--out", str(tmp_path / "out"),
            "--policy", str(tiny_model), "--verifier", "none", "--strategies", "greedy",
            "--budgets", "1", "--max-tokens", "4"]  # fmt: skip


def _refused_by_argparse(argv: list[str], flag: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        rc = main(argv)
        pytest.fail(f"{flag} was accepted: the command ran and returned {rc}")
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert f"argument {flag}: " in err and "Traceback" not in err, err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flag", SOLVE_FLAGS)
def test_solve_refuses_every_bad_number(flag: str, solve_args: list[str], capsys: Any) -> None:
    for value in BAD:
        # the bad value comes last, after the small run's own settings; "=" lets "-inf" through
        _refused_by_argparse([*solve_args[:-1], f"{flag}={value}", solve_args[-1]], flag, capsys)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flag", BENCH_FLAGS)
def test_bench_refuses_every_bad_number(flag: str, bench_args: list[str], capsys: Any) -> None:
    values = [*BAD, "0", "1,nan", "257"] if flag == "--budgets" else BAD
    for value in values:
        _refused_by_argparse([*bench_args, f"{flag}={value}"], flag, capsys)


@pytest.mark.parametrize(
    "field", ["n", "width", "max_steps", "max_tokens", "temperature", "top_p", "top_k",
              "min_p", "seed", "lookahead", "adaptive_threshold"],
)  # fmt: skip
def test_search_config_refuses_what_the_command_line_refuses(field: str) -> None:
    from outthink.errors import ConfigError
    from outthink.search.config import SearchConfig

    for value in (math.nan, math.inf, -math.inf, -1, 10**20):
        with pytest.raises(ConfigError) as info:
            SearchConfig(**{field: value}).validate()
        assert info.value.hint.startswith("Set "), info.value


def test_gui_spin_boxes_take_their_ranges_from_the_table(qtbot: Any) -> None:
    from outthink.config import Settings
    from outthink.gui.benchmark_tab import BenchmarkTab
    from outthink.gui.controls import ControlPanel
    from outthink.gui.settings_dialog import SettingsDialog
    from outthink.ranges import option

    panel = ControlPanel([])
    tab = BenchmarkTab(Settings())
    dialog = SettingsDialog(Settings())
    for widget in (panel, tab, dialog):
        qtbot.addWidget(widget)
    boxes = [
        (panel.n, "n"), (panel.beam_width, "width"), (panel.temperature, "temperature"),
        (panel.max_tokens, "max_tokens"), (panel.seed, "seed"), (tab.max_tokens, "max_tokens"),
        (tab.temperature, "temperature"), (tab.seed, "seed"), (dialog.threads, "threads"),
        (dialog.gpu_layers, "gpu_layers"),
    ]  # fmt: skip
    for box, name in boxes:
        assert (box.minimum(), box.maximum()) == option(name).bounds, name
    assert tab.limit.maximum() == option("limit").high  # 0 is "all"


def test_json_text_is_strict() -> None:
    from outthink.events import to_json

    data = {"score": math.nan, "rows": [math.inf, -math.inf, 0.5], "nested": {"x": math.nan}}
    assert _strict(to_json(data, indent=2)) == {
        "score": None,
        "rows": [None, None, 0.5],
        "nested": {"x": None},
    }


# --------------------------------------------------------------------------- the real CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OUTTHINK), *args], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )


def test_cli_temperature_nan_is_refused_and_json_stays_strict(tiny_model: Path) -> None:
    proc = _cli("solve", "--json", "--policy", str(tiny_model), "--verifier", "none", "--n",
                "2", "--max-tokens", "4", "--temperature", "nan", "What is 2+3?")  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "argument --temperature: 'nan' is not a number" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_cli_bench_top_p_inf_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    proc = _cli("bench", "--problems", "arithmetic", "--out", str(tmp_path / "out"),
                "--policy", str(tiny_model), "--top-p=inf")  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "argument --top-p: 'inf' is not a number from 0 to 1" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_cli_json_and_events_of_a_run_are_strict_json(tiny_model: Path) -> None:
    base = ["solve", "--policy", str(tiny_model), "--verifier", "self-certainty", "--n", "2",
            "--max-tokens", "4", "What is 2+3?"]  # fmt: skip
    proc = _cli(*base[:-1], "--json", base[-1])
    assert proc.returncode == 0, proc.stderr
    assert _strict(proc.stdout)["status"] == "finished"
    proc = _cli(*base[:-1], "--events", base[-1])
    assert proc.returncode == 0, proc.stderr
    assert [_strict(line)["event"] for line in proc.stdout.splitlines()][-1] == "run_finished"
