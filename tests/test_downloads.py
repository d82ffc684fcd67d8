"""Downloads against a fake Hub on 127.0.0.1 (tests/hub_server.py), never the real one."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from outthink import hub as hub_mod
from outthink.catalog import file_record, hub_file_path, partial_paths, resolve_model
from outthink.config import Settings
from outthink.errors import Cancelled, CatalogError, DownloadError
from outthink.generation import CancelToken
from outthink.hub import DownloadOptions, DownloadProgress, HubFile, download
from tests.hub_server import FakeHub, catalog_entry, gguf_bytes, isolate, user_catalog

REPO = "org/model-GGUF"
FILE = "model-Q4_K_M.gguf"
TOKEN = "hf_SecretTestToken_123456"
FAST = DownloadOptions(
    retries=3,
    backoff_s=0.01,
    backoff_max_s=0.05,
    stall_s=0.4,
    timeout_s=3.0,
    progress_interval_s=0.0,
)


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def data(hub: FakeHub, tmp_path: Path) -> bytes:
    payload = gguf_bytes(tmp_path / "src" / "model.gguf", payload_bytes=1 << 20)
    hub.add_file(REPO, FILE, payload)
    hub.add_file(REPO, "model-Q8_0.gguf", payload[:1000])
    hub.add_file(REPO, "README.md", b"# readme", lfs=False)
    return payload


def item(**kwargs) -> HubFile:
    return HubFile(REPO, FILE, label="test-model", **kwargs)


def dest() -> Path:
    return hub_file_path(REPO, FILE, Settings())


def partial() -> Path:
    return partial_paths(REPO, FILE, Settings())[0]


def models_dir() -> Path:
    return Settings().models_path()


def leftover_partials() -> list[Path]:
    root = models_dir()
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and ".part" in p.name]


# --- the normal path -------------------------------------------------------------------------


def test_download_lands_in_place_verified_with_progress(hub: FakeHub, data: bytes) -> None:
    seen: list[DownloadProgress] = []
    path = download(item(), progress=seen.append, options=FAST)

    assert path == dest()
    assert path.read_bytes() == data
    record = file_record(path, Settings())
    assert record is not None and record["sha256"] == hub.repos[REPO][FILE].sha256
    assert record["commit"] == hub.commit
    heads, gets = hub.requests("HEAD"), hub.requests("GET", FILE)
    assert len(heads) == 1 and len(gets) == 1 and gets[0].range is None
    assert hub.body_bytes(FILE) == len(data)
    assert not hub.requests(match="agent-harnesses")  # no telemetry probe
    # progress: starts checking, bytes only grow, ends done at the full size
    assert seen[0].state == "checking" and seen[-1].state == "done"
    sizes = [p.downloaded for p in seen if p.state == "downloading"]
    assert sizes == sorted(sizes) and sizes[-1] == len(data)
    assert seen[-1].downloaded == seen[-1].total == len(data)
    assert any(p.rate_bps > 0 and p.eta_s is not None for p in seen if p.state == "downloading")
    assert not leftover_partials()
    assert not (models_dir() / ".partial").exists()


def test_present_file_is_returned_without_any_request(hub: FakeHub, data: bytes) -> None:
    download(item(), options=FAST)
    hub.clear_log()
    assert download(item(), options=FAST) == dest()
    assert hub.log == []


def test_file_placed_by_hand_is_checked_not_downloaded(hub: FakeHub, data: bytes) -> None:
    target = dest()
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    assert download(item(), options=FAST) == target
    assert hub.requests("GET") == [] and len(hub.requests("HEAD")) == 1
    assert file_record(target, Settings()) is not None


def test_redirect_to_cdn_is_followed(hub: FakeHub, data: bytes) -> None:
    hub.redirect = True
    path = download(item(), options=FAST)
    assert path.read_bytes() == data
    assert hub.requests("GET", "/cdn/")


# --- resume --------------------------------------------------------------------------------


def test_cut_connection_resumes_without_refetching(hub: FakeHub, data: bytes) -> None:
    half = len(data) // 2
    hub.cut(FILE, after=half)
    path = download(item(), options=FAST)

    assert path.read_bytes() == data
    gets = hub.requests("GET", FILE)
    assert [g.range for g in gets] == [None, f"bytes={half}-"]
    assert [g.body_bytes for g in gets] == [half, len(data) - half]
    assert hub.body_bytes(FILE) == len(data)  # not one byte fetched twice


def test_cancel_at_half_then_restart_transfers_only_the_rest(hub: FakeHub, data: bytes) -> None:
    hub.throttle_s = 0.002
    token = CancelToken()

    def on_progress(p: DownloadProgress) -> None:
        if p.downloaded >= len(data) // 2:
            token.cancel()

    with pytest.raises(Cancelled):
        download(item(), progress=on_progress, cancel=token, options=FAST)
    kept = partial().stat().st_size
    assert len(data) // 2 <= kept < len(data)
    assert not dest().exists()

    # A new call, as after an app restart: only the missing bytes travel.
    hub.clear_log()
    hub.throttle_s = 0.0
    seen: list[DownloadProgress] = []
    path = download(item(), progress=seen.append, options=FAST)
    assert path.read_bytes() == data
    (get,) = hub.requests("GET", FILE)
    assert get.range == f"bytes={kept}-"
    assert get.body_bytes == len(data) - kept
    assert seen[-1].resumed_from == kept


def test_resume_after_the_process_was_killed(hub: FakeHub, data: bytes) -> None:
    hub.throttle_s = 0.01  # about 0.7 s for the whole file: time to kill it midway
    child = (
        "from outthink.hub import HubFile, download\n"
        f"download(HubFile({REPO!r}, {FILE!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", child], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if partial().exists() and partial().stat().st_size >= len(data) // 2:
                break
            assert proc.poll() is None, "the child finished or failed before it was killed"
            time.sleep(0.01)
        proc.kill()
    finally:
        proc.wait(timeout=10)
    kept = partial().stat().st_size
    assert 0 < kept < len(data)

    hub.clear_log()
    hub.throttle_s = 0.0
    assert download(item(), options=FAST).read_bytes() == data
    (get,) = hub.requests("GET", FILE)
    assert get.range == f"bytes={kept}-" and get.body_bytes == len(data) - kept


def test_partial_of_an_older_file_version_is_not_reused(
    hub: FakeHub, data: bytes, tmp_path: Path
) -> None:
    token = CancelToken()
    hub.throttle_s = 0.002

    def on_progress(p: DownloadProgress) -> None:
        if p.downloaded >= len(data) // 3:
            token.cancel()

    with pytest.raises(Cancelled):
        download(item(), progress=on_progress, cancel=token, options=FAST)
    newer = gguf_bytes(tmp_path / "src" / "newer.gguf", payload_bytes=1 << 20, seed=7)
    hub.add_file(REPO, FILE, newer)
    hub.clear_log()
    hub.throttle_s = 0.0
    assert download(item(), options=FAST).read_bytes() == newer
    (get,) = hub.requests("GET", FILE)
    assert get.range is None


def test_server_ignoring_range_restarts_from_zero(hub: FakeHub, data: bytes) -> None:
    hub.cut(FILE, after=len(data) // 3)
    hub.ignore_range = True
    assert download(item(), options=FAST).read_bytes() == data


# --- integrity -----------------------------------------------------------------------------


def test_corrupted_payload_is_rejected_and_deleted(
    hub: FakeHub, data: bytes, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_catalog(env, catalog_entry("test-model", REPO, FILE, size=len(data)))
    hub.corrupt.add(FILE)
    with pytest.raises(DownloadError, match="SHA-256") as err:
        download(item(), options=FAST)
    assert "deleted" in err.value.message
    assert not dest().exists()
    assert not leftover_partials()
    # ...and the engine is never offered anything for that id.
    with pytest.raises(CatalogError, match="not downloaded"):
        resolve_model("test-model")


def test_catalog_hash_that_disagrees_with_the_hub_stops_before_transfer(
    hub: FakeHub, data: bytes
) -> None:
    with pytest.raises(DownloadError, match="not the file the catalog names"):
        download(item(sha256="0" * 64), options=FAST)
    assert hub.requests("GET") == []


def test_no_known_hash_means_no_download(hub: FakeHub, data: bytes) -> None:
    hub.add_file(REPO, FILE, data, lfs=False)  # served without the LFS SHA-256 headers
    with pytest.raises(DownloadError, match="SHA-256"):
        download(item(), options=FAST)
    assert hub.requests("GET") == []
    # With the hash in the catalog the same file is accepted.
    sha = hub.repos[REPO][FILE].sha256
    assert download(item(sha256=sha), options=FAST).read_bytes() == data


# --- errors that need the user ---------------------------------------------------------------


def test_gated_repo_asks_for_a_token_and_works_with_one(
    hub: FakeHub, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hub.gated[REPO] = TOKEN
    with pytest.raises(DownloadError, match="401") as err:
        download(item(), options=FAST)
    assert "HF_TOKEN" in err.value.hint and "hf_token" in err.value.hint

    with pytest.raises(DownloadError, match="403") as err:
        download(item(), settings=Settings(hf_token="hf_wrong_" + TOKEN), options=FAST)
    assert "refused" in err.value.hint

    path = download(item(), settings=Settings(hf_token=TOKEN), options=FAST)
    assert path.read_bytes() == data
    assert all(r.authorized for r in hub.requests(match=FILE)[-2:])
    assert TOKEN not in caplog.text
    assert TOKEN not in str(err.value)


def test_token_from_environment_is_used(
    hub: FakeHub, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.gated[REPO] = TOKEN
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert download(item(), options=FAST).read_bytes() == data


def test_missing_file_names_the_files_the_repo_has(hub: FakeHub, data: bytes) -> None:
    with pytest.raises(DownloadError, match="404") as err:
        download(HubFile(REPO, "model-Q5_K_M.gguf"), options=FAST)
    assert "model-Q4_K_M.gguf" in err.value.hint and "model-Q8_0.gguf" in err.value.hint
    assert "README.md" not in err.value.hint  # only GGUF files are suggested
    assert hub.requests("GET", "/api/models/org/model-GGUF")


def test_missing_repo_and_revision(hub: FakeHub, data: bytes) -> None:
    with pytest.raises(DownloadError, match="not found"):
        download(HubFile("org/no-such-repo", FILE), options=FAST)
    with pytest.raises(DownloadError, match="Revision"):
        download(HubFile(REPO, FILE, revision="v9"), options=FAST)


def test_rate_limit_is_retried_then_explained(hub: FakeHub, data: bytes) -> None:
    hub.fail(FILE, 429, times=1, retry_after=1)
    assert download(item(), options=FAST).read_bytes() == data

    hub.clear_log()
    dest().unlink()
    hub.fail(FILE, 429, times=None)
    with pytest.raises(DownloadError, match="429") as err:
        download(item(), options=FAST)
    assert "hf_endpoint" in err.value.hint and "HF_ENDPOINT" in err.value.hint
    assert len(hub.requests("HEAD")) == FAST.retries + 1


def test_server_errors_are_retried_then_explained(hub: FakeHub, data: bytes) -> None:
    hub.fail(FILE, 500, times=2, methods=("GET",))
    assert download(item(), options=FAST).read_bytes() == data
    assert len(hub.requests("GET", FILE)) == 3

    dest().unlink()
    hub.fail(FILE, 503, times=None, methods=("GET",))
    with pytest.raises(DownloadError, match="503") as err:
        download(item(), options=FAST)
    assert "mirror" in err.value.hint


def test_stalled_server_is_detected_and_resumed(hub: FakeHub, data: bytes) -> None:
    third = len(data) // 3
    hub.stall(FILE, after=third, seconds=10)
    start = time.monotonic()
    assert download(item(), options=FAST).read_bytes() == data
    assert time.monotonic() - start < 5
    assert [g.range for g in hub.requests("GET", FILE)] == [None, f"bytes={third}-"]


def test_server_that_sends_nothing_fails_with_a_clear_message(hub: FakeHub, data: bytes) -> None:
    hub.stall(FILE, after=0, seconds=10, times=None)
    with pytest.raises(DownloadError, match="stopped sending"):
        download(item(), options=FAST)
    assert len(hub.requests("GET", FILE)) == FAST.retries + 1


def test_cancel_from_another_thread_is_prompt_even_when_stalled(
    hub: FakeHub, data: bytes
) -> None:
    quarter = len(data) // 4
    hub.stall(FILE, after=quarter, seconds=10, times=None)
    token = CancelToken()
    opts = DownloadOptions(stall_s=30, progress_interval_s=0.0)
    got_bytes = threading.Event()

    def on_progress(p: DownloadProgress) -> None:
        if p.downloaded >= quarter:
            got_bytes.set()

    errors: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            download(item(), progress=on_progress, cancel=token, options=opts)
        except BaseException as exc:
            errors.append(exc)
        finally:
            finished.set()

    worker = threading.Thread(target=run)
    worker.start()
    assert got_bytes.wait(10)
    time.sleep(0.2)  # the server is now silent
    cancelled_at = time.monotonic()
    token.cancel()
    assert finished.wait(5)
    worker.join()
    assert time.monotonic() - cancelled_at < 1.0
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    assert partial().stat().st_size == quarter  # kept for a later resume
    state = json.loads(partial_paths(REPO, FILE, Settings())[1].read_text())
    assert state["sha256"] == hub.repos[REPO][FILE].sha256


def test_second_download_of_the_same_file_is_refused_while_one_runs(
    hub: FakeHub, data: bytes
) -> None:
    hub.stall(FILE, after=1024, seconds=10, times=None)
    token = CancelToken()
    started = threading.Event()
    outcome: list[BaseException] = []

    def first() -> None:
        try:
            download(item(), cancel=token,
                     progress=lambda p: started.set() if p.downloaded else None,
                     options=DownloadOptions(stall_s=30, progress_interval_s=0.0))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert started.wait(10)
        with pytest.raises(DownloadError, match="already being downloaded"):
            download(item(), options=FAST)
    finally:
        token.cancel()
        worker.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)


# --- offline, disk, names ----------------------------------------------------------------------


def test_offline_mode_makes_no_request_at_all(
    hub: FakeHub, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="Offline") as err:
        download(item(), options=FAST)
    assert "import" in err.value.hint
    assert hub.log == []

    monkeypatch.delenv("HF_HUB_OFFLINE")
    download(item(), options=FAST)
    hub.clear_log()
    # Cached models stay usable offline, by environment variable or by setting.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download(item(), options=FAST).read_bytes() == data
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert download(item(), settings=Settings(offline=True), options=FAST) == dest()
    with pytest.raises(DownloadError, match="Offline"):
        download(HubFile(REPO, "model-Q8_0.gguf"), settings=Settings(offline=True), options=FAST)
    assert hub.log == []


def test_not_enough_disk_space_is_caught_before_the_transfer(
    hub: FakeHub, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_mod, "_disk_free", lambda folder: 10_000)
    with pytest.raises(DownloadError, match="free disk space") as err:
        download(item(), options=FAST)
    assert "models_dir" in err.value.hint
    assert hub.requests("GET") == []
    assert not leftover_partials()


def test_disk_full_mid_transfer_leaves_no_partial_file(
    hub: FakeHub, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = 0
    real_write = hub_mod._write_chunk

    def filling_disk(fh, chunk: bytes) -> None:
        nonlocal written
        if written + len(chunk) > len(data) // 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written += len(chunk)
        real_write(fh, chunk)

    monkeypatch.setattr(hub_mod, "_write_chunk", filling_disk)
    with pytest.raises(DownloadError, match="disk filled up"):
        download(item(), options=FAST)
    assert not dest().exists()
    assert not leftover_partials()
    assert not (models_dir() / ".partial").exists()


@pytest.mark.parametrize(
    ("repo", "filename"),
    [
        (REPO, "../../outside.gguf"),
        (REPO, "/etc/passwd.gguf"),
        (REPO, "sub\\..\\x.gguf"),
        (REPO, "model.bin"),
        ("../escape", FILE),
        ("org/..", FILE),
        ("just-a-name", FILE),
    ],
)
def test_names_that_would_leave_the_models_folder_are_refused(
    hub: FakeHub, repo: str, filename: str
) -> None:
    with pytest.raises(CatalogError):
        download(HubFile(repo, filename), options=FAST)
    assert hub.log == []


def test_starter_entry_is_assembled_not_downloaded(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from outthink import catalog, starter

    fake = tmp_path / "starter.gguf"
    monkeypatch.setattr(starter, "starter_model_path", lambda settings=None: fake)
    entry = catalog.load_catalog().get("gemma-3-270m")
    assert download(entry, options=FAST) == fake
    assert hub.log == []
