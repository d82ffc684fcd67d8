"""A full disk while the model registry is saved: a clear error, the old registry whole, no
temporary file left behind."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from outthink.catalog import registry_path
from outthink.cli import main
from outthink.config import Settings
from tests.tiny_gguf import write_tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("disk-full-models")
    return write_tiny_model(folder / "first.gguf"), write_tiny_model(folder / "second.gguf", seed=1)


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def disk_full(*_: Any, **__: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _when_registry(real: Callable[..., Any]) -> Callable[..., Any]:
    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(dst).name == "registry.json":
            disk_full()
        return real(src, dst, *args, **kwargs)

    return replace


@pytest.mark.parametrize("where", ["fsync", "rename"])
def test_a_full_disk_while_saving_the_registry_keeps_the_old_one(
    where: str, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = models
    assert cli(["models", "import", str(first)], capsys)[0] == 0
    registry = registry_path(Settings())
    before = registry.read_bytes()

    with monkeypatch.context() as patch:
        if where == "fsync":
            patch.setattr(os, "fsync", disk_full)
        else:
            patch.setattr(os, "replace", _when_registry(os.replace))
        code, out, err = cli(["models", "import", str(second)], capsys)

    assert code == 1
    assert err.startswith("Error: The disk is full") and str(registry) in err
    assert "Free some space" in err and "Traceback" not in err and "Imported" not in out
    assert registry.read_bytes() == before
    leftovers = [p.name for p in registry.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    code, out, _ = cli(["models", "list"], capsys)
    assert code == 0 and "\nfirst " in out and "\nsecond " not in out
    # with space again, the same command works
    assert cli(["models", "import", str(second)], capsys)[0] == 0


def test_a_full_disk_while_copying_an_import_leaves_no_half_file(
    models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, _ = models
    local = Settings().models_path() / "local"
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", _when_copy(os.replace))
        code, _, err = cli(["models", "import", "--copy", str(first)], capsys)
    assert code == 1 and err.startswith("Error: The disk is full") and "Traceback" not in err
    assert list(local.iterdir()) == []
    assert not registry_path(Settings()).exists()


def _when_copy(real: Callable[..., Any]) -> Callable[..., Any]:
    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(dst).name == "first.gguf":
            disk_full()
        return real(src, dst, *args, **kwargs)

    return replace
