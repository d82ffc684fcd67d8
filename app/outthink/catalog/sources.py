"""Where catalog entries come from: the shipped ``models.toml`` (read-only, found through
:mod:`outthink.resources`), then an optional user catalog, ``models.toml`` in the config
folder, whose entries *replace* shipped entries with the same id (so a user can pin another
revision or quantization without forking the app; that is logged), then the models imported
from disk (recorded in the registry).
"""

from __future__ import annotations

import logging
from pathlib import Path

from outthink.catalog.entries import Catalog, ModelEntry, parse_catalog_file
from outthink.catalog.registry import _load_registry, registry_path
from outthink.config import Settings, config_dir, load_settings
from outthink.errors import (
    CatalogError,
)
from outthink.resources import resource_path

log = logging.getLogger(__name__)


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
