"""Can Qt open a window here? The system libraries of Qt's X11 display plugin, checked without
starting Qt.

On Linux, Qt draws through a platform plugin; on X11 that is ``xcb`` (``libqxcb.so``), which
needs a dozen small system libraries that a bare desktop may lack (``libxcb-icccm4``,
``libxcb-keysyms1``, ``libxcb-cursor0``...). Without one of them Qt aborts the process with a
message that blames the plugin, or a different library, and names no package. So before the
app starts Qt (and in ``outthink doctor``) :func:`check_display` looks the libraries up the
way the dynamic loader would find them (the ``ldconfig`` cache, ``LD_LIBRARY_PATH``, the
folders of Qt and of a packaged app, the standard library folders) without loading any, and
:meth:`DisplayCheck.message` names the packages to install. Only on Linux, and only when Qt
would use xcb: not under Wayland, not with ``QT_QPA_PLATFORM`` set to another plugin.

``XCB_LIBRARIES`` is what ``ldd .../PySide6/Qt/plugins/platforms/libqxcb.so`` lists (with
``libQt6XcbQpa``'s own needs) for the PySide6 6.x wheels, apart from the C library.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

#: soname, Debian/Ubuntu package, Fedora package.
XCB_LIBRARIES: tuple[tuple[str, str, str], ...] = (
    ("libxcb.so.1", "libxcb1", "libxcb"),
    ("libX11.so.6", "libx11-6", "libX11"),
    ("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    ("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    ("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    ("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    ("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    ("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    ("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    ("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    ("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    ("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    ("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    ("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    ("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    ("libGL.so.1", "libgl1", "libglvnd-glx"),
    ("libEGL.so.1", "libegl1", "libglvnd-egl"),
    ("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    ("libfreetype.so.6", "libfreetype6", "freetype"),
    ("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
    ("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
)

_CLI_HINT = (
    "The command line works without a window: `outthink solve \"...\"`, `outthink models "
    "list`, `outthink doctor`."
)


@dataclass(frozen=True, slots=True)
class DisplayCheck:
    """What :func:`check_display` found. ``platform`` is the Qt plugin that would be used
    (``"xcb"``, ``"wayland"``, ``"offscreen"``...; ``""`` off Linux, where nothing is checked)."""

    platform: str
    missing: tuple[str, ...] = ()
    no_display: bool = False
    checked: bool = False
    packages: tuple[str, ...] = field(default=())
    fedora_packages: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.missing and not self.no_display

    def install_command(self) -> str:
        return f"sudo apt install {' '.join(self.packages)}" if self.packages else ""

    def message(self) -> str:
        """What is wrong and what to do, for the terminal; "" when nothing is."""
        if self.missing:
            return (
                "Outthink's window cannot open: Qt's X11 display plugin (xcb) needs system "
                f"libraries that are not installed: {', '.join(self.missing)}.\n"
                f"Install them, on Debian or Ubuntu with:\n  {self.install_command()}\n"
                f"(Fedora: sudo dnf install {' '.join(self.fedora_packages)})\n"
                f"{_CLI_HINT}"
            )
        if self.no_display:
            return (
                "Outthink's window cannot open: there is no display to show it on (neither "
                "DISPLAY nor WAYLAND_DISPLAY is set, as over ssh or in a plain console).\n"
                f"Start it from a desktop session. {_CLI_HINT}"
            )
        return ""

    def summary(self) -> str:
        """One line for ``outthink doctor``."""
        if not self.platform:
            return "not checked (not Linux)"
        if not self.checked:
            return f"{self.platform} (the X11 libraries are not needed)"
        if self.missing:
            return (f"xcb, missing system libraries {', '.join(self.missing)}; install: "
                    f"{self.install_command()}")
        if self.no_display:
            return "xcb, all libraries present, but no display (DISPLAY is not set)"
        return "xcb, all system libraries present"

    def to_dict(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "checked": self.checked,
            "missing_libraries": list(self.missing),
            "packages": list(self.packages),
            "install": self.install_command(),
            "no_display": self.no_display,
        }


def qt_platform(env: Mapping[str, str] | None = None, system: str | None = None) -> str:
    """The platform plugin Qt would pick: ``QT_QPA_PLATFORM`` (its first choice), else
    ``wayland`` in a Wayland session and ``xcb`` otherwise; ``""`` off Linux."""
    env = os.environ if env is None else env
    system = sys.platform if system is None else system
    if not system.startswith("linux"):
        return ""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0].strip().lower()
    if env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        return "wayland"
    return "xcb"


def check_display(
    env: Mapping[str, str] | None = None,
    system: str | None = None,
    found: Callable[[str], bool] | None = None,
) -> DisplayCheck:
    """Whether Qt can open a window here, without starting it. ``found(soname)`` looks a
    library up (default :func:`library_found`)."""
    env = os.environ if env is None else env
    chosen = qt_platform(env, system)
    if chosen != "xcb":
        return DisplayCheck(chosen)
    found = found or library_found
    missing = [entry for entry in XCB_LIBRARIES if not found(entry[0])]
    return DisplayCheck(
        "xcb",
        missing=tuple(soname for soname, _, _ in missing),
        no_display=not env.get("DISPLAY"),
        checked=True,
        packages=_unique(deb for _, deb, _ in missing),
        fedora_packages=_unique(rpm for _, _, rpm in missing),
    )


def display_ready() -> bool:
    """Check, before Qt starts, that it can open a window here; say what to install when not.

    Qt aborts the process when its display plugin cannot load, with a message that names no
    package. ``outthink`` with no arguments and ``python -m outthink.gui`` both ask first.
    """
    check = check_display()
    if check.ok:
        return True
    log.error("The window cannot open: %s", check.summary())
    print(check.message(), file=sys.stderr)
    return False


def library_found(soname: str) -> bool:
    """Whether the dynamic loader would find ``soname``: in the ``ldconfig`` cache, or as a
    file in a folder it searches (nothing is loaded)."""
    if soname in _ldconfig_names():
        return True
    return any((folder / soname).exists() for folder in _search_folders())


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


@cache
def _ldconfig_names() -> frozenset[str]:
    """The sonames in the loader's cache for this machine's word size (``ldconfig -p``)."""
    tool = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None
    )
    if tool is None:
        return frozenset()
    try:
        listing = subprocess.run(
            [tool, "-p"], capture_output=True, text=True, timeout=10, check=False,
            env={**os.environ, "LC_ALL": "C"},
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    tag = {"x86_64": "x86-64", "aarch64": "AArch64"}.get(platform.machine(), "")
    names = set()
    for line in listing.splitlines():
        # "	libxcb.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libxcb.so.1"
        name, _, rest = line.strip().partition(" (")
        flags = rest.partition(")")[0]
        if name and rest and (not tag or tag in flags):
            names.add(name)
    return frozenset(names)


def _search_folders() -> list[Path]:
    """LD_LIBRARY_PATH, the folders of Qt and of a packaged app (PyInstaller), and the
    standard library folders."""
    folders = [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        folders += [Path(bundle), Path(bundle) / "PySide6" / "Qt" / "lib"]
    spec = importlib.util.find_spec("PySide6")  # found, not imported
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) / "Qt" / "lib" for p in spec.submodule_search_locations]
    arch = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
    for root in ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"):
        folders += [Path(root) / arch, Path(root)]
    return folders


__all__ = ["XCB_LIBRARIES", "DisplayCheck", "check_display", "library_found", "qt_platform"]
