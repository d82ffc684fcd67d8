"""Comments and docstrings point only at documentation inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("app", "tests", "benchmarks", "packaging", "scripts")
SUFFIXES = {".py", ".sh", ".toml", ".spec", ".cfg", ".txt"}

#: A design note by its shouting name (ENGINE.md, SEARCH.md...); README.md is the one kept.
SHOUTED_NOTE = re.compile(r"\b(?!README\.md)[A-Z][A-Z_]+\.md\b")
DOCS_LINK = re.compile(r"\bdocs/([A-Za-z0-9_.-]+\.(?:md|png))")
OUTSIDE = re.compile(r"\.\./shared|\bdesign/")


def _source_files() -> list[Path]:
    files = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                files.append(path)
    return files


def test_no_comment_points_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    found = []
    for path in _source_files():
        if path.resolve() == this:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SHOUTED_NOTE.search(line) or OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_every_docs_page_named_in_the_code_exists() -> None:
    named = {
        (name, str(path.relative_to(ROOT)))
        for path in [*_source_files(), ROOT / "README.md"]
        for name in DOCS_LINK.findall(path.read_text(encoding="utf-8"))
    }
    assert named  # the engine, the search and the bench point at docs/
    missing = sorted(f"{where}: docs/{name}" for name, where in named
                     if not (ROOT / "docs" / name).is_file())
    assert not missing, missing


def test_docs_pages_link_to_pages_that_exist() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to {target}"
