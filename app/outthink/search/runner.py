"""Run a search from start to end as one stream of events.

:func:`run_search` works on any :class:`~outthink.generation.StepGenerator` (tests use fakes);
:func:`solve` builds the llama.cpp generator for a loaded policy model and sizes its context
from the request. Both always end with exactly one ``RunFinished`` or ``RunFailed`` event, and
never let an exception escape: the CLI and the GUI read errors from the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from outthink.errors import Cancelled, OutthinkError, describe
from outthink.events import (
    AnswerSelected,
    CandidateFinished,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
)
from outthink.generation import CancelToken, StepGenerator
from outthink.prompts import Prompt, PromptFormat, build_prompt
from outthink.search.config import SearchConfig
from outthink.search.context import SearchContext
from outthink.search.selection import Scored, announce_selection
from outthink.search.strategies import get_strategy
from outthink.thinking import FORCE_CLOSE_TOKENS, THINK_CLOSE
from outthink.verifiers.base import Verifier, VerifierSession, verifier_view

if TYPE_CHECKING:
    from outthink.engine import Model

log = logging.getLogger(__name__)


def _usage(gen: StepGenerator | None, session: VerifierSession | None, t0: float) -> dict[str, Any]:
    u = gen.usage if gen is not None else None
    return {
        "policy_tokens": u.generated_tokens if u else 0,
        "verifier_tokens": session.tokens_decoded if session is not None else 0,
        # model-based verifiers also count the scored text once and their rewound questions
        "unique_prefix_tokens": getattr(session, "unique_prefix_tokens", 0),
        "probe_tokens": getattr(session, "probe_tokens", 0),
        "prompt_tokens": u.prompt_tokens if u else 0,
        "decoded_tokens": u.decoded_tokens if u else 0,
        "decode_calls": u.decode_calls if u else 0,
        "seconds": round(time.perf_counter() - t0, 3),
        **(u.extra if u else {}),  # strategy-specific figures, e.g. adaptive's saved samples
    }


def run_search(
    problem: str,
    prompt: Prompt,
    cfg: SearchConfig,
    *,
    make_generator: Callable[[SearchConfig], StepGenerator],
    verifier: Verifier,
    cancel: CancelToken | None = None,
    run_info: dict[str, Any] | None = None,
) -> Iterator[Event]:
    cancel = cancel or CancelToken()
    t0 = time.perf_counter()
    gen: StepGenerator | None = None
    session: VerifierSession | None = None
    finished: dict[int, CandidateFinished] = {}  # candidates that completed, for a Stop
    selected = False
    informative = verifier.informative
    try:
        spec = get_strategy(cfg.strategy)
        cfg = spec.prepare(cfg.validate())
        if prompt.thinks and THINK_CLOSE not in cfg.boundary:
            cfg = cfg.with_(boundary=(*cfg.boundary, THINK_CLOSE))  # thinking ends a step
        view = verifier_view(verifier)
        info = {"thinks": prompt.thinks, "verifier_view": view} if prompt.thinks else {}
        yield RunStarted(
            problem, {**(run_info or {}), **cfg.to_dict(), **info, "verifier": verifier.name}
        )
        gen = make_generator(cfg)
        session = verifier.open(problem)
        ctx = SearchContext(
            problem,
            prompt,
            gen,
            session,
            cancel,
            informative=verifier.informative,
            thinking_budget=cfg.thinking_budget if prompt.thinks else 0,
            sees_thinking=view == "trace",
        )
        events = spec.run(ctx, cfg)
        try:
            for ev in events:
                if isinstance(ev, CandidateFinished) and ev.reason != "cancelled":
                    finished[ev.candidate] = ev
                elif isinstance(ev, AnswerSelected):
                    selected = True
                yield ev
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        yield RunFinished(_usage(gen, session, t0))
    except Cancelled:
        if finished and not selected:
            yield _select_finished(list(finished.values()), cfg, informative)
        yield RunFinished(_usage(gen, session, t0), cancelled=True)
    except OutthinkError as exc:
        log.warning("Run failed: %s", exc)
        yield RunFailed(exc.message, exc.hint, _usage(gen, session, t0))
    except Exception as exc:  # a bug: report it in the stream, keep the app alive
        log.exception("Run failed with an unexpected error")
        yield RunFailed(describe(exc), "", _usage(gen, session, t0))
    finally:
        if session is not None:
            session.close()
        if gen is not None:
            gen.close()


def _select_finished(
    finished: list[CandidateFinished], cfg: SearchConfig, informative: bool
) -> AnswerSelected:
    """After a Stop: the answer among the candidates that had completed, by the run's rule."""
    count = len(finished)
    among = "the one candidate" if count == 1 else f"the {count} candidates"
    return announce_selection(
        [Scored(f.candidate, f.answer, f.score) for f in finished],
        cfg.select,
        informative=informative,
        preface=f"Stopped early: chosen among {among} that had finished. ",
    )


def solve(
    problem: str,
    policy: Model,
    verifier: Verifier,
    cfg: SearchConfig,
    *,
    prompt_format: PromptFormat | None = None,
    threads: int | None = None,
    cancel: CancelToken | None = None,
    run_info: dict[str, Any] | None = None,
    n_ctx: int = 0,
) -> Iterator[Event]:
    """Solve ``problem`` with a loaded llama.cpp policy; see :func:`run_search`.

    ``n_ctx``: the context size setting; 0 sizes the context from the request, a larger value
    is used as given (a smaller one is raised to what the request needs).
    """
    from outthink.engine import LlamaGenerator, check_memory, check_prompt_fits, plan_context

    cancel = cancel or CancelToken()
    fmt = prompt_format or PromptFormat(kind="chat" if policy.chat_template else "completion")
    fmt = replace(fmt, thinking=cfg.thinking_choice)
    try:
        prompt = build_prompt(
            problem,
            fmt,
            chat_template=policy.chat_template,
            bos_token=policy.bos_text,
            eos_token=policy.eos_text,
            source=policy.path.name,
            cancel=cancel,
        )
    except Cancelled:
        yield RunFinished({}, cancelled=True)
        return
    except OutthinkError as exc:
        yield RunFailed(exc.message, exc.hint)
        return

    def make(cfg: SearchConfig) -> StepGenerator:
        spec = get_strategy(cfg.strategy)
        n_seq = spec.sequences(cfg)
        prompt_tokens = len(policy.tokenize(prompt.text))
        check_prompt_fits(policy.header, prompt_tokens, cfg.max_tokens, n_ctx=n_ctx)
        # every sequence, lookahead roll-outs included, stays under max_tokens new tokens;
        # a thinking block closed by the budget adds a few tokens the model did not sample
        forced = n_seq * FORCE_CLOSE_TOKENS if prompt.thinks and cfg.thinking_budget else 0
        planned = max(n_ctx, plan_context(prompt_tokens, n_seq, cfg.max_tokens, extra=forced))
        check_memory(policy.header, planned, n_seq, what=f"This run ({n_seq} sequences)")
        return LlamaGenerator(
            policy,
            n_ctx=planned,
            n_seq_max=n_seq,
            threads=threads,
            cancel=cancel,
            prompt_has_bos=prompt.has_bos,
        )

    # The prompt as the model saw it (the chat template's thinking switch included).
    info: dict[str, Any] = {"policy": policy.name, "prompt_format": fmt.kind, "prompt": prompt.text}
    info.update(run_info or {})
    if prompt.thinks:
        info["thinking_open"] = prompt.thinking_open
    yield from run_search(
        problem, prompt, cfg, make_generator=make, verifier=verifier, cancel=cancel, run_info=info
    )
