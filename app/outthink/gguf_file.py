"""Read a GGUF file's header without llama.cpp.

The engine checks every model file here before handing it to llama.cpp, because llama.cpp's
reaction to a bad file ranges from a clean NULL to aborting the process. This reader finds:
missing files, non-GGUF files, unsupported versions, truncated metadata, tensor data running
past the end of the file (a truncated download), and the architecture name.

:func:`check_model_file` is the one place that accepts a model file: the engine before loading,
``models import`` before registering and a Hub download before installing all go through it, so
a file llama.cpp cannot run (not GGUF, damaged, unknown architecture) is refused the same way
everywhere.
"""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outthink.errors import ModelCorruptError, ModelMissingError, ModelUnsupportedError
from outthink.llama_archs import LLAMA_CPP_VERSION, SUPPORTED_ARCHITECTURES

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
# Arrays longer than this (token lists, merges) are skipped, not kept in memory.
MAX_KEPT_ARRAY = 4096

# GGUF value types -> struct format of one scalar.
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_U32 = 4
_STRING = 8
_ARRAY = 9
ALIGNMENT_KEY = "general.alignment"
_STRUCTS = {fmt: struct.Struct(fmt) for fmt in {*_SCALARS.values(), "<I", "<Q"}}
_U64 = _STRUCTS["<Q"]
_MAX_STRING = 1 << 26

# ggml tensor types -> (bytes per block, elements per block). Used only to check that tensor
# data fits in the file; a type missing here is simply not checked (llama.cpp checks again).
_GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (4, 1),  # F32
    1: (2, 1),  # F16
    2: (18, 32),  # Q4_0
    3: (20, 32),  # Q4_1
    6: (22, 32),  # Q5_0
    7: (24, 32),  # Q5_1
    8: (34, 32),  # Q8_0
    9: (36, 32),  # Q8_1
    10: (84, 256),  # Q2_K
    11: (110, 256),  # Q3_K
    12: (144, 256),  # Q4_K
    13: (176, 256),  # Q5_K
    14: (210, 256),  # Q6_K
    15: (292, 256),  # Q8_K
    16: (66, 256),  # IQ2_XXS
    17: (74, 256),  # IQ2_XS
    18: (98, 256),  # IQ3_XXS
    19: (50, 256),  # IQ1_S
    20: (18, 32),  # IQ4_NL
    21: (110, 256),  # IQ3_S
    22: (82, 256),  # IQ2_S
    23: (136, 256),  # IQ4_XS
    24: (1, 1),  # I8
    25: (2, 1),  # I16
    26: (4, 1),  # I32
    27: (8, 1),  # I64
    28: (8, 1),  # F64
    29: (56, 256),  # IQ1_M
    30: (2, 1),  # BF16
}


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    def nbytes(self) -> int | None:
        sizes = _GGML_TYPE_SIZES.get(self.ggml_type)
        if sizes is None:
            return None
        type_size, block = sizes
        n = 1
        for d in self.shape:
            n *= d
        return n * type_size // block


@dataclass(frozen=True, slots=True)
class GGUFHeader:
    path: Path
    version: int
    metadata: Mapping[str, Any]
    tensors: tuple[TensorInfo, ...]
    data_offset: int
    file_size: int
    array_lengths: Mapping[str, int] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", self.path.stem))

    def arch_value(self, key: str, default: Any = None) -> Any:
        """``{architecture}.{key}``, e.g. ``block_count``."""
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def context_length(self) -> int:
        """The context the model was trained on (``{arch}.context_length``); 0 if unknown."""
        value = self.arch_value("context_length", 0)
        return int(value) if isinstance(value, int) and value > 0 else 0

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return str(value) if value else None

    @property
    def vocab_size(self) -> int:
        return self.array_lengths.get("tokenizer.ggml.tokens", 0)

    def kv_bytes_per_token(self, bytes_per_value: int = 2) -> int:
        """KV-cache bytes one token costs (f16 cache), from the attention shape; 0 when the
        header does not say (the memory estimate then falls back to the file size)."""

        def count(key: str, default: int = 0) -> int:
            value = self.arch_value(key)
            return default if value is None else _count(value)

        layers = count("block_count")
        width = count("embedding_length")
        heads = count("attention.head_count") or 1
        kv_heads = count("attention.head_count_kv", heads)  # a list per layer in some models
        head_k = count("attention.key_length", width // heads)
        head_v = count("attention.value_length", width // heads)
        return layers * kv_heads * (head_k + head_v) * bytes_per_value


def _count(value: Any) -> int:
    """A metadata value read as a count: 0 when it is none (a string, NaN, a negative, ...).

    The header is checked before llama.cpp sees it; a damaged value must not stop the check
    with a Python error (llama.cpp then refuses the file with its own reason)."""
    if isinstance(value, list):
        return max((_count(v) for v in value), default=0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return max(0, int(value))


class _Reader:
    """Reads the header from the file's bytes in memory (an mmap): no read call per value.

    Reading through a buffered file released the interpreter lock at every buffer refill and
    took it straight back, which kept a waiting GUI thread out for 100-200 ms per parse.
    """

    def __init__(self, buf: Any, path: Path, pos: int = 0, name: str = "") -> None:
        self.buf = buf
        self.size = len(buf)
        self.path = path
        self.name = name or path.name
        self.pos = pos

    def _truncated(self) -> ModelCorruptError:
        return ModelCorruptError(
            f"{self.name} ends in the middle of its header (truncated file).",
            hint="Download or copy the file again; `outthink models verify` checks files.",
        )

    def read(self, n: int) -> bytes:
        end = self.pos + n
        if end > self.size:
            raise self._truncated()
        data = bytes(self.buf[self.pos : end])
        self.pos = end
        return data

    def skip(self, n: int) -> None:
        if self.pos + n > self.size:
            raise self._truncated()
        self.pos += n

    def scalar(self, fmt: str) -> Any:
        st = _STRUCTS[fmt]
        if self.pos + st.size > self.size:
            raise self._truncated()
        (value,) = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return value

    def _check_length(self, n: int) -> None:
        if n > _MAX_STRING:
            raise ModelCorruptError(
                f"{self.name} has an implausible string length in its header.",
                hint="The file is damaged; download it again.",
            )

    def string(self) -> str:
        n = self.scalar("<Q")
        self._check_length(n)
        return self.read(n).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        """Step over ``count`` strings without decoding them (a vocabulary: 262k strings)."""
        unpack, buf, pos, size = _U64.unpack_from, self.buf, self.pos, self.size
        try:
            for _ in range(count):
                (n,) = unpack(buf, pos)
                if n > _MAX_STRING:
                    self._check_length(n)
                pos += 8 + n
        except struct.error:
            raise self._truncated() from None
        if pos > size:
            raise self._truncated()
        self.pos = pos

    def value(self, vtype: int, key: str, lengths: dict[str, int]) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.scalar("<I")
            count = self.scalar("<Q")
            lengths[key] = count
            keep = count <= MAX_KEPT_ARRAY
            if not keep and etype in _SCALARS:
                self.skip(_STRUCTS[_SCALARS[etype]].size * count)
                return None
            if not keep and etype == _STRING:
                self.skip_strings(count)
                return None
            if etype == _ARRAY:
                # llama.cpp refuses arrays of arrays; reading them here would recurse once
                # per level, as deep as the file is long.
                raise ModelCorruptError(
                    f"{self.name} has an array of arrays in its metadata (key {key!r}).",
                    hint="The file is damaged or not a GGUF model; download it again.",
                )
            items = [self.value(etype, key, lengths) for _ in range(count)]
            return items if keep else None
        raise ModelCorruptError(
            f"{self.name} has an unknown metadata type {vtype} (key {key!r}).",
            hint="The file is damaged or was written by a newer tool than Outthink supports.",
        )


#: Parsed headers by (path, size, mtime): a model is checked several times per run (memory
#: check, load). The vocabulary's strings are stepped over, not decoded (about 20 ms for 262k).
_CACHE: dict[tuple[str, int, int], GGUFHeader] = {}
_CACHE_SIZE = 16


def read_header(path: str | Path, *, name: str = "") -> GGUFHeader:
    """Parse and sanity-check a GGUF file; raise a typed error that says what to do.

    ``name`` is how messages call the file (default: its file name), e.g. the model's name
    while it still sits under a temporary name.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        st = None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns) if st else None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    header = _read_header(path, name or path.name)
    if key is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = header
    return header


def _read_header(path: Path, name: str) -> GGUFHeader:
    if not path.exists():
        raise ModelMissingError(
            f"Model file not found: {path}.",
            hint="Check the path, or download the model with `outthink models pull ID`.",
        )
    if not path.is_file():
        raise ModelMissingError(f"{path} is not a file.", hint="Give the path of a .gguf file.")
    size = path.stat().st_size
    with path.open("rb") as fh:
        magic = fh.read(4)
        if magic != MAGIC:
            raise ModelCorruptError(
                f"{name} is not a GGUF model file.",
                hint="Outthink runs GGUF files (llama.cpp's format); pick a .gguf file.",
            )
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            data_offset, version, metadata, tensors, lengths = _parse(_Reader(mm, path, 4, name))
    header = GGUFHeader(path, version, metadata, tuple(tensors), data_offset, size, lengths)
    _check_extent(header, name)
    return header


def _parse(r: _Reader) -> tuple[int, int, dict[str, Any], list[TensorInfo], dict[str, int]]:
    name = r.name
    version = r.scalar("<I")
    if version not in SUPPORTED_VERSIONS:
        raise ModelUnsupportedError(
            f"{name} is GGUF version {version}; this build reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}.",
            hint="Convert the model again with a current llama.cpp, or get a newer file.",
        )
    n_tensors = r.scalar("<Q")
    n_kv = r.scalar("<Q")
    if n_tensors > 1 << 20 or n_kv > 1 << 20:
        raise ModelCorruptError(
            f"{name} has an implausible header (tensors={n_tensors}, keys={n_kv}).",
            hint="The file is damaged; download it again.",
        )
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(n_kv):
        key = r.string()
        vtype = r.scalar("<I")
        metadata[key] = r.value(vtype, key, lengths)
        if key == ALIGNMENT_KEY:
            _check_alignment(name, vtype, metadata[key])
    tensors = []
    for _ in range(n_tensors):
        tensor = r.string()
        n_dims = r.scalar("<I")
        if n_dims > 8:
            raise ModelCorruptError(
                f"{name}: tensor {tensor!r} has {n_dims} dimensions.",
                hint="The file is damaged; download it again.",
            )
        shape = tuple(r.scalar("<Q") for _ in range(n_dims))
        ggml_type = r.scalar("<I")
        offset = r.scalar("<Q")
        tensors.append(TensorInfo(tensor, shape, ggml_type, offset))
    alignment = int(metadata.get(ALIGNMENT_KEY, DEFAULT_ALIGNMENT))
    data_offset = (r.pos + alignment - 1) // alignment * alignment
    return data_offset, version, metadata, tensors, lengths


def _check_alignment(name: str, vtype: int, value: Any) -> None:
    # llama.cpp refuses an alignment that is not a u32 power of two; this says why before it
    # is asked (a string, NaN or a list used to stop the check itself with a Python error).
    if vtype != _U32 or value <= 0 or value & (value - 1):
        raise ModelCorruptError(
            f"{name} has an invalid {ALIGNMENT_KEY} ({value!r}); it must be a power of "
            "two stored as a 32-bit unsigned integer.",
            hint="The file is damaged or was written by a broken tool; download it again.",
        )


def _check_extent(header: GGUFHeader, name: str) -> None:
    end = header.data_offset
    for t in header.tensors:
        nbytes = t.nbytes()
        if nbytes is not None:
            end = max(end, header.data_offset + t.offset + nbytes)
    if end > header.file_size:
        missing = end - header.file_size
        raise ModelCorruptError(
            f"{name} is truncated: its tensors need {end:,} bytes but the file has "
            f"{header.file_size:,} ({missing:,} missing).",
            hint="The download or copy was cut short; download it again "
            "(`outthink models pull ID` resumes).",
        )


def check_model_file(path: str | Path, *, name: str = "") -> GGUFHeader:
    """Accept a model file only if the bundled llama.cpp can run it, else raise a typed error.

    GGUF magic and version, a header that parses, tensor data inside the file, and an
    architecture the pinned llama.cpp knows. ``name`` is how messages call the file.
    """
    header = read_header(path, name=name)
    label = name or header.path.name
    arch = header.architecture
    if not arch:
        raise ModelCorruptError(
            f"{label} has no general.architecture in its metadata.",
            hint="The file is damaged or not a language model; pick another GGUF.",
        )
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelUnsupportedError(
            f"{label} uses the architecture {arch!r}, which the bundled llama.cpp "
            f"(llama-cpp-python {LLAMA_CPP_VERSION}) does not know.",
            hint="Pick a model of a supported family (Llama, Qwen, Gemma, Mistral, Phi, ...), "
            "or update Outthink.",
        )
    return header
