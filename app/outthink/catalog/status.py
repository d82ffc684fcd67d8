"""Which models are here: the state of each catalog entry's file in the models folder, and
the files there that no entry names.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outthink.catalog.entries import Catalog, ModelEntry
from outthink.catalog.paths import PARTIAL_DIR, _inside, hub_file_path, partial_paths
from outthink.catalog.registry import _import_record, _record_matches, file_record
from outthink.catalog.sources import load_catalog
from outthink.catalog.verify import ModelState, known_file_state
from outthink.config import Settings, load_settings
from outthink.errors import (
    CatalogError,
)


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
