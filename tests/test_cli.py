"""The command line, end to end. Tests marked ``starter`` run the real starter model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from outthink.cli import main

PROBLEM = "Tom has 3 apples and buys 5 more. How many apples does he have?"


@pytest.fixture
def starter_env(starter_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the models folder at the session's assembled starter model (no re-assembly)."""
    monkeypatch.setenv("OUTTHINK_MODELS_DIR", str(starter_path.parent))
    return starter_path


@pytest.mark.starter
def test_solve_json_best_of_8_weighted_self_certainty(starter_env: Path, capsys) -> None:
    rc = main(
        ["solve", "--json", "--n", "8", "--select", "weighted", "--verifier", "self-certainty",
         "--max-tokens", "160", PROBLEM]
    )
    out = capsys.readouterr().out
    assert rc == 0
    data = json.loads(out)
    assert data["problem"] == PROBLEM and data["n"] == 8 and data["strategy"] == "best-of-n"
    assert data["verifier"] == "self-certainty" and data["status"] == "finished"
    assert len(data["candidates"]) == 8
    assert sum(c["selected"] for c in data["candidates"]) == 1
    for c in data["candidates"]:
        assert c["steps"], "every candidate has steps"
        assert all(0.0 <= s["score"] <= 1.0 for s in c["steps"])
        assert set(c) >= {"id", "text", "answer", "score", "selected", "steps"}
    chosen = next(c for c in data["candidates"] if c["selected"])
    assert chosen["answer"] == data["answer"]
    u = data["usage"]
    assert u["policy_tokens"] > 0 and u["prompt_tokens"] > 0 and u["seconds"] > 0
    assert u["verifier_tokens"] == 0  # self-certainty reads the policy's own log-probabilities


@pytest.mark.starter
def test_solve_events_stream_ends_in_a_finish(starter_env: Path, capsys) -> None:
    rc = main(["solve", "--events", "--n", "2", "--max-tokens", "48", PROBLEM])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "run_started"
    assert events[-1]["event"] == "run_finished"
    kinds = {e["event"] for e in events}
    assert {"step_proposed", "step_scored", "candidate_finished", "answer_selected"} <= kinds


@pytest.mark.starter
def test_solve_human_output(starter_env: Path, capsys) -> None:
    rc = main(["solve", "--n", "2", "--max-tokens", "48", "--seed", "3", PROBLEM])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("Answer: ") and "policy tokens" in out


def test_solve_with_a_corrupt_model_says_what_to_do(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 7)
    rc = main(["solve", "--policy", str(bad), "What is 2+2?"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "truncated" in err and "download or copy the file again" in err.lower()


def test_solve_refuses_an_empty_problem(tiny_model: Path, capsys) -> None:
    rc = main(["solve", "--policy", str(tiny_model), "   "])
    assert rc == 1 and "empty" in capsys.readouterr().err


def test_solve_refuses_a_request_too_big_for_memory(
    tiny_model: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every option in range, but the machine has only 64 MiB to give
    monkeypatch.setattr("outthink.memory.available_memory", lambda: 64 << 20)
    rc = main(["solve", "--policy", str(tiny_model), "--n", "256", "--max-tokens", "256",
               "What is 2+2?"])
    err = capsys.readouterr().err
    assert rc == 1 and "GiB" in err and "Lower the budget N" in err


def test_solve_runs_on_a_tiny_model(tiny_model: Path, capsys) -> None:
    rc = main(["solve", "--json", "--policy", str(tiny_model), "--n", "3", "--max-tokens", "12",
               "--verifier", "calculator", "What is 2+2?"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(data["candidates"]) == 3 and data["status"] == "finished"


def test_doctor_reports_the_build(capsys) -> None:
    rc = main(["doctor", "--json"])
    info = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert info["llama_cpp_python"] == "0.3.36"
    assert isinstance(info["gpu_offload"], bool)
    assert info["threads_default"] >= 1 and "models" in info["folders"]


def test_version_from_the_console_script() -> None:
    exe = Path(sys.executable).with_name("outthink")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("outthink ")


def test_solve_auto_without_a_benchmark_says_to_run_one(tiny_model: Path, capsys) -> None:
    rc = main(["solve", "--policy", str(tiny_model), "--strategy", "auto", "What is 2+2?"])
    err = capsys.readouterr().err
    assert rc == 1 and "outthink bench" in err


def test_solve_defaults_to_the_verifiers_own_aggregation(tiny_model: Path, capsys) -> None:
    for verifier, agg in (("calculator", "min"), ("self-certainty", "mean"), ("none", "last")):
        rc = main(["solve", "--json", "--policy", str(tiny_model), "--n", "2",
                   "--max-tokens", "8", "--verifier", verifier, "What is 2+2?"])
        assert rc == 0
        assert json.loads(capsys.readouterr().out)["config"]["agg"] == agg, verifier
    rc = main(["solve", "--json", "--policy", str(tiny_model), "--n", "2", "--max-tokens", "8",
               "--verifier", "calculator", "--agg", "last", "What is 2+2?"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["config"]["agg"] == "last"


def test_solve_grades_against_a_reference(tiny_model: Path, capsys) -> None:
    rc = main(["solve", "--json", "--policy", str(tiny_model), "--n", "3", "--max-tokens", "12",
               "--reference", "4", "What is 2+2?"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reference"] == "4"
    finished = [c for c in out["candidates"] if c["finished"]]
    assert finished and all(c["correct"] is (c["answer"] == "4") for c in finished)
    assert out["correct"] is (out["answer"] == "4")
    rc = main(["solve", "--policy", str(tiny_model), "--n", "2", "--max-tokens", "8",
               "--reference", "4", "What is 2+2?"])
    assert rc == 0 and "(reference answer 4)" in capsys.readouterr().out
