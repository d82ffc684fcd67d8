"""``outthink models ...``: list, pull, rm, import and verify models from the terminal.

:func:`add_models_parser` adds the ``models`` command to the main parser's subparsers; each
sub-command sets ``func(args) -> int``. Errors are raised as :class:`OutthinkError` for the
main CLI to print. The settings come from ``args.settings`` when the main CLI put a
:class:`Settings` there (global flags), else from the settings file.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from outthink.catalog import (
    ROLES,
    ModelStatus,
    import_model,
    list_models,
    load_catalog,
    registry_notices,
    remove_model,
    repair_hint,
    untracked_files,
    verify_models,
)
from outthink.config import Settings, load_settings
from outthink.errors import Cancelled, CatalogError
from outthink.memory import disk_free, fits_in_memory, machine_fit, physical_memory, recommend

_DEFAULT_CTX = 4096
_F = TypeVar("_F", bound=Callable[..., int])


def _with_notices(func: _F) -> _F:
    """Print on stderr what happened to a damaged model registry while the command ran."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> int:
        try:
            return func(*args, **kwargs)
        finally:
            for notice in registry_notices():
                print(f"Warning: {notice}", file=sys.stderr)

    return run  # type: ignore[return-value]


def add_models_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, download, import, verify and remove models",
        description="Manage the models Outthink can run: the catalog (models.toml, plus "
        "models.toml in the config folder) and the files in the models folder.",
    )
    sub = parser.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="every catalog entry: role, size, whether it is here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--role", choices=ROLES, help="only policies or only verifiers")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("pull", help="download catalog models (resumes an interrupted one)")
    p.add_argument("ids", nargs="+", metavar="ID", help="catalog id(s), see `models list`")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("rm", help="delete a model's file (imported files are only forgotten)")
    p.add_argument("id", metavar="ID")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("import", help="use a GGUF file that is already on disk")
    p.add_argument("path", metavar="PATH", type=Path, help="a .gguf file")
    p.add_argument("--role", choices=ROLES, default="policy", help="default: policy")
    p.add_argument("--id", dest="model_id", help="id to use (default: from the file name)")
    p.add_argument("--name", help="display name (default: from the file's metadata)")
    p.add_argument("--copy", action="store_true",
                   help="copy it into the models folder (default: use it where it is)")
    p.add_argument("--kind", dest="verifier_kind",
                   help="verifier kind for --role verifier (default: judge)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("verify", help="check models' SHA-256 (all models on disk by default)")
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_verify)


def _settings(args: argparse.Namespace) -> Settings:
    settings = getattr(args, "settings", None)
    return settings if isinstance(settings, Settings) else load_settings()


# --- list ------------------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _presence(status: ModelStatus) -> str:
    if status.state == "partial":
        total = status.entry.size_bytes or 1
        return f"partial {min(99, 100 * status.partial_bytes // total)}%"
    return {
        "present": "yes",
        "missing": "no",
        "available": "built-in",
        "unverified": "unchecked",
        "changed": "changed!",
    }[status.state]


def _thinks(entry: Any) -> str:
    """The reasoning mark of ``models list``: how thinking is switched, or nothing."""
    if not entry.reasoning:
        return "-"
    return "switch" if entry.thinking_switch else "always"


@_with_notices
def cmd_list(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    settings = _settings(args)
    catalog = load_catalog(settings)
    statuses = [s for s in list_models(settings, catalog)
                if args.role is None or s.entry.role == args.role]
    stray = untracked_files(settings, catalog)
    if args.json:
        json.dump(
            {
                "models_dir": str(settings.models_path()),
                "models": [s.to_dict() for s in statuses],
                "untracked": [str(p) for p in stray],
            },
            out,
            indent=2,
        )
        out.write("\n")
        return 0
    rows = [("ID", "ROLE", "SIZE", "PRESENT", "THINKS", "NAME")]
    for s in statuses:
        role = s.entry.role if s.entry.role == "policy" else f"verifier:{s.entry.verifier_kind}"
        rows.append((s.entry.id, role, _size(s.entry.size_bytes), _presence(s),
                     _thinks(s.entry), s.entry.name))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(5)]
        out.write("  ".join([*cells, row[5]]).rstrip() + "\n")
    free = disk_free(settings.models_path())
    room = f" ({_size(free)} free)" if free is not None else ""
    out.write(f"\nModels folder: {settings.models_path()}{room}\n")
    out.write(_recommendation(statuses, settings))
    if any(s.entry.reasoning for s in statuses):
        out.write("THINKS: reasoning models think before they answer; `switch` ones can be told "
                  "not to (solve --thinking off), `always` ones cannot.\n")
    if any(s.state in ("missing", "partial") for s in statuses):
        out.write("Download one with `outthink models pull ID`; "
                  "use a file you have with `outthink models import PATH`.\n")
    if any(s.state in ("unverified", "changed") for s in statuses):
        out.write("Check unchecked or changed files with `outthink models verify ID`.\n")
    if stray:
        out.write("GGUF files in the models folder that no entry uses (import them with "
                  "`outthink models import PATH`):\n")
        for path in stray:
            out.write(f"  {path}\n")
    return 0


def _recommendation(statuses: list[ModelStatus], settings: Settings) -> str:
    """The line naming the best models of each role for this computer's RAM, if any fit."""
    ram = physical_memory()
    fits = {s.entry.id: machine_fit(s.entry, ram=ram, settings=settings) for s in statuses}
    best = recommend((s.entry for s in statuses), fits)
    if not best or ram is None:
        return ""
    uses = {"policy": "to solve", "verifier": "to check steps"}
    named = [f"{best[role]} ({uses[role]})" for role in ROLES if role in best]
    return f"Recommended for this computer ({_size(ram)} of RAM): {', '.join(named)}.\n"


# --- pull ------------------------------------------------------------------------------------


class TerminalProgress:
    """One updating line on a terminal; elsewhere (a log, a pipe) a line per state change, per
    10% and per retry, so that a download waiting to try again never looks stuck."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = 0
        self.last_state = ""
        self.last_decile = -1
        self.last_draw = 0.0

    def __call__(self, p: Any) -> None:
        line = self.format(p)
        final = p.state in ("done", "failed", "cancelled")
        if self.tty:
            now = time.monotonic()
            if not final and p.state == self.last_state and now - self.last_draw < 0.1:
                return
            self.last_draw = now
            self.stream.write("\r" + line.ljust(self.width))
            self.width = max(self.width, len(line))
            if final:
                self.stream.write("\n")
        else:
            decile = int(p.fraction * 10) if p.fraction is not None else -1
            retry = p.state == "retrying"  # each one is a new failure and a new wait
            if p.state != self.last_state or decile != self.last_decile or final or retry:
                self.stream.write(line + "\n")
            self.last_decile = decile
        self.last_state = p.state
        self.stream.flush()

    @staticmethod
    def format(p: Any) -> str:
        name = p.name or "download"
        if p.state == "checking":
            return f"{name}: checking…" + (f" {p.message}" if p.message else "")
        if p.state == "retrying":
            return f"{name}: {p.message or 'retrying'}"
        if p.state in ("verifying", "failed", "cancelled"):
            return f"{name}: {p.state}" + (f" ({p.message})" if p.message else "")
        total = _size(p.total) if p.total else "?"
        parts = [f"{name}: {_size(p.downloaded)} / {total}"]
        if p.fraction is not None:
            parts.append(f"{100 * p.fraction:5.1f}%")
        if p.state == "done":
            transferred = getattr(p, "transferred", 0)
            elapsed = getattr(p, "elapsed_s", 0.0)
            if transferred and elapsed > 0:
                parts.append(f"done in {_clock(elapsed)} ({_size(p.average_bps)}/s on average)")
            else:
                parts.append("done")
        else:
            parts.append(f"{_size(p.rate_bps)}/s")
            if p.eta_s is not None:
                parts.append(f"ETA {_clock(p.eta_s)}")
        return "  ".join(parts)


def _clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@_with_notices
def cmd_pull(args: argparse.Namespace, out: TextIO | None = None,
             err: TextIO | None = None) -> int:
    from outthink import hub  # imported here: only pull needs the download machinery

    out = out or sys.stdout
    settings = _settings(args)
    catalog = load_catalog(settings)
    entries = [catalog.get(model_id) for model_id in args.ids]  # all ids checked up front
    for entry in entries:
        if entry.origin == "local":
            raise CatalogError(
                f"{entry.id} was imported from a local file; there is nothing to download.",
                hint=f"`outthink models verify {entry.id}` checks it.",
            )
        try:
            path = hub.download(entry, settings=settings, progress=TerminalProgress(err))
        except KeyboardInterrupt:
            raise Cancelled(
                f"Download of {entry.id} interrupted; what arrived is kept. Run `outthink "
                f"models pull {entry.id}` again to resume."
            ) from None
        out.write(f"{entry.id}: ready at {path}\n")
        fit = fits_in_memory(entry, _DEFAULT_CTX, 1, settings=settings)
        if not fit.fits:
            out.write(f"Warning: {fit.message}\n")
    return 0


# --- rm, import, verify ------------------------------------------------------------------------


@_with_notices
def cmd_rm(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    result = remove_model(args.id, _settings(args))
    out.write(result.message + "\n")
    return 0


@_with_notices
def cmd_import(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    entry = import_model(
        args.path,
        role=args.role,
        model_id=args.model_id,
        name=args.name,
        copy=args.copy,
        verifier_kind=args.verifier_kind,
        settings=_settings(args),
    )
    how = "copied into the models folder" if args.copy else "used where it is"
    flag = "--policy" if entry.role == "policy" else "--verifier"
    kind = f", kind {entry.verifier_kind}" if entry.verifier_kind else ""
    out.write(
        f"Imported {args.path} as {entry.id} ({entry.role}{kind}, {entry.prompt_format} "
        f"prompts, {how}).\nUse it with `outthink solve {flag} {entry.id}`.\n"
    )
    return 0


@_with_notices
def cmd_verify(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    settings = _settings(args)
    results = verify_models(args.id, settings)
    if args.json:
        json.dump([r.to_dict() for r in results], out, indent=2)
        out.write("\n")
    elif not results:
        out.write("No models on disk to verify.\n")
    else:
        for r in results:
            out.write(f"{'OK ' if r.ok else 'BAD'}  {r.id}: {r.message}\n")
        bad = [r.id for r in results if not r.ok]
        if bad:
            catalog = load_catalog(settings)
            out.write("To fix:\n")
            for model_id in bad:
                out.write(f"  {repair_hint(catalog.get(model_id), settings)}\n")
    return 0 if all(r.ok for r in results) else 1


__all__ = ["TerminalProgress", "add_models_parser"]
