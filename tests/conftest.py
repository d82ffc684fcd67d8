"""Shared fixtures: every folder points at a temporary path and the network is off."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tiny_gguf import CHAT_TEMPLATE, QWEN3_TEMPLATE, R1_TEMPLATE, write_tiny_model

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (
        host.startswith("127.") or host in ("localhost", "::1") or self.family == socket.AF_UNIX
    ):
        raise OSError(f"tests may not reach the network (tried {address!r})")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("DATA", "CONFIG", "CACHE", "LOG"):
        folder = tmp_path / f"outthink-{name.lower()}"
        monkeypatch.setenv(f"OUTTHINK_{name}_DIR", str(folder))
    monkeypatch.delenv("OUTTHINK_MODELS_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    yield tmp_path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 512-token random llama GGUF (about 600 KB) without a chat template."""
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a chat template in its metadata."""
    return write_tiny_model(
        tmp_path_factory.mktemp("tiny-chat") / "tiny-chat.gguf", chat_template=CHAT_TEMPLATE
    )


@pytest.fixture(scope="session")
def starter_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real starter model (Gemma 3 270M), assembled once per test session."""
    from outthink.config import Settings
    from outthink.starter import starter_model_path

    folder = tmp_path_factory.mktemp("starter-models")
    return starter_model_path(Settings(models_dir=str(folder)))


@pytest.fixture(scope="session")
def qwen3_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a Qwen3-style chat template (a thinking switch) and think tokens."""
    path = tmp_path_factory.mktemp("qwen3") / "qwen3-style.gguf"
    return write_tiny_model(path, chat_template=QWEN3_TEMPLATE, think_tokens=True)


@pytest.fixture(scope="session")
def r1_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a DeepSeek-R1-style template (always thinks) and think tokens."""
    path = tmp_path_factory.mktemp("r1") / "r1-style.gguf"
    return write_tiny_model(path, chat_template=R1_TEMPLATE, think_tokens=True)
