"""The settings file: any text round-trips, the Hub token is private, a broken file is not
the end of every command."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from outthink.config import Settings, load_settings, save_settings, settings_path
from outthink.errors import ConfigError

OUTTHINK = Path(sys.executable).with_name("outthink")
SURROGATES = range(0xD800, 0xE000)


def round_trip(text: str) -> str:
    save_settings(Settings(last_problem=text, extra={"gui.note": text}))
    loaded = load_settings()  # a file that does not parse would give the defaults
    assert loaded.extra["gui.note"] == loaded.last_problem
    return loaded.last_problem


def test_every_code_point_round_trips_through_the_settings_file() -> None:
    chunk = 0x10000
    for start in range(0, 0x110000, chunk):
        text = "".join(chr(c) for c in range(start, start + chunk) if c not in SURROGATES)
        assert round_trip(text) == text, f"code points from U+{start:04X}"


def test_seeded_random_text_round_trips() -> None:
    rng = random.Random(20240601)
    awkward = ['"', "\\", "\r", "\n", "\r\n", "\t", "\x00", "\x01", "\x1b", "\x7f", "\x85",
               "\u2028", "\u2029", "\ufeff", "'''", '"""', "#", "=", "[extra]", "\\u0041"]
    texts = []
    for _ in range(300):
        parts = [rng.choice(awkward) if rng.random() < 0.5
                 else chr(rng.choice((rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0xD800),
                                      rng.randrange(0xE000, 0x110000))))
                 for _ in range(rng.randrange(0, 40))]
        texts.append("".join(parts))
    for i in range(0, len(texts), 30):  # thirty values per file
        batch = {f"gui.{j}": t for j, t in enumerate(texts[i:i + 30])}
        odd_key = texts[i] or "empty"
        batch[odd_key] = "key"
        save_settings(Settings(extra=dict(batch)))
        assert load_settings().extra == batch


def test_a_lone_surrogate_does_not_break_the_file() -> None:
    assert round_trip("a\ud800b") == "a\ufffdb"


def test_the_file_is_written_like_the_toml_spec_says() -> None:
    save_settings(Settings(last_problem="line\r\nnext\x01\x7f\u2028end"))
    raw = settings_path().read_bytes()
    assert not any(b in raw for b in (b"\r", b"\x01", b"\x7f"))
    assert tomllib.loads(raw.decode("utf-8"))["last_problem"] == "line\r\nnext\x01\x7f\u2028end"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_the_hub_token_is_readable_by_its_owner_only() -> None:
    path = save_settings(Settings(hf_token="hf_secret"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # Outthink created the folder


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_an_older_world_readable_file_becomes_private_and_the_folder_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared-config" / "settings.toml"
    path.parent.mkdir(mode=0o755)
    os.chmod(path.parent, 0o755)
    path.write_text('hf_token = "hf_old"\n', encoding="utf-8")
    os.chmod(path, 0o644)
    save_settings(Settings(hf_token="hf_new"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755  # not created by Outthink
    assert load_settings(path).hf_token == "hf_new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.toml"]


def broken_file() -> tuple[Path, bytes]:
    """What the old writer produced for a problem with a control character in it."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    content = b'threads = 2\nhf_token = "hf_keep"\nlast_problem = "a\x01b"\n'
    path.write_bytes(content)
    return path, content


def test_a_broken_settings_file_does_not_stop_every_command() -> None:
    path, content = broken_file()
    result = subprocess.run([str(OUTTHINK), "models", "list"], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "gemma-3-270m" in result.stdout
    assert str(path) in result.stderr and "line 3 (`last_problem`)" in result.stderr
    assert "default settings" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count(str(path)) == 1  # said once, not once per read
    assert path.read_bytes() == content  # left for the user to fix


def test_strict_loading_names_the_line_and_saving_keeps_the_broken_file() -> None:
    path, content = broken_file()
    with pytest.raises(ConfigError) as info:
        load_settings(strict=True)
    assert str(path) in info.value.message and "line 3" in info.value.message
    assert "\\u0001" in info.value.hint
    assert load_settings() == Settings()

    save_settings(Settings(threads=4))
    assert load_settings(strict=True).threads == 4
    (kept,) = path.parent.glob("settings.toml.broken-*")
    assert kept.read_bytes() == content


def test_a_deeply_nested_settings_file_is_reported_not_a_traceback(capsys) -> None:
    from outthink.cli import main
    from outthink.config import settings_path

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert main(["doctor"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RecursionError" not in err
    assert "nests arrays or tables" in err and str(path) in err
