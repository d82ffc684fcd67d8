"""Messages that must lead the user to something that works."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from outthink.cli import main
from tests.hostile.cli_process import SIGINT_ON_IMPORT, SIGINT_WHILE_DOWNLOADING, run_cli
from tests.hub_server import FakeHub, catalog_entry, gguf_bytes

REPO = "test-org/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"


def _commands(text: str) -> list[list[str]]:
    """The `outthink ...` commands a message suggests, as argument lists for main()."""
    return [shlex.split(cmd)[1:] for cmd in re.findall(r"`(outthink [^`]+)`", text)]


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-100] ^= 1  # in the tensor data: the header still parses, the SHA-256 changes
    path.write_bytes(bytes(data))


# --- (a) a damaged or changed imported model: the advice must work for an import -------------


@pytest.mark.parametrize("where", ["verify", "solve"])
def test_the_fix_suggested_for_a_changed_imported_model_works(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    mine = tmp_path / "my model.gguf"
    mine.write_bytes(tiny_model.read_bytes())
    assert main(["models", "import", str(mine), "--id", "mine"]) == 0
    _damage(mine)  # the user changed the file (or it was damaged)
    capsys.readouterr()

    if where == "verify":
        assert main(["models", "verify"]) == 1
        advice = capsys.readouterr().out
    else:
        assert main(["solve", "--policy", "mine", "What is 2+2?"]) == 1
        advice = capsys.readouterr().err
    assert "SHA-256 mismatch" in advice
    steps = _commands(advice)
    assert steps, advice
    assert all(step[:2] != ["models", "pull"] for step in steps), advice  # nothing to download
    for step in steps:  # doing what it says works...
        assert main(step) == 0, (step, capsys.readouterr())
    capsys.readouterr()
    assert main(["models", "verify", "mine"]) == 0  # ...and the model is usable again


def test_the_fix_suggested_for_a_changed_copied_import_names_a_copy_import(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = tmp_path / "original.gguf"
    original.write_bytes(tiny_model.read_bytes())
    assert main(["models", "import", str(original), "--copy", "--id", "copied",
                 "--role", "verifier"]) == 0
    from outthink.catalog import entry_path, load_catalog

    _damage(entry_path(load_catalog().get("copied")))
    capsys.readouterr()
    assert main(["models", "verify", "copied"]) == 1
    advice = capsys.readouterr().out
    steps = _commands(advice.replace("ORIGINAL.gguf", shlex.quote(str(original))))
    assert [s[:2] for s in steps] == [["models", "rm"], ["models", "import"]], advice
    for step in steps:
        assert main(step) == 0, (step, capsys.readouterr())
    capsys.readouterr()
    assert main(["models", "verify", "copied"]) == 0


# --- (b) doctor lists the models that were downloaded (they live in sub-folders) ----------


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake Hub with one small GGUF, and a catalog entry ``tiny-test`` for it."""
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        data = gguf_bytes(tmp_path / "src" / "tiny.gguf", payload_bytes=256 * 1024)
        server.add_file(REPO, FILE, data)
        catalog = Path(os.environ["OUTTHINK_CONFIG_DIR"]) / "models.toml"
        catalog.parent.mkdir(parents=True, exist_ok=True)
        catalog.write_text(catalog_entry("tiny-test", REPO, FILE, size=len(data)))
        yield server


def test_doctor_lists_a_downloaded_model(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "tiny-test"]) == 0
    capsys.readouterr()
    assert main(["doctor"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Models on disk"))
    assert "tiny-test" in line, line
    assert main(["doctor", "--json"]) == 0
    assert "tiny-test" in json.loads(capsys.readouterr().out)["models_found"]


# --- (c) Ctrl-C during `models pull` exits 130 (it was reported as an error, status 1) -------


def test_ctrl_c_during_pull_exits_130_and_keeps_the_partial_file(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.stall(FILE, after=64 * 1024, seconds=30)  # the download cannot finish before Ctrl-C
    proc = run_cli(["models", "pull", "tiny-test"], tmp_path, hook=SIGINT_WHILE_DOWNLOADING)
    err = proc.stderr.decode()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and "Error:" not in err, err
    assert "interrupted" in err and "`outthink models pull tiny-test`" in err, err  # resume
    assert main(["models", "list", "--json"]) == 0
    rows = {m["id"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert rows["tiny-test"]["state"] == "partial"


# --- (d) the plural of "policy" -----------------------------------------------------------


def test_the_wrong_role_message_names_the_catalog_policies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["solve", "--policy", "math-shepherd-mistral-7b-prm", "What is 2+2?"]) == 1
    err = capsys.readouterr().err
    assert "is a verifier, not a policy" in err, err
    assert "Catalog policies: gemma-3-270m" in err and "policys" not in err, err


# --- (e) without a terminal, every retry of a download is a line ---------------------------


def test_each_retry_of_a_pull_is_reported_without_a_terminal(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from outthink import hub as hub_mod

    quick = hub_mod.DownloadOptions(retries=5, backoff_s=0.01, backoff_max_s=0.02)
    real = hub_mod.download
    monkeypatch.setattr(hub_mod, "download", lambda *a, **k: real(*a, **{**k, "options": quick}))
    hub.fail(FILE, 503, times=3)  # three failures in a row, then it works
    assert main(["models", "pull", "tiny-test"]) == 0
    err = capsys.readouterr().err  # captured: not a terminal
    retries = [line for line in err.splitlines() if "retrying in" in line]
    assert len(retries) == 3, err
    for number, line in enumerate(retries, 1):
        assert "HTTP 503" in line and f"(retry {number} of 5)" in line, err


# --- (f) Ctrl-C while the command line is still importing its modules ----------------------


@pytest.mark.parametrize(
    "module",
    [
        "importlib.metadata",  # the package's version, read as the command line starts
        "outthink.config",  # the command line's first own module
        "numpy",  # deep in the chain (search -> verifiers -> engine)
        "outthink.cli.models",  # main() building the parser
    ],
)
def test_ctrl_c_during_start_up_imports_exits_130_quietly(tmp_path: Path, module: str) -> None:
    proc = run_cli(
        ["models", "list"], tmp_path, hook=SIGINT_ON_IMPORT, env={"HOOK_SIGINT_ON_IMPORT": module}
    )
    err = proc.stderr.decode()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and err.strip() == "Interrupted.", err
    assert proc.stdout == b""


def test_the_import_hook_alone_changes_nothing(tmp_path: Path) -> None:
    proc = run_cli(
        ["models", "list"], tmp_path, hook=SIGINT_ON_IMPORT, env={"HOOK_SIGINT_ON_IMPORT": "-"}
    )
    assert proc.returncode == 0 and b"gemma-3-270m" in proc.stdout, proc.stderr.decode()
