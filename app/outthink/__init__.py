"""Outthink: test-time search with small local language models."""

from __future__ import annotations

#: The installed version, looked up on first use (PEP 562 ``__getattr__`` below): reading the
#: package metadata imports ``importlib.metadata``, a good part of the command line's start-up,
#: and the command line handles Ctrl-C from its own first import on (``outthink.cli``).
__version__: str


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("outthink")
    except PackageNotFoundError:  # running from a source tree that was never installed
        value = "0.0.0+source"
    globals()["__version__"] = value
    return value


__all__ = ["__version__"]
