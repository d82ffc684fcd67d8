"""Before Qt starts on Linux, the app and `outthink doctor` name the system packages Qt's X11
display plugin is missing, instead of letting Qt abort with a message that names none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from outthink.cli import main

ICCCM, KEYSYMS = "libxcb-icccm.so.4", "libxcb-keysyms.so.1"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def pretend_missing(monkeypatch: pytest.MonkeyPatch, *sonames: str) -> None:
    """The library lookup says ``sonames`` are not installed; an X11 session is on."""
    try:
        import outthink.qtdeps as qtdeps
    except ImportError:  # code without the check: the test's assertions say what is wrong
        pass
    else:
        monkeypatch.setattr(qtdeps, "library_found", lambda soname: soname not in sonames)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@linux_only
def test_the_app_names_the_missing_packages_instead_of_starting_qt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pretend_missing(monkeypatch, ICCCM, KEYSYMS)
    started: list[bool] = []
    import outthink.gui.app

    monkeypatch.setattr(outthink.gui.app, "main", lambda *a: started.append(True) or 0)
    assert main([]) == 1
    assert not started, "Qt was started although its display plugin cannot load"
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in err
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in err
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms" in err
    assert "outthink solve" in err  # the command line still works


@linux_only
def test_a_complete_system_starts_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_missing(monkeypatch)
    started: list[bool] = []
    import outthink.gui.app

    monkeypatch.setattr(outthink.gui.app, "main", lambda *a: started.append(True) or 0)
    assert main([]) == 0 and started


@linux_only
def test_doctor_names_the_missing_packages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pretend_missing(monkeypatch, "libxcb-cursor.so.0")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert ("Qt display:      xcb, missing system libraries libxcb-cursor.so.0; install: "
            "sudo apt install libxcb-cursor0") in out
    assert main(["doctor", "--json"]) == 0
    display = json.loads(capsys.readouterr().out)["qt_display"]
    assert display["missing_libraries"] == ["libxcb-cursor.so.0"]
    assert display["packages"] == ["libxcb-cursor0"] and display["platform"] == "xcb"


@pytest.mark.parametrize("module", ["outthink.cli", "outthink.gui"])
@linux_only
def test_no_display_is_explained_not_aborted(module: str, tmp_path: Path) -> None:
    """The real start-up, in a process of its own: X11 chosen but no display to open."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1] / "app"), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "there is no display" in proc.stderr
    assert "Start it from a desktop session" in proc.stderr
    assert "platform plugin" not in proc.stderr  # Qt was never started


def test_only_linux_with_x11_is_checked() -> None:
    from outthink.qtdeps import check_display, qt_platform

    def never(soname: str) -> bool:
        raise AssertionError("looked up a library although Qt would not use xcb")

    assert qt_platform({}, "linux") == "xcb"
    assert qt_platform({"QT_QPA_PLATFORM": "xcb;wayland"}, "linux") == "xcb"
    assert qt_platform({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == "wayland"
    assert qt_platform({"XDG_SESSION_TYPE": "wayland"}, "linux") == "wayland"
    for env, system in (({}, "darwin"), ({}, "win32"), ({"WAYLAND_DISPLAY": "w"}, "linux"),
                        ({"QT_QPA_PLATFORM": "offscreen"}, "linux")):
        check = check_display(env, system, found=never)
        assert check.ok and not check.checked and check.message() == ""
    check = check_display({"DISPLAY": ":0"}, "linux", found=lambda soname: True)
    assert check.ok and check.checked and check.summary() == "xcb, all system libraries present"


def test_the_library_list_is_what_the_plugin_links(tmp_path: Path) -> None:
    """Every soname the check knows maps to a package; a lookup finds a real library."""
    from outthink.qtdeps import XCB_LIBRARIES, library_found

    sonames = [soname for soname, _, _ in XCB_LIBRARIES]
    assert len(sonames) == len(set(sonames))
    for needed in (ICCCM, KEYSYMS, "libxcb-cursor.so.0", "libxkbcommon-x11.so.0"):
        assert needed in sonames
    assert not library_found("libdoes-not-exist-anywhere.so.7")
    if sys.platform.startswith("linux"):
        assert library_found("libc.so.6")
