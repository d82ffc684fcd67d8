"""Logging set-up shared by the command line and the desktop app."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from outthink.config import log_dir

__all__ = ["setup_logging"]


def setup_logging(verbose: bool = False) -> Path | None:
    """Log to a rotating file in the platformdirs log folder; ``--verbose`` also to stderr."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for h in list(root.handlers):
        if getattr(h, "_outthink", False):
            root.removeHandler(h)
            h.close()
    path: Path | None = None
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "outthink.log"
        fh = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        fh.setLevel(logging.DEBUG if verbose else logging.INFO)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh._outthink = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    except OSError:
        path = None  # a read-only home must not stop the app
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.DEBUG if verbose else logging.ERROR)
    err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    err._outthink = True  # type: ignore[attr-defined]
    root.addHandler(err)
    return path
