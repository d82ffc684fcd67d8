"""A damaged registry.json must not lose imported models: it is restored from its backup, the
user is told, and a registry that cannot be read is never overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from outthink.catalog import registry_path
from outthink.cli import main
from outthink.config import Settings
from tests.tiny_gguf import write_tiny_model

OUTTHINK = Path(sys.executable).with_name("outthink")


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("registry-models")
    return [write_tiny_model(folder / f"{name}.gguf", seed=i)
            for i, name in enumerate(("alpha", "beta", "gamma"))]


def outthink(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OUTTHINK), *argv], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120, check=False)


def imports() -> set[str]:
    return set(json.loads(registry_path(Settings()).read_text())["imports"])


def test_a_truncated_registry_is_restored_from_its_backup_and_nothing_is_lost(
    ggufs: list[Path],
) -> None:
    alpha, beta, gamma = ggufs
    assert outthink("models", "import", str(alpha)).returncode == 0
    assert outthink("models", "import", str(beta)).returncode == 0
    registry = registry_path(Settings())
    registry.write_bytes(registry.read_bytes()[:50])  # truncated

    listing = outthink("models", "list")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0] for line in listing.stdout.splitlines() if line.strip()}
    assert {"alpha", "beta"} <= rows
    warning = [line for line in listing.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and str(registry) in warning[0]
    assert str(registry.with_name("registry.json.bak")) in warning[0]
    assert "Traceback" not in listing.stderr

    assert outthink("models", "import", str(gamma)).returncode == 0
    assert imports() == {"alpha", "beta", "gamma"}
    kept = list(registry.parent.glob("registry.json.damaged-*"))
    assert len(kept) == 1 and len(kept[0].read_bytes()) == 50  # the damaged file is kept


def test_a_registry_that_cannot_be_read_is_never_overwritten(ggufs: list[Path]) -> None:
    alpha, beta, gamma = ggufs
    assert outthink("models", "import", str(alpha)).returncode == 0
    assert outthink("models", "import", str(beta)).returncode == 0
    registry = registry_path(Settings())
    backup = registry.with_name("registry.json.bak")
    registry.write_bytes(registry.read_bytes()[:50])
    backup.write_bytes(b"")  # the backup is no good either
    damaged = registry.read_bytes()

    listing = outthink("models", "list")
    assert listing.returncode == 0
    warning = [line for line in listing.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and str(registry) in warning[0] and "fix the file" in warning[0]

    for argv in (("models", "import", str(gamma)), ("models", "rm", "alpha")):
        result = outthink(*argv)
        assert result.returncode == 1
        assert result.stderr.startswith("Error: The model registry")
        assert str(registry) in result.stderr and "Traceback" not in result.stderr
        assert registry.read_bytes() == damaged
    assert alpha.exists()


def test_a_registry_of_a_newer_format_is_not_overwritten(
    ggufs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registry = registry_path(Settings())
    registry.parent.mkdir(parents=True)
    newer = json.dumps({"schema": 2, "files": {}, "imports": {"kept": {"path": "x"}}})
    registry.write_text(newer)
    assert main(["models", "import", str(ggufs[0])]) == 1
    err = capsys.readouterr().err
    assert "Error: The model registry" in err and "schema 2" in err
    assert registry.read_text() == newer


def test_the_models_window_says_the_registry_was_restored(
    ggufs: list[Path], qtbot: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from outthink.gui.models_dialog import ModelsController

    assert main(["models", "import", str(ggufs[0])]) == 0
    registry = registry_path(Settings())
    registry.write_bytes(b"")
    controller = ModelsController(Settings())
    seen: list[tuple[str, str]] = []
    controller.message.connect(lambda level, message, hint: seen.append((level, message)))
    controller.refresh()
    assert controller.model.row_of("alpha") >= 0
    assert [level for level, _ in seen] == ["warning"]
    assert str(registry) in seen[0][1] and "restored" in seen[0][1]
    controller.shutdown()
