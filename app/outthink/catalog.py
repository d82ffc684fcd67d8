"""The model catalog and the models on this machine.

Catalog
    The shipped ``models.toml`` (read-only, found through :mod:`outthink.resources`) plus an
    optional user catalog, ``models.toml`` in the config folder, in the same format. A user
    entry whose id is already shipped *replaces* the shipped entry (so a user can pin another
    revision or quantization without forking the app); that is logged. Every entry is
    validated on load and errors name the file, the entry and the field.

Models folder (``Settings.models_path()``)
    ``<org>/<repo>/<file>`` for Hub downloads, ``local/<file>`` for copied imports, the
    starter model where :mod:`outthink.starter` puts it, ``.partial/`` for unfinished
    downloads and ``registry.json``: what was verified (SHA-256, size, mtime) and which files
    were imported. Names from any catalog are checked so nothing is read or written outside
    that folder.

Registry
    Every save also writes ``registry.json.bak``, a copy of the registry just written. A
    registry that cannot be parsed is restored from that copy when the copy is good (the
    damaged file is kept as ``registry.json.damaged-<time>``); when it is not, nothing
    overwrites the damaged file: imports and removals are refused with a message naming it.
    Either way :func:`registry_notices` says what happened, for the CLI and the GUI to show.

Nothing here touches the network: downloads live in :mod:`outthink.hub`.

Public API: :func:`load_catalog`, :class:`Catalog`, :class:`ModelEntry`,
:func:`resolve_model`, :func:`list_models`, :func:`import_model`, :func:`remove_model`,
:func:`verify_models`, :func:`estimate_memory`, :func:`fits_in_memory`,
:func:`available_memory`, :func:`physical_memory`, :func:`machine_fit`, :func:`recommend`,
:func:`hub_file_path`, :func:`partial_paths`, :func:`sha256_file`.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from outthink.config import Settings, config_dir, load_settings, storage_error, write_atomic
from outthink.errors import (
    Cancelled,
    CatalogError,
    ConfigError,
    MemoryBudgetError,
    ModelCorruptError,
    ModelFileError,
    ModelMissingError,
    OutthinkError,
)
from outthink.resources import resource_path
from outthink.thinking import ThinkingSupport

log = logging.getLogger(__name__)

CATALOG_SCHEMA = 1
REGISTRY_SCHEMA = 1
ROLES = ("policy", "verifier")
PROMPT_FORMATS = ("chat", "completion")
#: Verifier kinds this version knows. Other well-formed kinds load with a warning, so a newer
#: catalog does not break an older app before the verifier is even chosen.
KNOWN_VERIFIER_KINDS = ("prm-rlhflow", "prm-math-shepherd", "judge", "self-certainty")
PARTIAL_DIR = ".partial"
LOCAL_DIR = "local"
REGISTRY_FILE = "registry.json"
REGISTRY_BACKUP = "registry.json.bak"
_REGISTRY_WHAT = "the model registry (what was imported and verified)"

Role = Literal["policy", "verifier"]
ModelState = Literal["present", "missing", "partial", "available", "unverified", "changed"]

# Checked with fullmatch: `$` alone would let a trailing newline through.
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# One path segment of a repo id or file name: no leading dot (so no "..", no hidden files),
# no separators, no drive letters, nothing a shell or Windows would treat specially.
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_SWITCH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {
    f"lpt{i}" for i in range(10)
}
_HASH_BLOCK = 1 << 20
_REGISTRY_LOCK = threading.Lock()

# Memory estimate constants (llama.cpp on CPU). The compute buffer holds the worst-case graph
# for one micro-batch, whose output is n_ubatch rows of vocabulary logits; the rest is small.
_N_UBATCH = 512
_BASE_OVERHEAD = 64 << 20
_DEFAULT_VOCAB = 152_064  # Qwen2.5's; larger than most, so the fallback errs on the safe side
# Without a header or a catalog figure: KV bytes per token per parameter. Real models sit
# between 1.6e-5 (Llama 3.1 8B) and 6.9e-5 (Gemma 3 270M); 4e-5 covers the common ones.
_KV_PER_PARAM = 4e-5


# --------------------------------------------------------------------------------------------
# Catalog entries


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model the app knows about (shipped, user catalog, or imported from disk)."""

    id: str
    name: str
    role: Role
    filename: str
    repo: str | None = None
    revision: str = "main"
    package: str | None = None
    quantization: str = ""
    params: int = 0
    size_bytes: int = 0
    sha256: str | None = None
    license: str = ""
    ram_bytes: int = 0
    context_length: int = 0
    prompt_format: Literal["chat", "completion"] = "chat"
    preamble: str | None = None
    verifier_kind: str | None = None
    verifier_options: dict[str, Any] = field(default_factory=dict, hash=False)
    system_prompt: str | None = None
    description: str = ""
    kv_bytes_per_token: int = 0
    #: Higher is recommended first among the models of its role that fit this machine.
    rank: int = 0
    #: Thinks in a ``<think>`` block before it answers (Qwen3, DeepSeek-R1 distills).
    reasoning: bool = False
    #: The chat-template variable that turns thinking on or off (Qwen3: ``enable_thinking``);
    #: None for a reasoning model that always thinks.
    thinking_switch: str | None = None
    #: "shipped", "user" (user catalog) or "local" (imported with ``models import``).
    origin: str = "shipped"
    #: Imported entries: where the file is (absolute, or relative to the models folder).
    local_path: str | None = None

    @property
    def source(self) -> str:
        """Where the file comes from, in one string: ``package:…``, ``hub:…`` or ``local:…``."""
        if self.package:
            return f"package:{self.package}"
        if self.repo:
            return f"hub:{self.repo}/{self.filename}@{self.revision}"
        return f"local:{self.local_path or self.filename}"

    @property
    def is_hub(self) -> bool:
        return bool(self.repo) and not self.package

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "source": self.source,
            "origin": self.origin,
            "repo": self.repo,
            "file": self.filename,
            "revision": self.revision if self.repo else None,
            "package": self.package,
            "quantization": self.quantization,
            "params": self.params,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "license": self.license,
            "ram_bytes": self.ram_bytes,
            "context_length": self.context_length,
            "prompt_format": self.prompt_format,
            "preamble": self.preamble,
            "verifier_kind": self.verifier_kind,
            "verifier_options": dict(self.verifier_options),
            "description": self.description,
            "rank": self.rank,
            "reasoning": self.reasoning,
            "thinking_switch": self.thinking_switch,
        }

    @property
    def thinking(self) -> ThinkingSupport:
        """How the model thinks (:mod:`outthink.thinking`)."""
        return ThinkingSupport(self.reasoning, self.thinking_switch if self.reasoning else None)


@dataclass(frozen=True, slots=True)
class Catalog:
    """All entries, shipped then user then imported, ids unique."""

    entries: tuple[ModelEntry, ...]
    files: tuple[Path, ...] = ()
    #: Why imported models could not be listed (the registry cannot be read), else None.
    registry_problem: str | None = None

    def get(self, model_id: str) -> ModelEntry:
        for entry in self.entries:
            if entry.id == model_id:
                return entry
        ids = [e.id for e in self.entries]
        close = difflib.get_close_matches(model_id, ids, n=3, cutoff=0.5)
        maybe = f" Did you mean {', '.join(close)}?" if close else ""
        missing = (
            f" Imported models are not among them: {self.registry_problem}."
            if self.registry_problem else ""
        )
        raise CatalogError(
            f"No model with id {model_id!r} in the catalog.{maybe}",
            hint="Known ids: " + ", ".join(ids) + ". `outthink models list` shows them all; "
            "a .gguf path works too." + missing,
        )

    def by_role(self, role: str) -> tuple[ModelEntry, ...]:
        return tuple(e for e in self.entries if e.role == role)

    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def __contains__(self, model_id: object) -> bool:
        return any(e.id == model_id for e in self.entries)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def shipped_catalog_path() -> Path:
    return resource_path("models.toml")


def user_catalog_path() -> Path:
    return config_dir() / "models.toml"


def load_catalog(settings: Settings | None = None) -> Catalog:
    """Shipped catalog, then the user catalog (overriding by id), then imported models."""
    settings = settings or load_settings()
    shipped_file = shipped_catalog_path()
    if not shipped_file.exists():
        raise CatalogError(
            f"The shipped model catalog is missing: {shipped_file}.",
            hint="Reinstall Outthink; the installation is incomplete.",
        )
    entries: dict[str, ModelEntry] = {}
    files = [shipped_file]
    for entry in parse_catalog_file(shipped_file, origin="shipped"):
        entries[entry.id] = entry
    user_file = user_catalog_path()
    if user_file.exists():
        files.append(user_file)
        for entry in parse_catalog_file(user_file, origin="user"):
            if entry.id in entries:
                log.info("User catalog %s replaces the shipped entry %r", user_file, entry.id)
            entries[entry.id] = entry
    imported, problem = _imported_entries_and_problem(settings)
    for entry in imported:
        if entry.id in entries:
            log.warning(
                "Imported model %r has the id of a catalog entry; the catalog entry wins. "
                "Remove it with `outthink models rm %s` and import it again with --id.",
                entry.id,
                entry.id,
            )
            continue
        entries[entry.id] = entry
    registry_problem = (
        f"the model registry {registry_path(settings)} cannot be read ({problem})"
        if problem else None
    )
    return Catalog(tuple(entries.values()), tuple(files), registry_problem)


def parse_catalog_file(path: Path, *, origin: str) -> list[ModelEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            f"Cannot read the model catalog {path}: {exc.strerror or exc}.",
            hint="Check the file's permissions.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"The model catalog {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} "
            f"at offset {exc.start}).",
            hint="Save the file as UTF-8 in a text editor, or move it aside to use the "
            "built-in catalog.",
        ) from None
    return parse_catalog_text(text, source=str(path), origin=origin)


def parse_catalog_text(text: str, *, source: str, origin: str = "user") -> list[ModelEntry]:
    """Parse and validate catalog TOML. ``source`` names the file in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"{source} is not valid TOML: {exc}.",
            hint="Fix the syntax; each model is a [[models]] table.",
        ) from exc
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise CatalogError(
            f"{source} nests arrays or tables thousands of levels deep.",
            hint="Fix the file; each model is a [[models]] table of plain values.",
        ) from None
    unknown_top = set(raw) - {"schema", "models"}
    if unknown_top:
        raise CatalogError(
            f"{source}: unknown top-level key(s) {', '.join(sorted(unknown_top))}.",
            hint="A catalog has `schema = 1` and [[models]] tables only.",
        )
    schema = raw.get("schema", CATALOG_SCHEMA)
    if schema != CATALOG_SCHEMA:
        raise CatalogError(
            f"{source}: catalog schema {schema!r} is not supported (this version reads "
            f"{CATALOG_SCHEMA}).",
            hint="Update Outthink, or write the file in the current format.",
        )
    models = raw.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise CatalogError(
            f"{source}: `models` must be a list of tables.",
            hint="Write each model as a [[models]] table.",
        )
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for index, table in enumerate(models, start=1):
        entry = _parse_entry(table, source=source, index=index, origin=origin)
        if entry.id in seen:
            raise CatalogError(
                f"{source}: entry {entry.id!r}: the id is used twice.",
                hint="Give every entry its own id.",
            )
        seen.add(entry.id)
        entries.append(entry)
    return entries


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "name": str,
    "role": str,
    "source": str,
    "repo": str,
    "file": str,
    "revision": str,
    "quantization": str,
    "params": int,
    "size_bytes": int,
    "sha256": str,
    "license": str,
    "ram_bytes": int,
    "kv_bytes_per_token": int,
    "context_length": int,
    "prompt_format": str,
    "preamble": str,
    "system_prompt": str,
    "verifier_kind": str,
    "verifier_options": dict,
    "description": str,
    "rank": int,
    "reasoning": bool,
    "thinking_switch": str,
}
_REQUIRED = ("id", "name", "role", "file", "size_bytes", "license", "context_length")


def _parse_entry(table: Mapping[str, Any], *, source: str, index: int, origin: str) -> ModelEntry:
    label = repr(table["id"]) if isinstance(table.get("id"), str) else f"#{index}"

    def bad(field_name: str, problem: str, hint: str = "") -> CatalogError:
        return CatalogError(
            f"{source}: entry {label}, field `{field_name}`: {problem}.",
            hint=hint or "Fix the entry; `outthink models list` checks the catalog.",
        )

    for key in table:
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, list(_FIELDS), n=1)
            raise bad(key, "unknown field", f"Did you mean `{close[0]}`?" if close else "")
    for key in _REQUIRED:
        if key not in table:
            raise bad(key, "missing")
    for key, expected in _FIELDS.items():
        if key not in table:
            continue
        value = table[key]
        # bool is an int subclass in Python; `params = true` is still a mistake.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            type_name = expected.__name__ if isinstance(expected, type) else "value"
            raise bad(key, f"expected {_article(type_name)}, got {value!r}")

    model_id: str = table["id"]
    if not _ID_RE.fullmatch(model_id):
        raise bad("id", f"{model_id!r} is not a valid id", "Use lowercase letters, digits, . _ -.")
    role = table["role"]
    if role not in ROLES:
        raise bad("role", f"{role!r} is not one of {', '.join(ROLES)}")
    for key in ("params", "size_bytes", "ram_bytes", "context_length", "kv_bytes_per_token"):
        if key in table and table[key] < 0:
            raise bad(key, f"must not be negative, got {table[key]}")
    if table["size_bytes"] <= 0:
        raise bad("size_bytes", "must be the file size in bytes (> 0)")
    if table["context_length"] <= 0:
        raise bad("context_length", "must be a positive number of tokens")

    source_value = table.get("source", "hub")
    package: str | None = None
    repo: str | None = None
    if source_value.startswith("package:"):
        package = source_value.removeprefix("package:")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", package):
            raise bad("source", f"{package!r} is not a package name")
        if "repo" in table:
            raise bad("repo", "a package entry has no Hub repo", "Remove `repo` or `source`.")
    elif source_value == "hub":
        if "repo" not in table:
            raise bad("repo", "missing (a Hub entry needs `repo` and `file`)")
        repo = table["repo"]
        try:
            validate_repo_id(repo)
        except CatalogError as exc:
            raise bad("repo", exc.message) from None
    else:
        raise bad("source", f"{source_value!r} is neither \"hub\" nor \"package:NAME\"")

    filename: str = table["file"]
    try:
        validate_filename(filename)
    except CatalogError as exc:
        raise bad("file", exc.message) from None
    revision = table.get("revision", "main")
    if not _REVISION_RE.fullmatch(revision) or ".." in revision:
        raise bad("revision", f"{revision!r} is not a branch, tag or commit")

    sha = table.get("sha256")
    if sha is not None:
        sha = sha.lower()
        if not _SHA_RE.fullmatch(sha):
            raise bad("sha256", "must be 64 hexadecimal digits")

    prompt_format = table.get("prompt_format", "chat")
    if prompt_format not in PROMPT_FORMATS:
        raise bad("prompt_format", f"{prompt_format!r} is not one of {', '.join(PROMPT_FORMATS)}")
    preamble = table.get("preamble")
    if preamble is not None:
        if not _SEGMENT_RE.fullmatch(preamble):
            raise bad("preamble", f"{preamble!r} must be a plain file name in assets/prompts/")
        if not resource_path("assets", "prompts", preamble).is_file():
            raise bad("preamble", f"assets/prompts/{preamble} does not exist")
    if prompt_format == "completion" and role == "policy" and preamble is None:
        raise bad("preamble", "a completion-format policy needs a few-shot preamble file")

    reasoning = table.get("reasoning", False)
    switch = table.get("thinking_switch")
    if switch is not None:
        if not reasoning:
            raise bad("thinking_switch", "only a reasoning model (reasoning = true) has one",
                      "Add `reasoning = true`, or remove `thinking_switch`.")
        if not _SWITCH_RE.fullmatch(switch):
            raise bad("thinking_switch", f"{switch!r} is not a chat-template variable name",
                      'Name the variable the template reads, e.g. "enable_thinking".')

    kind = table.get("verifier_kind")
    options = table.get("verifier_options", {})
    if role == "verifier":
        if kind is None:
            raise bad("verifier_kind", "missing (a verifier needs a kind)",
                      f"Known kinds: {', '.join(KNOWN_VERIFIER_KINDS)}.")
        if not _KIND_RE.fullmatch(kind):
            raise bad("verifier_kind", f"{kind!r} is not a valid kind name")
        if kind not in KNOWN_VERIFIER_KINDS:
            log.warning("%s: entry %s uses verifier kind %r, unknown to this version",
                        source, label, kind)
    elif kind is not None or "verifier_options" in table:
        raise bad("verifier_kind", "only verifiers have a verifier kind and options")

    return ModelEntry(
        id=model_id,
        name=table["name"],
        role=role,
        filename=filename,
        repo=repo,
        revision=revision,
        package=package,
        quantization=table.get("quantization", ""),
        params=table.get("params", 0),
        size_bytes=table["size_bytes"],
        sha256=sha,
        license=table["license"],
        ram_bytes=table.get("ram_bytes", 0),
        context_length=table["context_length"],
        prompt_format=prompt_format,
        preamble=preamble,
        verifier_kind=kind,
        verifier_options=dict(options),
        system_prompt=table.get("system_prompt"),
        description=table.get("description", ""),
        kv_bytes_per_token=table.get("kv_bytes_per_token", 0),
        rank=table.get("rank", 0),
        reasoning=reasoning,
        thinking_switch=switch,
        origin=origin,
    )


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


# --------------------------------------------------------------------------------------------
# Names and paths: nothing outside the models folder


def _check_segment(segment: str, what: str) -> None:
    if not _SEGMENT_RE.fullmatch(segment):
        raise CatalogError(
            f"{what} {segment!r} contains characters that are not allowed",
            hint="Use letters, digits and . _ + - (no leading dot, no separators).",
        )
    if segment.split(".")[0].lower() in _WINDOWS_RESERVED:
        raise CatalogError(f"{what} {segment!r} is a reserved device name on Windows")


def validate_repo_id(repo: str) -> None:
    parts = repo.split("/")
    if len(parts) != 2:
        raise CatalogError(f"{repo!r} is not a Hub repo id of the form owner/name")
    for part in parts:
        _check_segment(part, "repo id part")


def validate_filename(filename: str) -> None:
    if "\\" in filename or filename.startswith("/") or ":" in filename:
        raise CatalogError(f"{filename!r} must be a relative path with forward slashes")
    parts = filename.split("/")
    if len(parts) > 4:
        raise CatalogError(f"{filename!r} is nested too deeply")
    for part in parts:
        _check_segment(part, "file name part")
    if not filename.lower().endswith(".gguf"):
        raise CatalogError(f"{filename!r} is not a .gguf file")


def _inside(root: Path, path: Path) -> Path:
    """``path`` if it resolves inside ``root``; symlinks pointing out are refused too."""
    root_real = root.resolve()
    real = path.resolve()
    if real != root_real and not real.is_relative_to(root_real):
        raise CatalogError(
            f"{path} is outside the models folder {root}.",
            hint="Catalog file names must stay inside the models folder.",
        )
    return path


def hub_relpath(repo: str, filename: str) -> PurePosixPath:
    validate_repo_id(repo)
    validate_filename(filename)
    return PurePosixPath(repo) / filename


def hub_file_path(repo: str, filename: str, settings: Settings | None = None) -> Path:
    """Where a Hub file lives in the models folder (validated; the folder is not created)."""
    settings = settings or load_settings()
    root = settings.models_path()
    return _inside(root, root.joinpath(*hub_relpath(repo, filename).parts))


def partial_paths(repo: str, filename: str, settings: Settings | None = None) -> tuple[Path, Path]:
    """(partial data file, its JSON state) of an unfinished download of a Hub file."""
    settings = settings or load_settings()
    rel = hub_relpath(repo, filename)
    key = "--".join(rel.parts)
    base = settings.models_path() / PARTIAL_DIR
    return (
        _inside(settings.models_path(), base / f"{key}.part"),
        _inside(settings.models_path(), base / f"{key}.part.json"),
    )


# --------------------------------------------------------------------------------------------
# Registry: what was verified and what was imported


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


# --------------------------------------------------------------------------------------------
# Which models are here


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """A catalog entry and what is on disk for it.

    ``state``: ``present`` (verified file), ``missing``, ``partial`` (an unfinished download;
    ``partial_bytes`` of ``entry.size_bytes``), ``available`` (starter package installed, file
    assembled or checked on first use), ``unverified`` (a file is there but was never checked:
    `pull` or `verify` checks it), ``changed`` (the file changed since it was verified).
    """

    entry: ModelEntry
    state: ModelState
    path: Path | None
    partial_bytes: int = 0

    @property
    def present(self) -> bool:
        return self.state in ("present", "available")

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.entry.to_dict(),
            "state": self.state,
            "present": self.present,
            "path": str(self.path) if self.path else None,
            "partial_bytes": self.partial_bytes,
        }


def entry_path(entry: ModelEntry, settings: Settings | None = None) -> Path:
    """Where the entry's file is or will be; for package entries, where it gets assembled."""
    settings = settings or load_settings()
    root = settings.models_path()
    if entry.package:
        return _inside(root, root / entry.filename)
    if entry.repo:
        return hub_file_path(entry.repo, entry.filename, settings)
    if entry.local_path:
        path = Path(entry.local_path)
        return path if path.is_absolute() else _inside(root, root / path)
    raise CatalogError(f"Catalog entry {entry.id!r} has no source.")


def model_status(entry: ModelEntry, settings: Settings | None = None) -> ModelStatus:
    settings = settings or load_settings()
    path = entry_path(entry, settings)
    if entry.package:
        from outthink.starter import starter_expected, starter_installed

        if path.exists():
            sha, size = starter_expected()
            state = known_file_state(path, sha or entry.sha256 or "", settings, size=size)
            if state == "unverified" and sha is not None:
                state = "available"  # assembled before hashes were recorded: checked on use
            return ModelStatus(entry, state, path)
        return ModelStatus(entry, "available" if starter_installed() else "missing", path)
    if entry.origin == "local":
        record = _import_record(entry.id, settings)
        if not path.exists():
            return ModelStatus(entry, "missing", path)
        unchanged = _record_matches(record, path)
        return ModelStatus(entry, "present" if unchanged else "changed", path)
    if path.exists():
        record = file_record(path, settings)
        if record is None:
            return ModelStatus(entry, "unverified", path)
        if not _record_matches(record, path):
            return ModelStatus(entry, "changed", path)
        if entry.sha256 and record.get("sha256") != entry.sha256:
            return ModelStatus(entry, "changed", path)
        return ModelStatus(entry, "present", path)
    assert entry.repo is not None
    part, _state = partial_paths(entry.repo, entry.filename, settings)
    if part.exists():
        return ModelStatus(entry, "partial", path, part.stat().st_size)
    return ModelStatus(entry, "missing", path)


def list_models(
    settings: Settings | None = None, catalog: Catalog | None = None
) -> list[ModelStatus]:
    settings = settings or load_settings()
    catalog = catalog or load_catalog(settings)
    return [model_status(entry, settings) for entry in catalog.entries]


def untracked_files(settings: Settings | None = None, catalog: Catalog | None = None) -> list[Path]:
    """.gguf files in the models folder that no entry accounts for (candidates for import)."""
    settings = settings or load_settings()
    catalog = catalog or load_catalog(settings)
    root = settings.models_path()
    if not root.exists():
        return []
    known = set()
    for entry in catalog.entries:
        with contextlib.suppress(CatalogError):
            known.add(entry_path(entry, settings).resolve())
    found = []
    for path in sorted(root.rglob("*.gguf")):
        if PARTIAL_DIR in path.relative_to(root).parts:
            continue
        if path.resolve() not in known:
            found.append(path)
    return found


# --------------------------------------------------------------------------------------------
# Resolving what the engine loads


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    path: Path
    entry: ModelEntry | None


def _looks_like_path(spec: str) -> bool:
    return (
        spec.lower().endswith(".gguf")
        or "/" in spec
        or "\\" in spec
        or spec.startswith(("~", "."))
    )


def resolve_model(
    spec: str, *, role: str | None = None, settings: Settings | None = None
) -> ResolvedModel:
    """A catalog id or a path to a .gguf -> the file to load. Never touches the network.

    A catalog file is only returned when it was verified and has not changed since; a file
    that changed is checked again (SHA-256) before it is offered.
    """
    settings = settings or load_settings()
    catalog = load_catalog(settings)
    if spec not in catalog and _looks_like_path(spec):
        given = Path(spec).expanduser()
        if not given.is_file():
            raise ModelMissingError(
                f"Model file not found: {given}.",
                hint="Check the path, or give a catalog id (`outthink models list`).",
            )
        return ResolvedModel(given.resolve(), _entry_for_path(given, catalog, settings))
    entry = catalog.get(spec)
    if role is not None and entry.role != role:
        others = ", ".join(e.id for e in catalog.by_role(role)) or "none"
        raise CatalogError(
            f"{entry.id} is a {entry.role}, not a {role}.",
            hint=f"Catalog {'policies' if role == 'policy' else role + 's'}: {others}.",
        )
    if entry.package:
        from outthink.starter import starter_model_path

        return ResolvedModel(starter_model_path(settings), entry)
    status = model_status(entry, settings)
    path = status.path
    assert path is not None
    if status.state == "present":
        return ResolvedModel(path, entry)
    if status.state in ("missing", "partial"):
        if entry.origin == "local":
            raise ModelMissingError(
                f"The imported model {entry.id} is gone: {path} does not exist.",
                hint=f"Import it again, or forget it with `outthink models rm {entry.id}`.",
            )
        done = ""
        if status.state == "partial" and entry.size_bytes:
            done = f" ({min(99, 100 * status.partial_bytes // entry.size_bytes)}% downloaded)"
        raise CatalogError(
            f"{entry.id} is not downloaded yet{done}.",
            hint=f"Run `outthink models pull {entry.id}`.",
        )
    # "unverified" or "changed": check the bytes before handing the file to llama.cpp.
    result = verify_entry(entry, settings)
    if not result.ok and result.expected is None and result.sha256 is not None:
        raise CatalogError(
            f"{entry.id}: the file at {path} was never checked and no SHA-256 is known for it.",
            hint=f"Run `outthink models pull {entry.id}`: it checks the file against the Hub "
            "and downloads it only if it differs.",
        )
    if not result.ok:
        raise ModelCorruptError(f"{entry.id}: {result.message}", hint=repair_hint(entry, settings))
    return ResolvedModel(path, entry)


def _entry_for_path(path: Path, catalog: Catalog, settings: Settings) -> ModelEntry | None:
    real = path.resolve()
    for entry in catalog.entries:
        with contextlib.suppress(CatalogError):
            if entry_path(entry, settings).resolve() == real:
                return entry
    return None


# --------------------------------------------------------------------------------------------
# Verify


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


# --------------------------------------------------------------------------------------------
# Import and remove


def _import_record(model_id: str, settings: Settings) -> dict[str, Any] | None:
    record = read_registry(settings)["imports"].get(model_id)
    return record if isinstance(record, dict) else None


def _imported_entries(settings: Settings) -> list[ModelEntry]:
    return _imported_entries_and_problem(settings)[0]


def _imported_entries_and_problem(settings: Settings) -> tuple[list[ModelEntry], str | None]:
    """Imported models, and why the registry could not be read (None when it could)."""
    registry, problem = _load_registry(settings, locked=False)
    entries = []
    for model_id, rec in registry["imports"].items():
        try:
            entries.append(
                ModelEntry(
                    id=model_id,
                    name=str(rec.get("name", model_id)),
                    role=rec.get("role", "policy"),
                    filename=str(rec.get("filename", "")),
                    quantization=str(rec.get("quantization", "")),
                    params=int(rec.get("params", 0)),
                    size_bytes=int(rec.get("size", 0)),
                    sha256=None,
                    license=str(rec.get("license", "unknown (imported file)")),
                    context_length=int(rec.get("context_length", 0)),
                    prompt_format=rec.get("prompt_format", "chat"),
                    preamble=rec.get("preamble"),
                    verifier_kind=rec.get("verifier_kind"),
                    verifier_options=dict(rec.get("verifier_options", {})),
                    kv_bytes_per_token=int(rec.get("kv_bytes_per_token", 0)),
                    origin="local",
                    local_path=str(rec["path"]),
                    description="copied into the models folder" if rec.get("copied")
                    else "used in place",
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("Skipping damaged import record %r in the registry: %s", model_id, exc)
    return entries, problem


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
                f"Not enough free disk space to copy {src.name} ({_gib(src.stat().st_size)} "
                f"needed, {_gib(free)} free).",
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


# --------------------------------------------------------------------------------------------
# Memory


@dataclass(frozen=True, slots=True)
class MemoryFit:
    needed: int
    available: int | None
    fits: bool
    message: str


def _windows_memory(field_name: str) -> int | None:  # pragma: no cover - Windows only
    """One field of GlobalMemoryStatusEx (``ullTotalPhys``, ``ullAvailPhys``)."""
    import ctypes

    class _Status(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = _Status()
    status.dwLength = ctypes.sizeof(_Status)
    if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return int(getattr(status, field_name))
    return None


def available_memory() -> int | None:
    """Memory the OS can give us now, in bytes; None when it cannot be told."""
    try:
        if sys.platform.startswith("linux"):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        if sys.platform == "win32":  # pragma: no cover - Windows only
            return _windows_memory("ullAvailPhys")
        # macOS and other Unixes: total physical memory; macOS reclaims file cache eagerly,
        # so most of it is usable for an mmapped model.
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
        return int(pages * page_size * 0.75)
    except (OSError, ValueError, AttributeError):
        return None


def physical_memory() -> int | None:
    """The RAM installed in this machine, in bytes; None when it cannot be told. Unlike
    :func:`available_memory` it does not change with what else is running, so it answers
    "does this model suit this computer" rather than "can it load now"."""
    try:
        if sys.platform.startswith("linux"):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
        if sys.platform == "win32":  # pragma: no cover - Windows only
            return _windows_memory("ullTotalPhys")
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def estimate_memory(
    model: str | Path | ModelEntry,
    n_ctx: int,
    n_seq: int = 1,
    *,
    settings: Settings | None = None,
) -> int:
    """Bytes needed to run ``model`` with a context of ``n_ctx`` tokens and ``n_seq`` sequences.

    ``n_ctx`` is the context the engine creates: with the unified KV cache all sequences
    share it (prompt once plus every branch's own tokens). The sum is: the file (weights are
    mapped whole), the f16 KV cache for ``n_ctx`` cells, the compute buffer (one micro-batch of
    vocabulary logits) and a logits row per sequence. Layer shapes come from the GGUF header
    when the file is on disk, else from the catalog entry, else from the parameter count.
    """
    from outthink.gguf_file import read_header

    if n_ctx <= 0 or n_seq <= 0:
        raise ValueError("n_ctx and n_seq must be positive")
    path: Path | None = None
    entry: ModelEntry | None = None
    if isinstance(model, ModelEntry):
        entry = model
        settings = settings or load_settings()
        with contextlib.suppress(CatalogError):
            candidate = entry_path(entry, settings)
            if candidate.is_file():
                path = candidate
    else:
        path = Path(model)
    if path is not None:
        header = read_header(path)
        file_bytes = header.file_size
        kv_per_token = header.kv_bytes_per_token() or _fallback_kv(entry, file_bytes)
        vocab = header.vocab_size or _DEFAULT_VOCAB
    else:
        assert entry is not None
        file_bytes = entry.size_bytes
        kv_per_token = entry.kv_bytes_per_token or _fallback_kv(entry, file_bytes)
        vocab = _DEFAULT_VOCAB
    kv = kv_per_token * n_ctx
    compute = _BASE_OVERHEAD + _N_UBATCH * vocab * 4
    logits = n_seq * vocab * 4
    return int(file_bytes + kv + compute + logits)


def _fallback_kv(entry: ModelEntry | None, file_bytes: int) -> int:
    params = entry.params if entry and entry.params else file_bytes * 2  # ~4 bits per weight
    return int(params * _KV_PER_PARAM)


def fits_in_memory(
    model: str | Path | ModelEntry,
    n_ctx: int,
    n_seq: int = 1,
    *,
    available: int | None = None,
    settings: Settings | None = None,
    headroom: float = 0.9,
) -> MemoryFit:
    """Whether the estimate fits in ``headroom`` of the available memory (measured if None)."""
    needed = estimate_memory(model, n_ctx, n_seq, settings=settings)
    available = available if available is not None else available_memory()
    if available is None:
        return MemoryFit(needed, None, True,
                         f"Needs about {_gib(needed)}; free memory could not be measured.")
    fits = needed <= available * headroom
    if fits:
        message = f"Needs about {_gib(needed)} of {_gib(available)} available."
    else:
        message = (
            f"Needs about {_gib(needed)} but only {_gib(available)} is available: loading may "
            "swap heavily or fail. Use a smaller context or fewer samples (N), close other "
            "programs, or pick a smaller model."
        )
    return MemoryFit(needed, available, fits, message)


def check_memory(
    model: str | Path | ModelEntry,
    n_ctx: int,
    n_seq: int = 1,
    *,
    available: int | None = None,
    settings: Settings | None = None,
) -> MemoryFit:
    """:func:`fits_in_memory`, raising :class:`MemoryBudgetError` when it does not fit."""
    fit = fits_in_memory(model, n_ctx, n_seq, available=available, settings=settings)
    if not fit.fits:
        raise MemoryBudgetError(fit.message, hint="Lower --ctx or --n, or choose a smaller model.")
    return fit


def disk_free(folder: Path) -> int | None:
    """Free bytes on the disk that holds ``folder``, or that will hold it: the nearest folder
    above it that exists (the models folder is created by the first download). None when it
    cannot be told."""
    path = folder
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


#: The run "fits this machine" is judged for: a 4096-token context shared by the default budget
#: of eight sequences.
FIT_CONTEXT = 4096
FIT_SEQUENCES = 8
#: Shares of the physical RAM a model may need: up to the first it runs beside the system and
#: the usual programs; up to the second only with other programs closed.
FIT_COMFORTABLE = 0.5
FIT_TIGHT = 0.8

FitLevel = Literal["fits", "tight", "too-big", "unknown"]


@dataclass(frozen=True, slots=True)
class MachineFit:
    """Whether a model suits this computer's RAM (:func:`machine_fit`)."""

    level: FitLevel
    needed: int  # bytes, 0 when the estimate failed
    ram: int | None  # this computer's RAM in bytes, None when unknown
    message: str


def machine_fit(
    entry: ModelEntry, *, ram: int | None = None, settings: Settings | None = None
) -> MachineFit:
    """How a model's memory need (:func:`estimate_memory`, the same estimate that refuses a
    run before loading) compares with the RAM of this computer (``ram``, measured if None).
    """
    ram = ram if ram is not None else physical_memory()
    try:
        comfortable = fits_in_memory(entry, FIT_CONTEXT, FIT_SEQUENCES, available=ram,
                                     settings=settings, headroom=FIT_COMFORTABLE)
    except (OutthinkError, OSError) as exc:  # a damaged file on disk: no estimate
        return MachineFit("unknown", 0, ram, f"Its memory need is unknown: {exc}")
    needed = comfortable.needed
    if ram is None:
        return MachineFit("unknown", needed, None, f"Needs about {_gib(needed)} of RAM; this "
                          "computer's RAM could not be measured.")
    of = f"Needs about {_gib(needed)} of the {_gib(ram)} of RAM in this computer"
    if comfortable.fits:
        return MachineFit("fits", needed, ram, f"{of}: fits.")
    if needed <= ram * FIT_TIGHT:
        return MachineFit("tight", needed, ram, f"{of}: runs with other programs closed.")
    return MachineFit("too-big", needed, ram, f"{of}: too big, it would swap or fail to load.")


def recommend(entries: Iterable[ModelEntry], fits: Mapping[str, MachineFit]) -> dict[str, str]:
    """The model to recommend for each role (role -> id): of those that fit this computer
    comfortably, the highest catalog ``rank``, then the most parameters."""
    best: dict[str, ModelEntry] = {}
    for entry in entries:
        fit = fits.get(entry.id)
        if fit is None or fit.level != "fits":
            continue
        current = best.get(entry.role)
        if current is None or (entry.rank, entry.params) > (current.rank, current.params):
            best[entry.role] = entry
    return {role: entry.id for role, entry in best.items()}


def _gib(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return f"{n / (1 << 20):.0f} MiB"


__all__ = [
    "Catalog",
    "MachineFit",
    "MemoryFit",
    "ModelEntry",
    "ModelStatus",
    "RemoveResult",
    "ResolvedModel",
    "VerifyResult",
    "available_memory",
    "check_memory",
    "disk_free",
    "entry_path",
    "estimate_memory",
    "fits_in_memory",
    "hub_file_path",
    "import_model",
    "list_models",
    "load_catalog",
    "machine_fit",
    "model_status",
    "partial_paths",
    "physical_memory",
    "recommend",
    "remove_model",
    "repair_hint",
    "resolve_model",
    "sha256_file",
    "untracked_files",
    "verify_entry",
    "verify_models",
]
