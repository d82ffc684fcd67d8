"""Catalog entries: :class:`ModelEntry`, :class:`Catalog` and the parsing and validation of
``models.toml`` files (the shipped one and the user's, in the same format). Every entry is
validated on load and errors name the file, the entry and the field.
"""

from __future__ import annotations

import difflib
import logging
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from outthink.catalog.paths import _SEGMENT_RE, validate_filename, validate_repo_id
from outthink.errors import (
    CatalogError,
)
from outthink.resources import resource_path
from outthink.thinking import ThinkingSupport

log = logging.getLogger(__name__)


CATALOG_SCHEMA = 1

ROLES = ("policy", "verifier")

PROMPT_FORMATS = ("chat", "completion")

#: Verifier kinds this version knows. Other well-formed kinds load with a warning, so a newer
#: catalog does not break an older app before the verifier is even chosen.
KNOWN_VERIFIER_KINDS = ("prm-rlhflow", "prm-math-shepherd", "judge", "self-certainty")

Role = Literal["policy", "verifier"]

# Checked with fullmatch: `$` alone would let a trailing newline through.
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")

_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

_SWITCH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


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
