"""Find shipped read-only resources (``models.toml``, ``assets/``) in one way.

A source checkout (or editable install) keeps them at the repository root, next to ``app/``.
Packaged builds may place them inside the package as ``outthink/_data``; that location wins
when it exists.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def resource_root() -> Path:
    bundled = _PACKAGE_DIR / "_data"
    if (bundled / "models.toml").exists():
        return bundled
    return _PACKAGE_DIR.parent.parent  # app/outthink -> repository root


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource, e.g. ``resource_path("assets", "prompts", "x.txt")``."""
    return resource_root().joinpath(*parts)


def prompt_asset(name: str) -> str:
    return resource_path("assets", "prompts", name).read_text(encoding="utf-8")
