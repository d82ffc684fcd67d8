"""Test support: a fake Hugging Face Hub on 127.0.0.1, small GGUF files, isolated folders.

:class:`FakeHub` speaks the part of the Hub's API that downloads use:

* ``HEAD``/``GET /{org}/{repo}/resolve/{revision}/{file}`` with ``ETag``, ``X-Linked-Etag``
  (the LFS SHA-256), ``X-Linked-Size``, ``X-Repo-Commit``, ``Content-Length``,
  ``Accept-Ranges`` and ``Range`` requests (206 / 416);
* ``GET /api/models/{org}/{repo}`` and ``.../revision/{rev}``: the file list (``siblings``);
* errors the way the Hub sends them (``X-Error-Code: EntryNotFound``, ``RepoNotFound``,
  ``RevisionNotFound``, ``GatedRepo``); anything else is a plain 404.

Every request lands in :attr:`FakeHub.log` with its Range header and the body bytes sent, so
tests can prove what was (not) transferred. Knobs make it misbehave: fail with a status,
cut the connection after K bytes, stall, throttle, corrupt the payload, ignore Range,
require a token, redirect to a "CDN" path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

COMMIT = "c0ffee0123456789abcdef0123456789abcdef01"
_PIECE = 16 * 1024


@dataclass(slots=True)
class Request:
    """One request, logged when it arrives; status and body bytes fill in as it is served."""

    method: str
    path: str
    range: str | None
    authorized: bool
    status: int = 0
    body_bytes: int = 0


@dataclass(slots=True)
class RepoFile:
    data: bytes
    sha256: str
    lfs: bool = True


@dataclass(slots=True)
class _Fault:
    """Misbehave on the next ``times`` matching requests (None = every time)."""

    match: str
    times: int | None
    status: int = 0
    cut_after: int | None = None
    stall_after: int | None = None
    stall_s: float = 0.0
    retry_after: int | None = None
    methods: tuple[str, ...] = ("HEAD", "GET")

    def take(self, method: str, path: str) -> bool:
        if method not in self.methods or self.match not in path:
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class FakeHub:
    commit: str = COMMIT
    repos: dict[str, dict[str, RepoFile]] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    gated: dict[str, str] = field(default_factory=dict)  # repo -> token that may read it
    corrupt: set[str] = field(default_factory=set)  # file names served with one byte flipped
    ignore_range: bool = False
    redirect: bool = False
    throttle_s: float = 0.0  # pause after every 16 KiB piece of a body
    faults: list[_Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ------------------------------------------------------------------------------

    def add_file(self, repo: str, filename: str, data: bytes, *, lfs: bool = True) -> RepoFile:
        entry = RepoFile(data, hashlib.sha256(data).hexdigest(), lfs)
        self.repos.setdefault(repo, {})[filename] = entry
        return entry

    def fail(self, match: str, status: int, *, times: int | None = 1,
             retry_after: int | None = None, methods: tuple[str, ...] = ("HEAD", "GET")) -> None:
        self.faults.append(_Fault(match, times, status=status, retry_after=retry_after,
                                  methods=methods))

    def cut(self, match: str, after: int, *, times: int | None = 1) -> None:
        """Send ``after`` body bytes, then drop the connection."""
        self.faults.append(_Fault(match, times, cut_after=after, methods=("GET",)))

    def stall(self, match: str, after: int, seconds: float, *, times: int | None = 1) -> None:
        """Send ``after`` body bytes, then go silent for ``seconds`` and drop the connection."""
        self.faults.append(_Fault(match, times, stall_after=after, stall_s=seconds,
                                  methods=("GET",)))

    # -- life cycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- queries for tests -------------------------------------------------------------------

    def requests(self, method: str | None = None, match: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.log
                    if (method is None or r.method == method) and match in r.path]

    def body_bytes(self, match: str = "") -> int:
        return sum(r.body_bytes for r in self.requests("GET", match))

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _record(self, request: Request) -> None:
        with self._lock:
            self.log.append(request)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.take(method, path):
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_hub: FakeHub

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_GET(self) -> None:
        self._handle("GET")

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        hub = self.server_hub
        path = unquote(urlsplit(self.path).path)
        self._rec = Request(method, path, self.headers.get("Range"),
                            self.headers.get("Authorization") is not None)
        hub._record(self._rec)
        try:
            fault = hub._take_fault(method, path)
            if fault is not None and fault.status:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                self._error(fault.status, "injected failure", headers=headers)
            elif path.startswith("/api/models/"):
                self._api(path)
            elif path.startswith("/cdn/"):
                self._cdn(method, path, fault)
            elif m := re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path):
                self._resolve(method, m.group(1), m.group(2), m.group(3), fault)
            else:
                self._error(404, "not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _api(self, path: str) -> None:
        hub = self.server_hub
        m = re.match(r"^/api/models/([^/]+/[^/]+?)(?:/revision/([^/]+))?/?$", path)
        if not m or m.group(1) not in hub.repos:
            self._error(404, "Repository not found", code="RepoNotFound")
            return
        repo = m.group(1)
        files = hub.repos[repo]
        body = json.dumps({
            "id": repo,
            "modelId": repo,
            "sha": hub.commit,
            "siblings": [{"rfilename": name} for name in sorted(files)],
        }).encode()
        self._send(200, {"Content-Type": "application/json"}, body, "GET")

    def _lookup(self, repo: str, revision: str, filename: str) -> RepoFile | None:
        hub = self.server_hub
        if repo not in hub.repos:
            self._error(404, "Repository not found", code="RepoNotFound")
            return None
        if repo in hub.gated:
            auth = self.headers.get("Authorization")
            if auth is None:
                self._error(401, "Access to this model is restricted", code="GatedRepo")
                return None
            if auth != f"Bearer {hub.gated[repo]}":
                self._error(403, "Access to this model is restricted", code="GatedRepo")
                return None
        if revision not in ("main", hub.commit):
            self._error(404, "Revision not found", code="RevisionNotFound")
            return None
        entry = hub.repos[repo].get(filename)
        if entry is None:
            self._error(404, "Entry not found", code="EntryNotFound")
        return entry

    def _file_headers(self, entry: RepoFile) -> dict[str, str]:
        if entry.lfs:
            return {
                "ETag": f'"{entry.sha256}"',
                "X-Linked-Etag": f'"{entry.sha256}"',
                "X-Linked-Size": str(len(entry.data)),
                "X-Repo-Commit": self.server_hub.commit,
            }
        git_sha1 = hashlib.sha1(entry.data).hexdigest()
        return {"ETag": f'"{git_sha1}"', "X-Repo-Commit": self.server_hub.commit}

    def _resolve(self, method: str, repo: str, revision: str, filename: str,
                 fault: _Fault | None) -> None:
        entry = self._lookup(repo, revision, filename)
        if entry is None:
            return
        if self.server_hub.redirect:
            headers = self._file_headers(entry)
            headers["Location"] = f"/cdn/{repo}/{entry.sha256}"
            self._send(302, headers, b"", method)
            return
        self._serve(method, entry, filename, self._file_headers(entry), fault)

    def _cdn(self, method: str, path: str, fault: _Fault | None) -> None:
        for files in self.server_hub.repos.values():
            for name, entry in files.items():
                if path.endswith("/" + entry.sha256):
                    self._serve(method, entry, name, {"ETag": f'"{entry.sha256}"'}, fault)
                    return
        self._error(404, "not found")

    # -- bodies ------------------------------------------------------------------------------

    def _serve(self, method: str, entry: RepoFile, filename: str, headers: dict[str, str],
               fault: _Fault | None) -> None:
        hub = self.server_hub
        data = entry.data
        if filename in hub.corrupt:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        size = len(data)
        start, end = 0, size - 1
        status = 200
        wanted = self.headers.get("Range")
        if wanted and not hub.ignore_range:
            m = re.match(r"^bytes=(\d+)-(\d*)$", wanted)
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
                if start >= size:
                    self._send(416, {"Content-Range": f"bytes */{size}"}, b"", method)
                    return
                end = min(end, size - 1)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Accept-Ranges"] = "bytes"
        self._send(status, headers, data[start:end + 1], method, fault)

    def _error(self, status: int, message: str, *, code: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        headers["Content-Type"] = "application/json"
        if code:
            headers["X-Error-Code"] = code
            headers["X-Error-Message"] = message
        body = json.dumps({"error": message}).encode()
        self._send(status, headers, body, self.command)

    def _send(self, status: int, headers: dict[str, str], body: bytes, method: str,
              fault: _Fault | None = None) -> None:
        self._rec.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method == "HEAD" or not body:
            return
        limit = len(body)
        if fault is not None and fault.cut_after is not None:
            limit = min(limit, fault.cut_after)
        if fault is not None and fault.stall_after is not None:
            limit = min(limit, fault.stall_after)
        hub = self.server_hub
        pos = 0
        while pos < limit:
            piece = body[pos:min(limit, pos + _PIECE)]
            self.wfile.write(piece)
            self.wfile.flush()
            pos += len(piece)
            self._rec.body_bytes = pos
            if hub.throttle_s:
                time.sleep(hub.throttle_s)
        if limit < len(body):
            if fault is not None and fault.stall_after is not None:
                hub._stop.wait(fault.stall_s)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------
# Model files and folders


def make_gguf(
    path: Path,
    *,
    payload_bytes: int = 256 * 1024,
    chat_template: str | None = "{% for m in messages %}{{ m.content }}{% endfor %}",
    seed: int = 0,
) -> Path:
    """A small valid GGUF (llama architecture, one f32 tensor of random data)."""
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_context_length(2048)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_token_list([b"<unk>", b"<s>", b"</s>", b"a", b"b"])
    rng = np.random.default_rng(seed)
    writer.add_tensor("blob", rng.random(max(1, payload_bytes // 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def gguf_bytes(tmp: Path, **kwargs: Any) -> bytes:
    return make_gguf(tmp, **kwargs).read_bytes()


def isolate(tmp_path: Path, monkeypatch: Any) -> Path:
    """Point every folder Outthink or the Hub library uses at ``tmp_path``; no token."""
    for name in ("DATA", "CONFIG", "CACHE", "LOG"):
        monkeypatch.setenv(f"OUTTHINK_{name}_DIR", str(tmp_path / name.lower()))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    for name in ("OUTTHINK_MODELS_DIR", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    # An endpoint that can never be reached: a request that escapes the fake Hub fails fast.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    return tmp_path


def closed_port_url() -> str:
    """The URL of a port on this machine that nobody listens on (an unreachable Hub)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def user_catalog(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def catalog_entry(model_id: str, repo: str, filename: str, *, size: int,
                  role: str = "policy", sha256: str | None = None, extra: str = "") -> str:
    lines = [
        "[[models]]",
        f'id = "{model_id}"',
        f'name = "{model_id} (test)"',
        f'role = "{role}"',
        f'repo = "{repo}"',
        f'file = "{filename}"',
        f"size_bytes = {size}",
        'license = "test"',
        "context_length = 2048",
    ]
    if sha256:
        lines.append(f'sha256 = "{sha256}"')
    if role == "verifier":
        lines.append('verifier_kind = "judge"')
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n\n"
