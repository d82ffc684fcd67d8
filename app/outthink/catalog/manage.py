"""Changing what is in the models folder: verifying entries, importing a GGUF file from
disk, removing a model, and the hint that says how to repair a missing or damaged one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from outthink.catalog.entries import _ID_RE, _KIND_RE, ROLES, ModelEntry
from outthink.catalog.paths import _SEGMENT_RE, LOCAL_DIR, _inside, partial_paths
from outthink.catalog.registry import (
    _import_record,
    file_record,
    forget_file,
    record_verified,
    require_registry,
    update_registry,
)
from outthink.catalog.sources import _imported_entries, load_catalog
from outthink.catalog.status import entry_path, list_models
from outthink.catalog.verify import _HASH_BLOCK, sha256_file
from outthink.config import Settings, load_settings, storage_error
from outthink.errors import (
    CatalogError,
    ConfigError,
    ModelFileError,
    ModelMissingError,
    gib,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    id: str
    path: Path | None
    ok: bool
    message: str
    sha256: str | None = None  # what the file hashed to (None when it was not hashed)
    expected: str | None = None  # what it had to be (None when nothing is known)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": str(self.path) if self.path else None, "ok": self.ok,
                "message": self.message, "sha256": self.sha256, "expected": self.expected}


def verify_entry(
    entry: ModelEntry,
    settings: Settings | None = None,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Hash the entry's file and check it against what is expected; record a good result.

    Expected SHA-256: the catalog's, else the one recorded when the file was downloaded or
    imported (which came from the Hub's LFS metadata). The file is also checked as the engine
    checks it before loading (GGUF header, architecture), which catches truncation when no hash
    is known.
    """
    settings = settings or load_settings()
    path = entry_path(entry, settings)
    if not path.exists():
        return VerifyResult(entry.id, path, False, f"not on disk ({path}).")
    expected = entry.sha256
    record: Mapping[str, Any] | None
    if entry.origin == "local":
        record = _import_record(entry.id, settings)
    elif entry.package:
        from outthink.starter import starter_expected

        expected = starter_expected()[0] or expected
        record = None
    else:
        record = file_record(path, settings)
    if expected is None and record:
        expected = record.get("sha256")
    try:
        from outthink.gguf_file import check_model_file

        check_model_file(path)
    except ModelFileError as exc:
        return VerifyResult(entry.id, path, False, exc.message)
    actual = sha256_file(path, on_bytes=on_bytes)
    if expected is None:
        return VerifyResult(
            entry.id, path, False,
            "no known SHA-256 to check against (the file was not downloaded by Outthink); "
            f"`outthink models pull {entry.id}` checks it against the Hub.",
            actual,
        )
    if actual != expected:
        return VerifyResult(
            entry.id, path, False,
            f"SHA-256 mismatch: the file has {actual[:12]}…, expected {expected[:12]}…; "
            "the file is damaged or was replaced.",
            actual,
            expected,
        )
    st = path.stat()
    if entry.origin == "local":
        def refresh(data: dict[str, Any]) -> None:
            rec = data["imports"].get(entry.id)
            if isinstance(rec, dict):
                rec.update(size=st.st_size, mtime_ns=st.st_mtime_ns)

        update_registry(settings, refresh)
    elif entry.package:
        record_verified(path, actual, settings)
    else:
        details = {k: v for k, v in (record or {}).items()
                   if k in ("repo", "filename", "revision", "commit")}
        if entry.repo:
            details.setdefault("repo", entry.repo)
            details.setdefault("filename", entry.filename)
            details.setdefault("revision", entry.revision)
        record_verified(path, actual, settings, **details)
    return VerifyResult(entry.id, path, True, "OK (SHA-256 matches).", actual, expected)


def verify_models(
    model_id: str | None = None, settings: Settings | None = None
) -> list[VerifyResult]:
    """Verify one entry, or every entry that has a file on disk."""
    settings = settings or load_settings()
    catalog = load_catalog(settings)
    if model_id is not None:
        return [verify_entry(catalog.get(model_id), settings)]
    results = []
    done: dict[Path, VerifyResult] = {}  # entries sharing a file are hashed once
    for status in list_models(settings, catalog):
        if status.state not in ("present", "unverified", "changed") or status.path is None:
            continue
        key = status.path.resolve()
        if key in done:
            results.append(replace(done[key], id=status.entry.id))
            continue
        done[key] = verify_entry(status.entry, settings)
        results.append(done[key])
    return results


def repair_hint(entry: ModelEntry, settings: Settings | None = None) -> str:
    """What to do about the entry's file when it is damaged or changed (verify failed).

    Hub models are deleted and downloaded again; imported files cannot be downloaded (there is
    nothing to pull), they are imported again; the starter model is assembled again.
    """
    import shlex

    if entry.origin == "local":
        settings = settings or load_settings()
        flags = "" if entry.role == "policy" else (
            f" --role verifier --kind {entry.verifier_kind or 'judge'}"
        )
        if (_import_record(entry.id, settings) or {}).get("copied"):
            return (
                f"{entry.id} is a copy of a file you imported: run `outthink models rm "
                f"{entry.id}`, then import the original again with `outthink models import "
                f"ORIGINAL.gguf --copy --id {entry.id}{flags}`."
            )
        path = shlex.quote(str(entry_path(entry, settings)))
        return (
            f"{entry.id} is a file you imported. If you changed it on purpose, import it "
            f"again: `outthink models rm {entry.id}` (which leaves the file alone), then "
            f"`outthink models import {path} --id {entry.id}{flags}`. Otherwise put the "
            "original file back."
        )
    if entry.package:
        return (
            f"Run `outthink models rm {entry.id}`: the starter model is assembled again from "
            "its package on next use."
        )
    return f"Run `outthink models rm {entry.id}` and `outthink models pull {entry.id}`."


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return (slug or "model")[:80]


def import_model(
    source: str | Path,
    *,
    role: str = "policy",
    model_id: str | None = None,
    name: str | None = None,
    copy: bool = False,
    verifier_kind: str | None = None,
    settings: Settings | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> ModelEntry:
    """Register a GGUF that is already on disk, in place (default) or copied into the folder.

    The file is checked as the engine checks it before loading (a truncated, non-GGUF or
    damaged file, or an architecture the bundled llama.cpp does not know, is refused) and
    hashed, so ``verify`` can later tell if it changed. Chat or completion format is taken from
    the presence of a chat template; a verifier without a kind becomes a ``judge``.
    """
    from outthink.gguf_file import check_model_file

    settings = settings or load_settings()
    src = Path(source).expanduser()
    if role not in ROLES:
        raise ConfigError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
    if not src.is_file():
        raise ModelMissingError(f"No file at {src}.", hint="Give the path of a .gguf file.")
    header = check_model_file(src)
    require_registry(settings)
    catalog = load_catalog(settings)
    model_id = model_id or _slug(src.stem)
    if not _ID_RE.fullmatch(model_id):
        raise ConfigError(
            f"{model_id!r} is not a valid model id.",
            hint="Use --id with lowercase letters, digits, . _ -.",
        )
    if model_id in catalog:
        raise CatalogError(
            f"The id {model_id!r} is already taken.",
            hint="Choose another with --id, or remove the old one with `outthink models rm`.",
        )
    if role == "verifier":
        verifier_kind = verifier_kind or "judge"
        if not _KIND_RE.fullmatch(verifier_kind):
            raise ConfigError(f"{verifier_kind!r} is not a valid verifier kind.")
    else:
        verifier_kind = None
    chat = header.chat_template is not None
    params = 0
    for tensor in header.tensors:
        count = 1
        for dim in tensor.shape:
            count *= dim
        params += count
    root = settings.models_path()
    if copy:
        filename = (_SEGMENT_RE.fullmatch(src.name) and src.name) or f"{model_id}.gguf"
        dest = _inside(root, root / LOCAL_DIR / filename)
        if dest.exists():
            raise CatalogError(
                f"{dest} already exists.",
                hint="Import under another file name, or remove the existing model first.",
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(dest.parent).free
        if free < src.stat().st_size:
            raise ConfigError(
                f"Not enough free disk space to copy {src.name} ({gib(src.stat().st_size)} "
                f"needed, {gib(free)} free).",
                hint="Import it in place (without --copy), or free some space.",
            )
        sha = _copy_hashing(src, dest, on_bytes=on_bytes)
        stored = dest.relative_to(root).as_posix()
        final = dest
    else:
        sha = sha256_file(src, on_bytes=on_bytes)
        final = src.resolve()
        stored = str(final)
    st = final.stat()
    record = {
        "name": name or header.name or model_id,
        "role": role,
        "path": stored,
        "copied": copy,
        "filename": final.name,
        "sha256": sha,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "prompt_format": "chat" if chat else "completion",
        "preamble": None if chat or role == "verifier" else "fewshot_math.txt",
        "context_length": int(header.arch_value("context_length", 0) or 0),
        "params": params,
        "quantization": _file_type_name(header.metadata.get("general.file_type")),
        "verifier_kind": verifier_kind,
        "kv_bytes_per_token": header.kv_bytes_per_token(),
        "added_at": int(time.time()),
    }
    update_registry(settings, lambda data: data["imports"].__setitem__(model_id, record))
    log.info("Imported %s as %r (%s)", src, model_id, "copied" if copy else "in place")
    return next(e for e in _imported_entries(settings) if e.id == model_id)


def _copy_hashing(src: Path, dest: Path, *, on_bytes: Callable[[int], None] | None) -> str:
    """Copy to a temporary name, hashing on the way, then rename: no half file under ``dest``."""
    tmp = dest.with_name(dest.name + f".importing-{os.getpid()}")
    digest = hashlib.sha256()
    done = 0
    try:
        with src.open("rb") as fin, tmp.open("wb") as fout:
            while block := fin.read(_HASH_BLOCK):
                digest.update(block)
                fout.write(block)
                done += len(block)
                if on_bytes:
                    on_bytes(done)
        os.replace(tmp, dest)
    except OSError as exc:  # a full disk, most likely: said in words, the half copy removed
        raise storage_error(exc, dest, f"the copy of {src.name}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest()


# llama.cpp's LLAMA_FTYPE values for the common quantizations (general.file_type).
_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
               10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
               15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 30: "IQ4_XS", 32: "BF16"}


def _file_type_name(value: object) -> str:
    return _FILE_TYPES.get(value, "") if isinstance(value, int) else ""


@dataclass(frozen=True, slots=True)
class RemoveResult:
    id: str
    deleted: tuple[Path, ...]
    forgot: bool
    message: str


def remove_model(model_id: str, settings: Settings | None = None) -> RemoveResult:
    """Delete a model's file (and any unfinished download) or forget an in-place import.

    Files imported in place belong to the user: they are never deleted, only forgotten.
    Two entries can share one Hub file (a policy and its judge twin); removing one removes
    the file for both, and the message says so.
    """
    settings = settings or load_settings()
    require_registry(settings)
    catalog = load_catalog(settings)
    entry = catalog.get(model_id)
    root = settings.models_path()
    deleted: list[Path] = []
    if entry.origin == "local":
        record = _import_record(entry.id, settings) or {}
        path = entry_path(entry, settings)
        if record.get("copied") and path.exists():
            _inside(root, path).unlink()
            deleted.append(path)
        update_registry(settings, lambda data: data["imports"].pop(entry.id, None))
        what = "deleted its copy" if deleted else "forgot it; the file itself was left alone"
        return RemoveResult(entry.id, tuple(deleted), True, f"Removed {entry.id}: {what}.")
    path = entry_path(entry, settings)
    candidates = [path]
    if entry.package:
        candidates.append(path.with_name(path.name + ".sha256"))
    elif entry.repo:
        candidates.extend(partial_paths(entry.repo, entry.filename, settings))
    for candidate in candidates:
        if candidate.exists():
            candidate.unlink()
            deleted.append(candidate)
    if entry.package:
        with contextlib.suppress(ValueError, OSError):
            forget_file(path, settings)
    elif entry.repo:
        with contextlib.suppress(ValueError, OSError):
            forget_file(path, settings)
        _prune_empty_dirs(path.parent, root)
    sharing = [e.id for e in catalog.entries
               if e.id != entry.id and e.repo == entry.repo and e.filename == entry.filename
               and e.repo is not None]
    if not deleted:
        message = f"{entry.id} was not on disk; nothing to delete."
    else:
        message = f"Deleted {entry.id} ({path})."
        if sharing:
            message += f" It shared its file with {', '.join(sharing)}."
        if entry.package:
            message += " The starter model is assembled again from its package on next use."
    return RemoveResult(entry.id, tuple(deleted), False, message)


def _prune_empty_dirs(directory: Path, root: Path) -> None:
    root = root.resolve()
    directory = directory.resolve()
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
