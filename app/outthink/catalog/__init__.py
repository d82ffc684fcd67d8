"""The model catalog and the models on this machine.

The package is split by concern:

- :mod:`~outthink.catalog.entries`: :class:`ModelEntry`, :class:`Catalog`, parsing and
  validating ``models.toml``;
- :mod:`~outthink.catalog.sources`: :func:`load_catalog` (shipped, user and imported entries);
- :mod:`~outthink.catalog.paths`: names and paths, nothing outside the models folder;
- :mod:`~outthink.catalog.registry`: ``registry.json`` (lock, atomic save, backup);
- :mod:`~outthink.catalog.verify`: hashing and the known-file check;
- :mod:`~outthink.catalog.status`: which models are here;
- :mod:`~outthink.catalog.resolving`: what the engine loads;
- :mod:`~outthink.catalog.manage`: verify, import, remove, repair hints.

Memory estimates and measurements live in :mod:`outthink.memory`. Nothing here touches the
network: downloads live in :mod:`outthink.hub`.

The names below are re-exported so that callers can keep writing
``import outthink.catalog as catalog; catalog.load_catalog(...)``. A test that replaces a
function must patch the module that defines it.
"""

from __future__ import annotations

from outthink.catalog.entries import (
    CATALOG_SCHEMA,
    KNOWN_VERIFIER_KINDS,
    PROMPT_FORMATS,
    ROLES,
    Catalog,
    ModelEntry,
    Role,
    parse_catalog_file,
    parse_catalog_text,
)
from outthink.catalog.manage import (
    RemoveResult,
    VerifyResult,
    import_model,
    remove_model,
    repair_hint,
    verify_entry,
    verify_models,
)
from outthink.catalog.paths import (
    LOCAL_DIR,
    PARTIAL_DIR,
    hub_file_path,
    hub_relpath,
    partial_paths,
    validate_filename,
    validate_repo_id,
)
from outthink.catalog.registry import (
    REGISTRY_BACKUP,
    REGISTRY_FILE,
    REGISTRY_SCHEMA,
    file_record,
    forget_file,
    read_registry,
    record_verified,
    registry_backup_path,
    registry_notices,
    registry_path,
    require_registry,
    update_registry,
)
from outthink.catalog.resolving import (
    ResolvedModel,
    resolve_model,
)
from outthink.catalog.sources import (
    load_catalog,
    shipped_catalog_path,
    user_catalog_path,
)
from outthink.catalog.status import (
    ModelStatus,
    entry_path,
    list_models,
    model_status,
    untracked_files,
)
from outthink.catalog.verify import (
    ModelState,
    check_known_file,
    known_file_state,
    sha256_file,
)

__all__ = [
    "CATALOG_SCHEMA",
    "KNOWN_VERIFIER_KINDS",
    "LOCAL_DIR",
    "PARTIAL_DIR",
    "PROMPT_FORMATS",
    "REGISTRY_BACKUP",
    "REGISTRY_FILE",
    "REGISTRY_SCHEMA",
    "ROLES",
    "Catalog",
    "ModelEntry",
    "ModelState",
    "ModelStatus",
    "RemoveResult",
    "ResolvedModel",
    "Role",
    "VerifyResult",
    "check_known_file",
    "entry_path",
    "file_record",
    "forget_file",
    "hub_file_path",
    "hub_relpath",
    "import_model",
    "known_file_state",
    "list_models",
    "load_catalog",
    "model_status",
    "parse_catalog_file",
    "parse_catalog_text",
    "partial_paths",
    "read_registry",
    "record_verified",
    "registry_backup_path",
    "registry_notices",
    "registry_path",
    "remove_model",
    "repair_hint",
    "require_registry",
    "resolve_model",
    "sha256_file",
    "shipped_catalog_path",
    "untracked_files",
    "update_registry",
    "user_catalog_path",
    "validate_filename",
    "validate_repo_id",
    "verify_entry",
    "verify_models",
]
