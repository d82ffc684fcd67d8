"""Architecture rules: only the engine imports llama_cpp; nothing in the core imports Qt."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import outthink

PACKAGE = Path(outthink.__file__).parent
ROOT = PACKAGE.parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def test_only_the_engine_imports_llama_cpp() -> None:
    offenders = [
        name
        for name, path in _modules().items()
        if name != "outthink.engine"
        and any(i == "llama_cpp" or i.startswith("llama_cpp.") for i in _imports(path))
    ]
    assert offenders == []


def test_the_core_never_imports_qt() -> None:
    offenders = [
        name
        for name, path in _modules().items()
        if not name.startswith("outthink.gui")
        and any(
            i.split(".")[0] in {"PySide6", "PyQt6", "PyQt5", "shiboken6"} for i in _imports(path)
        )
    ]
    assert offenders == []


def test_engine_does_not_import_llama_cpp_at_module_level() -> None:
    tree = ast.parse((PACKAGE / "engine.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert not any(
        (isinstance(n, ast.Import) and any(a.name.startswith("llama_cpp") for a in n.names))
        or (isinstance(n, ast.ImportFrom) and (n.module or "").startswith("llama_cpp"))
        for n in top
    )


def test_import_linter_contract_covers_every_core_module() -> None:
    """The import-linter contract lists core modules by name; a new module must be added."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = config["tool"]["importlinter"]["contracts"][0]
    listed = set(contract["source_modules"])
    top_level = {
        ".".join(name.split(".")[:2])
        for name in _modules()
        if name != "outthink" and not name.startswith("outthink.gui")
    }
    assert top_level - listed == set(), "add these to the contract in pyproject.toml"
