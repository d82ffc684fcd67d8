"""A Hub that cannot be reached (offline, blocked, nothing listening) fails within seconds and
says what to do; a Hub that answers with errors (429, 5xx) keeps its patient backoff."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from outthink import errors
from outthink import hub as hub_mod
from outthink.config import Settings
from outthink.errors import DownloadError, describe
from outthink.generation import CancelToken
from outthink.hub import DownloadOptions, DownloadProgress, HubFile, download
from tests.hub_server import (
    FakeHub,
    catalog_entry,
    closed_port_url,
    gguf_bytes,
    isolate,
    user_catalog,
)

REPO = "org/model-GGUF"
FILE = "model-Q4_K_M.gguf"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


def download_within(seconds: float, item: HubFile, *, options: DownloadOptions | None = None,
                    settings: Settings | None = None) -> tuple[BaseException, list[str]]:
    """Run a download that must fail; cancel it and fail the test if it takes longer."""
    cancel = CancelToken()
    outcome: list[BaseException] = []
    retries: list[str] = []

    def progress(p: DownloadProgress) -> None:
        if p.state == "retrying":
            retries.append(p.message)

    def job() -> None:
        try:
            download(item, settings=settings, progress=progress, cancel=cancel, options=options)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        cancel.cancel()
        thread.join(5)
        pytest.fail(f"still retrying after {seconds} s: {retries}")
    assert outcome, "the download should have failed"
    return outcome[0], retries


def test_unreachable_mirror_fails_within_seconds_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", url)
    start = time.monotonic()
    # The default options: the real retry budget, not a test's shortened one.
    error, retries = download_within(8.0, HubFile(REPO, FILE, label="test-model"))
    assert time.monotonic() - start < 5
    assert isinstance(error, errors.HubUnreachableError), describe(error)
    assert len(retries) == 1 and "cannot connect" in retries[0]
    assert error.endpoint == url and error.mirror == "environment"
    assert error.message.startswith(f"Cannot reach the Hub mirror {url}")
    assert "refused" in error.message and "test-model" in error.message
    assert "internet connection" in error.hint and "HF_ENDPOINT" in error.hint
    assert "outthink models import PATH" in error.hint
    assert "Network error" not in describe(error)


def test_unreachable_hub_suggests_a_mirror_in_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_ENDPOINT")
    monkeypatch.setattr(hub_mod, "DEFAULT_ENDPOINT", closed_port_url())  # "huggingface.co"
    error, _ = download_within(8.0, HubFile(REPO, FILE, label="test-model"))
    assert isinstance(error, errors.HubUnreachableError) and error.mirror == ""
    assert "Cannot reach the Hugging Face Hub" in error.message
    assert "hf_endpoint" in error.hint and "Settings → Hub mirror" in error.hint
    assert "outthink models import PATH" in error.hint


def test_unreachable_mirror_from_the_settings_names_that_setting() -> None:
    settings = Settings(hf_endpoint=closed_port_url())
    error, _ = download_within(8.0, HubFile(REPO, FILE), settings=settings)
    assert isinstance(error, errors.HubUnreachableError) and error.mirror == "settings"
    assert "hf_endpoint" in error.hint and "Settings → Hub mirror" in error.hint


def test_errors_from_a_hub_that_answers_keep_their_backoff(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    options = DownloadOptions(retries=3, backoff_s=0.01, backoff_max_s=0.05, timeout_s=3.0)
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.add_file(REPO, FILE, gguf_bytes(tmp_path / "src" / "m.gguf", payload_bytes=4096))
        hub.fail(FILE, 503, times=None)
        error, retries = download_within(10.0, HubFile(REPO, FILE), options=options)
    assert isinstance(error, DownloadError) and "Cannot reach" not in error.message
    assert "503" in error.message and len(retries) == options.retries


def test_a_connection_lost_mid_transfer_gets_the_full_retry_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Bytes arrived, then the server went away: the network worked a moment ago, so a
    failure to reconnect is retried with backoff like any dropped connection."""
    options = DownloadOptions(retries=3, backoff_s=0.01, backoff_max_s=0.05, timeout_s=3.0,
                              connect_backoff_s=0.01)
    hub = FakeHub().start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        data = gguf_bytes(tmp_path / "src" / "m.gguf", payload_bytes=256 * 1024)
        hub.add_file(REPO, FILE, data)
        hub.cut(FILE, after=len(data) // 2)
        stopped = threading.Event()

        def stop_on_first_retry(p: DownloadProgress) -> None:
            if p.state == "retrying" and not stopped.is_set():
                stopped.set()
                hub.stop()  # nothing listens any more: every reconnect is refused

        messages: list[str] = []
        with pytest.raises(DownloadError) as raised:
            download(HubFile(REPO, FILE), options=options,
                     progress=lambda p: (stop_on_first_retry(p), messages.append(p.message)))
    finally:
        hub.stop()
    retries = [m for m in messages if "retrying in" in m]
    assert len(retries) == options.retries, retries
    assert raised.value.message.startswith("Cannot reach the Hub mirror")


def test_models_pull_fails_fast_when_the_hub_cannot_be_reached(tmp_path: Path) -> None:
    """The real command line, its real retry budget: an error that says what to do, quickly."""
    user_catalog(tmp_path, catalog_entry("tiny-test", REPO, FILE, size=1000))
    env = {**os.environ, "HF_ENDPOINT": closed_port_url(), "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1] / "app"), os.environ.get("PYTHONPATH", "")])}
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "outthink.cli", "models", "pull", "tiny-test"],
            env=env, capture_output=True, text=True, timeout=20,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`models pull` was still retrying after {exc.timeout} s")
    took = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr
    assert took < 12, took
    assert "Error: Cannot reach the Hub mirror" in proc.stderr
    assert "retrying in 1.0 s (retry 1 of 1)" in proc.stderr
    assert "internet connection" in proc.stderr and "outthink models import PATH" in proc.stderr
    assert "Traceback" not in proc.stderr
