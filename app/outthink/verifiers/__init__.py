"""Verifiers: what scores each step of each candidate.

Importing this package registers the built-in verifier kinds (each module calls
:func:`~outthink.verifiers.base.register` at import time), so :data:`VERIFIERS` is complete
for the CLI's choices and the GUI's menus.
"""

from __future__ import annotations

# Built-in kinds, registered on import. Add a module here to add a kind.
from outthink.verifiers import calculator, combined, model_based, simple  # noqa: F401
from outthink.verifiers.base import (
    VERIFIERS,
    VIEWS,
    StepRecord,
    Verifier,
    VerifierContext,
    VerifierSession,
    VerifierSpec,
    build,
    get_spec,
    register,
    verifier_view,
)

__all__ = [
    "VERIFIERS",
    "VIEWS",
    "StepRecord",
    "Verifier",
    "VerifierContext",
    "VerifierSession",
    "VerifierSpec",
    "build",
    "get_spec",
    "register",
    "verifier_view",
]
