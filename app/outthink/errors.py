"""Typed errors. Every error carries a plain-words message and the user's next step (``hint``).

The CLI and the GUI show errors through one path (:func:`describe`), so no call site has to
remember how to format them.
"""

from __future__ import annotations


class OutthinkError(Exception):
    """Base of every error Outthink raises on purpose."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


class ModelFileError(OutthinkError):
    """A model file that cannot be used: missing, truncated, not GGUF, or not supported."""


class ModelMissingError(ModelFileError):
    pass


class ModelCorruptError(ModelFileError):
    """Truncated or damaged file, or not a GGUF file at all."""


class ModelUnsupportedError(ModelFileError):
    """A valid GGUF whose version or architecture the bundled llama.cpp cannot run."""


class MemoryBudgetError(OutthinkError):
    """The request would not fit in memory; raised before anything is loaded."""


class EngineError(OutthinkError):
    """llama.cpp refused an operation (context creation, decode)."""


class Cancelled(OutthinkError):
    """The user asked to stop. What was produced before is kept by the caller."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class ConfigError(OutthinkError):
    """Bad settings, bad catalog entry, bad command-line option."""


class CatalogError(ConfigError):
    pass


class DownloadError(OutthinkError):
    pass


class HubUnreachableError(DownloadError):
    """No connection to the Hub could be opened at all (no network, a name that does not
    resolve, a refused or timed-out connection), as opposed to a Hub that answered with an
    error. ``endpoint`` is the URL tried; ``mirror`` says where a mirror was set: ``""`` for
    huggingface.co itself, ``"settings"`` (``hf_endpoint``) or ``"environment"``
    (HF_ENDPOINT). The GUI words its own hint from these."""

    def __init__(self, message: str, *, hint: str, endpoint: str, mirror: str = "") -> None:
        super().__init__(message, hint=hint)
        self.endpoint = endpoint
        self.mirror = mirror


class StorageError(OutthinkError):
    """A file Outthink keeps (settings, the model registry) could not be written: disk full,
    permissions. The previous version of the file is left as it was."""


def describe(exc: BaseException) -> str:
    """One message for the user, whatever the exception."""
    if isinstance(exc, OutthinkError):
        return str(exc)
    return (
        f"Unexpected error: {type(exc).__name__}: {exc}. "
        "This is a bug in Outthink; the log file has the details."
    )


def gib(n: int) -> str:
    """A size in messages: GiB with one decimal from 1 GiB up, else whole MiB."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return f"{n / (1 << 20):.0f} MiB"
