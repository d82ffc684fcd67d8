"""``outthink solve``: one problem, one search, the answer (or a JSON summary, or events)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from outthink import ranges
from outthink.cli.common import (
    add_model_arguments,
    add_thinking_arguments,
    fill_model_defaults,
    read_problem,
    search_options,
    utf8_text,
)
from outthink.config import load_settings
from outthink.errors import ConfigError, OutthinkError, describe
from outthink.events import Event, RunFailed, RunFinished, to_json
from outthink.generation import CancelToken
from outthink.interrupts import install_sigint, loading_models
from outthink.prompts import PromptFormat
from outthink.resolve import (
    build_verifier,
    natural_aggregation,
    preflight,
    resolve_policy,
)
from outthink.search.config import SearchConfig
from outthink.search.selection import AGGREGATIONS, SELECTION_RULES
from outthink.search.strategies import strategy_names
from outthink.verifiers.base import VIEWS

log = logging.getLogger(__name__)


def add_solve_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``solve`` sub-command to ``outthink``'s sub-parsers."""

    s = sub.add_parser("solve", help="solve a problem with test-time search")
    s.add_argument("problem", nargs="+", help='the problem text ("-" reads standard input)')
    add_model_arguments(s)
    s.add_argument(
        "--strategy",
        default="best-of-n",
        choices=[*strategy_names(), "auto"],
        help="auto: the best strategy and budget a benchmark run measured for these models",
    )
    ranges.add_argument(s, "n", 8, "budget: solutions or beams (default 8)")
    ranges.add_argument(s, "width", 2, "beam width M (beam, dvts)")
    ranges.add_argument(s, "lookahead", 0, "lookahead steps (beam)")
    s.add_argument("--select", default="weighted", choices=SELECTION_RULES)
    s.add_argument(
        "--agg",
        default=None,
        choices=AGGREGATIONS,
        help="how step scores make a solution's score (default: the verifier's own: "
        "min for calculator, mean for self-certainty, last for reward models)",
    )
    s.add_argument(
        "--reference",
        default=None,
        help="the problem's reference answer: every finished answer is marked right or wrong "
        "(JSON: 'correct' per candidate and for the chosen answer)",
    )
    ranges.add_argument(s, "temperature", 0.8)
    ranges.add_argument(s, "top_p", 0.95)
    ranges.add_argument(s, "top_k", 40)
    ranges.add_argument(s, "min_p", 0.05)
    ranges.add_argument(
        s, "max_tokens", None, "new tokens per solution (default 384; 4,096 if the model thinks)"
    )
    ranges.add_argument(s, "max_steps", None, "default 16; 160 for a model that thinks")
    add_thinking_arguments(s)
    s.add_argument(
        "--verifier-view",
        choices=VIEWS,
        default=None,
        help="what the verifier scores of a reasoning model's text: the final solution after "
        "its thinking, or the whole trace (default: the verifier's own: solution for reward "
        "models, the judge and the calculator, trace for self-certainty)",
    )
    ranges.add_argument(s, "seed", 0)
    ranges.add_argument(s, "threads", 0, "CPU threads (default: physical cores)")
    ranges.add_argument(s, "gpu_layers", None, "layers to offload to the GPU")
    s.add_argument("--system-prompt", default=None)
    s.add_argument("--prompt-format", choices=("chat", "completion"), default=None)
    out = s.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON summary object")
    out.add_argument("--events", action="store_true", help="stream events as JSON lines")
    s.set_defaults(func=cmd_solve)
    return s


def _auto_strategy(args: argparse.Namespace, label: str, problem: str, thinks: bool) -> str:
    """Replace ``--strategy auto`` by the saved benchmark recommendation for these models.

    A model that thinks is a family of its own (its recommendation is kept apart from the
    same model's without thinking); with no benchmark yet it gets majority voting, the
    baseline that search has to beat for reasoning models."""
    from outthink.bench.recommend import auto_config, family_of, reasoning_baseline
    from outthink.bench.runner import verifier_id

    family = family_of(thinks)
    cfg = auto_config(
        label, verifier_id(args.verifier, args.verifier_model), problem, family=family
    )
    if cfg is None and thinks:
        cfg = reasoning_baseline()
        print(
            f"auto: no benchmark saved for {label} thinking with the {args.verifier} verifier; "
            f"using majority voting over N={cfg.n} samples, the baseline for reasoning models.",
            file=sys.stderr,
        )
    if cfg is None:
        raise ConfigError(
            f"No benchmark recommendation saved for {label} with the {args.verifier} verifier.",
            hint="Run `outthink bench` with these models first, or pick a strategy.",
        )
    args.n, args.width, args.select = cfg.n, cfg.width, cfg.select
    log.info("auto: %s, N=%d, width %d, %s", cfg.strategy, cfg.n, cfg.width, cfg.select)
    return cfg.strategy



def cmd_solve(args: argparse.Namespace) -> int:
    from outthink.engine import Model
    from outthink.search.grading import graded
    from outthink.search.runner import solve
    from outthink.search.summary import summarize

    problem = read_problem(args.problem)
    if not problem:
        raise ConfigError("The problem is empty.", hint='Example: outthink solve "What is 2+3?"')
    settings = load_settings()
    choice = resolve_policy(args.policy, settings)
    thinks = choice.thinks(args.thinking) and args.prompt_format != "completion"
    fill_model_defaults(args, thinks)
    if args.strategy == "auto":
        args.strategy = _auto_strategy(args, choice.label, problem, thinks)
    if args.agg is None:
        args.agg = natural_aggregation(args.verifier, settings)
    cfg = SearchConfig(
        strategy=args.strategy,
        n=args.n,
        select=args.select,
        lookahead=args.lookahead,
        **search_options(args),
    ).validate()
    preflight(choice, problem, cfg, settings)  # before loading anything
    threads = args.threads or settings.threads or None
    gpu_layers = args.gpu_layers if args.gpu_layers is not None else settings.gpu_layers
    fmt = choice.prompt_format
    if args.system_prompt is not None:
        system_prompt = utf8_text(args.system_prompt, "The --system-prompt text")
        fmt = replace(fmt or PromptFormat("chat"), system_prompt=system_prompt)
    if args.prompt_format:
        fmt = replace(fmt or PromptFormat(), kind=args.prompt_format)
    cancel = CancelToken()
    verifier: Any = None
    loaded: list[Any] = []
    try:
        # Ctrl-C while llama.cpp loads stops here, before the next load (see loading_models).
        with loading_models():
            verifier, loaded = build_verifier(
                args.verifier,
                settings,
                model=args.verifier_model,
                threads=threads,
                gpu_layers=gpu_layers,
                cancel=cancel,
                view=args.verifier_view,
            )
        with loading_models():
            policy = Model(choice.path, n_gpu_layers=gpu_layers)
    except BaseException:
        if verifier is not None:
            verifier.close()
        for m in loaded:
            m.close()
        raise
    loaded.append(policy)
    previous = install_sigint(cancel)
    events: list[Event] = []
    run: Iterator[Event] = solve(
        problem,
        policy,
        verifier,
        cfg,
        prompt_format=fmt,
        threads=threads,
        cancel=cancel,
        run_info={"policy": choice.label},
        n_ctx=settings.context_size,
    )
    reference = utf8_text(args.reference, "The --reference answer") if args.reference else None
    stream = graded(run, reference)
    try:
        for ev in stream:
            events.append(ev)
            if args.events:  # a closed pipe (BrokenPipeError) ends the run here
                print(to_json(ev.to_dict()), flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        # A run left early (closed output, second Ctrl-C) frees its llama.cpp context now,
        # before the models it uses, not whenever the generator is collected.
        for gen in (stream, run):
            close = getattr(gen, "close", None)
            if close is not None:
                close()
        verifier.close()
        for m in loaded:
            m.close()
    summary = summarize(events)
    if args.json:
        print(to_json(summary, indent=2))
    elif not args.events:
        _print_summary(summary)
    last = events[-1] if events else None
    if isinstance(last, RunFailed):
        if not args.json and not args.events:
            print(f"Error: {describe(OutthinkError(last.error, hint=last.hint))}", file=sys.stderr)
        return 1
    if isinstance(last, RunFinished) and last.cancelled:
        return 130
    return 0


def _print_summary(s: dict[str, Any]) -> None:
    if s.get("status") == "failed":
        return
    print(f"Answer: {s['answer'] if s['answer'] is not None else '(none found)'}")
    if "reference" in s:
        verdict = {True: "right", False: "wrong", None: "not graded"}[s.get("correct")]
        print(f"Check:  {verdict} (reference answer {s['reference']})")
    sel = s.get("selection") or {}
    if sel.get("reason"):
        print(f"Why:    {sel['reason']}")
    if s.get("note"):
        print(f"Note:   {s['note']}")
    thought = [c["thinking"] for c in s["candidates"] if c.get("thinking")]
    if thought:
        tokens = sum(t["tokens"] for t in thought) / len(thought)
        seconds = sum(t["seconds"] for t in thought) / len(thought)
        forced = sum(t["closed_by_budget"] for t in thought)
        unfinished = sum(not t["finished"] for t in thought)
        extra = f"; {forced} stopped by the thinking budget" if forced else ""
        extra += f"; {unfinished} did not finish thinking" if unfinished else ""
        print(
            f"Thought: {len(thought)} candidates, {tokens:,.0f} tokens and {seconds:.1f} s "
            f"on average{extra}"
        )
    print()
    print(f"{'#':>3} {'answer':<16} {'score':>6} {'steps':>5}  end")
    for c in s["candidates"]:
        mark = "*" if c["selected"] else " "
        score = "" if c["score"] is None else f"{c['score']:.3f}"
        answer = (c["answer"] or "-")[:16]
        print(
            f"{c['id']:>2}{mark} {answer:<16} {score:>6} {len(c['steps']):>5}  {c['finish_reason']}"
        )
    u = s.get("usage", {})
    secs = u.get("seconds") or 0
    toks = u.get("policy_tokens", 0)
    rate = f", {toks / secs:.1f} tok/s" if secs else ""
    print(
        f"\n{toks} policy tokens, {u.get('verifier_tokens', 0)} verifier tokens, "
        f"{u.get('prompt_tokens', 0)} prompt tokens, {secs:.1f} s{rate}"
    )
    if s.get("status") == "cancelled":
        print("(stopped early: results so far)")
