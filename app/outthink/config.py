"""Folders and settings.

Folders come from platformdirs and can be moved with environment variables
(``OUTTHINK_DATA_DIR``, ``OUTTHINK_CONFIG_DIR``, ``OUTTHINK_CACHE_DIR``, ``OUTTHINK_LOG_DIR``);
the tests point all of them at temporary folders. Settings are one typed object stored as TOML
in the config folder.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

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
        except (OSError, tomllib.TOMLDecodeError):
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


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Cannot read settings file {path}: {exc}.",
            hint="Fix or delete the file; Outthink will recreate it with defaults.",
        ) from exc
    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    try:
        return Settings(**values)
    except TypeError as exc:  # pragma: no cover - dataclass rejects odd shapes
        raise ConfigError(f"Bad settings in {path}: {exc}.") from exc


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    raise TypeError(f"cannot store {type(value).__name__} in settings")


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically: a crash mid-write leaves the old file, never half a file."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    extra: dict[str, object] = {}
    for key, value in asdict(settings).items():
        if key == "extra":
            extra = value
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    if extra:
        lines.append("\n[extra]")
        lines.extend(f'"{k}" = {_toml_value(v)}' for k, v in extra.items())
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
