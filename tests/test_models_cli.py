"""``outthink models ...`` end to end, downloads served by the fake Hub on 127.0.0.1."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
from pathlib import Path

import pytest

from outthink import hub as hub_mod
from outthink.catalog import load_catalog
from outthink.cli.models import TerminalProgress, add_models_parser
from outthink.config import Settings
from outthink.errors import Cancelled, CatalogError, DownloadError, describe
from outthink.hub import DownloadProgress
from tests.hub_server import FakeHub, catalog_entry, gguf_bytes, isolate, make_gguf, user_catalog

REPO = "test-org/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: Path):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        data = gguf_bytes(tmp_path / "src" / "tiny.gguf", payload_bytes=512 * 1024)
        server.add_file(REPO, FILE, data)
        user_catalog(env, catalog_entry("tiny-test", REPO, FILE, size=len(data)))
        yield server


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="outthink")
    sub = parser.add_subparsers(dest="command", required=True)
    add_models_parser(sub)
    args = parser.parse_args(argv)
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def listing(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    code, out, _ = run(["models", "list", "--json"], capsys)
    assert code == 0
    return {m["id"]: m for m in json.loads(out)["models"]}


def test_list_shows_every_entry_with_role_size_and_presence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["models", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "ROLE", "SIZE", "PRESENT", "THINKS", "NAME"]
    for entry in load_catalog().entries:
        (row,) = [line for line in lines if line.startswith(entry.id + " ")]
        assert entry.role in row
        assert (" no " in row) or (" built-in " in row)
    assert "verifier:prm-rlhflow" in out and "4.9 GB" in out
    assert "outthink models pull ID" in out

    models = listing(capsys)
    assert set(models) == set(load_catalog().ids())
    qwen = models["qwen2.5-0.5b-instruct"]
    assert qwen["role"] == "policy" and qwen["present"] is False and qwen["size_bytes"] > 0
    assert qwen["state"] == "missing"

    code, out, _ = run(["models", "list", "--role", "verifier", "--json"], capsys)
    assert {m["role"] for m in json.loads(out)["models"]} == {"verifier"}


def test_list_marks_reasoning_models_and_how_they_think(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["models", "list"], capsys)
    assert code == 0
    # ID, ROLE, SIZE (number and unit), PRESENT, THINKS, NAME
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert rows["qwen3-0.6b"][5] == "switch" and rows["qwen3-4b"][5] == "switch"
    assert rows["deepseek-r1-distill-qwen-1.5b"][5] == "always"
    assert rows["qwen2.5-7b-instruct"][5] == "-" and rows["gemma-3-270m"][5] == "-"
    assert "solve --thinking off" in out
    models = listing(capsys)
    assert models["qwen3-1.7b"]["reasoning"] is True
    assert models["qwen3-1.7b"]["thinking_switch"] == "enable_thinking"
    assert models["qwen2.5-7b-instruct"]["reasoning"] is False


def test_pull_then_list_verify_rm(hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert listing(capsys)["tiny-test"]["present"] is False
    code, out, err = run(["models", "pull", "tiny-test"], capsys)
    assert code == 0
    assert "tiny-test: ready at" in out
    assert "100.0%" in err and "done" in err  # progress on stderr, not stdout
    assert len(hub.requests("GET", FILE)) == 1
    row = listing(capsys)["tiny-test"]
    assert row["present"] is True and row["state"] == "present"
    assert Path(row["path"]).read_bytes() == hub.repos[REPO][FILE].data

    code, out, _ = run(["models", "verify", "tiny-test"], capsys)
    assert code == 0 and out.startswith("OK ")

    # A damaged file is caught by verify (exit status 1) and never listed as present.
    path = Path(row["path"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    code, out, _ = run(["models", "verify"], capsys)
    assert code == 1 and "BAD  tiny-test" in out and "SHA-256 mismatch" in out
    assert listing(capsys)["tiny-test"]["state"] == "changed"

    code, out, _ = run(["models", "rm", "tiny-test"], capsys)
    assert code == 0 and "Deleted tiny-test" in out
    assert listing(capsys)["tiny-test"]["present"] is False


def test_pull_again_resumes_a_cut_download(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = hub_mod.DownloadOptions(retries=0, backoff_s=0.01, stall_s=0.3)
    real = hub_mod.download
    monkeypatch.setattr(hub_mod, "download", lambda *a, **k: real(*a, **{**k, "options": fast}))
    size = len(hub.repos[REPO][FILE].data)
    hub.cut(FILE, after=size // 2)
    with pytest.raises(DownloadError, match="Network error"):
        run(["models", "pull", "tiny-test"], capsys)
    row = listing(capsys)["tiny-test"]
    assert row["state"] == "partial" and row["partial_bytes"] == size // 2
    code, _, _ = run(["models", "pull", "tiny-test"], capsys)
    assert code == 0
    assert [g.range for g in hub.requests("GET", FILE)] == [None, f"bytes={size // 2}-"]


def test_pull_interrupted_by_ctrl_c_says_how_to_resume(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hub_mod, "download", interrupted)
    with pytest.raises(Cancelled) as err:
        run(["models", "pull", "tiny-test"], capsys)
    assert "outthink models pull tiny-test" in str(err.value)


def test_pull_unknown_id_fails_before_any_request(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CatalogError, match="no-such-model"):
        run(["models", "pull", "tiny-test", "no-such-model"], capsys)
    assert hub.log == []


def test_pull_errors_read_well_and_hide_the_token(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.gated[REPO] = "hf_right_token"
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_value")
    with pytest.raises(DownloadError) as err:
        run(["models", "pull", "tiny-test"], capsys)
    text = describe(err.value)
    assert "403" in text and "token" in text
    assert "hf_wrong_token_value" not in text
    assert "hf_wrong_token_value" not in capsys.readouterr().err


def test_import_then_list_and_remove(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_gguf(tmp_path / "downloads" / "judge.gguf")
    code, out, _ = run(
        ["models", "import", str(source), "--role", "verifier", "--id", "my-judge"], capsys
    )
    assert code == 0 and "my-judge" in out and "--verifier my-judge" in out
    row = listing(capsys)["my-judge"]
    assert row["role"] == "verifier" and row["verifier_kind"] == "judge"
    assert row["present"] is True and row["origin"] == "local"

    code, out, _ = run(["models", "list"], capsys)
    assert any(line.startswith("my-judge ") and " yes " in line for line in out.splitlines())

    code, out, _ = run(["models", "verify", "my-judge", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["ok"] is True

    code, out, _ = run(["models", "rm", "my-judge"], capsys)
    assert code == 0 and "left alone" in out and source.exists()


def test_list_points_at_stray_gguf_files(capsys: pytest.CaptureFixture[str]) -> None:
    stray = make_gguf(Settings().models_path() / "stray.gguf")
    _, out, _ = run(["models", "list"], capsys)
    assert str(stray) in out and "outthink models import" in out


def test_models_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["models"], capsys)


def _close_cli_log_handlers() -> None:
    # main() installs logging handlers on the root logger; close them so no file stays open.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_outthink", False):
            root.removeHandler(handler)
            handler.close()


def test_main_cli_routes_models_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from outthink.cli import main

    _close_cli_log_handlers()  # ones an earlier test may have left on the root logger
    try:
        assert main(["models", "list", "--json"]) == 0
        assert "qwen2.5-0.5b-instruct" in capsys.readouterr().out
        _close_cli_log_handlers()
        assert main(["models", "rm", "no-such-model"]) == 1
        assert "Known ids" in capsys.readouterr().err
    finally:
        _close_cli_log_handlers()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_shows_bytes_percent_rate_and_eta() -> None:
    stream = _Tty()
    show = TerminalProgress(stream)
    show(DownloadProgress(0, 2_000_000_000, 0.0, None, "checking", name="m"))
    show(DownloadProgress(500_000_000, 2_000_000_000, 25e6, 60.0, "downloading", name="m"))
    show(DownloadProgress(2_000_000_000, 2_000_000_000, 0.0, 0.0, "done", name="m"))
    text = stream.getvalue()
    assert "\r" in text and text.endswith("\n")
    assert "500.0 MB / 2.0 GB" in text and "25.0%" in text
    assert "25.0 MB/s" in text and "ETA 1:00" in text
    assert "100.0%  done" in text

    plain = io.StringIO()
    show = TerminalProgress(plain)
    for done in range(0, 101, 5):
        show(DownloadProgress(done, 100, 1.0, 1.0, "downloading", name="m"))
    assert "\r" not in plain.getvalue()
    assert len(plain.getvalue().splitlines()) == 11  # one line per 10%
