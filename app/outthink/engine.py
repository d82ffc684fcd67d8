"""The llama.cpp engine: many sequences decoded together, one token each per decode call.

This is the only module that imports ``llama_cpp``, and it does so lazily (the import loads the
native library). Three layers, as in llama-cpp-python itself:

* :class:`Model` owns loaded weights and the vocabulary (tokenize, detokenize, special tokens).
* :class:`Context` owns one ``llama_context`` with a unified KV cache: batches, positions,
  sequence ids, logits, fork/drop of sequences. Verifiers use it directly.
* :class:`LlamaGenerator` implements :class:`outthink.generation.StepGenerator` on a context:
  the prompt is decoded once, forked to N sequences, then every live sequence gets one token
  per ``llama_decode`` call, each with its own sampler chain and seed.

Facts this relies on are in docs/engine.md: ``kv_unified`` makes a fork free;
each sequence's next token sits at ``pos_max + 1``; a batch larger than ``n_batch`` aborts the
process; ctypes callbacks must stay referenced; two contexts must never decode at once on the
same cores (a process-wide lock enforces it).
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import math
import os
import threading
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from outthink.errors import (
    ConfigError,
    EngineError,
    MemoryBudgetError,
    ModelCorruptError,
)
from outthink.generation import (
    CancelToken,
    SamplingParams,
    StepOutput,
    StopReason,
    TokenDeltas,
    Usage,
)
from outthink.gguf_file import GGUFHeader, check_model_file

log = logging.getLogger(__name__)

#: Only one llama.cpp context decodes at a time in this process: two contexts spinning their
#: threads on the same cores made each step about 35x slower (docs/engine.md).
DECODE_LOCK = threading.Lock()

#: Hard cap of llama.cpp on sequence ids.
MAX_SEQUENCES = 256
DEFAULT_N_BATCH = 512

_lib: ModuleType | None = None
_log_callback: Any = None  # keep the ctypes callback alive for the life of the process
_lib_lock = threading.Lock()


def _llama() -> ModuleType:
    """Import llama_cpp on first use, route its log into ``logging``."""
    global _lib, _log_callback
    with _lib_lock:
        if _lib is None:
            import llama_cpp

            llama_cpp.llama_backend_init()
            native_log = logging.getLogger("outthink.llama_cpp")

            def _on_log(level: int, text: bytes | None, _user: Any) -> None:
                if text:
                    # GGML_LOG_LEVEL_ERROR = 4, WARN = 3; everything else is chatter.
                    lvl = logging.WARNING if level in (3, 4) else logging.DEBUG
                    native_log.log(lvl, "%s", text.decode("utf-8", "replace").rstrip())

            _log_callback = llama_cpp.llama_log_callback(_on_log)
            llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
            _lib = llama_cpp
        return _lib


# --------------------------------------------------------------------------- system facts


@cache
def physical_cores() -> int:
    """Physical cores (not hyper-threads): llama.cpp runs best with one thread per core."""
    try:
        pairs = set()
        phys = core = None
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("physical id"):
                    phys = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":", 1)[1].strip()
                elif not line.strip():
                    if core is not None:
                        pairs.add((phys, core))
                    phys = core = None
        if core is not None:
            pairs.add((phys, core))
        if pairs:
            return len(pairs)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2) // 2 if (os.cpu_count() or 1) > 4 else os.cpu_count() or 1)


#: Memory a verifier context keeps free besides its KV cache (compute buffers, the app).
MEMORY_MARGIN_BYTES = 512 * 1024 * 1024


def supports_gpu_offload() -> bool:
    return bool(_llama().llama_supports_gpu_offload())


def system_info() -> dict[str, Any]:
    lib = _llama()
    return {
        "llama_cpp_python": getattr(lib, "__version__", "?"),
        "gpu_offload": bool(lib.llama_supports_gpu_offload()),
        "system_info": lib.llama_print_system_info().decode("utf-8", "replace").strip(),
        "physical_cores": physical_cores(),
    }


# --------------------------------------------------------------------------- checks


def check_memory(header: GGUFHeader, n_ctx: int, n_seq: int, *, what: str = "") -> None:
    """Refuse, before loading anything, a request that would not fit in memory.

    The estimate (file + KV cache + compute buffers) is :mod:`outthink.memory`'s, so the
    models manager and the engine never disagree about what fits.
    """
    from outthink.memory import fits_in_memory

    fit = fits_in_memory(header.path, n_ctx, n_seq)
    if not fit.fits:
        gib = 1024**3
        kv = n_ctx * header.kv_bytes_per_token()
        have = f"{fit.available / gib:.1f} GiB" if fit.available is not None else "less"
        raise MemoryBudgetError(
            f"{what or header.path.name} needs about {fit.needed / gib:.1f} GiB "
            f"(model {header.file_size / gib:.1f} GiB + KV cache for {n_ctx:,} tokens "
            f"{kv / gib:.1f} GiB) but only {have} is available.",
            hint="Lower the budget N or the max tokens, or pick a smaller model.",
        )


def check_prompt_fits(
    header: GGUFHeader,
    prompt_tokens: int,
    max_tokens: int,
    *,
    n_ctx: int = 0,
    what: str = "The prompt",
) -> None:
    """Refuse a request whose sequences would run past the context the model was trained on.

    Every sequence holds the prompt and up to ``max_tokens`` new tokens; positions beyond the
    trained context give garbage (llama.cpp only logs a warning) and a long prompt takes
    minutes to decode before the first token, so this is checked before any decoding.
    ``n_ctx`` is the context-size setting, named in the message when it is set.
    """
    trained = header.context_length
    need = prompt_tokens + max_tokens
    if not trained or need <= trained:
        return
    setting = (
        f" The context-size setting ({n_ctx:,}) cannot extend what the model was trained on."
        if n_ctx
        else ""
    )
    over = need - trained
    if prompt_tokens < trained:
        hint = (
            f"Shorten the problem by about {over:,} tokens, or lower the max tokens "
            f"(--max-tokens) to {trained - prompt_tokens:,} or less."
        )
    else:
        hint = f"Shorten the problem by at least {over:,} tokens (less with a lower --max-tokens)."
    raise ConfigError(
        f"{what} has {prompt_tokens:,} tokens; with up to {max_tokens:,} new tokens a solution "
        f"needs {need:,}, but {header.path.name} was trained on a context of {trained:,} "
        f"tokens.{setting}",
        hint=f"{hint} Or pick a model trained on a longer context.",
    )


def check_problem_fits(
    header: GGUFHeader, problem: str, max_tokens: int, *, n_ctx: int = 0
) -> None:
    """:func:`check_prompt_fits` for a problem before the model is loaded.

    A token covers at least one byte (plus a leading space marker), so a problem whose bytes
    fit needs no counting; a longer one is counted exactly with the model's vocabulary alone
    (no weights are loaded). The prompt format adds tokens: the run checks again, exactly.
    """
    trained = header.context_length
    if not trained or len(problem.encode("utf-8")) + 2 + max_tokens <= trained:
        return
    tokens = count_tokens(header.path, problem)
    check_prompt_fits(header, tokens, max_tokens, n_ctx=n_ctx, what="The problem")


def count_tokens(path: str | Path, text: str) -> int:
    """Tokens of ``text`` in the model's vocabulary, loading the vocabulary only."""
    path = Path(path)
    lib = _llama()
    params = lib.llama_model_default_params()
    params.vocab_only = True
    ptr = lib.llama_model_load_from_file(str(path).encode("utf-8"), params)
    if not ptr:
        raise ModelCorruptError(
            f"llama.cpp could not read the vocabulary of {path.name}.",
            hint="The file may be damaged; the log file has llama.cpp's reason.",
        )
    try:
        return len(_tokenize(lib.llama_model_get_vocab(ptr), text, False, True))
    finally:
        lib.llama_model_free(ptr)


def _tokenize(vocab: Any, text: str, add_special: bool, parse_special: bool) -> list[int]:
    lib = _llama()
    data = text.encode("utf-8")
    cap = len(data) + 8
    buf = (lib.llama_token * cap)()
    n = lib.llama_tokenize(vocab, data, len(data), buf, cap, add_special, parse_special)
    if n < 0:
        cap = -n
        buf = (lib.llama_token * cap)()
        n = lib.llama_tokenize(vocab, data, len(data), buf, cap, add_special, parse_special)
    if n < 0:
        raise EngineError(f"Tokenization failed ({n}).")
    return list(buf[:n])


# --------------------------------------------------------------------------- model


class Model:
    """Loaded weights and vocabulary. Release with :meth:`close` (or use as a context manager)."""

    def __init__(self, path: str | Path, *, n_gpu_layers: int = 0) -> None:
        self.path = Path(path)
        self.header = check_model_file(self.path)
        lib = _llama()
        params = lib.llama_model_default_params()
        params.n_gpu_layers = int(n_gpu_layers)
        ptr = lib.llama_model_load_from_file(str(self.path).encode("utf-8"), params)
        if not ptr:
            raise ModelCorruptError(
                f"llama.cpp could not load {self.path.name}.",
                hint="The file may be damaged or of an unsupported variant; the log file has "
                "llama.cpp's reason. Try downloading it again.",
            )
        self._ptr = ptr
        self.vocab = lib.llama_model_get_vocab(ptr)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.bos = int(lib.llama_vocab_bos(self.vocab))
        self.eos = int(lib.llama_vocab_eos(self.vocab))
        self.add_bos = bool(lib.llama_vocab_get_add_bos(self.vocab))
        self.n_gpu_layers = int(n_gpu_layers)
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._closed = False

    @property
    def ptr(self) -> Any:
        if self._closed:
            raise EngineError("The model was closed.", hint="Load it again.")
        return self._ptr

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def chat_template(self) -> str | None:
        return self.header.chat_template

    def token_text(self, token: int) -> str:
        """The token's text as stored in the vocabulary (special tokens included)."""
        raw = _llama().llama_vocab_get_text(self.vocab, token)
        return raw.decode("utf-8", "replace") if raw else ""

    @property
    def bos_text(self) -> str:
        return self.token_text(self.bos) if self.bos >= 0 else ""

    @property
    def eos_text(self) -> str:
        return self.token_text(self.eos) if self.eos >= 0 else ""

    def tokenize(
        self, text: str, *, add_special: bool = False, parse_special: bool = True
    ) -> list[int]:
        return _tokenize(self.vocab, text, add_special, parse_special)

    def piece(self, token: int) -> bytes:
        """Bytes a generated token adds to the text (special tokens render as nothing)."""
        cached = self._pieces.get(token)
        if cached is not None:
            return cached
        lib = _llama()
        buf = ctypes.create_string_buffer(64)
        n = lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        out = buf.raw[: max(n, 0)]
        self._pieces[token] = out
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        cached = self._eog.get(token)
        if cached is None:
            cached = bool(_llama().llama_vocab_is_eog(self.vocab, token))
            self._eog[token] = cached
        return cached

    def single_token(self, text: str) -> int | None:
        """The id of ``text`` if the tokenizer encodes it as exactly one token, else None."""
        ids = self.tokenize(text, add_special=False, parse_special=True)
        return ids[0] if len(ids) == 1 else None

    def close(self) -> None:
        if not self._closed:
            _llama().llama_model_free(self._ptr)
            self._closed = True

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- context


@dataclass(slots=True)
class DecodeStats:
    tokens: int = 0
    calls: int = 0


class Context:
    """One llama.cpp context with a unified KV cache over a :class:`Model`.

    Positions are the caller's business: each sequence's next token must sit at
    ``pos_max(seq) + 1``. Batches larger than ``n_batch`` are refused here, never passed on.
    """

    def __init__(
        self,
        model: Model,
        *,
        n_ctx: int,
        n_seq_max: int,
        n_batch: int = DEFAULT_N_BATCH,
        threads: int | None = None,
        cancel: CancelToken | None = None,
        n_outputs_max: int = 0,
        swa_full: bool = True,
    ) -> None:
        """``n_outputs_max``: most tokens of one batch whose logits are read (0 = one per
        sequence). llama.cpp reserves its compute buffer for this many output rows of the full
        vocabulary; with n_batch rows that was 514 MiB for Gemma's 262k vocabulary."""
        if not 1 <= n_seq_max <= MAX_SEQUENCES:
            raise EngineError(
                f"{n_seq_max} sequences requested; llama.cpp allows 1 to {MAX_SEQUENCES}.",
                hint="Lower the budget N.",
            )
        lib = _llama()
        self.model = model
        self.threads = threads or physical_cores()
        self.n_batch = n_batch
        self.cancel = cancel or CancelToken()
        params = lib.llama_context_default_params()
        params.n_ctx = int(n_ctx)
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = int(n_seq_max)
        # llama.cpp reserves at least one output row per sequence (and asserts it)
        self.n_outputs_max = max(n_seq_max, min(n_batch, n_outputs_max or n_seq_max))
        params.n_outputs_max = self.n_outputs_max
        params.n_outputs_max_per_seq = 0
        params.n_threads = self.threads
        params.n_threads_batch = self.threads
        params.kv_unified = True  # forks only tag cells; a shared prefix is stored once
        # Sliding-window layers (Gemma) keep only their window unless told otherwise; a full
        # window cache made every decode step slower than llama.cpp's own tools (which keep
        # the short one). Contexts that rewind sequences past the window ask for the full one.
        params.swa_full = swa_full
        params.no_perf = True
        ptr = lib.llama_init_from_model(model.ptr, params)
        if not ptr:
            raise EngineError(
                f"llama.cpp could not create a context of {n_ctx:,} tokens for "
                f"{n_seq_max} sequences.",
                hint="Lower the budget N or the max tokens; the log file has llama.cpp's reason.",
            )
        self._ptr = ptr
        self.n_ctx = int(lib.llama_n_ctx(ptr))
        self.n_seq_max = int(n_seq_max)
        self.mem = lib.llama_get_memory(ptr)
        self._batch = lib.llama_batch_init(max(n_batch, n_seq_max), 0, 1)
        self._batch_cap = max(n_batch, n_seq_max)
        self.stats = DecodeStats()
        self.n_outputs = 0
        self._output_rows: dict[int, int] | None = None
        #: Bumped by every decode; logits rows are valid only for the epoch they came from.
        self.epoch = 0
        self._closed = False
        self._warm_up()

    def _warm_up(self) -> None:
        token = self.model.bos if self.model.bos >= 0 else 0
        self.decode([token], [0], [0], [True], count=False, cancellable=False)
        self.clear()

    # -- decoding

    def decode(
        self,
        tokens: Sequence[int],
        positions: Sequence[int],
        seq_ids: Sequence[int],
        want_logits: Sequence[bool],
        *,
        count: bool = True,
        cancellable: bool = True,
    ) -> None:
        """One ``llama_decode`` call. Raises on a full cache; checks the cancel flag first."""
        n = len(tokens)
        if n == 0:
            return
        if n > self.n_batch:
            raise EngineError(f"internal: batch of {n} tokens exceeds n_batch={self.n_batch}")
        n_out = sum(map(bool, want_logits))
        if n_out > self.n_outputs_max:
            raise EngineError(
                f"internal: {n_out} logit rows requested; the context has {self.n_outputs_max}"
            )
        if cancellable:
            self.cancel.check()
        b = self._batch
        for i in range(n):
            b.token[i] = tokens[i]
            b.pos[i] = positions[i]
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq_ids[i]
            b.logits[i] = bool(want_logits[i])
        b.n_tokens = n
        lib = _llama()
        with DECODE_LOCK:
            rc = lib.llama_decode(self._ptr, b)
        self.epoch += 1
        self.n_outputs = n_out
        self._output_rows = (
            None if n_out == n else {i: r for r, i in enumerate(_flagged(want_logits))}
        )
        if rc == 1:
            raise EngineError(
                f"The context ({self.n_ctx:,} tokens) is full.",
                hint="Lower the budget N or the max tokens per solution.",
            )
        if rc != 0:
            raise EngineError(f"llama_decode failed with code {rc}.", hint="See the log file.")
        if count:
            self.stats.tokens += n
            self.stats.calls += 1

    def decode_chunked(
        self, tokens: Sequence[int], start_pos: int, seq: int, *, last_logits: bool = True
    ) -> None:
        """Decode a long run of tokens on one sequence in ``n_batch`` chunks, cancellable."""
        for lo in range(0, len(tokens), self.n_batch):
            chunk = tokens[lo : lo + self.n_batch]
            flags = [False] * len(chunk)
            if last_logits and lo + len(chunk) == len(tokens):
                flags[-1] = True
            self.decode(
                chunk, range(start_pos + lo, start_pos + lo + len(chunk)), [seq] * len(chunk), flags
            )

    def output_row(self, batch_index: int) -> int:
        """Row of :meth:`output_logits` holding the logits of ``batch_index``."""
        if self._output_rows is None:
            return batch_index
        try:
            return self._output_rows[batch_index]
        except KeyError:
            raise EngineError(f"internal: no logits for batch index {batch_index}") from None

    def output_logits(self) -> np.ndarray:
        """Every logits row of the last decode, in batch order: ``(n_outputs, n_vocab)``, a
        live view valid until the next decode."""
        ptr = _llama().llama_get_logits(self._ptr)
        if not ptr or not self.n_outputs:
            raise EngineError("internal: the last decode produced no logits")
        return np.ctypeslib.as_array(ptr, shape=(self.n_outputs, self.model.n_vocab))

    def logits(self, batch_index: int) -> np.ndarray:
        """Logits of the token at ``batch_index`` in the last decoded batch (a live view)."""
        lib = _llama()
        ptr = lib.llama_get_logits_ith(self._ptr, batch_index)
        if not ptr:
            raise EngineError(f"internal: no logits for batch index {batch_index}")
        return np.ctypeslib.as_array(ptr, shape=(self.model.n_vocab,))

    def log_softmax_at(self, batch_index: int, token_ids: Sequence[int]) -> np.ndarray:
        row = self.logits(batch_index)
        m = float(row.max())
        lse = m + float(np.log(np.exp(row - m, dtype=np.float32).sum(dtype=np.float64)))
        return np.asarray([float(row[t]) - lse for t in token_ids])

    # -- sequences

    def seq_cp(self, src: int, dst: int) -> None:
        _llama().llama_memory_seq_cp(self.mem, src, dst, -1, -1)

    def seq_rm(self, seq: int, p0: int = -1, p1: int = -1) -> bool:
        return bool(_llama().llama_memory_seq_rm(self.mem, seq, p0, p1))

    def pos_max(self, seq: int) -> int:
        return int(_llama().llama_memory_seq_pos_max(self.mem, seq))

    def clear(self) -> None:
        _llama().llama_memory_clear(self.mem, True)

    @property
    def ptr(self) -> Any:
        return self._ptr

    def close(self) -> None:
        if not self._closed:
            lib = _llama()
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ptr)
            self._closed = True

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- sampling maths


def _flagged(flags: Sequence[bool]) -> list[int]:
    return [i for i, f in enumerate(flags) if f]


#: Interleaved token groups searched for a row's top-k candidates (see :func:`top_candidates`).
TOPK_GROUPS = 4096
#: Sequences with a larger top-k (or none) are sampled by llama.cpp over the whole vocabulary.
TOPK_FAST_MAX = 256


def top_candidates(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest logits of every row and their token ids (exact; unordered).

    Tokens fall into G interleaved groups (token ``t`` in group ``t mod G``). A token among a
    row's ``k`` largest lies in one of the ``k`` groups with the largest maxima (else ``k``
    group maxima would all beat it), so only those ``k`` groups are searched: one pass of
    elementwise maxima over the row instead of a selection over the whole vocabulary, which
    costs as much as llama.cpp's own top-k (about 1 ms a row on a 262k vocabulary).
    """
    n, v = rows.shape
    k = max(1, min(k, v))
    g = min(TOPK_GROUPS, v // 16)
    if k >= g:  # small vocabulary: select directly
        idx = np.argpartition(rows, v - k, axis=1)[:, v - k :]
        return idx, np.take_along_axis(rows, idx, axis=1)
    m, tail = divmod(v, g)
    gmax = rows[:, : m * g].reshape(n, m, g).max(axis=1)
    if tail:
        np.maximum(gmax[:, :tail], rows[:, m * g :], out=gmax[:, :tail])
    groups = np.argpartition(gmax, g - k, axis=1)[:, g - k :]  # (n, k)
    offsets = np.arange(m + (1 if tail else 0)) * g
    cols = (groups[:, None, :] + offsets[None, :, None]).reshape(n, -1)
    if tail:
        valid = cols < v
        vals = np.take_along_axis(rows, np.where(valid, cols, 0), axis=1)
        vals[~valid] = -np.inf
    else:
        vals = np.take_along_axis(rows, cols, axis=1)
    top = np.argpartition(vals, vals.shape[1] - k, axis=1)[:, -k:]
    return np.take_along_axis(cols, top, axis=1), np.take_along_axis(vals, top, axis=1)


def log_normaliser(row: np.ndarray, best: float, buf: np.ndarray) -> float:
    """``log(sum(exp(row)))`` given the row's maximum, in float32 through ``buf`` (one row at
    a time stays in the CPU cache: faster than one pass over all rows)."""
    np.subtract(row, best, out=buf)
    np.exp(buf, out=buf)
    return best + math.log(float(buf.sum(dtype=np.float64)))


class _CandidateSampler:
    """Runs a sequence's llama.cpp sampler chain on a given candidate set, exactly as
    ``llama_sampler_sample`` runs it on the whole vocabulary (apply, then accept)."""

    def __init__(self, capacity: int) -> None:
        lib = _llama()
        self._lib = lib
        self._data = (lib.llama_token_data * capacity)()
        self._view = np.ctypeslib.as_array(self._data).view(
            np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        )
        self._ptr = ctypes.cast(self._data, ctypes.POINTER(lib.llama_token_data))
        self._arr = lib.llama_token_data_array()
        self._ref = ctypes.byref(self._arr)

    def sample(self, chain: Any, ids: np.ndarray, logits: np.ndarray) -> int:
        n = len(ids)
        view = self._view
        view["id"][:n] = ids
        view["logit"][:n] = logits
        view["p"][:n] = 0.0
        arr = self._arr
        arr.data = self._ptr
        arr.size = n
        arr.selected = -1
        arr.sorted = False
        self._lib.llama_sampler_apply(chain, self._ref)
        if not 0 <= arr.selected < arr.size:
            raise EngineError("internal: the sampler chain selected no token")
        token = int(arr.data[arr.selected].id)
        self._lib.llama_sampler_accept(chain, token)
        return token


@dataclass(slots=True)
class _Rows:
    """What sampling needs from the logits rows of one decode, computed once per decode and
    shared by every sequence reading the same row (after the prompt or a fork, many do)."""

    epoch: int
    logits: np.ndarray  # (n_outputs, n_vocab), live until the next decode
    lse: dict[int, float] = field(default_factory=dict)
    k: int = 0  # candidates per row computed so far
    cand_ids: dict[int, np.ndarray] = field(default_factory=dict)
    cand_logits: dict[int, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------- generator


def plan_context(prompt_tokens: int, n: int, max_tokens: int, *, extra: int = 0) -> int:
    """Cells a request needs: the prompt once plus every sequence's own tokens."""
    need = prompt_tokens + n * (max_tokens + 1) + extra + 8
    return int(-(-need // 256) * 256)


@dataclass(slots=True)
class _Seq:
    sid: int
    sampling: SamplingParams
    chain: Any
    n_past: int  # cells this sequence has in the cache (next position)
    pending: int | None = None  # sampled, part of the text, not yet decoded
    logits_index: int = -1  # batch index of this sequence's current logits
    logits_epoch: int = -1
    generated: int = 0
    text: bytearray = field(default_factory=bytearray)
    finished: bool = False
    #: A boundary (the end of thinking) was passed: ``min_step_tokens`` no longer applies.
    past_boundary: bool = False


def _chain_key(sampling: SamplingParams) -> tuple[float, float, int, float, int]:
    """What a sequence's sampler chain is made of (the rest are step rules)."""
    return (sampling.temperature, sampling.top_p, sampling.top_k, sampling.min_p, sampling.seed)


def _new_chain(sampling: SamplingParams) -> Any:
    lib = _llama()
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    if sampling.greedy:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        return chain
    if sampling.top_k > 0:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(sampling.top_k))
    if 0 < sampling.top_p < 1:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(sampling.top_p, 1))
    if sampling.min_p > 0:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(sampling.min_p, 1))
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(sampling.temperature))
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(sampling.seed & 0xFFFFFFFF))
    return chain


class LlamaGenerator:
    """:class:`~outthink.generation.StepGenerator` on llama.cpp. One caller thread at a time;
    :attr:`cancel` may be set from any thread and takes effect before the next decode call."""

    def __init__(
        self,
        model: Model,
        *,
        n_ctx: int,
        n_seq_max: int,
        threads: int | None = None,
        n_batch: int = DEFAULT_N_BATCH,
        cancel: CancelToken | None = None,
        prompt_has_bos: bool | None = None,
    ) -> None:
        self.model = model
        self.cancel = cancel or CancelToken()
        self.ctx = Context(
            model,
            n_ctx=n_ctx,
            n_seq_max=n_seq_max,
            n_batch=n_batch,
            threads=threads,
            cancel=self.cancel,
        )
        self.usage = Usage()
        self._seqs: dict[int, _Seq] = {}
        self._free: list[int] = list(range(n_seq_max - 1, -1, -1))
        self._fork_counter = 0
        self._prompt_has_bos = prompt_has_bos
        self._cur_rows: _Rows | None = None
        self._sampler = _CandidateSampler(TOPK_FAST_MAX)
        self._lse_buf = np.empty(model.n_vocab, dtype=np.float32)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_buf = np.empty(0, dtype=np.float32)  # allocated with the helper thread

    @property
    def n_seq_max(self) -> int:
        return self.ctx.n_seq_max

    @property
    def live(self) -> list[int]:
        return sorted(self._seqs)

    # -- lifecycle of sequences

    def _alloc(self) -> int:
        if not self._free:
            raise EngineError(
                f"All {self.ctx.n_seq_max} sequence slots are in use.",
                hint="Lower the budget N or the beam width.",
            )
        return self._free.pop()

    def _release_all(self) -> None:
        lib = _llama()
        for s in self._seqs.values():
            lib.llama_sampler_free(s.chain)
        self._seqs.clear()
        self._free = list(range(self.ctx.n_seq_max - 1, -1, -1))
        self.ctx.clear()

    def tokenize_prompt(self, prompt: str) -> list[int]:
        has_bos = self._prompt_has_bos
        if has_bos is None:
            bos = self.model.bos_text
            has_bos = bool(bos) and prompt.startswith(bos)
        return self.model.tokenize(prompt, add_special=not has_bos, parse_special=True)

    def start(self, prompt: str, n: int, sampling: SamplingParams) -> list[int]:
        if n < 1:
            raise EngineError("At least one sequence is needed.", hint="Set N to 1 or more.")
        if n > self.ctx.n_seq_max:
            raise EngineError(
                f"{n} sequences requested but the context was made for {self.ctx.n_seq_max}.",
                hint="Lower the budget N.",
            )
        self._release_all()
        tokens = self.tokenize_prompt(prompt)
        if not tokens:
            raise EngineError("The prompt is empty after tokenization.", hint="Type a problem.")
        if len(tokens) + n > self.ctx.n_ctx:
            raise EngineError(
                f"The prompt has {len(tokens):,} tokens; the context holds {self.ctx.n_ctx:,}.",
                hint="Shorten the problem or raise the context size.",
            )
        root = self._alloc()
        self.ctx.decode_chunked(tokens, 0, root, last_logits=True)
        self.usage.prompt_tokens += len(tokens)
        self.usage.decoded_tokens += len(tokens)
        self.usage.decode_calls += -(-len(tokens) // self.ctx.n_batch)
        last_index = (len(tokens) - 1) % self.ctx.n_batch
        ids = [root]
        for _ in range(n - 1):
            sid = self._alloc()
            self.ctx.seq_cp(root, sid)
            ids.append(sid)
        for i, sid in enumerate(ids):
            params = sampling.with_seed(sampling.seed + i)
            self._seqs[sid] = _Seq(
                sid,
                params,
                _new_chain(params),
                n_past=len(tokens),
                logits_index=last_index,
                logits_epoch=self.ctx.epoch,
            )
        self._prompt_len = len(tokens)
        self._last_prompt_token = tokens[-1]
        return ids

    def fork(self, seq: int, *, sampling: SamplingParams | None = None) -> int:
        src = self._get(seq)
        sid = self._alloc()
        self.ctx.seq_cp(src.sid, sid)
        self._fork_counter += 1
        params = sampling or src.sampling.with_seed(
            (src.sampling.seed * 1_000_003 + self._fork_counter) & 0x7FFFFFFF
        )
        self._seqs[sid] = _Seq(
            sid,
            params,
            _new_chain(params),
            n_past=src.n_past,
            pending=src.pending,
            logits_index=src.logits_index,
            logits_epoch=src.logits_epoch,
            generated=src.generated,
            text=bytearray(src.text),
            finished=src.finished,
            past_boundary=src.past_boundary,
        )
        return sid

    def drop(self, seq: int) -> None:
        s = self._seqs.pop(seq, None)
        if s is None:
            return
        self.ctx.seq_rm(s.sid, -1, -1)
        _llama().llama_sampler_free(s.chain)
        self._free.append(s.sid)

    def set_sampling(self, seq: int, sampling: SamplingParams) -> None:
        s = self._get(seq)
        if _chain_key(sampling) == _chain_key(s.sampling):
            s.sampling = sampling  # step rules only: the sampler chain goes on as it was
            return
        _llama().llama_sampler_free(s.chain)
        s.sampling = sampling
        s.chain = _new_chain(sampling)

    def text(self, seq: int) -> str:
        return self._get(seq).text.decode("utf-8", "replace")

    def generated_tokens(self, seq: int) -> int:
        return self._get(seq).generated

    def _get(self, seq: int) -> _Seq:
        try:
            return self._seqs[seq]
        except KeyError:
            raise EngineError(f"internal: unknown sequence {seq}") from None

    # -- generation

    def _refresh_stale(self, s: _Seq) -> None:
        """A sequence with no pending token whose logits were overwritten by a later decode:
        take its last cell back out so the next round decodes it again (rare; only when a
        strategy extends some fresh sequences before others)."""
        if s.pending is None and s.logits_epoch != self.ctx.epoch:
            if s.generated:
                raise EngineError("internal: a sequence lost its pending token")
            last = s.n_past - 1
            if not self.ctx.seq_rm(s.sid, last, -1):
                raise EngineError("internal: cannot rewind a sequence on this model")
            s.n_past = last
            s.pending = self._last_prompt_token

    def inject(self, seq: int, text: str) -> int:
        """Append ``text`` to a sequence (a forced end of thinking). Its tokens are decoded
        now except the last, which becomes the sequence's pending token, as a sampled one
        would: every live sequence keeps valid logits, and the next step decodes it."""
        s = self._get(seq)
        if s.finished:
            raise EngineError(f"internal: sequence {s.sid} has already finished")
        tokens = self.model.tokenize(text, add_special=False, parse_special=True)
        if not tokens:
            return 0
        self._refresh_stale(s)
        run = ([s.pending] if s.pending is not None else []) + tokens
        head = run[:-1]
        if head:
            self.ctx.decode_chunked(head, s.n_past, s.sid, last_logits=False)
            self.usage.decoded_tokens += len(head)
            self.usage.decode_calls += -(-len(head) // self.ctx.n_batch)
        s.n_past += len(head)
        s.pending = run[-1]
        s.text += text.encode("utf-8")
        s.generated += len(tokens)
        s.past_boundary |= any(b in text for b in s.sampling.boundary)
        return len(tokens)

    def extend(
        self, seqs: Sequence[int], limits: Mapping[int, int] | None = None
    ) -> Generator[TokenDeltas, None, list[StepOutput]]:
        limits = limits or {}
        states = [self._get(q) for q in seqs]
        for s in states:
            if s.finished:
                raise EngineError(f"internal: sequence {s.sid} has already finished")
            self._refresh_stale(s)
        steps: dict[int, dict[str, Any]] = {
            s.sid: {
                "bytes": bytearray(),
                "tokens": [],
                "logprobs": [],
                "stop": None,
                "decoder": codecs.getincrementaldecoder("utf-8")("replace"),
                "text": [],
            }
            for s in states
        }
        live = list(states)
        ctx = self.ctx
        while live:
            # 1. decode every pending token in one call
            batch = [s for s in live if s.pending is not None]
            if batch:
                ctx.decode(
                    [s.pending for s in batch],  # type: ignore[misc]
                    [s.n_past for s in batch],
                    [s.sid for s in batch],
                    [True] * len(batch),
                )
                self.usage.decoded_tokens += len(batch)
                self.usage.decode_calls += 1
                for i, s in enumerate(batch):
                    s.n_past += 1
                    s.pending = None
                    s.logits_index = i
                    s.logits_epoch = ctx.epoch
            # 2. sample one token for every live sequence
            drawn = self._sample_all(live)
            deltas: dict[int, str] = {}
            still: list[_Seq] = []
            for s, (token, logprob) in zip(live, drawn, strict=True):
                st = steps[s.sid]
                s.generated += 1
                self.usage.generated_tokens += 1
                stop: StopReason | None = None
                if self.model.is_eog(token):
                    stop = "eog"
                    s.finished = True
                else:
                    piece = self.model.piece(token)
                    st["tokens"].append(token)
                    st["logprobs"].append(logprob)
                    before = len(st["bytes"])
                    st["bytes"] += piece
                    s.text += piece
                    s.pending = token
                    delta = st["decoder"].decode(piece)
                    if delta:
                        deltas[s.sid] = delta
                        st["text"].append(delta)
                    sp = s.sampling
                    n_step = len(st["tokens"])
                    # the end of a thinking block ends a step at once; a blank line once
                    # the step is long enough (thinking's short paragraphs; the solution
                    # after the thinking has steps of any length)
                    boundary = bool(sp.boundary) and self._hit_boundary(
                        st["bytes"], before, sp.boundary
                    )
                    s.past_boundary |= boundary
                    least = 0 if s.past_boundary else sp.min_step_tokens
                    if boundary or (
                        n_step >= least and self._hit_delimiter(st["bytes"], before, sp.stop)
                    ):
                        stop = "delimiter"
                    elif 0 < sp.step_tokens <= n_step or 0 < limits.get(s.sid, 0) <= n_step:
                        stop = "step_limit"
                    if s.generated >= s.sampling.max_tokens:
                        stop = "length"
                        s.finished = True
                if stop is None:
                    still.append(s)
                else:
                    st["stop"] = stop
            if deltas:
                yield deltas
            live = still
        outputs = []
        for s in states:
            st = steps[s.sid]
            tail = st["decoder"].decode(b"", final=True)
            outputs.append(
                StepOutput(
                    seq=s.sid,
                    text="".join(st["text"]) + tail,
                    tokens=tuple(st["tokens"]),
                    logprobs=tuple(st["logprobs"]),
                    stop=st["stop"],
                    total_tokens=s.generated,
                )
            )
        return outputs

    @staticmethod
    def _hit_boundary(data: bytearray, before: int, boundaries: tuple[str, ...]) -> bool:
        """A boundary (the end of a thinking block) in the new bytes ends the step, even
        with nothing before it."""
        for b in boundaries:
            db = b.encode("utf-8")
            if data.find(db, max(0, before - len(db) + 1)) != -1:
                return True
        return False

    @staticmethod
    def _hit_delimiter(data: bytearray, before: int, delimiters: tuple[str, ...]) -> bool:
        for d in delimiters:
            db = d.encode("utf-8")
            idx = data.find(db, max(0, before - len(db) + 1))
            # A delimiter before any visible text (leading blank lines) does not end a step;
            # one later in the same new text still does.
            while idx != -1:
                if idx > 0 and data[:idx].strip():
                    return True
                idx = data.find(db, idx + 1)
        return False

    def _rows(self) -> _Rows:
        rows = self._cur_rows
        if rows is None or rows.epoch != self.ctx.epoch:
            rows = self._cur_rows = _Rows(self.ctx.epoch, self.ctx.output_logits())
        return rows

    @staticmethod
    def _fast(s: _Seq) -> bool:
        return not s.sampling.greedy and 0 < s.sampling.top_k <= TOPK_FAST_MAX

    def _sample_all(self, seqs: Sequence[_Seq]) -> list[tuple[int, float]]:
        """One token for each sequence, with its log-probability under the raw model.

        Each sequence's own llama.cpp chain draws (top-k, top-p, min-p, temperature, seeded
        draw), but from its row's top-k candidates, found for all rows at once
        (:func:`top_candidates`), instead of from the whole vocabulary: the same draw, at a
        fraction of the cost. The exact log-normaliser of each row is computed once.
        """
        rows = self._rows()
        ctx = self.ctx
        where = [ctx.output_row(s.logits_index) for s in seqs]
        # exact log-normalisers of the rows not yet done: most of them on a helper thread
        # (numpy lets go of the GIL) while this one draws the tokens
        todo = sorted({r for r in where if r not in rows.lse})
        helper = None
        if len(todo) >= 4 and self.ctx.threads > 1:
            split = len(todo) // 4
            helper = self._helper().submit(self._log_normalisers, rows.logits, todo[split:])
            todo = todo[:split]
        try:
            k = max((s.sampling.top_k for s in seqs if self._fast(s)), default=0)
            if k > rows.k:
                used = sorted({r for r, s in zip(where, seqs, strict=True) if self._fast(s)})
                block = rows.logits if len(used) == len(rows.logits) else rows.logits[used]
                ids, vals = top_candidates(block, k)
                rows.cand_ids.clear()  # fewer than k candidates would be wrong for top-k = k
                rows.cand_logits.clear()
                for j, r in enumerate(used):
                    rows.cand_ids[r] = ids[j]
                    rows.cand_logits[r] = vals[j]
                rows.k = k
            lib = _llama()
            tokens = []
            for s, r in zip(seqs, where, strict=True):
                if s.sampling.greedy:
                    tokens.append(int(np.argmax(rows.logits[r])))
                elif self._fast(s) and r in rows.cand_ids:
                    tokens.append(
                        self._sampler.sample(s.chain, rows.cand_ids[r], rows.cand_logits[r])
                    )
                else:
                    tokens.append(int(lib.llama_sampler_sample(s.chain, ctx.ptr, s.logits_index)))
            for r in todo:
                row = rows.logits[r]
                best = rows.cand_logits[r].max() if r in rows.cand_logits else row.max()
                rows.lse[r] = log_normaliser(row, float(best), self._lse_buf)
        finally:
            # the helper reads the logits buffer: never let a decode overwrite it meanwhile
            if helper is not None:
                rows.lse.update(helper.result())
        return [
            (token, float(rows.logits[r, token]) - rows.lse[r])
            for token, r in zip(tokens, where, strict=True)
        ]

    def _helper(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="outthink-logsumexp")
            self._pool_buf = np.empty(self.model.n_vocab, dtype=np.float32)
        return self._pool

    def _log_normalisers(self, logits: np.ndarray, which: list[int]) -> dict[int, float]:
        buf = self._pool_buf
        return {r: log_normaliser(logits[r], float(logits[r].max()), buf) for r in which}

    def close(self) -> None:
        if getattr(self, "ctx", None) is not None:
            lib = _llama()
            for s in self._seqs.values():
                lib.llama_sampler_free(s.chain)
            self._seqs.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            self.ctx.close()

    def __enter__(self) -> LlamaGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
