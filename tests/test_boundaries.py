"""Architecture rules: only the engine imports llama_cpp; nothing in the core imports Qt; the
import-linter contracts in pyproject.toml cover every module."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

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


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["type"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _layers(contract: dict[str, Any]) -> list[list[str]]:
    """The layers contract's layers, top first, each as its module names."""
    layers = contract["layers"]
    assert isinstance(layers, list)
    out = []
    for layer in layers:
        assert isinstance(layer, str)
        separators = {c for c in layer if c in "|:"}
        assert separators <= {"|"}, f"layer {layer!r}: its modules must be independent"
        out.append([name.strip() for name in layer.split("|")])
    return out


def test_every_top_level_module_sits_in_one_layer() -> None:
    """The layers contract covers the whole package: each top-level module or package is in
    exactly one layer (exhaustive, so lint-imports also refuses a module left out), the GUI
    and the command line are the top layer, and nothing listed is gone."""
    contract = _contracts()["layers"]
    assert contract["containers"] == ["outthink"]
    assert contract["exhaustive"] is True
    layers = _layers(contract)
    placed = [name for layer in layers for name in layer]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    top_level = {name.split(".")[1] for name in _modules() if name != "outthink"}
    assert top_level - set(placed) == set(), "place these in a layer in pyproject.toml"
    assert set(placed) - top_level == set(), "these layers name modules that do not exist"
    assert set(layers[0]) == {"gui", "cli"}


def test_the_layers_ignore_only_the_known_imports() -> None:
    """An ignored import is a hole in the layers: only the CLI's door into the GUI and the
    catalog's one circle with the starter package are allowed through."""
    contract = _contracts()["layers"]
    assert set(contract["ignore_imports"]) <= {
        "outthink.cli -> outthink.gui.app",
        "outthink.catalog.** -> outthink.starter",
    }
    assert contract["unmatched_ignore_imports_alerting"] == "error"
    acyclic = _contracts()["acyclic_siblings"]
    assert acyclic["ancestors"] == ["outthink"]
    assert set(acyclic.get("ignore_imports", [])) <= {
        "outthink.catalog.** -> outthink.starter"
    }


def test_the_qt_contract_covers_every_module_outside_the_gui() -> None:
    contract = _contracts()["forbidden"]
    assert contract["source_modules"] == ["outthink"]
    assert contract["forbidden_modules"] == ["PySide6"]
    assert contract["allow_indirect_imports"] is False
    assert all(
        rule.split(" -> ")[0].startswith("outthink.gui")
        for rule in contract["ignore_imports"]
    )
