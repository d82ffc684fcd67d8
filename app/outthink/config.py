"""Folders and settings.

Folders come from platformdirs and can be moved with environment variables
(``OUTTHINK_DATA_DIR``, ``OUTTHINK_CONFIG_DIR``, ``OUTTHINK_CACHE_DIR``, ``OUTTHINK_LOG_DIR``);
the tests point all of them at temporary folders. Settings are one typed object stored as TOML
in the config folder.

The settings file holds the Hub token, so it is written readable by its owner only (0600), in a
folder made private (0700) when Outthink creates it. Every string is written as a TOML basic
string with control characters escaped, so any text (a problem pasted into the app) reads back
as it was. A file that cannot be read (edited by hand) does not stop the app: the defaults are
used and the error names the file and line; it is moved aside, not overwritten, on next save.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from outthink.errors import ConfigError, StorageError

log = logging.getLogger(__name__)

APP_NAME = "Outthink"
SETTINGS_SCHEMA = 1


def _dir(env: str, default: str) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser() if value else Path(default)


def data_dir() -> Path:
    """The data folder: ``OUTTHINK_DATA_DIR``, else the ``data_dir`` setting, else the
    platform's default."""
    if os.environ.get("OUTTHINK_DATA_DIR"):
        return Path(os.environ["OUTTHINK_DATA_DIR"]).expanduser()
    configured = _configured_data_dir()
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


_data_dir_cache: tuple[tuple[str, int], str] | None = None


def _configured_data_dir() -> str:
    """The ``data_dir`` setting, re-read only when the settings file changes."""
    global _data_dir_cache
    path = settings_path()
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return ""
    if _data_dir_cache is None or _data_dir_cache[0] != key:
        try:
            value = str(tomllib.loads(path.read_text(encoding="utf-8")).get("data_dir", ""))
        except (OSError, ValueError, RecursionError):  # TOMLDecodeError, UnicodeDecodeError
            value = ""  # load_settings reports a broken file; the default folder serves meanwhile
        _data_dir_cache = (key, value)
    return _data_dir_cache[1]


def config_dir() -> Path:
    return _dir("OUTTHINK_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return _dir("OUTTHINK_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return _dir("OUTTHINK_LOG_DIR", platformdirs.user_log_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "settings.toml"


@dataclass(slots=True)
class Settings:
    """User settings. Unknown keys in the file are ignored; missing keys take defaults."""

    schema: int = SETTINGS_SCHEMA
    threads: int = 0  # 0 = physical cores
    gpu_layers: int = 0
    context_size: int = 0  # 0 = sized from the request
    data_dir: str = ""  # "" = the platform's data folder (OUTTHINK_DATA_DIR overrides)
    models_dir: str = ""  # "" = <data dir>/models
    hf_token: str = ""
    hf_endpoint: str = ""  # mirror; "" = the library's default
    offline: bool = False
    last_problem: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def models_path(self) -> Path:
        env = os.environ.get("OUTTHINK_MODELS_DIR")
        if env:
            return Path(env).expanduser()
        if self.models_dir:
            return Path(self.models_dir).expanduser()
        return data_dir() / "models"

    def is_offline(self) -> bool:
        flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
        return self.offline or flag in {"1", "true", "yes", "on"}


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a crash (no-op where unsupported)."""
    if os.name == "nt":  # directories cannot be fsynced there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def storage_error(exc: OSError, path: Path, what: str) -> StorageError:
    """The error for a failed write of ``what`` at ``path``: says whether the disk is full."""
    if exc.errno in _DISK_FULL:
        return StorageError(
            f"The disk is full: {what} could not be saved to {path}; the previous version of "
            "the file was kept unchanged.",
            hint=f"Free some space on the disk that holds {path.parent}, then run it again.",
        )
    return StorageError(
        f"Could not save {what} to {path}: {exc.strerror or exc}; the previous version of the "
        "file was kept unchanged.",
        hint=f"Check that {path.parent} is writable and the disk is healthy.",
    )


def write_atomic(path: Path, text: str, *, what: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` (UTF-8): all of it or, on any failure, none of it.

    The text goes to a temporary file in the same folder, created with ``mode``, is fsynced,
    then renamed over ``path``. A full disk, a permission error or a crash leaves the old file
    whole and no temporary file behind; failures raise :class:`StorageError` naming ``what``.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    data = text.encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0),
                     mode)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # a leftover temporary file keeps its old mode otherwise
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("Could not write %s: %s", path, exc)
        raise storage_error(exc, path, what) from None
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)


#: Broken settings files already reported in this process: (path, mtime), so a command that
#: reads the settings several times says it once.
_REPORTED: set[tuple[str, int]] = set()


def load_settings(path: Path | None = None, *, strict: bool = False) -> Settings:
    """The settings in ``path`` (default: the settings file); defaults when there is none.

    A file that cannot be read gives the defaults, and the error (file, line, what to do) is
    logged once at ERROR level, which the command line prints. ``strict`` raises that
    :class:`ConfigError` instead (the GUI shows it and then leaves the file alone).
    """
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        raw = _read_toml(path)
    except ConfigError as exc:
        if strict:
            raise
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except OSError:
            key = (str(path), 0)
        if key not in _REPORTED:
            _REPORTED.add(key)
            log.error("%s Outthink uses the default settings until then.", exc)
        return Settings()
    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    try:
        return Settings(**values)
    except TypeError as exc:  # pragma: no cover - dataclass rejects odd shapes
        raise ConfigError(f"Bad settings in {path}: {exc}.") from exc


_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse the settings file; :class:`ConfigError` names the file, the line and the fix."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the settings file {path}: {exc.strerror or exc}.",
            hint="Check the file's permissions, or delete it to start from the defaults.",
        ) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(
            f"The settings file {path} nests arrays or tables thousands of levels deep.",
            hint="Delete it to start from the defaults; Outthink writes only plain values.",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"The settings file {path} is not UTF-8 text (byte {exc.start}).",
            hint="Delete it, or save it again as UTF-8; deleting it starts from the defaults.",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        where = _AT_LINE.search(reason)
        place = ""
        if where:
            reason = reason[: where.start()]
            line_no = int(where.group(1))
            lines = path.read_bytes().decode("utf-8").split("\n")
            key = lines[line_no - 1].split("=", 1)[0].strip() if line_no <= len(lines) else ""
            named = f" (`{key}`)" if key and "=" in lines[line_no - 1] else ""
            place = f", line {line_no}{named}, column {where.group(2)}"
        raise ConfigError(
            f"The settings file {path} is not valid TOML{place}: {reason}.",
            hint="Fix that line (text goes in double quotes, with \\n for a line break and "
            "\\u0001 for other control characters) or delete the file to start from the "
            "defaults.",
        ) from None


# Characters a TOML basic string must (or, for C1 controls and line separators, had better)
# not hold raw: each becomes its escape. Lone surrogates (not encodable) become U+FFFD.
_TOML_ESCAPES: dict[int, str] = {
    **{c: f"\\u{c:04X}" for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)},
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\b"): "\\b",
    ord("\t"): "\\t",
    ord("\n"): "\\n",
    ord("\f"): "\\f",
    ord("\r"): "\\r",
}
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _toml_string(value: str) -> str:
    return '"' + _SURROGATE.sub("\ufffd", value).translate(_TOML_ESCAPES) + '"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise TypeError(f"cannot store {type(value).__name__} in settings")


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically, owner-only (0600): a crash or a full disk leaves the old file whole.

    A file there that cannot be read is kept under another name (``settings.toml.broken-…``)
    rather than overwritten.
    """
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise storage_error(exc, path, "the settings") from None
    lines = []
    extra: dict[str, object] = {}
    for key, value in asdict(settings).items():
        if key == "extra":
            extra = value
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    if extra:
        lines.append("\n[extra]")
        lines.extend(f"{_toml_string(str(k))} = {_toml_value(v)}" for k, v in extra.items())
    _keep_broken(path)
    write_atomic(path, "\n".join(lines) + "\n", what="the settings", mode=0o600)
    return path


def _keep_broken(path: Path) -> None:
    """Move a settings file that cannot be read out of the way, so saving does not lose it."""
    if not path.exists():
        return
    try:
        _read_toml(path)
        return
    except ConfigError as exc:
        problem = exc.message
    aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while aside.exists():
        n += 1
        aside = aside.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise storage_error(exc, path, "the settings") from None
    log.warning("%s It was kept as %s; new settings are saved to %s.", problem, aside, path)
