"""`outthink models pull` shows the speed and the time left while it downloads, and how long
the download took and its mean speed when it is done."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from outthink import hub as hub_mod
from outthink.cli.models import TerminalProgress, add_models_parser
from tests.hub_server import FakeHub, catalog_entry, gguf_bytes, isolate, user_catalog

REPO = "test-org/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


def pull(model_id: str) -> int:
    parser = argparse.ArgumentParser(prog="outthink")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "pull", model_id])
    return int(args.func(args))


def test_pull_reports_speed_eta_and_the_mean_speed_when_done(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = hub_mod.download
    fast = hub_mod.DownloadOptions(progress_interval_s=0.0)
    monkeypatch.setattr(hub_mod, "download", lambda *a, **k: real(*a, **{**k, "options": fast}))
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        data = gguf_bytes(tmp_path / "src" / "tiny.gguf", payload_bytes=1 << 20)
        hub.add_file(REPO, FILE, data)
        user_catalog(tmp_path, catalog_entry("tiny-test", REPO, FILE, size=len(data)))
        hub.throttle_s = 0.01  # 64 pieces of 16 KiB: about 0.7 s
        assert pull("tiny-test") == 0
    lines = capsys.readouterr().err.splitlines()  # not a terminal: a line per 10%
    moving = [line for line in lines if "/s" in line and "ETA" in line]
    assert moving, lines
    done = lines[-1]
    assert "100.0%" in done and "done in 0:0" in done and "/s on average)" in done, done


def test_a_file_already_here_is_not_given_a_speed(tmp_path: Path) -> None:
    progress = hub_mod.DownloadProgress(1000, 1000, 0.0, 0.0, "done", name="m",
                                        resumed_from=1000, elapsed_s=0.01)
    assert progress.transferred == 0 and progress.average_bps == 0
    assert TerminalProgress.format(progress).endswith("done")
