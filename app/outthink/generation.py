"""The narrow interface between search strategies and whatever generates text.

:class:`StepGenerator` is what a strategy needs: start N sequences from one prompt, extend
live sequences by one step each, fork and drop sequences. The llama.cpp engine implements it;
a remote backend or a test fake can too. Nothing here imports llama_cpp.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from outthink.errors import Cancelled

#: Why a step ended. "thinking_budget": the thinking budget ran out and the search closed the
#: thinking block (the step's text ends with the appended closing tag).
StopReason = Literal["delimiter", "step_limit", "eog", "length", "thinking_budget"]

#: What :meth:`StepGenerator.extend` yields while it runs: new text per sequence id.
TokenDeltas = Mapping[int, str]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How one sequence samples. ``temperature <= 0`` means greedy."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    seed: int = 0
    max_tokens: int = 512  # new tokens over the whole solution
    stop: tuple[str, ...] = ("\n\n",)  # step delimiters
    step_tokens: int = 0  # most new tokens in one step (0 = no limit); the solution goes on
    #: A ``stop`` delimiter ends a step only once it has this many tokens (reasoning models'
    #: short paragraphs of self-talk make one step together); once a ``boundary`` was passed
    #: (the thinking ended), steps of any length.
    min_step_tokens: int = 0
    #: Texts that always end a step, however short (the end of a thinking block).
    boundary: tuple[str, ...] = ()

    def with_seed(self, seed: int) -> SamplingParams:
        return replace(self, seed=seed)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass(frozen=True, slots=True)
class StepOutput:
    """One step of one sequence."""

    seq: int
    text: str
    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]  # log-probability of each sampled token under the raw model
    stop: StopReason
    total_tokens: int  # new tokens of this sequence so far, this step included

    @property
    def finished(self) -> bool:
        """True when the sequence cannot be continued (end of generation or out of tokens)."""
        return self.stop in ("eog", "length")


@dataclass(slots=True)
class Usage:
    """Token accounting. ``decoded_tokens`` counts every token handed to the model."""

    prompt_tokens: int = 0  # prompt tokens decoded (once per request, not once per sequence)
    generated_tokens: int = 0  # tokens sampled
    decoded_tokens: int = 0  # all tokens decoded, prompt included
    decode_calls: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "decoded_tokens": self.decoded_tokens,
            "decode_calls": self.decode_calls,
            "seconds": round(self.seconds, 4),
            **self.extra,
        }


class CancelToken:
    """Stop flag shared between the thread that runs a search and the one that wants it to stop."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class StepGenerator(Protocol):
    """Generates solutions step by step for many sequences at once."""

    usage: Usage

    def start(self, prompt: str, n: int, sampling: SamplingParams) -> list[int]:
        """Decode ``prompt`` once and return ``n`` sequence ids that share it.

        Sequence ``i`` samples with ``sampling.seed + i``.
        """
        ...

    def extend(
        self, seqs: Sequence[int], limits: Mapping[int, int] | None = None
    ) -> Generator[TokenDeltas, None, list[StepOutput]]:
        """Generate the next step of every listed sequence, all in the same decode calls.

        Yields new text per sequence after each decode; returns one :class:`StepOutput` per
        sequence, in the order given. ``limits``: most new tokens this step for some sequences
        (a thinking budget's remainder); such a step ends with ``"step_limit"``.
        """
        ...

    def inject(self, seq: int, text: str) -> int:
        """Append ``text`` to a sequence as if it had generated it (not sampled: no
        log-probabilities), so that the next step continues after it. Returns its tokens."""
        ...

    def fork(self, seq: int, *, sampling: SamplingParams | None = None) -> int:
        """A new sequence that continues from everything ``seq`` has so far (no re-decoding)."""
        ...

    def drop(self, seq: int) -> None:
        """Forget a sequence; its id may be reused."""
        ...

    def text(self, seq: int) -> str:
        """Everything the sequence generated after the prompt."""
        ...

    def set_sampling(self, seq: int, sampling: SamplingParams) -> None:
        """Change how a sequence samples from now on (e.g. greedy lookahead rollouts)."""
        ...

    def close(self) -> None: ...


def run_to_completion(
    gen: Generator[TokenDeltas, None, list[StepOutput]],
) -> list[StepOutput]:
    """Drive an :meth:`StepGenerator.extend` generator, ignoring the live deltas."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return list(stop.value)


__all__ = [
    "CancelToken",
    "SamplingParams",
    "StepGenerator",
    "StepOutput",
    "StopReason",
    "TokenDeltas",
    "Usage",
    "run_to_completion",
]
