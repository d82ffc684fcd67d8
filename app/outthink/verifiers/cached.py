"""Model-based verifier sessions that decode every step's tokens once.

A model-based verifier reads a score from next-token probabilities of its own model. Scoring a
step from scratch would re-decode the problem and every earlier step each time; instead each
live candidate owns one sequence in the verifier's own :class:`~outthink.engine.Context`
(unified KV cache), and

* the problem part (``root``) is decoded once, on sequence 0, and shared by every candidate
  through ``seq_cp`` (a fork only tags cells in a unified cache, it copies nothing);
* ``add(child, parent)`` forks the parent's sequence, ``drop`` removes the candidate's tags
  (``seq_rm``), so cells no live candidate uses are freed;
* ``score`` appends every candidate's new step at its own positions and decodes all of them in
  **one** ``llama_decode`` call (chunked at ``n_batch``), with logits only at the positions a
  score is read from.

Some formats ask a question after the step (the judge): that ``probe`` text is decoded in the
same call right after the step, its logits read, and then removed again with ``seq_rm`` so the
candidate's cached state holds only problem + steps. A probe never straddles two decode calls:
on a sliding-window (SWA) cache, cells that look out of window for a sequence's advanced
position may be reused by the next decode, and the rewound sequence would need them again.

What a format decides (see :class:`ScoringFormat`): the root text, the text each step appends
(and its probe), the token ids whose probabilities make the score. Score = P(good) / (P(good)
+ P(bad)), where P(group) adds the probabilities of the group's token ids (logsumexp of their
log-probabilities) read at the last token of the probe, or of the appended text when there is
no probe: the row whose logits predict the next token.

Token runs are tokenized piece by piece, but each piece is tokenized *after* the last
characters of the text before it and the tokens of that context are cut off again
(:func:`tokenize_after`): a SentencePiece tokenizer would otherwise put a word-start marker on
every piece, and a BPE tokenizer could split differently. Trailing whitespace of a piece whose
end is not scored (the root, the judge's step) is carried over to the next piece, because both
kinds of tokenizer attach a space or newline to what follows it (" 2", "▁2", "\n\n"). The
pieces then tokenize as the whole text would; where a merge still crosses a boundary the piece
is tokenized after a newline instead (the cached tokens cannot change any more).

The context starts at the configured size and grows when a run needs more cells or more
sequences: a bigger context is created and the live candidates' cached tokens are decoded into
it again, each shared segment once (counted in ``tokens_decoded``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from outthink.engine import (
    MAX_SEQUENCES,
    MEMORY_MARGIN_BYTES,
    Context,
    Model,
)
from outthink.errors import (
    ConfigError,
    EngineError,
    MemoryBudgetError,
    ModelUnsupportedError,
)
from outthink.generation import CancelToken
from outthink.memory import allocatable_memory
from outthink.verifiers.base import StepRecord

log = logging.getLogger(__name__)

__all__ = [
    "ROOT_SEQ",
    "CacheSettings",
    "CachedSession",
    "CachedVerifier",
    "ScoringFormat",
    "StepText",
    "pair_score",
    "tokenize_after",
    "tokenize_root",
]

#: Sequence that holds the problem part every candidate forks from.
ROOT_SEQ = 0
#: Characters of preceding text used as tokenization context for the next piece.
_TAIL_CHARS = 32
#: Context sizes are rounded up to this (llama.cpp pads the unified cache the same way).
_CTX_STEP = 256


@dataclass(frozen=True, slots=True)
class StepText:
    """What one step adds: ``kept`` stays in the candidate's cache, ``probe`` is rewound."""

    kept: str
    probe: str = ""


class ScoringFormat(Protocol):
    """How a verifier kind lays out its text and where it reads the score."""

    #: Token ids whose probabilities are added up for "good" and for "bad".
    good_ids: tuple[int, ...]
    bad_ids: tuple[int, ...]

    @property
    def template_source(self) -> str:
        """ "model" when the text follows the model's chat template, else "plain"."""
        ...

    def root(self, problem: str) -> str:
        """Text decoded once per problem, before any step (templates' BOS included)."""
        ...

    def step(self, problem: str, index: int, text: str) -> StepText:
        """Text for step ``index`` (0-based) of a candidate."""
        ...


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """Sizes of the verifier's context. ``n_seq_max`` counts candidates (the root is extra)."""

    n_ctx: int = 4096
    max_ctx: int = 32768
    n_seq_max: int = 64
    n_batch: int = 512
    threads: int | None = None
    cancel: CancelToken | None = None


def tokenize_root(model: Model, text: str) -> list[int]:
    """Tokens of the root text, with BOS added unless the text already starts with it."""
    bos = model.bos_text
    has_bos = bool(bos) and text.startswith(bos)
    return model.tokenize(text, add_special=not has_bos, parse_special=True)


def tokenize_after(model: Model, context: str, text: str) -> list[int]:
    """Tokens ``text`` adds when it follows ``context`` (see the module notes)."""
    if not text:
        return []
    # A newline is a token boundary in SentencePiece and BPE vocabularies alike: the fallback
    # context, so the piece still gets no word-start marker of its own.
    for anchor in dict.fromkeys((context, "\n")):
        if not anchor:
            continue
        base = model.tokenize(anchor, add_special=False, parse_special=True)
        both = model.tokenize(anchor + text, add_special=False, parse_special=True)
        if len(both) > len(base) and both[: len(base)] == base:
            return both[len(base) :]
        log.debug("Tokens merge across a piece boundary after %r: %r", anchor[-12:], text[:40])
    return model.tokenize(text, add_special=False, parse_special=True)


def pair_score(logprobs: np.ndarray, n_good: int) -> float:
    """P(good) / (P(good) + P(bad)) from log-probabilities, good ids first."""
    good = float(np.logaddexp.reduce(logprobs[:n_good]))
    bad = float(np.logaddexp.reduce(logprobs[n_good:]))
    d = bad - good
    if not math.isfinite(d):
        return 0.5 if math.isnan(d) else (0.0 if d > 0 else 1.0)
    # 1 / (1 + e^d), written so neither branch overflows
    if d >= 0:
        e = math.exp(-d)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(d))


def _round_ctx(cells: int) -> int:
    return -(-max(cells, 1) // _CTX_STEP) * _CTX_STEP


# --------------------------------------------------------------------------- verifier


class CachedVerifier:
    """A model-based verifier: a model, a :class:`ScoringFormat`, context sizes.

    One context is kept between sessions (problems) so a benchmark does not pay for creating
    it every time; :meth:`close` frees it and must run before the model is closed.
    """

    def __init__(
        self,
        name: str,
        model: Model,
        fmt: ScoringFormat,
        settings: CacheSettings | None = None,
    ) -> None:
        self.name = name
        self.informative = True
        self.model = model
        self.format = fmt
        self.settings = settings or CacheSettings()
        #: Contexts created so far (tests and logs: a pooled context is reused).
        self.contexts_created = 0
        self._pool: Context | None = None
        self._closed = False

    def open(self, problem: str) -> CachedSession:
        if self._closed:
            raise EngineError(f"The {self.name} verifier was closed.", hint="Load it again.")
        return CachedSession(self, problem)

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> CachedVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- contexts

    def _acquire(self, n_ctx: int, n_seq: int) -> Context:
        pooled, self._pool = self._pool, None
        if pooled is not None:
            if pooled.n_ctx >= n_ctx and pooled.n_seq_max >= n_seq:
                pooled.clear()
                return pooled
            pooled.close()
        return self._create(n_ctx, n_seq)

    def _create(self, n_ctx: int, n_seq: int) -> Context:
        _check_kv_memory(self.model, n_ctx, what=f"The {self.name} verifier")
        s = self.settings
        # llama.cpp reserves at least one output row per sequence and aborts where n_batch
        # allows fewer; a batch as large as the sequence count avoids that.
        ctx = Context(
            self.model,
            n_ctx=n_ctx,
            n_seq_max=n_seq,
            n_batch=max(s.n_batch, n_seq),
            threads=s.threads,
            cancel=s.cancel,
        )
        self.contexts_created += 1
        log.debug("%s verifier context: %d cells, %d sequences", self.name, ctx.n_ctx, n_seq)
        return ctx

    def _release(self, ctx: Context) -> None:
        if self._closed or self._pool is not None:
            ctx.close()  # a second session ran at the same time; keep only one context
        else:
            ctx.clear()
            self._pool = ctx


def _check_kv_memory(model: Model, cells: int, *, what: str) -> None:
    """Refuse a context whose KV cache would not fit (the model itself is already loaded)."""
    need = cells * model.header.kv_bytes_per_token() + MEMORY_MARGIN_BYTES
    have = allocatable_memory()
    if need > have:
        gib = 1024**3
        raise MemoryBudgetError(
            f"{what} needs about {need / gib:.1f} GiB for a KV cache of {cells:,} tokens, "
            f"but only {have / gib:.1f} GiB is available.",
            hint="Lower the budget N or the steps per solution, or pick a smaller verifier.",
        )


# --------------------------------------------------------------------------- session


@dataclass(slots=True, eq=False)
class _Segment:
    """Tokens appended at once (the root, or one step), stored once however many candidates
    share them. ``refs`` = candidates whose tip it is + live child segments."""

    tokens: tuple[int, ...]
    start: int
    parent: _Segment | None
    tail: str  # last characters of the text so far: tokenization context for what follows
    carry: str = ""  # trailing whitespace not tokenized yet: it belongs to the next piece
    refs: int = 1

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)


@dataclass(slots=True)
class _Candidate:
    seq: int
    tip: _Segment
    steps: int = 0


@dataclass(slots=True)
class _Job:
    candidate: int
    state: _Candidate
    kept: list[int]
    probe: list[int]
    tail: str
    carry: str
    score: float | None = None


class CachedSession:
    """Per-problem state of a :class:`CachedVerifier` (see the module notes)."""

    def __init__(self, verifier: CachedVerifier, problem: str) -> None:
        self._v = verifier
        self._model = verifier.model
        self._fmt = verifier.format
        self.problem = problem
        self._tokens_decoded = 0
        #: Tokens kept in the cache, each counted once: the root plus every scored step's run.
        self.unique_prefix_tokens = 0
        #: Tokens decoded only to read a score and rewound afterwards (the judge's question).
        self.probe_tokens = 0
        self.decode_calls = 0
        self._cands: dict[int, _Candidate] = {}
        self._broken: str | None = None
        self._closed = False

        root_text = self._fmt.root(problem)
        body = root_text.rstrip()
        tokens = tokenize_root(self._model, body)
        if not tokens:
            raise ConfigError("The problem is empty.", hint="Type or paste a problem to solve.")
        s = verifier.settings
        if len(tokens) + 1 > s.max_ctx:
            raise ConfigError(
                f"The problem takes {len(tokens):,} verifier tokens; the verifier's context "
                f"is limited to {s.max_ctx:,}.",
                hint="Shorten the problem or raise the verifier's max_ctx option.",
            )
        self._root = _Segment(
            tuple(tokens), 0, None, body[-_TAIL_CHARS:], carry=root_text[len(body) :]
        )
        self._cells = len(tokens)
        n_ctx = min(s.max_ctx, max(s.n_ctx, _round_ctx(len(tokens) + _CTX_STEP)))
        self._ctx: Context | None = verifier._acquire(n_ctx, s.n_seq_max + 1)
        try:
            self._free = list(range(self._ctx.n_seq_max - 1, ROOT_SEQ, -1))
            self._decode_plain(ROOT_SEQ, self._root.tokens, 0)
            self.unique_prefix_tokens += len(tokens)
        except BaseException:
            self.close()
            raise

    # -- public API

    @property
    def tokens_decoded(self) -> int:
        """Every token this session decoded: root, steps, probes, and replays after growth."""
        return self._tokens_decoded

    @property
    def context(self) -> Context:
        if self._ctx is None:
            raise EngineError("The verifier session was closed.")
        return self._ctx

    @property
    def root_tokens(self) -> tuple[int, ...]:
        return self._root.tokens

    def seq_of(self, candidate: int) -> int:
        """The verifier sequence id of a candidate (tests and diagnostics)."""
        return self._get(candidate).seq

    def cached_tokens(self, candidate: int) -> list[int]:
        """The tokens a candidate's sequence holds, root first (tests and diagnostics)."""
        parts: list[tuple[int, ...]] = []
        seg: _Segment | None = self._get(candidate).tip
        while seg is not None:
            parts.append(seg.tokens)
            seg = seg.parent
        return [t for part in reversed(parts) for t in part]

    @property
    def live_cells(self) -> int:
        """KV cells the live candidates use (shared segments counted once)."""
        return self._cells

    def add(self, candidate: int, parent: int | None = None) -> None:
        self._check_usable()
        if candidate in self._cands:
            if candidate == parent:
                raise EngineError(f"internal: candidate {candidate} cannot continue itself")
            self.drop(candidate)
        src = self._get(parent) if parent is not None else None
        if not self._free:
            self._grow(seqs=len(self._cands) + 2)
        seq = self._free.pop()
        ctx = self.context
        if src is None:
            ctx.seq_cp(ROOT_SEQ, seq)
            tip, steps = self._root, 0
        else:
            ctx.seq_cp(src.seq, seq)
            tip, steps = src.tip, src.steps
        tip.refs += 1
        self._cands[candidate] = _Candidate(seq, tip, steps)

    def drop(self, candidate: int) -> None:
        cand = self._cands.pop(candidate, None)
        if cand is None or self._ctx is None:
            return
        self._ctx.seq_rm(cand.seq, -1, -1)
        self._free.append(cand.seq)
        self._release_segment(cand.tip)

    def score(self, steps: Mapping[int, StepRecord]) -> dict[int, float]:
        self._check_usable()
        if not steps:
            return {}
        for cand in steps:
            if cand not in self._cands:  # as the stateless verifiers do: a fresh candidate
                self.add(cand)
        jobs = [self._job(cand, record) for cand, record in steps.items()]
        need = self._cells + sum(len(j.kept) + len(j.probe) for j in jobs)
        if need > self.context.n_ctx:
            self._grow(cells=need)
        try:
            self._decode_jobs(jobs)
        except ModelUnsupportedError as exc:
            self._broken = exc.message
            raise
        except BaseException:
            # Take this call's cells back out so the session stays consistent (a cancelled
            # score can be retried, and the candidates' cached state is what it was).
            for job in jobs:
                self.context.seq_rm(job.state.seq, job.state.tip.end, -1)
            raise
        out: dict[int, float] = {}
        for job in jobs:
            state = job.state
            seg = _Segment(tuple(job.kept), state.tip.end, state.tip, job.tail, job.carry)
            # The old tip gains a child and loses the candidate: its count is unchanged.
            state.tip = seg
            state.steps += 1
            self._cells += len(seg.tokens)
            self.unique_prefix_tokens += len(seg.tokens)
            assert job.score is not None
            out[job.candidate] = job.score
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cands.clear()
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            self._v._release(ctx)

    # -- internals

    def _check_usable(self) -> None:
        if self._closed:
            raise EngineError("The verifier session was closed.")
        if self._broken:
            raise EngineError(
                f"The {self._v.name} verifier failed earlier in this run: {self._broken}",
                hint="Start a new run.",
            )

    def _get(self, candidate: int) -> _Candidate:
        try:
            return self._cands[candidate]
        except KeyError:
            raise EngineError(f"internal: unknown verifier candidate {candidate}") from None

    def _release_segment(self, seg: _Segment | None) -> None:
        while seg is not None:
            seg.refs -= 1
            if seg.refs > 0:
                return
            self._cells -= len(seg.tokens)
            seg = seg.parent

    def _job(self, candidate: int, record: StepRecord) -> _Job:
        cand = self._cands[candidate]
        text = self._fmt.step(self.problem, cand.steps, record.text)
        kept_text = cand.tip.carry + text.kept
        carry = ""
        if text.probe:  # the end of the kept text is not scored: its whitespace can wait
            body = kept_text.rstrip()
            kept_text, carry = body, kept_text[len(body) :]
        kept = tokenize_after(self._model, cand.tip.tail, kept_text)
        tail = (cand.tip.tail + kept_text)[-_TAIL_CHARS:]
        probe = tokenize_after(self._model, tail, carry + text.probe)
        if not kept and not probe:
            raise EngineError("internal: a verifier step produced no tokens to score")
        if len(probe) > self.context.n_batch:
            raise ConfigError(
                f"The {self._v.name} verifier's question takes {len(probe)} tokens after the "
                f"step, more than one decode call holds ({self.context.n_batch}).",
                hint="Shorten the verifier's prompt or raise its n_batch option.",
            )
        return _Job(candidate, cand, kept, probe, tail, carry)

    def _decode_jobs(self, jobs: Sequence[_Job]) -> None:
        """All jobs' tokens in as few decode calls as n_batch allows; scores read per call."""
        ctx = self.context
        cap = ctx.n_batch
        ids = [*self._fmt.good_ids, *self._fmt.bad_ids]
        n_good = len(self._fmt.good_ids)
        tokens: list[int] = []
        positions: list[int] = []
        seqs: list[int] = []
        wants: list[bool] = []
        reads: list[tuple[int, _Job]] = []  # (batch index, job) of each score in this call

        def flush() -> None:
            if not tokens:
                return
            ctx.decode(tokens, positions, seqs, wants)
            self._tokens_decoded += len(tokens)
            self.decode_calls += 1
            for index, job in reads:
                job.score = pair_score(ctx.log_softmax_at(index, ids), n_good)
                if job.probe:
                    self._rewind(job)
            tokens.clear()
            positions.clear()
            seqs.clear()
            wants.clear()
            reads.clear()

        def put(token: int, pos: int, seq: int, job: _Job | None) -> None:
            if job is not None:
                reads.append((len(tokens), job))
            tokens.append(token)
            positions.append(pos)
            seqs.append(seq)
            wants.append(job is not None)

        for job in jobs:
            seq, pos = job.state.seq, job.state.tip.end
            for i, token in enumerate(job.kept):
                if len(tokens) == cap:
                    flush()
                last = i == len(job.kept) - 1 and not job.probe
                put(token, pos, seq, job if last else None)
                pos += 1
            if job.probe:
                if len(tokens) + len(job.probe) > cap:
                    flush()  # a probe never straddles two calls (see the module notes)
                for i, token in enumerate(job.probe):
                    put(token, pos, seq, job if i == len(job.probe) - 1 else None)
                    pos += 1
                self.probe_tokens += len(job.probe)
        flush()

    def _rewind(self, job: _Job) -> None:
        start = job.state.tip.end + len(job.kept)
        if not self.context.seq_rm(job.state.seq, start, -1):
            raise ModelUnsupportedError(
                f"{self._model.name} cannot take tokens back out of its cache (a recurrent "
                f"model), so it cannot serve as the {self._v.name} verifier.",
                hint="Pick a transformer model as the judge, or a PRM verifier.",
            )

    def _decode_plain(self, seq: int, tokens: Sequence[int], start: int) -> None:
        """Tokens with no logits wanted (the root, replays), in n_batch chunks."""
        ctx = self.context
        for lo in range(0, len(tokens), ctx.n_batch):
            chunk = tokens[lo : lo + ctx.n_batch]
            ctx.decode(
                chunk,
                range(start + lo, start + lo + len(chunk)),
                [seq] * len(chunk),
                [False] * len(chunk),
            )
            self._tokens_decoded += len(chunk)
            self.decode_calls += 1

    # -- growing the context

    def _grow(self, *, cells: int = 0, seqs: int = 0) -> None:
        """Recreate the context with room for ``cells`` cells and ``seqs`` candidates, then
        decode the live candidates' cached tokens into it again."""
        old = self.context
        s = self._v.settings
        n_ctx = old.n_ctx
        while n_ctx < cells:
            n_ctx *= 2
        if n_ctx > s.max_ctx:
            if cells > s.max_ctx:
                raise MemoryBudgetError(
                    f"The {self._v.name} verifier needs {cells:,} cache cells for the live "
                    f"candidates; its context is limited to {s.max_ctx:,}.",
                    hint="Lower the budget N or the steps per solution, or raise the "
                    "verifier's max_ctx option.",
                )
            n_ctx = s.max_ctx
        n_seq = old.n_seq_max
        while n_seq < seqs:
            n_seq *= 2
        if seqs > MAX_SEQUENCES:
            raise EngineError(
                f"The {self._v.name} verifier would need {seqs} sequences; llama.cpp allows "
                f"{MAX_SEQUENCES}.",
                hint="Lower the budget N or the beam width.",
            )
        n_seq = min(n_seq, MAX_SEQUENCES)
        log.info(
            "Growing the %s verifier context to %d cells, %d sequences",
            self._v.name,
            n_ctx,
            n_seq,
        )
        # Check before freeing the old context: a refusal leaves the session usable.
        extra = max(0, n_ctx - old.n_ctx)
        _check_kv_memory(self._model, extra, what=f"Growing the {self._v.name} verifier")
        self._ctx = None
        old.close()
        self._ctx = self._v._create(n_ctx, n_seq)
        used = {c.seq for c in self._cands.values()}
        self._free = [q for q in range(n_seq - 1, ROOT_SEQ, -1) if q not in used]
        self._replay()

    def _replay(self) -> None:
        """Decode every live segment once, top-down; copy it to every sequence that holds it.

        Right after a segment is decoded on one holder, that holder contains exactly the chain
        up to the segment, so a whole-sequence ``seq_cp`` to the other holders is exact (no
        partial copies or removals, which some caches cannot do).
        """
        holders: dict[int, list[int]] = {id(self._root): [ROOT_SEQ]}
        children: dict[int, list[_Segment]] = {}
        for cand in self._cands.values():
            seg: _Segment | None = cand.tip
            while seg is not None:
                key = id(seg)
                if key not in holders:
                    holders[key] = []
                    if seg.parent is not None:
                        children.setdefault(id(seg.parent), []).append(seg)
                holders[key].append(cand.seq)
                seg = seg.parent
        ctx = self.context
        stack = [self._root]
        while stack:
            seg = stack.pop()
            first, *rest = holders[id(seg)]
            self._decode_plain(first, seg.tokens, seg.start)
            for seq in rest:
                ctx.seq_cp(first, seq)
            stack.extend(children.get(id(seg), ()))
