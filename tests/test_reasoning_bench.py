"""Benchmark recommendations treat reasoning models as a family of their own: majority voting
is the baseline another configuration must beat, and ``solve --strategy auto`` falls back to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from outthink.bench import recommend as rec
from outthink.cli import main
from outthink.errors import ConfigError
from outthink.search.config import SearchConfig
from tests.tiny_gguf import QWEN3_TEMPLATE, R1_TEMPLATE, write_tiny_model


def _line(pid: str, strategy: str, budget: int, selection: str, correct: bool,
          tokens: int) -> dict[str, Any]:
    return {"problem_id": pid, "strategy": strategy, "budget": budget, "selection": selection,
            "correct": correct, "policy_tokens": tokens, "verifier_tokens": 0, "status": "ok"}


def _records(weighted_right: int) -> list[dict[str, Any]]:
    """Four problems. Majority voting over 8 samples solves three; beam solves the same three
    for fewer tokens; weighted Best-of-N solves ``weighted_right`` of them."""
    lines = []
    for i, pid in enumerate(("p1", "p2", "p3", "p4")):
        lines.append(_line(pid, "best-of-n", 8, "majority", i < 3, 8000))
        lines.append(_line(pid, "best-of-n", 8, "weighted", i < weighted_right, 8000))
        lines.append(_line(pid, "beam", 4, "vanilla", i < 3, 5000))
    return lines


def test_majority_voting_stays_unless_strictly_beaten() -> None:
    standard = rec.recommend(_records(3))["bins"]["all"]
    # Models that answer at once: as accurate and cheaper wins.
    assert (standard["strategy"], standard["selection"]) == ("beam", "vanilla")
    result = rec.recommend(_records(3), family="reasoning")
    chosen, baseline = result["bins"]["all"], result["baseline"]["all"]
    assert result["family"] == "reasoning"
    assert (chosen["strategy"], chosen["selection"], chosen["budget"]) == (
        "best-of-n", "majority", 8)
    assert chosen == baseline
    # A configuration that is really better takes over, and the baseline is kept beside it.
    result = rec.recommend(_records(4), family="reasoning")
    chosen, baseline = result["bins"]["all"], result["baseline"]["all"]
    assert (chosen["selection"], chosen["accuracy"]) == ("weighted", 1.0)
    assert (baseline["selection"], baseline["accuracy"]) == ("majority", 0.75)
    with pytest.raises(ConfigError, match="family"):
        rec.recommend(_records(3), family="mystery")


def test_a_model_that_thinks_keeps_its_own_recommendation(tmp_path: Path) -> None:
    path = tmp_path / "recs.json"
    search = SearchConfig(max_tokens=4096).to_dict()
    rec.save_recommendation("qwen3-4b", "none", rec.recommend(_records(3)), search=search,
                            path=path)
    assert rec.auto_config("qwen3-4b", "none", "x", path=path, family="reasoning") is None
    rec.save_recommendation("qwen3-4b", "none", rec.recommend(_records(3), family="reasoning"),
                            search=search, path=path)
    thinking = rec.auto_config("qwen3-4b", "none", "x", path=path, family="reasoning")
    plain = rec.auto_config("qwen3-4b", "none", "x", path=path)
    assert thinking is not None and (thinking.strategy, thinking.select) == (
        "best-of-n", "majority")
    assert plain is not None and plain.strategy == "beam"
    assert set(json.loads(path.read_text())) == {"qwen3-4b|none", "qwen3-4b|none|reasoning"}
    baseline = rec.reasoning_baseline()
    assert (baseline.strategy, baseline.select, baseline.n) == ("best-of-n", "majority", 8)


def test_auto_without_a_benchmark_uses_majority_voting_for_a_model_that_thinks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r1 = write_tiny_model(tmp_path / "r1-style.gguf", chat_template=R1_TEMPLATE,
                          think_tokens=True)
    rc = main(["solve", "--json", "--strategy", "auto", "--policy", str(r1), "--verifier",
               "none", "--max-tokens", "12", "What is 2+3?"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    data = json.loads(captured.out)
    assert (data["strategy"], data["n"], data["selection"]["rule"]) == (
        "best-of-n", 8, "majority")
    assert "majority voting" in captured.err and "baseline" in captured.err
    # The same switchable model without thinking is an ordinary model: no baseline to guess.
    qwen3 = write_tiny_model(tmp_path / "qwen3-style.gguf", chat_template=QWEN3_TEMPLATE,
                             think_tokens=True)
    rc = main(["solve", "--strategy", "auto", "--thinking", "off", "--policy", str(qwen3),
               "--verifier", "none", "--max-tokens", "12", "What is 2+3?"])
    assert rc == 1 and "No benchmark recommendation" in capsys.readouterr().err
