"""What goes into ``outthink/_data`` in a wheel and in the frozen app, staged one way for both.

``setup.py`` (wheel) and ``packaging/outthink.spec`` (PyInstaller) both call :func:`stage`, so the
two kinds of build carry the same files and :func:`outthink.resources.resource_root` finds them
the same way. A source checkout has no ``_data``: the resolver reads the repository root there.

The self-check model is written here with the standard library only. The tests' writer uses the
``gguf`` package, a dev dependency, which neither an isolated wheel build nor a user's build of
the app should need. Both write the same structure (a test compares them).

Loaded by file path, never as ``packaging.package_data``: the folder name would shadow the PyPI
``packaging`` module that setuptools and PyInstaller import.
"""

from __future__ import annotations

import random
import shutil
import struct
import sys
from array import array
from pathlib import Path

#: Files and folders of the repository root that are shipped, relative to it.
SHIPPED = ("models.toml", "assets")
#: Where the self-check model lies inside ``_data``.
SELFCHECK_MODEL = Path("selfcheck") / "tiny.gguf"

# --------------------------------------------------------------------------- tiny GGUF writer

_ALIGNMENT = 32  # GGUF's default general.alignment
_U32, _I32, _F32, _BOOL, _STRING, _ARRAY = 4, 5, 6, 7, 8, 9  # GGUF value types
_F32_TENSOR = 0
_NORMAL, _UNKNOWN, _CONTROL, _UNUSED, _BYTE = 1, 2, 3, 5, 6  # llama.cpp token types
N_VOCAB = 512
_WORD_PIECES = [
    "▁the", "▁answer", "▁is", "▁a", "▁b", "▁c", "+", "-", "=", "▁=", ":", ".", ",",
    "Step", "▁Step", *[str(d) for d in range(10)], *[f"▁{d}" for d in range(10)],
]  # fmt: skip


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _kv(key: str, kind: int, value: object) -> bytes:
    head = _string(key) + struct.pack("<I", kind)
    if kind == _STRING:
        return head + _string(str(value))
    if kind == _BOOL:
        return head + struct.pack("<?", bool(value))
    if kind == _F32:
        return head + struct.pack("<f", float(value))  # type: ignore[arg-type]
    if kind == _U32:
        return head + struct.pack("<I", int(value))  # type: ignore[call-overload]
    raise ValueError(f"unsupported GGUF value type {kind}")


def _kv_array(key: str, kind: int, values: list[str] | list[float] | list[int]) -> bytes:
    out = bytearray(_string(key) + struct.pack("<IIQ", _ARRAY, kind, len(values)))
    for v in values:
        if kind == _STRING:
            out += _string(str(v))
        elif kind == _F32:
            out += struct.pack("<f", float(v))
        elif kind == _I32:
            out += struct.pack("<i", int(v))
        else:
            raise ValueError(f"unsupported GGUF array type {kind}")
    return bytes(out)


def _f32(values: list[float]) -> bytes:
    data = array("f", values)
    if sys.byteorder == "big":  # GGUF is little-endian
        data.byteswap()
    return data.tobytes()


def write_tiny_model(path: Path, *, seed: int = 0, n_embd: int = 64, n_layer: int = 2) -> Path:
    """Write a random llama-architecture GGUF of about 600 KB that llama.cpp loads in ms.

    Its weights are noise: it proves that the native library loads a model and decodes, never
    quality. SentencePiece-style vocabulary: unknown/BOS/EOS, the 256 byte tokens, a few words.
    """
    rng = random.Random(seed)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + _WORD_PIECES
    types = [_UNKNOWN, _CONTROL, _CONTROL] + [_BYTE] * 256 + [_NORMAL] * len(_WORD_PIECES)
    while len(tokens) < N_VOCAB:
        tokens.append(f"<pad{len(tokens)}>")
        types.append(_UNUSED)
    scores = [0.0] * 3 + [-1000.0] * 256 + [-float(i) for i in range(len(tokens) - 259)]

    kvs = [
        _kv("general.architecture", _STRING, "llama"),
        _kv("general.name", _STRING, "outthink-self-check"),
        _kv("llama.context_length", _U32, 1024),
        _kv("llama.embedding_length", _U32, n_embd),
        _kv("llama.block_count", _U32, n_layer),
        _kv("llama.feed_forward_length", _U32, n_embd * 2),
        _kv("llama.attention.head_count", _U32, 4),
        _kv("llama.attention.head_count_kv", _U32, 4),
        _kv("llama.rope.dimension_count", _U32, n_embd // 4),
        _kv("llama.attention.layer_norm_rms_epsilon", _F32, 1e-5),
        _kv("general.file_type", _U32, 0),  # all F32
        _kv("tokenizer.ggml.model", _STRING, "llama"),
        _kv_array("tokenizer.ggml.tokens", _STRING, tokens),
        _kv_array("tokenizer.ggml.scores", _F32, scores),
        _kv_array("tokenizer.ggml.token_type", _I32, types),
        _kv("tokenizer.ggml.unknown_token_id", _U32, 0),
        _kv("tokenizer.ggml.bos_token_id", _U32, 1),
        _kv("tokenizer.ggml.eos_token_id", _U32, 2),
        _kv("tokenizer.ggml.add_bos_token", _BOOL, True),
    ]

    # (name, shape in numpy order: rows first) -> data. GGUF stores dims innermost first.
    tensors: list[tuple[str, tuple[int, ...], bytes]] = []

    def noise(name: str, *shape: int, scale: float = 0.5) -> None:
        count = 1
        for dim in shape:
            count *= dim
        tensors.append((name, shape, _f32([rng.gauss(0.0, scale) for _ in range(count)])))

    def ones(name: str, size: int) -> None:
        tensors.append((name, (size,), _f32([1.0] * size)))

    noise("token_embd.weight", N_VOCAB, n_embd)
    ones("output_norm.weight", n_embd)
    noise("output.weight", N_VOCAB, n_embd)
    for i in range(n_layer):
        ones(f"blk.{i}.attn_norm.weight", n_embd)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            noise(f"blk.{i}.{name}.weight", n_embd, n_embd, scale=0.2)
        ones(f"blk.{i}.ffn_norm.weight", n_embd)
        noise(f"blk.{i}.ffn_gate.weight", n_embd * 2, n_embd, scale=0.2)
        noise(f"blk.{i}.ffn_up.weight", n_embd * 2, n_embd, scale=0.2)
        noise(f"blk.{i}.ffn_down.weight", n_embd, n_embd * 2, scale=0.2)

    def pad(size: int) -> int:
        return -size % _ALIGNMENT

    infos = bytearray()
    offset = 0
    for name, shape, data in tensors:
        infos += _string(name) + struct.pack("<I", len(shape))
        infos += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        infos += struct.pack("<IQ", _F32_TENSOR, offset)
        offset += len(data) + pad(len(data))

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(head + b"\0" * pad(len(head)))
        for _, _, data in tensors:
            fh.write(data + b"\0" * pad(len(data)))
    tmp.replace(path)  # a reader never sees half a model
    return path


# --------------------------------------------------------------------------- staging


def stage(root: Path, dest: Path) -> list[Path]:
    """Fill ``dest`` (``.../outthink/_data``) from the repository ``root``; return the files.

    ``dest`` is emptied first so a file removed from the repository does not linger in a
    reused build folder.
    """
    missing = [name for name in SHIPPED if not (root / name).exists()]
    if missing:
        raise FileNotFoundError(f"{root} lacks {', '.join(missing)}: not an Outthink checkout?")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in SHIPPED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    write_tiny_model(dest / SELFCHECK_MODEL)
    return sorted(p for p in dest.rglob("*") if p.is_file())
