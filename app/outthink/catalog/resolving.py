"""Resolving what the engine loads: a catalog id or a path to a GGUF file, checked to be
present and verified.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from outthink.catalog.entries import Catalog, ModelEntry
from outthink.catalog.manage import repair_hint, verify_entry
from outthink.catalog.sources import load_catalog
from outthink.catalog.status import entry_path, model_status
from outthink.config import Settings, load_settings
from outthink.errors import (
    CatalogError,
    ModelCorruptError,
    ModelMissingError,
)


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
