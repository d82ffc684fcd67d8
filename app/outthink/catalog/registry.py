"""The registry, ``registry.json`` in the models folder: what was verified (SHA-256, size,
mtime) and which files were imported.

Every save also writes ``registry.json.bak``, a copy of the registry just written. A registry
that cannot be parsed is restored from that copy when the copy is good (the damaged file is
kept as ``registry.json.damaged-<time>``); when it is not, nothing overwrites the damaged
file: imports and removals are refused with a message naming it. Either way
:func:`registry_notices` says what happened, for the CLI and the GUI to show.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from outthink.config import Settings, storage_error, write_atomic
from outthink.errors import (
    CatalogError,
    OutthinkError,
)

log = logging.getLogger(__name__)


REGISTRY_SCHEMA = 1

REGISTRY_FILE = "registry.json"

REGISTRY_BACKUP = "registry.json.bak"

_REGISTRY_WHAT = "the model registry (what was imported and verified)"

_REGISTRY_LOCK = threading.Lock()


def registry_path(settings: Settings) -> Path:
    return settings.models_path() / REGISTRY_FILE


def _empty_registry() -> dict[str, Any]:
    return {"schema": REGISTRY_SCHEMA, "files": {}, "imports": {}}


def registry_backup_path(settings: Settings) -> Path:
    return settings.models_path() / REGISTRY_BACKUP


#: What happened to registries this process could not read, by registry path: shown once by
#: whoever calls :func:`registry_notices` (``models list`` prints them).
_NOTICES: dict[str, str] = {}


def registry_notices() -> list[str]:
    """Warnings about damaged registries met since the last call (each registry once)."""
    notices = list(_NOTICES.values())
    _NOTICES.clear()
    return notices


class _RegistryUnreadable(Exception):
    """The registry exists but cannot be used; ``reason`` says why, in a few words.

    ``damaged``: its content is broken (truncated, not JSON), so a good backup may replace it;
    otherwise (no permission, a newer format) it is left alone.
    """

    def __init__(self, reason: str, *, damaged: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.damaged = damaged


def _parse_registry(path: Path) -> dict[str, Any]:
    """The registry at ``path``: empty when there is no file, :class:`_RegistryUnreadable`
    when there is one that cannot be used (a ``damaged`` one may be restored from a copy)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty_registry()
    except (OSError, ValueError) as exc:
        raise _RegistryUnreadable(getattr(exc, "strerror", None) or str(exc)) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _RegistryUnreadable(f"not valid JSON: {exc}", damaged=True) from None
    if not isinstance(data, dict):
        raise _RegistryUnreadable("not a JSON object", damaged=True)
    if data.get("schema") != REGISTRY_SCHEMA:
        raise _RegistryUnreadable(
            f"registry schema {data.get('schema')!r}, this version reads {REGISTRY_SCHEMA}"
        )
    data.setdefault("files", {})
    data.setdefault("imports", {})
    if not isinstance(data["files"], dict) or not isinstance(data["imports"], dict):
        raise _RegistryUnreadable("`files` and `imports` must be JSON objects", damaged=True)
    return data


def read_registry(settings: Settings) -> dict[str, Any]:
    """The registry; a damaged one is restored from its backup when that is good.

    When neither can be read this returns an empty registry (imported models are then not
    listed, downloads are checked again) and :func:`registry_notices` says so; writes are
    refused until the file is fixed or moved aside.
    """
    return _load_registry(settings, locked=False)[0]


def _load_registry(settings: Settings, *, locked: bool) -> tuple[dict[str, Any], str | None]:
    """(registry, why it could not be read or None). ``locked``: the caller holds the lock."""
    path = registry_path(settings)
    try:
        return _parse_registry(path), None
    except _RegistryUnreadable:
        pass
    if locked:
        return _recover_registry(settings)
    try:
        with _registry_lock(path):
            return _recover_registry(settings)
    except OSError as exc:  # cannot even take the lock (a read-only folder): do not repair
        reason = f"the registry cannot be locked for repair: {exc.strerror or exc}"
        return _unreadable(settings, reason)


@contextlib.contextmanager
def _registry_lock(path: Path) -> Iterator[None]:
    with _REGISTRY_LOCK, _file_lock(path.with_name(REGISTRY_FILE + ".lock")):
        yield


def _recover_registry(settings: Settings) -> tuple[dict[str, Any], str | None]:
    """Under the lock: read the registry again (another process may have repaired it), else
    restore it from its backup, keeping the damaged file next to it."""
    path, backup = registry_path(settings), registry_backup_path(settings)
    try:
        return _parse_registry(path), None
    except _RegistryUnreadable as exc:
        reason = exc.reason
        if not exc.damaged:  # no permission, or a newer format: not ours to replace
            return _unreadable(settings, reason)
    try:
        data = _parse_registry(backup) if backup.exists() else None
    except _RegistryUnreadable:
        data = None
    if data is None:
        return _unreadable(settings, reason, backup_tried=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    damaged = _free_name(path.with_name(f"{REGISTRY_FILE}.damaged-{stamp}"))
    try:
        os.replace(path, damaged)
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True), what=_REGISTRY_WHAT)
    except (OSError, OutthinkError) as exc:
        return _unreadable(settings, f"{reason}; restoring it from {backup.name} failed: {exc}",
                           backup_tried=True)
    log.warning("Model registry %s was damaged (%s); restored it from %s, kept the damaged "
                "file as %s", path, reason, backup, damaged)
    _NOTICES[str(path)] = (
        f"The model registry {path} was damaged ({reason}). It was restored from its backup "
        f"{backup}; the damaged file was kept as {damaged}."
    )
    return data, None


def _unreadable(
    settings: Settings, reason: str, *, backup_tried: bool = False
) -> tuple[dict[str, Any], str]:
    path, backup = registry_path(settings), registry_backup_path(settings)
    log.warning("Model registry %s cannot be read (%s); imported models are not listed",
                path, reason)
    no_backup = f", and its backup {backup} is missing or damaged too" if backup_tried else ""
    _NOTICES[str(path)] = (
        f"The model registry {path} cannot be read ({reason}){no_backup}: imported models "
        "are not listed and downloaded files will be checked again. Outthink will not "
        "overwrite it: fix the file, or move it aside to start a new one."
    )
    return _empty_registry(), reason


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def require_registry(settings: Settings) -> None:
    """Refuse a change when the registry cannot be read: writing would lose what it holds."""
    _, problem = _load_registry(settings, locked=False)
    if problem is not None:
        raise _registry_refusal(settings, problem)


def _registry_refusal(settings: Settings, problem: str) -> CatalogError:
    path = registry_path(settings)
    _NOTICES.pop(str(path), None)  # the error says it all
    return CatalogError(
        f"The model registry {path} cannot be read ({problem}), so Outthink will not change "
        "it: what it records about imported and downloaded models would be lost.",
        hint=f"Fix the file, or move it aside (with its backup {REGISTRY_BACKUP} in the same "
        "folder, if that is damaged too) to start a new registry; models imported before "
        "must then be imported again.",
    )


def update_registry(settings: Settings, change: Callable[[dict[str, Any]], None]) -> None:
    """Read-modify-write under a lock, replacing the file atomically, then its backup.

    A failed write (a full disk) raises :class:`~outthink.errors.StorageError` and leaves the
    previous registry whole, with no temporary file behind. A registry that cannot be read
    (and not be restored from its backup) is never overwritten: :class:`CatalogError`.
    """
    path = registry_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _registry_lock(path):
            data, problem = _load_registry(settings, locked=True)
            if problem is not None:
                raise _registry_refusal(settings, problem)
            change(data)
            text = json.dumps(data, indent=1, sort_keys=True)
            write_atomic(path, text, what=_REGISTRY_WHAT)
            try:
                write_atomic(registry_backup_path(settings), text,
                             what="the model registry's backup")
            except OutthinkError as exc:  # the registry itself was saved
                log.warning("Could not update the registry's backup: %s", exc)
    except OSError as exc:  # the folder or the lock file could not be created
        raise storage_error(exc, path, _REGISTRY_WHAT) from None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, blocking; guards the registry across processes."""
    with path.open("a+b") as fh:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.05)
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _relkey(path: Path, settings: Settings) -> str:
    return path.resolve().relative_to(settings.models_path().resolve()).as_posix()


def record_verified(
    path: Path, sha256: str, settings: Settings, **details: Any
) -> None:
    """Remember that ``path`` (inside the models folder) had this SHA-256 at this size/mtime."""
    st = path.stat()
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
              "verified_at": int(time.time()), **details}
    key = _relkey(path, settings)
    update_registry(settings, lambda data: data["files"].__setitem__(key, record))


def forget_file(path: Path, settings: Settings) -> None:
    key = _relkey(path, settings)
    update_registry(settings, lambda data: data["files"].pop(key, None))


def file_record(path: Path, settings: Settings) -> dict[str, Any] | None:
    try:
        key = _relkey(path, settings)
    except ValueError:
        return None
    record = read_registry(settings)["files"].get(key)
    return record if isinstance(record, dict) else None


def _record_matches(record: Mapping[str, Any] | None, path: Path) -> bool:
    """True when the file is unchanged since it was verified (same size and mtime)."""
    if not record:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns


def _import_record(model_id: str, settings: Settings) -> dict[str, Any] | None:
    record = read_registry(settings)["imports"].get(model_id)
    return record if isinstance(record, dict) else None
