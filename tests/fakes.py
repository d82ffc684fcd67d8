"""A scripted StepGenerator for algorithm tests (no model file; milliseconds per run).

The script decides each step from the sequence's seed and text so far. The fake keeps the
engine's contract: ``start`` gives sequence ``i`` the seed ``seed + i``; ``fork`` copies the
text; ids are recycled; ``usage`` counts one token per character (so tests can count work).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field

from outthink.errors import EngineError
from outthink.generation import (
    CancelToken,
    SamplingParams,
    StepOutput,
    StopReason,
    TokenDeltas,
    Usage,
)

#: script(seed, step_index, text_so_far) -> (step_text, stop_reason)
Script = Callable[[int, int, str], tuple[str, StopReason]]


@dataclass
class _FakeSeq:
    seed: int
    sampling: SamplingParams
    text: str = ""
    steps: int = 0
    finished: bool = False
    tokens: int = 0


@dataclass
class FakeGenerator:
    script: Script
    n_seq_max: int = 256
    cancel: CancelToken = field(default_factory=CancelToken)
    usage: Usage = field(default_factory=Usage)
    extend_calls: list[list[int]] = field(default_factory=list)
    limit_calls: list[dict[int, int]] = field(default_factory=list)
    injected: list[tuple[int, str]] = field(default_factory=list)
    forks: int = 0
    closed: bool = False

    def __post_init__(self) -> None:
        self._seqs: dict[int, _FakeSeq] = {}
        self._free = list(range(self.n_seq_max - 1, -1, -1))
        self._fork_counter = 0

    def _alloc(self) -> int:
        if not self._free:
            raise EngineError("All sequence slots are in use.")
        return self._free.pop()

    def start(self, prompt: str, n: int, sampling: SamplingParams) -> list[int]:
        for sid in list(self._seqs):
            self.drop(sid)
        self.usage.prompt_tokens += len(prompt)
        self.usage.decoded_tokens += len(prompt)
        ids = []
        for i in range(n):
            sid = self._alloc()
            self._seqs[sid] = _FakeSeq(sampling.seed + i, sampling.with_seed(sampling.seed + i))
            ids.append(sid)
        return ids

    def extend(
        self, seqs: Sequence[int], limits: Mapping[int, int] | None = None
    ) -> Generator[TokenDeltas, None, list[StepOutput]]:
        self.cancel.check()
        self.extend_calls.append(list(seqs))
        self.limit_calls.append(dict(limits or {}))
        outs = []
        deltas = {}
        for sid in seqs:
            s = self._seqs[sid]
            if s.finished:
                raise EngineError(f"sequence {sid} has already finished")
            text, stop = self.script(s.seed, s.steps, s.text)
            limit = (limits or {}).get(sid, 0)
            if 0 < limit < len(text):  # one token per character, as the usage counts
                text, stop = text[:limit], "step_limit"
            s.steps += 1
            s.text += text
            s.tokens += len(text)
            if s.tokens >= s.sampling.max_tokens and stop != "eog":
                stop = "length"
            s.finished = stop in ("eog", "length")
            self.usage.generated_tokens += len(text)
            self.usage.decoded_tokens += len(text)
            deltas[sid] = text
            outs.append(
                StepOutput(sid, text, tuple(range(len(text))), (-0.1,) * len(text), stop, s.tokens)
            )
        yield deltas
        self.cancel.check()
        return outs

    def inject(self, seq: int, text: str) -> int:
        s = self._seqs[seq]
        if s.finished:
            raise EngineError(f"sequence {seq} has already finished")
        s.text += text
        s.tokens += len(text)
        self.usage.decoded_tokens += len(text)
        self.injected.append((seq, text))
        return len(text)

    def fork(self, seq: int, *, sampling: SamplingParams | None = None) -> int:
        src = self._seqs[seq]
        sid = self._alloc()
        self._fork_counter += 1
        seed = sampling.seed if sampling else src.seed * 1000 + self._fork_counter
        self._seqs[sid] = _FakeSeq(
            seed,
            sampling or src.sampling.with_seed(seed),
            src.text,
            src.steps,
            src.finished,
            src.tokens,
        )
        self.forks += 1
        return sid

    def drop(self, seq: int) -> None:
        if self._seqs.pop(seq, None) is not None:
            self._free.append(seq)

    def text(self, seq: int) -> str:
        return self._seqs[seq].text

    def set_sampling(self, seq: int, sampling: SamplingParams) -> None:
        self._seqs[seq].sampling = sampling

    @property
    def live(self) -> list[int]:
        return sorted(self._seqs)

    def close(self) -> None:
        self.closed = True


def answer_script(answers: dict[int, str], steps: int = 2) -> Script:
    """Sequence with seed s writes ``steps`` reasoning steps, then "The answer is answers[s]."."""

    def script(seed: int, index: int, text: str) -> tuple[str, StopReason]:
        if index < steps:
            return f"Step {index + 1} of seed {seed}: 2 + 2 = 4.\n\n", "delimiter"
        return f"The answer is {answers.get(seed, '0')}.", "eog"

    return script
