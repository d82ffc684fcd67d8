"""Downloads from the Hugging Face Hub that survive the real world.

The only module that imports ``huggingface_hub`` (and its HTTP client ``httpx2``), lazily,
so ``import outthink.hub`` stays cheap. Other Hub downloads (benchmark datasets) reach the
library through it: :func:`hf_library` (flags set from the settings: offline mode, no
telemetry), :func:`endpoint` (``hf_endpoint`` or HF_ENDPOINT, a mirror), :func:`hub_auth`
(the token) and :func:`map_error` (the library's and the network's errors as a
:class:`~outthink.errors.DownloadError` that says what to do).

API::

    download(item, *, settings=None, progress=None, cancel=None, options=None) -> Path

``item`` is a catalog :class:`~outthink.catalog.ModelEntry` (a Hub entry, or the starter's
``package:`` entry, which is assembled locally instead) or a :class:`HubFile` (repo, file,
revision, optional SHA-256). ``progress`` receives :class:`DownloadProgress` snapshots (bytes,
total, rate, ETA, state) on the calling thread, at most every ``options.progress_interval_s``
plus every state change. ``cancel`` is a :class:`~outthink.generation.CancelToken`; calling
``cancel()`` from any thread (the GUI's Stop button) raises
:class:`~outthink.errors.Cancelled` within a fraction of a second, even on a stalled
connection, and keeps the partial file for a later resume. Returns the verified file's path.

How it behaves:

* A file that is already in the models folder and verified is returned without any request.
  In offline mode (``Settings.offline`` or ``HF_HUB_OFFLINE``) nothing else happens either:
  no request at all, a clear error if the file is not here.
* ``huggingface_hub`` provides the URL (``hf_hub_url``), the metadata HEAD
  (``get_hf_file_metadata``: size, commit, LFS SHA-256), auth headers and typed errors. The
  transfer itself is our own ranged GET into ``<models>/.partial/<name>.part`` next to a JSON
  state file, because the library restarts from zero after a crash, a restart or a cancel.
  A later call resumes with ``Range: bytes=N-`` when the state matches the remote file.
* Network errors, timeouts, HTTP 408/429/5xx and stalls (no byte for ``stall_s``) are retried
  with exponential backoff (``Retry-After`` honoured); the retry budget resets whenever bytes
  arrive. A Hub that cannot be reached at all (no connection could be opened, and no byte
  arrived yet in this call: offline, a name that does not resolve, a blocked host) gets one
  short retry and then a :class:`~outthink.errors.HubUnreachableError` that says what to do
  (check the connection, set a mirror, import a file), within seconds rather than after
  minutes of backoff. Once bytes have arrived, a failure to reconnect is a dropped
  connection and gets the full backoff. 401/403/404 fail at once with what to do next
  (token, files the repo does have).
* The file is accepted only when its SHA-256 matches the catalog's or, failing that, the
  Hub's LFS hash (both must agree when both exist), and when it is a model the bundled
  llama.cpp can run (:func:`~outthink.gguf_file.check_model_file`: GGUF header, known
  architecture); otherwise the partial file is deleted and nothing is installed. The finished
  file is fsynced and renamed into place, so it appears whole or not at all.
* Free disk space is checked before the transfer; a full disk mid-transfer deletes the
  partial file and says how much space is needed.
* The token never appears in logs or error messages.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from outthink import __version__
from outthink.catalog import (
    PARTIAL_DIR,
    ModelEntry,
    file_record,
    hub_file_path,
    partial_paths,
    record_verified,
    sha256_file,
)
from outthink.config import Settings, fsync_dir, load_settings, settings_path
from outthink.errors import (
    Cancelled,
    CatalogError,
    DownloadError,
    HubUnreachableError,
    ModelFileError,
    OutthinkError,
)
from outthink.generation import CancelToken

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

_T = TypeVar("_T")

DownloadState = Literal[
    "checking", "downloading", "retrying", "verifying", "done", "cancelled", "failed"
]


@dataclass(frozen=True, slots=True)
class HubFile:
    """One file on the Hub. ``sha256``/``size``, when given, are what the file must be.

    :func:`download` takes model files only; ``repo_type`` lets :func:`map_error` explain
    the failures of other downloads (benchmark datasets) too.
    """

    repo: str
    filename: str
    revision: str = "main"
    sha256: str | None = None
    size: int | None = None
    label: str = ""
    repo_type: Literal["model", "dataset"] = "model"

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> HubFile:
        if not entry.repo:
            raise CatalogError(
                f"{entry.id} does not come from the Hub ({entry.source}); nothing to download."
            )
        return cls(entry.repo, entry.filename, entry.revision, entry.sha256, None, entry.id)

    @property
    def display(self) -> str:
        return self.label or f"{self.repo}/{self.filename}"

    def page(self, base: str) -> str:
        """The repo's web page on the Hub at ``base``."""
        prefix = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        return f"{base}/{prefix}{self.repo}"

    def named(self, *, start: bool = False) -> str:
        """The repo as messages name it: a model repo by its name, others with their kind."""
        if self.repo_type == "model":
            return self.repo
        return f"{'The' if start else 'the'} {self.repo_type} {self.repo}"


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """A snapshot of one download. ``total`` is None until the size is known."""

    downloaded: int
    total: int | None
    rate_bps: float
    eta_s: float | None
    state: DownloadState
    name: str = ""
    resumed_from: int = 0
    attempt: int = 0
    message: str = ""
    elapsed_s: float = 0.0  # since this download (the call) started

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.downloaded / self.total)

    @property
    def transferred(self) -> int:
        """Bytes that came over the network in this call (not those resumed from disk)."""
        return max(0, self.downloaded - self.resumed_from)

    @property
    def average_bps(self) -> float:
        """Mean speed of this call so far, waits and checks included; 0 when nothing came."""
        return self.transferred / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class DownloadOptions:
    retries: int = 8  # failed attempts in a row before giving up
    backoff_s: float = 1.0  # first wait; doubles each time
    backoff_max_s: float = 60.0
    # A Hub that cannot be connected to before any byte arrived (offline, blocked): this many
    # retries, this far apart, then the error that says what to do.
    connect_retries: int = 1
    connect_backoff_s: float = 1.0
    stall_s: float = 30.0  # no byte for this long = stalled connection, retried
    timeout_s: float = 20.0  # connect and metadata requests
    queue_chunks: int = 32  # network reads buffered ahead of the disk (each up to 64 KiB)
    progress_interval_s: float = 0.2
    disk_margin_bytes: int = 32 << 20


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """What the Hub says about a file (one HEAD request)."""

    url: str
    size: int | None
    sha256: str | None  # the LFS SHA-256 (X-Linked-Etag), None for non-LFS files
    commit: str | None
    etag: str | None


ProgressCallback = Callable[[DownloadProgress], None]


# --------------------------------------------------------------------------------------------
# Library access


def hf_library(settings: Settings) -> Any:
    """The ``huggingface_hub`` module, imported on first use, aligned with our settings.

    The library reads HF_HUB_OFFLINE and telemetry flags once at import time; we decide
    about the network per call, so its flags are set to match that decision. Telemetry is
    off because its user-agent probe calls ``{endpoint}/api/agent-harnesses`` (a request the
    user did not ask for, to whatever endpoint was set at import time). Its progress bars are
    off too: Outthink reports progress itself. Pass :func:`endpoint` and
    :func:`hub_auth`'s token to each call; the library's own defaults ignore our settings.
    """
    import huggingface_hub
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_OFFLINE = settings.is_offline()
    constants.HF_HUB_DISABLE_PROGRESS_BARS = True
    return huggingface_hub


def endpoint(settings: Settings) -> str:
    """The Hub's base URL: ``hf_endpoint`` in the settings, else HF_ENDPOINT (a mirror)."""
    value = (settings.hf_endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip()
    if not value.startswith(("http://", "https://")):
        raise DownloadError(
            f"The Hub endpoint {value!r} is not an http(s) URL.",
            hint="Fix `hf_endpoint` in settings.toml or the HF_ENDPOINT environment variable.",
        )
    return value.rstrip("/")


@dataclass(frozen=True, slots=True)
class HubAuth:
    """The request headers and the token (None without one) from :func:`hub_auth`."""

    headers: dict[str, str]
    token: str | None

    def redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


def hub_auth(settings: Settings) -> HubAuth:
    """The token from the settings, HF_TOKEN or the library's login, in that order."""
    hf = hf_library(settings)
    from huggingface_hub.utils import build_hf_headers

    token = settings.hf_token or os.environ.get("HF_TOKEN") or hf.get_token() or None
    headers = build_hf_headers(
        token=token or False, library_name="outthink", library_version=__version__
    )
    return HubAuth(dict(headers), token)


def mirror_source(settings: Settings) -> str:
    """Where :func:`endpoint`'s URL comes from: ``"settings"`` (``hf_endpoint``),
    ``"environment"`` (HF_ENDPOINT), or ``""`` for huggingface.co itself."""
    if settings.hf_endpoint.strip():
        return "settings"
    if os.environ.get("HF_ENDPOINT", "").strip():
        return "environment"
    return ""


def _httpx() -> Any:
    import httpx2

    return httpx2


# --------------------------------------------------------------------------------------------
# Progress


class _Reporter:
    """Turns byte counts into throttled :class:`DownloadProgress` calls with rate and ETA."""

    _WINDOW_S = 5.0

    def __init__(self, callback: ProgressCallback | None, name: str, interval: float) -> None:
        self.callback = callback
        self.name = name
        self.interval = interval
        self.samples: deque[tuple[float, int]] = deque()
        self.last_emit = 0.0
        self.last_state: str | None = None
        self.total: int | None = None
        self.resumed_from = 0
        self.downloaded = 0
        self.attempt = 0
        self.started = time.monotonic()

    def restart_rate(self, downloaded: int) -> None:
        self.samples.clear()
        self.samples.append((time.monotonic(), downloaded))
        self.downloaded = downloaded

    def rate(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def emit(self, state: DownloadState, downloaded: int | None = None, *,
             message: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if downloaded is not None:
            self.downloaded = downloaded
            if state == "downloading":
                self.samples.append((now, downloaded))
                while len(self.samples) > 2 and now - self.samples[0][0] > self._WINDOW_S:
                    self.samples.popleft()
        if self.callback is None:
            return
        changed = state != self.last_state
        if not (force or changed or now - self.last_emit >= self.interval):
            return
        self.last_emit = now
        self.last_state = state
        rate = self.rate() if state == "downloading" else 0.0
        eta = None
        if self.total is not None and rate > 0:
            eta = max(0.0, (self.total - self.downloaded) / rate)
        elif self.total is not None and self.downloaded >= self.total:
            eta = 0.0
        self.callback(
            DownloadProgress(
                downloaded=self.downloaded,
                total=self.total,
                rate_bps=rate,
                eta_s=eta,
                state=state,
                name=self.name,
                resumed_from=self.resumed_from,
                attempt=self.attempt,
                message=message,
                elapsed_s=now - self.started,
            )
        )


# --------------------------------------------------------------------------------------------
# Errors


class _Stalled(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no data for {seconds:g} s")
        self.seconds = seconds


class _DiskError(Exception):
    """A write to the partial file failed. Kept apart from OSError on purpose: the Hub
    library's HTTP errors are OSErrors too, and those must go through the retry logic."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class _Restart(Exception):
    pass


_MIRROR = "a mirror: `hf_endpoint` in settings.toml or the HF_ENDPOINT environment variable"
_MIRROR_HINT = (
    "Wait a few minutes and run it again (the download resumes where it stopped), or use "
    f"{_MIRROR}."
)


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _cannot_connect(exc: BaseException) -> bool:
    """No connection could be opened at all (as opposed to one that broke or timed out on
    a read): the host is unreachable from here, its name does not resolve, or nothing
    listens there. The library's own errors carry the network's as their cause."""
    httpx2 = _httpx()
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (httpx2.ConnectError, httpx2.ConnectTimeout)):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _connect_reason(exc: BaseException) -> str:
    """A few plain words on why no connection could be opened."""
    import socket

    httpx2 = _httpx()
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, httpx2.ConnectTimeout):
            return "no answer to the connection request"
        if isinstance(cause, socket.gaierror):
            return "its name could not be looked up"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "the network is unreachable"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "name resolution" in text or "name or service" in text or "nodename" in text:
        return "its name could not be looked up"
    if "refused" in text:
        return "the connection was refused"
    if "unreachable" in text:
        return "the network is unreachable"
    return "no connection could be opened"


def _unreachable(exc: BaseException, item: HubFile, settings: Settings, base: str
                 ) -> HubUnreachableError:
    """The error for a Hub that could not be connected to, with what to do next."""
    source = mirror_source(settings)
    reason = _connect_reason(exc)
    resume = "then run it again; a download resumes where it stopped."
    importing = (
        "Or use a GGUF file you already have: `outthink models import PATH`."
        if item.repo_type == "model" else "Or give a local JSON-lines file with --problems."
    )
    if source == "settings":
        where = f"the Hub mirror {base}"
        hint = (
            f"Check the internet connection and the mirror's address (`hf_endpoint` in "
            f"{settings_path()}; in the app, Settings → Hub mirror; empty means "
            f"huggingface.co), {resume} {importing}"
        )
    elif source == "environment":
        where = f"the Hub mirror {base} (set by the HF_ENDPOINT environment variable)"
        hint = (
            f"Check the internet connection and HF_ENDPOINT (unset it to use huggingface.co), "
            f"{resume} {importing}"
        )
    else:
        where = f"the Hugging Face Hub ({base})"
        hint = (
            f"Check the internet connection (or the proxy settings), {resume} If the Hub is "
            f"blocked here, use a mirror: `hf_endpoint = \"https://...\"` in {settings_path()} "
            f"or the HF_ENDPOINT environment variable (in the app, Settings → Hub mirror). "
            f"{importing}"
        )
    return HubUnreachableError(
        f"Cannot reach {where} to download {item.display}: {reason}.",
        hint=hint,
        endpoint=base,
        mirror=source,
    )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _Stalled):
        return True
    httpx2 = _httpx()
    if isinstance(exc, httpx2.TransportError):
        return True
    status = _status_of(exc)
    return status is not None and (status in (408, 429) or status >= 500)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _token_hint(item: HubFile, settings: Settings, auth: HubAuth, base: str) -> str:
    page = item.page(base)
    if auth.token:
        return (
            f"A token was sent but refused. Check at {page} that you accepted the "
            f"{item.repo_type}'s terms, and that the token (HF_TOKEN or `hf_token` in "
            f"{settings_path()}) has read access."
        )
    return (
        f"Open {page}, accept its terms, create a read token at {base}/settings/tokens, then "
        f"set it as the HF_TOKEN environment variable or as `hf_token = \"...\"` in "
        f"{settings_path()}."
    )


def map_error(
    exc: BaseException, item: HubFile, settings: Settings, auth: HubAuth, base: str, *,
    named_in: str = "the catalog entry",
) -> DownloadError:
    """One typed, actionable error for anything the Hub or the network threw at us.

    ``named_in`` says where the user wrote the repo, file and revision, for the hints that
    ask to fix one of them.
    """
    from huggingface_hub import errors as hf_errors

    name = item.display
    status = _status_of(exc)
    if isinstance(exc, _Stalled):
        return DownloadError(
            f"Downloading {name} stalled: the server stopped sending data ({exc}), "
            "several times in a row.",
            hint=_MIRROR_HINT,
        )
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return DownloadError(
            f"Revision {item.revision!r} does not exist in {item.named()}.",
            hint=f"Fix `revision` in {named_in} (a branch, tag or commit of that repo).",
        )
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        files = _safe_list_files(item, settings, auth, base)
        ggufs = [f for f in files if f.lower().endswith(".gguf")] or files
        listing = (
            f"The repo has: {', '.join(ggufs[:20])}{' …' if len(ggufs) > 20 else ''}."
            if ggufs else "The repo's file list could not be fetched."
        )
        return DownloadError(
            f"{item.filename} is not in {item.named()} (revision {item.revision}, HTTP 404).",
            hint=f"{listing} Fix `file` in {named_in}.",
        )
    if isinstance(exc, hf_errors.GatedRepoError):
        return DownloadError(
            f"{item.named(start=True)} is a gated repo (HTTP {status}): downloading it needs a "
            f"Hugging Face token and the {item.repo_type}'s accepted terms.",
            hint=_token_hint(item, settings, auth, base),
        )
    if status in (401, 403):
        return DownloadError(
            f"The Hub refused access to {item.named()} (HTTP {status}): the repo is missing, "
            "private or gated.",
            hint=_token_hint(item, settings, auth, base),
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError) or status == 404:
        return DownloadError(
            f"{item.named(start=True)} was not found on {base} (HTTP {status}).",
            hint=f"Check `repo` in {named_in}; private repos also need a token "
            "(HF_TOKEN or `hf_token` in settings.toml).",
        )
    if status == 429:
        return DownloadError(
            f"The Hub is rate-limiting downloads of {name} (HTTP 429).", hint=_MIRROR_HINT
        )
    if status is not None and status >= 500:
        return DownloadError(
            f"The Hub had a server error (HTTP {status}) while sending {name}.",
            hint=_MIRROR_HINT,
        )
    if status is not None:
        return DownloadError(
            f"The Hub refused the download of {name} (HTTP {status}).",
            hint=_MIRROR_HINT,
        )
    if _cannot_connect(exc):
        return _unreachable(exc, item, settings, base)
    detail = auth.redact(f"{type(exc).__name__}: {exc}")
    return DownloadError(
        f"Network error while downloading {name} from {base} ({detail}).",
        hint="Check the internet connection (or proxy settings) and run it again: the "
        f"download resumes. If the Hub cannot be reached from here, use {_MIRROR}.",
    )


def _safe_list_files(item: HubFile, settings: Settings, auth: HubAuth, base: str) -> list[str]:
    for attempt in (1, 2):  # a second try covers a keep-alive connection the server dropped
        try:
            return list_repo_files(item.repo, revision=item.revision, settings=settings,
                                   repo_type=item.repo_type)
        except Exception as exc:  # the listing only decorates an error message
            log.info("Could not list the files of %s (try %d): %s", item.repo, attempt,
                     auth.redact(f"{type(exc).__name__}: {exc}"))
    return []


# --------------------------------------------------------------------------------------------
# Metadata


def list_repo_files(
    repo: str, *, revision: str = "main", settings: Settings | None = None,
    timeout_s: float = 20.0, repo_type: str = "model",
) -> list[str]:
    """File names in a Hub repo (one API request)."""
    settings = settings or load_settings()
    _refuse_offline(settings, f"list the files of {repo}")
    hf = hf_library(settings)
    auth = hub_auth(settings)
    api = hf.HfApi(endpoint=endpoint(settings), token=auth.token or False,
                   library_name="outthink", library_version=__version__)
    info = api.repo_info(repo, revision=revision, repo_type=repo_type, timeout=timeout_s)
    return sorted(s.rfilename for s in (info.siblings or []))


def remote_file(
    item: HubFile, *, settings: Settings, auth: HubAuth, timeout_s: float
) -> RemoteFile:
    """HEAD the file's resolve URL. Raises the library's typed errors."""
    hf = hf_library(settings)
    base = endpoint(settings)
    url = hf.hf_hub_url(item.repo, item.filename, revision=item.revision, endpoint=base)
    meta = hf.get_hf_file_metadata(
        url, token=auth.token or False, timeout=timeout_s, endpoint=base,
        library_name="outthink", library_version=__version__,
    )
    etag = meta.etag.lower() if meta.etag else None
    sha = etag if etag and _SHA256_RE.match(etag) else None
    return RemoteFile(url=url, size=meta.size, sha256=sha, commit=meta.commit_hash, etag=etag)


def _refuse_offline(settings: Settings, what: str) -> None:
    if settings.is_offline():
        raise DownloadError(
            f"Offline mode is on, so Outthink will not {what}.",
            hint="Turn it off (`offline = false` in settings.toml, and unset HF_HUB_OFFLINE) "
            "to use the network, or import a file you already have with "
            "`outthink models import PATH`.",
        )


# --------------------------------------------------------------------------------------------
# Download


def download(
    item: ModelEntry | HubFile,
    *,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    options: DownloadOptions | None = None,
) -> Path:
    """Download (or resume) one file into the models folder and return its verified path."""
    settings = settings or load_settings()
    opts = options or DownloadOptions()
    if isinstance(item, ModelEntry):
        if item.package:
            from outthink.starter import starter_model_path

            return starter_model_path(settings)
        hub_file = HubFile.from_entry(item)
    else:
        hub_file = item
    dest = hub_file_path(hub_file.repo, hub_file.filename, settings)  # validates the names
    part, state_path = partial_paths(hub_file.repo, hub_file.filename, settings)
    reporter = _Reporter(progress, hub_file.display, opts.progress_interval_s)

    if dest.exists() and _verified(dest, hub_file, settings):
        size = dest.stat().st_size
        reporter.total = reporter.resumed_from = size  # nothing to transfer
        reporter.emit("done", size, force=True)
        return dest
    _refuse_offline(settings, f"download {hub_file.display}, which is not here yet")

    part.parent.mkdir(parents=True, exist_ok=True)
    lock = _acquire_lock(part.with_name(part.name + ".lock"), hub_file)
    try:
        return _download_locked(hub_file, dest, part, state_path, settings, opts, reporter,
                                cancel)
    except Cancelled:
        reporter.emit("cancelled", force=True)
        raise
    except OutthinkError as exc:
        reporter.emit("failed", message=exc.message, force=True)
        raise
    finally:
        _release_lock(lock)
        with contextlib.suppress(OSError):
            part.parent.rmdir()  # only succeeds when no other partial file is left


def _verified(dest: Path, item: HubFile, settings: Settings) -> bool:
    record = file_record(dest, settings)
    if not record:
        return False
    st = dest.stat()
    if record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
        return False
    return not (item.sha256 and record.get("sha256") != item.sha256)


def _download_locked(
    item: HubFile,
    dest: Path,
    part: Path,
    state_path: Path,
    settings: Settings,
    opts: DownloadOptions,
    reporter: _Reporter,
    cancel: CancelToken | None,
) -> Path:
    base = endpoint(settings)
    auth = hub_auth(settings)
    reporter.emit("checking", 0, force=True)

    def metadata() -> RemoteFile:
        if cancel is not None and cancel.cancelled:
            raise Cancelled("Download cancelled before it started.")
        return remote_file(item, settings=settings, auth=auth, timeout_s=opts.timeout_s)

    remote = _with_retries(metadata, item, settings, auth, base, opts, reporter, cancel)
    expected = _expected_sha(item, remote)
    total = remote.size if remote.size is not None else item.size
    if item.size is not None and remote.size is not None and item.size != remote.size:
        raise DownloadError(
            f"The Hub's {item.filename} has {remote.size:,} bytes, not the expected "
            f"{item.size:,}.",
            hint="The file changed on the Hub; update the catalog entry or pin `revision`.",
        )
    reporter.total = total

    if dest.exists():
        # A file under the final name that we never verified (copied by hand, or the
        # registry was lost): keep it if it is the right one, otherwise replace it.
        reporter.emit("verifying", 0, force=True)
        if sha256_file(dest, should_stop=_stopper(cancel)) == expected:
            _check_runnable(dest, item, deleted=False)
            record_verified(dest, expected, settings, repo=item.repo, filename=item.filename,
                            revision=item.revision, commit=remote.commit)
            reporter.resumed_from = dest.stat().st_size  # checked, not transferred
            reporter.emit("done", reporter.resumed_from, force=True)
            return dest
        log.warning("%s does not match the Hub's file; downloading it again", dest)

    offset = _resume_offset(part, state_path, expected, total)
    needed = (total - offset if total is not None else 0) + opts.disk_margin_bytes
    free = _disk_free(part.parent)
    if free < needed:
        raise DownloadError(
            f"Not enough free disk space for {item.display}: {_size(needed)} needed, "
            f"{_size(free)} free in {part.parent.parent}.",
            hint="Free some space, or move the models folder (`models_dir` in settings.toml "
            "or the OUTTHINK_MODELS_DIR environment variable).",
        )
    state = {"repo": item.repo, "filename": item.filename, "revision": item.revision,
             "commit": remote.commit, "sha256": expected, "size": total}
    hasher = hashlib.sha256()
    try:
        # The state file says which remote file the partial bytes belong to, so a later
        # call (after a crash or a restart) knows whether it may resume.
        state_path.write_text(json.dumps(state), encoding="utf-8")
        if offset:
            reporter.emit("checking", offset, message="checking the bytes already downloaded",
                          force=True)
            offset = _hash_prefix(part, offset, hasher, cancel)
            log.info("Resuming %s at byte %d of %s", item.display, offset, total)
        reporter.resumed_from = offset
        reporter.restart_rate(offset)
        with part.open("r+b" if part.exists() else "w+b") as fh:
            fh.seek(offset)
            fh.truncate()
            cursor = _Cursor(fh, hasher, offset)
            _transfer(remote.url, auth, cursor, total, item, settings, base, opts, reporter,
                      cancel)
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise _DiskError(exc) from exc
            offset = cursor.offset
    except (_DiskError, OSError) as exc:
        cause = exc.error if isinstance(exc, _DiskError) else exc
        if cause.errno in _DISK_FULL:
            _discard(part, state_path)
            raise DownloadError(
                f"The disk filled up while downloading {item.display}; the partial file was "
                "deleted to give the space back.",
                hint=f"Free at least {_size(needed)} in {part.parent.parent}, or move the "
                "models folder (`models_dir` in settings.toml or OUTTHINK_MODELS_DIR).",
            ) from None
        raise DownloadError(
            f"Cannot write {part}: {cause.strerror or cause}.",
            hint="Check the models folder's permissions and the disk.",
        ) from cause

    reporter.emit("verifying", offset, force=True)
    digest = cursor.hasher.hexdigest()
    if total is not None and offset != total:
        _discard(part, state_path)
        raise DownloadError(
            f"{item.display} arrived with {offset:,} bytes instead of {total:,}; the partial "
            "file was deleted.",
            hint="Run it again. " + _MIRROR_HINT,
        )
    if digest != expected:
        _discard(part, state_path)
        raise DownloadError(
            f"{item.display} failed its SHA-256 check (got {digest[:12]}…, expected "
            f"{expected[:12]}…): the data was corrupted on the way. The partial file was "
            "deleted and nothing was installed.",
            hint="Run it again to download a fresh copy; if it keeps failing, a proxy or the "
            f"mirror may be altering the file: try another endpoint ({_MIRROR}).",
        )
    try:
        _check_runnable(part, item, deleted=True)
    except DownloadError:
        _discard(part, state_path)
        raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, dest)
    fsync_dir(dest.parent)
    state_path.unlink(missing_ok=True)
    try:
        record_verified(dest, digest, settings, repo=item.repo, filename=item.filename,
                        revision=item.revision, commit=remote.commit)
    except (OSError, OutthinkError) as exc:
        # The file is in place and was checked; without the record it is only checked
        # again (hashed) the next time it is used.
        log.warning("Could not record the verified download of %s: %s", dest, exc)
    log.info("Downloaded %s to %s (%d bytes, SHA-256 %s)", item.display, dest, offset, digest)
    reporter.emit("done", offset, force=True)
    return dest


def _check_runnable(path: Path, item: HubFile, *, deleted: bool) -> None:
    """Refuse a file whose bytes are the Hub's but which llama.cpp cannot run (not a GGUF
    model, or an architecture the bundled llama.cpp does not know)."""
    from outthink.gguf_file import check_model_file

    try:
        check_model_file(path, name=item.filename)
    except ModelFileError as exc:
        what = "the downloaded file was deleted" if deleted else f"{path} was left as it is"
        raise DownloadError(
            f"{item.display}: the Hub's file matches its SHA-256 but is not a model Outthink "
            f"can run: {exc.message} Nothing was installed; {what}.",
            hint=" ".join(filter(None, (exc.hint, "Check that `file` in the catalog entry "
                                   "names a GGUF model file of a supported architecture."))),
        ) from None


def _expected_sha(item: HubFile, remote: RemoteFile) -> str:
    catalog_sha = item.sha256.lower() if item.sha256 else None
    if catalog_sha and remote.sha256 and catalog_sha != remote.sha256:
        raise DownloadError(
            f"The Hub's {item.filename} (SHA-256 {remote.sha256[:12]}…) is not the file the "
            f"catalog names (SHA-256 {catalog_sha[:12]}…); nothing was downloaded.",
            hint="The file changed on the Hub or the catalog entry is out of date. Pin "
            "`revision` to the commit with the catalog's file, or override the entry in your "
            "user catalog (models.toml in the config folder).",
        )
    expected = catalog_sha or remote.sha256
    if expected is None:
        raise DownloadError(
            f"Neither the catalog nor the Hub gives a SHA-256 for {item.filename}, so the "
            "download could not be checked; nothing was downloaded.",
            hint="Add `sha256 = \"...\"` (from the file's page on the Hub) to the entry in your "
            "user catalog, or use an endpoint that forwards the X-Linked-Etag header.",
        )
    return expected


def _resume_offset(part: Path, state_path: Path, expected: str, total: int | None) -> int:
    if not part.exists():
        return 0
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = None
    size = part.stat().st_size
    if not isinstance(state, dict) or state.get("sha256") != expected or (
        state.get("size") != total
    ):
        log.info("Discarding a partial download of a different file version: %s", part)
        return 0
    if total is not None and size > total:
        return 0
    return size


def _hash_prefix(part: Path, length: int, hasher: Any, cancel: CancelToken | None) -> int:
    done = 0
    with part.open("rb") as fh:
        while done < length:
            block = fh.read(min(1 << 20, length - done))
            if not block:
                break
            hasher.update(block)
            done += len(block)
            if cancel is not None and cancel.cancelled:
                raise Cancelled("Download cancelled; the partial file was kept.")
    return done


def _stopper(cancel: CancelToken | None) -> Callable[[], bool] | None:
    return (lambda: cancel.cancelled) if cancel is not None else None


def _disk_free(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _write_chunk(fh: IO[bytes], data: bytes) -> None:
    fh.write(data)


def _discard(part: Path, state_path: Path) -> None:
    part.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------------------------
# Retries and the ranged transfer


def _sleep(seconds: float, cancel: CancelToken | None) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancel is not None and cancel.cancelled:
            raise Cancelled("Download cancelled; the partial file was kept.")
        time.sleep(min(0.05, left))


def _backoff(failures: int, exc: BaseException, opts: DownloadOptions) -> float:
    delay = min(opts.backoff_max_s, opts.backoff_s * 2 ** (failures - 1))
    after = _retry_after(exc)
    if after is not None:
        delay = min(opts.backoff_max_s, max(delay, after))
    return delay


def _with_retries(
    call: Callable[[], _T],
    item: HubFile,
    settings: Settings,
    auth: HubAuth,
    base: str,
    opts: DownloadOptions,
    reporter: _Reporter,
    cancel: CancelToken | None,
    cursor: _Cursor | None = None,
) -> _T:
    """``call()``, tried again after network errors, timeouts, HTTP 408/429/5xx and stalls.

    Each retry is reported and waits its backoff (cancellable); after ``opts.retries``
    failures in a row, or at once for any other failure, :func:`map_error` says what went
    wrong. A failure to connect before any byte arrived gets ``opts.connect_retries``
    short retries instead: a Hub that cannot be reached is said so in seconds. Our own
    errors (cancel, disk, typed errors) pass through. With the ``cursor`` of a transfer the
    count starts over whenever bytes arrived, and progress is reported at its offset.
    """
    failures = 0
    while True:
        before = cursor.offset if cursor is not None else 0
        try:
            return call()
        except (Cancelled, _DiskError, OutthinkError):
            raise
        except Exception as exc:
            if cursor is not None and cursor.offset > before:
                failures = 0  # bytes arrived: the connection works, the budget starts over
            failures += 1
            unreachable = _cannot_connect(exc) and (cursor is None or not cursor.received)
            limit = opts.connect_retries if unreachable else opts.retries
            if not _is_transient(exc) or failures > limit:
                raise map_error(exc, item, settings, auth, base) from None
            delay = opts.connect_backoff_s if unreachable else _backoff(failures, exc, opts)
            reporter.attempt = failures
            message = _retry_message(exc, auth, delay, failures, limit)
            at = cursor.offset if cursor is not None else None
            if at is None:
                log.warning("Metadata request for %s failed (%s)", item.display, message)
            else:
                log.warning("Transfer of %s interrupted at byte %d (%s)", item.display, at,
                            message)
            reporter.emit("retrying", at, message=message, force=True)
            _sleep(delay, cancel)
            if cursor is not None:
                reporter.restart_rate(cursor.offset)


def _retry_message(
    exc: BaseException, auth: HubAuth, delay: float, failures: int, retries: int
) -> str:
    """One line per retry: why, when, and how many tries are left before giving up."""
    wait = f"{delay:.1f} s" if delay >= 0.1 else f"{delay * 1000:.0f} ms"
    return f"{_reason(exc, auth)}; retrying in {wait} (retry {failures} of {retries})"


def _reason(exc: BaseException, auth: HubAuth) -> str:
    """A few words on why an attempt failed, for the progress line and the log."""
    httpx2 = _httpx()
    status = _status_of(exc)
    if status is not None:
        return f"HTTP {status}"
    if isinstance(exc, _Stalled):
        return f"no data for {exc.seconds:g} s"
    if isinstance(exc, httpx2.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx2.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx2.TransportError):
        return "connection dropped"
    return auth.redact(str(exc) or type(exc).__name__)


class _Cursor:
    """Where the transfer stands: the open partial file, its running hash, its length."""

    def __init__(self, fh: IO[bytes], hasher: Any, offset: int) -> None:
        self.fh = fh
        self.hasher = hasher
        self.offset = offset
        self.received = False  # whether any byte arrived in this call

    def restart(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.hasher = hashlib.sha256()
        self.offset = 0

    def write(self, data: bytes) -> None:
        try:
            _write_chunk(self.fh, data)
        except OSError as exc:
            raise _DiskError(exc) from exc
        self.hasher.update(data)
        self.offset += len(data)
        self.received = True


def _transfer(
    url: str,
    auth: HubAuth,
    cursor: _Cursor,
    total: int | None,
    item: HubFile,
    settings: Settings,
    base: str,
    opts: DownloadOptions,
    reporter: _Reporter,
    cancel: CancelToken | None,
) -> None:
    restarts = 0

    def rest_of_file() -> None:
        nonlocal restarts
        while total is None or cursor.offset < total:
            try:
                finished = _attempt(url, auth, cursor, total, opts, reporter, cancel)
            except _Restart:
                restarts += 1
                if restarts > 2:
                    raise DownloadError(
                        f"The server sent inconsistent ranges for {item.display}.",
                        hint=_MIRROR_HINT,
                    ) from None
                log.warning("Restarting the transfer of %s from byte 0", item.display)
                cursor.restart()
                reporter.restart_rate(0)
                continue
            if finished and total is None:
                return
            if finished and cursor.offset < total:  # type: ignore[operator]
                # The server ended the body early without an error: resume from here.
                raise _httpx().RemoteProtocolError("the response ended early")

    _with_retries(rest_of_file, item, settings, auth, base, opts, reporter, cancel, cursor)


def _attempt(
    url: str,
    auth: HubAuth,
    cursor: _Cursor,
    total: int | None,
    opts: DownloadOptions,
    reporter: _Reporter,
    cancel: CancelToken | None,
) -> bool:
    """One GET from ``cursor.offset``. True when the body ended cleanly.

    A helper thread owns the HTTP connection and hands chunks over a small queue; this
    thread writes them. So a Stop (cancel) or a stall is noticed within 50 ms even while the
    socket read is blocked, and the helper closes the connection on its way out.
    """
    headers = dict(auth.headers)
    headers["Accept-Encoding"] = "identity"  # byte ranges refer to the stored bytes
    if cursor.offset:
        headers["Range"] = f"bytes={cursor.offset}-"
    chunks: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=opts.queue_chunks)
    stop = threading.Event()
    pump = threading.Thread(
        target=_pump, args=(url, headers, opts, chunks, stop), name="outthink-download",
        daemon=True,
    )
    pump.start()
    last = time.monotonic()
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                raise Cancelled(
                    f"Download cancelled; {_size(cursor.offset)} kept. Start it again to "
                    "resume."
                )
            try:
                kind, value = chunks.get(timeout=0.05)
            except queue.Empty:
                if time.monotonic() - last > opts.stall_s:
                    raise _Stalled(opts.stall_s) from None
                continue
            last = time.monotonic()
            if kind == "data":
                cursor.write(value)
                if total is not None and cursor.offset > total:
                    raise _Restart()
                reporter.emit("downloading", cursor.offset)
            elif kind == "response":
                status, response_headers = value
                _check_response(status, response_headers, cursor, total)
                reporter.emit("downloading", cursor.offset, force=True)
            elif kind == "end":
                return True
            else:
                raise value
    finally:
        stop.set()


def _check_response(status: int, headers: dict[str, str], cursor: _Cursor,
                    total: int | None) -> None:
    if status == 206:
        match = re.match(r"bytes (\d+)-", headers.get("content-range", ""))
        if not match or int(match.group(1)) != cursor.offset:
            raise _Restart()
    elif status == 200:
        if cursor.offset:
            # The server ignored our Range header: what follows starts at byte 0.
            log.info("Server ignored the Range request; starting again from byte 0")
            cursor.restart()
    elif status == 416:
        raise _Restart()
    else:  # pragma: no cover - error statuses arrive as exceptions from the pump
        raise _Restart()


def _pump(
    url: str,
    headers: dict[str, str],
    opts: DownloadOptions,
    chunks: queue.Queue[tuple[str, Any]],
    stop: threading.Event,
) -> None:
    """Runs on the helper thread: every outcome, errors included, goes through the queue."""

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        httpx2 = _httpx()
        from huggingface_hub.utils import hf_raise_for_status

        # The read timeout is a backstop for the stall check in the consumer; it also makes
        # this thread exit on its own after a cancel on a silent connection.
        timeout = httpx2.Timeout(opts.timeout_s, read=opts.stall_s + 1.0)
        with (
            httpx2.Client(follow_redirects=True, timeout=timeout) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code >= 400 and response.status_code != 416:
                response.read()
                hf_raise_for_status(response)
            status = response.status_code
            if not put(("response", (status, {k.lower(): v for k, v in response.headers.items()}))):
                return
            if status == 416:
                return
            # No chunk size: every network read is handed over as it arrives, so bytes
            # received just before a connection drops are written, not lost in a buffer.
            for data in response.iter_raw():
                if stop.is_set():
                    return
                if data and not put(("data", data)):
                    return
        put(("end", None))
    except BaseException as exc:  # handed over, never lost on this thread
        put(("error", exc))


# --------------------------------------------------------------------------------------------
# One download per file at a time, across threads and processes


def _acquire_lock(path: Path, item: HubFile) -> IO[bytes]:
    for _ in range(10):
        fh = path.open("a+b")
        try:
            _lock_nb(fh)
        except OSError:
            fh.close()
            raise DownloadError(
                f"{item.display} is already being downloaded by another Outthink window or "
                "command.",
                hint="Wait for that download to finish, or stop it first.",
            ) from None
        # The previous holder may have deleted the lock file after we opened it: make sure
        # we hold the file that is there now.
        try:
            same = os.fstat(fh.fileno()).st_ino == path.stat().st_ino
        except FileNotFoundError:
            same = False
        if same or sys.platform == "win32":
            return fh
        fh.close()
    raise DownloadError(f"Could not lock {path}.", hint="Try again.")


def _lock_nb(fh: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import msvcrt

        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _release_lock(fh: IO[bytes]) -> None:
    # Unlink while still holding the lock, so no lock file is left behind.
    with contextlib.suppress(OSError):
        Path(fh.name).unlink()
    fh.close()


__all__ = [
    "PARTIAL_DIR",
    "DownloadOptions",
    "DownloadProgress",
    "DownloadState",
    "HubFile",
    "RemoteFile",
    "download",
    "endpoint",
    "list_repo_files",
    "mirror_source",
]
