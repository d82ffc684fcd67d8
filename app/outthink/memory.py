"""Memory: what this machine has, and what a model needs.

Measuring
    :func:`available_memory` is the memory the OS can give now (``None`` when it cannot be
    told); :func:`allocatable_memory` is the same for a check that must not refuse on an
    unknown (unbounded when it cannot be told); :func:`physical_memory` is the RAM installed.
    :func:`disk_free` is the free space on a folder's disk.

Estimating
    :func:`estimate_memory` sums what llama.cpp needs to run a model (file, KV cache, compute
    buffers); :func:`fits_in_memory` and :func:`check_memory` compare it with what is
    available now (before a run), :func:`machine_fit` and :func:`recommend` with the RAM of
    this computer (in the models manager). The engine refuses runs by the same estimate.

This module reads catalog entries (:mod:`outthink.catalog`); the catalog never imports it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from outthink.catalog.entries import ModelEntry
from outthink.catalog.status import entry_path
from outthink.config import Settings, load_settings
from outthink.errors import CatalogError, MemoryBudgetError, OutthinkError, gib

# Memory estimate constants (llama.cpp on CPU). The compute buffer holds the worst-case graph
# for one micro-batch, whose output is n_ubatch rows of vocabulary logits; the rest is small.
_N_UBATCH = 512
_BASE_OVERHEAD = 64 << 20
_DEFAULT_VOCAB = 152_064  # Qwen2.5's; larger than most, so the fallback errs on the safe side
# Without a header or a catalog figure: KV bytes per token per parameter. Real models sit
# between 1.6e-5 (Llama 3.1 8B) and 6.9e-5 (Gemma 3 270M); 4e-5 covers the common ones.
_KV_PER_PARAM = 4e-5


@dataclass(frozen=True, slots=True)
class MemoryFit:
    needed: int
    available: int | None
    fits: bool
    message: str


def _windows_memory(field_name: str) -> int | None:  # pragma: no cover - Windows only
    """One field of GlobalMemoryStatusEx (``ullTotalPhys``, ``ullAvailPhys``)."""
    import ctypes

    class _Status(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = _Status()
    status.dwLength = ctypes.sizeof(_Status)
    if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return int(getattr(status, field_name))
    return None


def available_memory() -> int | None:
    """Memory the OS can give us now, in bytes; None when it cannot be told."""
    try:
        if sys.platform.startswith("linux"):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        if sys.platform == "win32":  # pragma: no cover - Windows only
            return _windows_memory("ullAvailPhys")
        # macOS and other Unixes: total physical memory; macOS reclaims file cache eagerly,
        # so most of it is usable for an mmapped model.
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
        return int(pages * page_size * 0.75)
    except (OSError, ValueError, AttributeError):
        return None


def physical_memory() -> int | None:
    """The RAM installed in this machine, in bytes; None when it cannot be told. Unlike
    :func:`available_memory` it does not change with what else is running, so it answers
    "does this model suit this computer" rather than "can it load now"."""
    try:
        if sys.platform.startswith("linux"):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
        if sys.platform == "win32":  # pragma: no cover - Windows only
            return _windows_memory("ullTotalPhys")
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def allocatable_memory() -> int:
    """Bytes a new allocation may take: :func:`available_memory`, or unbounded (``1 << 62``)
    when it cannot be measured, so that a check against it refuses nothing it cannot judge."""
    value = available_memory()
    return value if value is not None else 1 << 62


def estimate_memory(
    model: str | Path | ModelEntry,
    n_ctx: int,
    n_seq: int = 1,
    *,
    settings: Settings | None = None,
) -> int:
    """Bytes needed to run ``model`` with a context of ``n_ctx`` tokens and ``n_seq`` sequences.

    ``n_ctx`` is the context the engine creates: with the unified KV cache all sequences
    share it (prompt once plus every branch's own tokens). The sum is: the file (weights are
    mapped whole), the f16 KV cache for ``n_ctx`` cells, the compute buffer (one micro-batch of
    vocabulary logits) and a logits row per sequence. Layer shapes come from the GGUF header
    when the file is on disk, else from the catalog entry, else from the parameter count.
    """
    from outthink.gguf_file import read_header

    if n_ctx <= 0 or n_seq <= 0:
        raise ValueError("n_ctx and n_seq must be positive")
    path: Path | None = None
    entry: ModelEntry | None = None
    if isinstance(model, ModelEntry):
        entry = model
        settings = settings or load_settings()
        with contextlib.suppress(CatalogError):
            candidate = entry_path(entry, settings)
            if candidate.is_file():
                path = candidate
    else:
        path = Path(model)
    if path is not None:
        header = read_header(path)
        file_bytes = header.file_size
        kv_per_token = header.kv_bytes_per_token() or _fallback_kv(entry, file_bytes)
        vocab = header.vocab_size or _DEFAULT_VOCAB
    else:
        assert entry is not None
        file_bytes = entry.size_bytes
        kv_per_token = entry.kv_bytes_per_token or _fallback_kv(entry, file_bytes)
        vocab = _DEFAULT_VOCAB
    kv = kv_per_token * n_ctx
    compute = _BASE_OVERHEAD + _N_UBATCH * vocab * 4
    logits = n_seq * vocab * 4
    return int(file_bytes + kv + compute + logits)


def _fallback_kv(entry: ModelEntry | None, file_bytes: int) -> int:
    params = entry.params if entry and entry.params else file_bytes * 2  # ~4 bits per weight
    return int(params * _KV_PER_PARAM)


def fits_in_memory(
    model: str | Path | ModelEntry,
    n_ctx: int,
    n_seq: int = 1,
    *,
    available: int | None = None,
    settings: Settings | None = None,
    headroom: float = 0.9,
) -> MemoryFit:
    """Whether the estimate fits in ``headroom`` of the available memory (measured if None)."""
    needed = estimate_memory(model, n_ctx, n_seq, settings=settings)
    available = available if available is not None else available_memory()
    if available is None:
        return MemoryFit(needed, None, True,
                         f"Needs about {gib(needed)}; free memory could not be measured.")
    fits = needed <= available * headroom
    if fits:
        message = f"Needs about {gib(needed)} of {gib(available)} available."
    else:
        message = (
            f"Needs about {gib(needed)} but only {gib(available)} is available: loading may "
            "swap heavily or fail. Use a smaller context or fewer samples (N), close other "
            "programs, or pick a smaller model."
        )
    return MemoryFit(needed, available, fits, message)


def check_memory(
    model: str | Path | ModelEntry,
    n_ctx: int,
    n_seq: int = 1,
    *,
    available: int | None = None,
    settings: Settings | None = None,
) -> MemoryFit:
    """:func:`fits_in_memory`, raising :class:`MemoryBudgetError` when it does not fit."""
    fit = fits_in_memory(model, n_ctx, n_seq, available=available, settings=settings)
    if not fit.fits:
        raise MemoryBudgetError(fit.message, hint="Lower --ctx or --n, or choose a smaller model.")
    return fit


def disk_free(folder: Path) -> int | None:
    """Free bytes on the disk that holds ``folder``, or that will hold it: the nearest folder
    above it that exists (the models folder is created by the first download). None when it
    cannot be told."""
    path = folder
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


#: The run "fits this machine" is judged for: a 4096-token context shared by the default budget
#: of eight sequences.
FIT_CONTEXT = 4096

FIT_SEQUENCES = 8

#: Shares of the physical RAM a model may need: up to the first it runs beside the system and
#: the usual programs; up to the second only with other programs closed.
FIT_COMFORTABLE = 0.5

FIT_TIGHT = 0.8

FitLevel = Literal["fits", "tight", "too-big", "unknown"]


@dataclass(frozen=True, slots=True)
class MachineFit:
    """Whether a model suits this computer's RAM (:func:`machine_fit`)."""

    level: FitLevel
    needed: int  # bytes, 0 when the estimate failed
    ram: int | None  # this computer's RAM in bytes, None when unknown
    message: str


def machine_fit(
    entry: ModelEntry, *, ram: int | None = None, settings: Settings | None = None
) -> MachineFit:
    """How a model's memory need (:func:`estimate_memory`, the same estimate that refuses a
    run before loading) compares with the RAM of this computer (``ram``, measured if None).
    """
    ram = ram if ram is not None else physical_memory()
    try:
        comfortable = fits_in_memory(entry, FIT_CONTEXT, FIT_SEQUENCES, available=ram,
                                     settings=settings, headroom=FIT_COMFORTABLE)
    except (OutthinkError, OSError) as exc:  # a damaged file on disk: no estimate
        return MachineFit("unknown", 0, ram, f"Its memory need is unknown: {exc}")
    needed = comfortable.needed
    if ram is None:
        return MachineFit("unknown", needed, None, f"Needs about {gib(needed)} of RAM; this "
                          "computer's RAM could not be measured.")
    of = f"Needs about {gib(needed)} of the {gib(ram)} of RAM in this computer"
    if comfortable.fits:
        return MachineFit("fits", needed, ram, f"{of}: fits.")
    if needed <= ram * FIT_TIGHT:
        return MachineFit("tight", needed, ram, f"{of}: runs with other programs closed.")
    return MachineFit("too-big", needed, ram, f"{of}: too big, it would swap or fail to load.")


def recommend(entries: Iterable[ModelEntry], fits: Mapping[str, MachineFit]) -> dict[str, str]:
    """The model to recommend for each role (role -> id): of those that fit this computer
    comfortably, the highest catalog ``rank``, then the most parameters."""
    best: dict[str, ModelEntry] = {}
    for entry in entries:
        fit = fits.get(entry.id)
        if fit is None or fit.level != "fits":
            continue
        current = best.get(entry.role)
        if current is None or (entry.rank, entry.params) > (current.rank, current.params):
            best[entry.role] = entry
    return {role: entry.id for role, entry in best.items()}


__all__ = [
    "FIT_COMFORTABLE",
    "FIT_CONTEXT",
    "FIT_SEQUENCES",
    "FIT_TIGHT",
    "FitLevel",
    "MachineFit",
    "MemoryFit",
    "allocatable_memory",
    "available_memory",
    "check_memory",
    "disk_free",
    "estimate_memory",
    "fits_in_memory",
    "machine_fit",
    "physical_memory",
    "recommend",
]
