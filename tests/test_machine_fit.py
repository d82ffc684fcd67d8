"""Which models suit this computer: the memory estimate against the installed RAM, and the
recommendation per role (memory.machine_fit, memory.recommend)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from outthink import memory
from outthink.catalog import load_catalog
from outthink.cli.models import add_models_parser
from outthink.config import Settings
from outthink.memory import estimate_memory, machine_fit, recommend

GIB = 1 << 30


def fits_for(ram: int) -> dict[str, memory.MachineFit]:
    settings = Settings()
    return {e.id: machine_fit(e, ram=ram, settings=settings) for e in load_catalog(settings)}


def test_fit_uses_the_engine_estimate_against_the_installed_ram() -> None:
    settings = Settings()
    entry = load_catalog(settings).get("llama3.1-8b-prm-deepseek")
    needed = estimate_memory(entry, memory.FIT_CONTEXT, memory.FIT_SEQUENCES,
                             settings=settings)
    big = machine_fit(entry, ram=64 * GIB, settings=settings)
    assert big.level == "fits" and big.needed == needed and "64.0 GiB" in big.message
    assert machine_fit(entry, ram=8 * GIB, settings=settings).level == "tight"
    small = machine_fit(entry, ram=4 * GIB, settings=settings)
    assert small.level == "too-big" and "too big" in small.message


def test_unknown_ram_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "physical_memory", lambda: None)
    settings = Settings()
    fit = machine_fit(load_catalog(settings).get("qwen2.5-0.5b-instruct"), settings=settings)
    assert fit.level == "unknown" and fit.needed > 0 and "could not be measured" in fit.message


def test_recommendation_is_the_best_ranked_model_that_fits() -> None:
    entries = list(load_catalog(Settings()))
    roomy = recommend(entries, fits_for(64 * GIB))
    assert roomy == {"policy": "qwen3-4b",
                     "verifier": "llama3.1-8b-prm-deepseek"}
    small = recommend(entries, fits_for(4 * GIB))
    assert small["policy"] == "qwen2.5-math-1.5b-instruct"
    assert small["verifier"] == "qwen2.5-1.5b-instruct-judge"  # the PRMs do not fit
    tiny = recommend(entries, fits_for(1 * GIB))
    assert "verifier" not in tiny


def test_physical_memory_is_the_installed_ram() -> None:
    ram = memory.physical_memory()
    assert ram is not None and ram > 256 << 20
    available = memory.available_memory()
    assert available is None or available <= ram


def test_disk_free_looks_at_the_nearest_existing_folder(tmp_path: Path) -> None:
    free = memory.disk_free(tmp_path / "not" / "yet" / "made")
    assert free is not None and free > 0


def test_models_list_names_the_recommendation_and_the_free_space(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import outthink.cli.models as cli_models

    monkeypatch.setattr(cli_models, "physical_memory", lambda: 4 * GIB)
    monkeypatch.setattr(cli_models, "disk_free", lambda folder: 12 * GIB)
    parser = argparse.ArgumentParser(prog="outthink")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "list"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "(12.9 GB free)" in out
    assert ("Recommended for this computer (4.3 GB of RAM): qwen2.5-math-1.5b-instruct "
            "(to solve), qwen2.5-1.5b-instruct-judge (to check steps).") in out


def test_allocatable_memory_refuses_nothing_it_cannot_measure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # available_memory says "unknown" (None); allocatable_memory, what the verifiers check a
    # KV cache against, is then unbounded rather than zero
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    assert memory.allocatable_memory() == 1 << 62
    monkeypatch.setattr(memory, "available_memory", lambda: 3 << 30)
    assert memory.allocatable_memory() == 3 << 30
