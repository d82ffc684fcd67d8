"""Names and paths: nothing outside the models folder.

The models folder (``Settings.models_path()``) holds ``<org>/<repo>/<file>`` for Hub downloads,
``local/<file>`` for copied imports, the starter model where :mod:`outthink.starter` puts it,
``.partial/`` for unfinished downloads and the registry. Names from any catalog are checked
here so nothing is read or written outside that folder.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from outthink.config import Settings, load_settings
from outthink.errors import (
    CatalogError,
)

PARTIAL_DIR = ".partial"

LOCAL_DIR = "local"

# One path segment of a repo id or file name: no leading dot (so no "..", no hidden files),
# no separators, no drive letters, nothing a shell or Windows would treat specially.
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {
    f"lpt{i}" for i in range(10)
}


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
