"""Hashing and the known-file check: whether a file on disk is the one the registry
recorded as verified, hashing it again only when its size or mtime changed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from outthink.catalog.registry import _record_matches, file_record, record_verified
from outthink.config import Settings
from outthink.errors import (
    Cancelled,
    OutthinkError,
)

log = logging.getLogger(__name__)


ModelState = Literal["present", "missing", "partial", "available", "unverified", "changed"]

_HASH_BLOCK = 1 << 20


def known_file_state(
    path: Path, sha256: str, settings: Settings, *, size: int | None = None
) -> ModelState:
    """What is known about ``path`` against the expected content, without hashing anything.

    ``missing``; ``changed`` (wrong size, or changed since it was verified, or verified with
    another hash); ``unverified`` (never checked); ``present`` (verified, and its size and
    mtime are still those it was verified at).
    """
    try:
        st = path.stat()
    except OSError:
        return "missing"
    if size is not None and st.st_size != size:
        return "changed"
    record = file_record(path, settings)
    if record is None:
        return "unverified"
    if not _record_matches(record, path) or record.get("sha256") != sha256:
        return "changed"
    return "present"


def check_known_file(
    path: Path,
    sha256: str,
    settings: Settings,
    *,
    size: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> bool:
    """Whether ``path`` (inside the models folder) holds exactly the content with ``sha256``.

    Cheap when nothing changed: the size, then the hash recorded for the file's (path, size,
    mtime); the whole file is hashed only when that key changed, and a match is recorded.
    """
    state = known_file_state(path, sha256, settings, size=size)
    if state == "present":
        return True
    if state == "missing" or (size is not None and path.stat().st_size != size):
        return False
    if sha256_file(path, on_bytes=on_bytes) != sha256:
        return False
    try:
        record_verified(path, sha256, settings)
    except (OSError, OutthinkError) as exc:  # only a cache: the next check hashes again
        log.warning("Could not record the verified file %s: %s", path, exc)
    return True


def sha256_file(
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
            done += len(block)
            if on_bytes:
                on_bytes(done)
            if should_stop and should_stop():
                raise Cancelled("Checking the file was cancelled.")
    return digest.hexdigest()
