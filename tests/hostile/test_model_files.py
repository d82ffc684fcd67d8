"""Model files llama.cpp cannot run are refused where they are accepted: import and pull."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outthink.catalog import hub_file_path, read_registry
from outthink.cli import main
from outthink.config import Settings
from tests.hub_server import FakeHub, catalog_entry, gguf_bytes, isolate, user_catalog
from tests.tiny_gguf import write_tiny_model

REPO = "org/odd-GGUF"
FILE = "odd-Q4_K_M.gguf"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def listed(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    code, out, _ = cli(["models", "list", "--json"], capsys)
    assert code == 0
    return {m["id"]: m for m in json.loads(out)["models"]}


def test_import_refuses_an_architecture_llama_cpp_does_not_know(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alien = write_tiny_model(tmp_path / "alien.gguf", arch="notarealarch")
    code, out, err = cli(["models", "import", str(alien)], capsys)
    assert code == 1
    assert err.startswith("Error: ") and "'notarealarch'" in err and "Traceback" not in err
    assert "Imported" not in out
    assert read_registry(Settings())["imports"] == {}
    assert "alien" not in listed(capsys)


def test_import_still_accepts_a_known_architecture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_tiny_model(tmp_path / "good.gguf")
    code, out, _ = cli(["models", "import", str(good)], capsys)
    assert code == 0 and "Imported" in out
    assert listed(capsys)["good"]["present"] is True


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def serve(hub: FakeHub, env: Path, data: bytes) -> None:
    hub.add_file(REPO, FILE, data)
    user_catalog(env, catalog_entry("odd", REPO, FILE, size=len(data)))


def models_files() -> list[Path]:
    root = Settings().models_path()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_installed(capsys: pytest.CaptureFixture[str]) -> None:
    assert not hub_file_path(REPO, FILE, Settings()).exists()
    assert [p for p in models_files() if p.name != "registry.json.lock"] == []
    entry = listed(capsys)["odd"]
    assert entry["present"] is False and entry["state"] == "missing"


@pytest.mark.parametrize("kind", ["html page", "unknown architecture"])
def test_pull_refuses_a_file_llama_cpp_cannot_run_even_when_its_hash_matches(
    hub: FakeHub, env: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "html page":
        data = b"<!doctype html><title>Not a model</title>\n" * 200
        expected = "not a GGUF model file"
    else:
        data = write_tiny_model(tmp_path / "alien.gguf", arch="notarealarch").read_bytes()
        expected = "'notarealarch'"
    serve(hub, env, data)
    code, out, err = cli(["models", "pull", "odd"], capsys)
    assert code == 1, out
    assert "Error: " in err and expected in err and "Nothing was installed" in err
    assert "Traceback" not in err and "ready at" not in out
    assert len(hub.requests("GET", FILE)) == 1  # it was downloaded, then refused
    assert_nothing_installed(capsys)


def test_a_file_placed_by_hand_with_the_hubs_hash_is_still_checked(
    hub: FakeHub, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b"GGUF" + b"\xff" * 4096  # right magic, nonsense header
    serve(hub, env, data)
    target = hub_file_path(REPO, FILE, Settings())
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    code, _, err = cli(["models", "pull", "odd"], capsys)
    assert code == 1 and "Error: " in err and "Traceback" not in err
    assert target.read_bytes() == data  # not ours to delete
    odd = listed(capsys)["odd"]
    assert odd["present"] is False and odd["state"] == "unverified"


def test_a_good_pull_still_installs(
    hub: FakeHub, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(hub, env, gguf_bytes(tmp_path / "src" / "ok.gguf", payload_bytes=64 * 1024))
    code, out, _ = cli(["models", "pull", "odd"], capsys)
    assert code == 0 and "ready at" in out
    assert listed(capsys)["odd"]["present"] is True
