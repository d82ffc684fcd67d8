"""``outthink bench``: accuracy against compute on a problem set, on this machine.

Example::

    outthink bench --problems arithmetic --strategies greedy,best-of-n --budgets 1,4,8 \\
        --verifier calculator --out runs/arith

Ctrl-C stops after saving every finished run (a second Ctrl-C quits at once); the same command
again resumes where it stopped. ``summary.csv`` and ``accuracy_vs_compute.png`` are written at
the end, also after a stop, from whatever has finished.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from outthink import ranges
from outthink.bench.budgets import parse_budgets, parse_name_list
from outthink.config import load_settings
from outthink.generation import CancelToken
from outthink.search.config import SearchConfig
from outthink.search.selection import AGGREGATIONS, SELECTION_RULES

log = logging.getLogger(__name__)

__all__ = ["add_bench_parser", "cmd_bench"]


def add_bench_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` sub-command to ``outthink``'s sub-parsers."""
    from outthink.bench.problems import PRESETS
    from outthink.cli.common import add_model_arguments, add_thinking_arguments
    from outthink.search.strategies import strategy_names

    b = sub.add_parser(
        "bench",
        help="measure accuracy against compute on a problem set (resumable)",
        description="Run every problem through each strategy and budget, write results.jsonl, "
        "summary.csv and accuracy_vs_compute.png into --out. Stopping (Ctrl-C) and running "
        "the same command again resumes without repeating finished work.",
    )
    b.add_argument(
        "--problems",
        required=True,
        help="a JSON-lines file (id, problem, answer), a shipped set or dataset "
        f"({', '.join(PRESETS)}), or a Hub dataset file ORG/NAME:FILE[@REVISION]",
    )
    ranges.add_argument(b, "limit", None, "keep at most K problems")
    b.add_argument("--subject", default=None, help="only these subjects (comma-separated)")
    b.add_argument("--level", default=None, help="only these levels, e.g. 3 or 2-4 or 1,5")
    ranges.add_argument(
        b,
        "sample_seed",
        None,
        "pick a fixed random subset (with --limit) instead of the first problems",
    )
    b.add_argument(
        "--strategies",
        type=parse_name_list,
        default=["greedy", "best-of-n"],
        help=f"comma-separated, from: {', '.join(strategy_names())} (default greedy,best-of-n)",
    )
    b.add_argument(
        "--budgets", type=parse_budgets, default=[1, 4, 8, 16], help="comma-separated N values"
    )
    b.add_argument(
        "--select",
        type=parse_name_list,
        default=["weighted"],
        help=f"selection rules, comma-separated, from: {', '.join(SELECTION_RULES)}",
    )
    add_model_arguments(b)
    ranges.add_argument(
        b, "max_tokens", None, "new tokens per solution (default 384; 4,096 if the model thinks)"
    )
    ranges.add_argument(b, "temperature", 0.8)
    ranges.add_argument(b, "top_p", 0.95)
    ranges.add_argument(b, "top_k", 40)
    ranges.add_argument(b, "min_p", 0.05)
    ranges.add_argument(b, "seed", 0, "sample i of every run uses seed + i")
    ranges.add_argument(b, "width", 2, "beam width M (beam, dvts)")
    ranges.add_argument(b, "max_steps", None, "default 16; 160 for a model that thinks")
    add_thinking_arguments(b)
    b.add_argument("--agg", default="last", choices=AGGREGATIONS)
    ranges.add_argument(b, "threads", 0, "CPU threads (default: physical cores)")
    ranges.add_argument(b, "gpu_layers", None, "layers to offload to the GPU")
    b.add_argument(
        "--reference-lines",
        nargs="?",
        const="auto",
        default=None,
        metavar="BENCHMARK",
        help="draw large models' reported scores (Liu et al. 2025) as labelled reference "
        "lines: auto (the problem set's own benchmark), MATH-500 or AIME24; drawn only over "
        "that benchmark's problems (math500, aime24) with no --subject or --level filter",
    )
    b.add_argument(
        "--objective",
        choices=("accuracy", "accuracy_per_token"),
        default="accuracy",
        help="how the saved compute-optimal recommendation is chosen (see docs)",
    )
    b.add_argument(
        "--refresh-dataset", action="store_true", help="check the Hub for a newer dataset file"
    )
    b.add_argument("--out", required=True, type=Path, help="folder for results (resumable)")
    b.set_defaults(func=cmd_bench)
    return b


def cmd_bench(args: argparse.Namespace) -> int:
    from outthink.bench.datasets import fetch_dataset_file
    from outthink.bench.problems import load_problem_set, resolve_source
    from outthink.bench.recommend import family_of, update_from_results
    from outthink.bench.report import resolve_reference, write_report
    from outthink.bench.runner import (
        BenchFinished,
        BenchProgress,
        BenchSpec,
        ModelSolver,
        ProgressLine,
        check_out_dir,
        load_solver,
        run_bench,
        verifier_id,
    )
    from outthink.cli.common import fill_model_defaults, search_options
    from outthink.interrupts import install_sigint, loading_models
    from outthink.resolve import resolve_policy

    settings = load_settings()
    resolve_reference(args.reference_lines, None)  # a typo fails now, not after the run
    choice = resolve_policy(args.policy, settings)
    thinks = choice.thinks(args.thinking)
    fill_model_defaults(args, thinks)
    search = SearchConfig(**search_options(args))
    spec = BenchSpec(
        tuple(args.strategies), tuple(args.budgets), tuple(args.select), search
    ).validate()

    source = resolve_source(args.problems)
    problem_set = load_problem_set(
        source,
        fetch=lambda ds: fetch_dataset_file(ds, settings=settings, refresh=args.refresh_dataset),
    )
    problems, info = problem_set.choose(
        subject=args.subject, level=args.level, limit=args.limit, sample_seed=args.sample_seed
    )
    spec = replace(
        spec, policy=choice.label, verifier=verifier_id(args.verifier, args.verifier_model)
    )
    out: Path = args.out.expanduser()
    # Refuse a folder with another benchmark's results before spending time on model loading.
    resuming = check_out_dir(out, spec, info)
    print(
        f"{'Resuming' if resuming else 'Benchmark'}: {len(problems)} problems from "
        f"{problem_set.name} · {spec.policy} · {spec.verifier} verifier · "
        f"{', '.join(spec.strategies)} at N = {', '.join(map(str, spec.budgets))} → {out}",
        file=sys.stderr,
    )
    loaded: list[ModelSolver] = []
    cancel = CancelToken()  # the runs' and the verifier's stop flag (Ctrl-C, below)
    try:
        # Ctrl-C while llama.cpp loads stops once it returns (see loading_models).
        with loading_models():
            loaded.append(
                load_solver(
                    policy=args.policy,
                    verifier=args.verifier,
                    verifier_model=args.verifier_model,
                    settings=settings,
                    threads=args.threads or None,
                    gpu_layers=args.gpu_layers,
                    choice=choice,
                    cancel=cancel,
                )
            )
    except BaseException:
        for done in loaded:
            done.close()
        raise
    solver = loaded[0]
    previous = install_sigint(
        cancel,
        "Stopping: finished runs are saved; run the same command again to resume. "
        "(Ctrl-C again to quit at once.)",
    )
    bar = ProgressLine(sys.stderr)
    finished: BenchFinished | None = None
    try:
        for ev in run_bench(
            problems, spec, out, solver=solver, cancel=cancel, problem_info=info
        ):
            if isinstance(ev, BenchProgress):
                bar.update(ev)
            elif isinstance(ev, BenchFinished):
                finished = ev
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        solver.close()

    report = write_report(out, reference=args.reference_lines)
    if report.plot.reference_skipped:
        print(report.plot.reference_skipped, file=sys.stderr)
    _print_table(report.rows)
    print(f"\nResults: {out / 'results.jsonl'}")
    print(f"Summary: {report.csv_path}")
    print(f"Plot:    {report.png_path}")
    if finished is not None and finished.failed_runs:
        print(
            f"{finished.failed_runs} run(s) failed (counted as wrong; see the log); running the "
            "same command again retries them.",
            file=sys.stderr,
        )
    if finished is None or finished.status != "finished":
        print("Stopped early: run the same command again to resume.", file=sys.stderr)
        return 130
    texts = {p.id: p.problem for p in problems}
    family = family_of(thinks)
    rec = update_from_results(out, problems=texts, objective=args.objective, family=family)
    if rec:
        best = rec["bins"].get("all")
        if best:
            sel = "" if best["selection"] == "-" else f" ({best['selection']})"
            thinking = " thinking" if family == "reasoning" else ""
            print(
                f"Recommendation for {spec.policy}{thinking} + {spec.verifier} (used by solve "
                f"--strategy auto): {best['strategy']}{sel} N={best['budget']}, "
                f"{best['accuracy']:.0%} at {best['mean_tokens']:.0f} tokens per problem."
            )
            baseline = (rec.get("baseline") or {}).get("all")
            if baseline and baseline != best:
                print(
                    f"It beats majority voting, the baseline for reasoning models "
                    f"({baseline['accuracy']:.0%} at N={baseline['budget']})."
                )
            elif baseline:
                print("Majority voting, the baseline for reasoning models, was not beaten.")
    return 0


def _print_table(rows: Any) -> None:
    print(
        f"\n{'strategy':<11} {'select':<9} {'N':>3} {'accuracy':>8}  {'95% CI':<11} "
        f"{'pass@k*':>7} {'tokens':>7} {'verif.':>6} {'sec':>6}"
    )
    for r in rows:
        ci = f"{r.ci_low:.0%}-{r.ci_high:.0%}"
        print(
            f"{r.strategy:<11} {r.selection:<9} {r.budget:>3} {r.accuracy:>8.1%}  {ci:<11} "
            f"{r.pass_at_k:>7.1%} {r.mean_policy_tokens:>7.0f} {r.mean_verifier_tokens:>6.0f} "
            f"{r.mean_seconds:>6.1f}"
        )
    print(
        "* pass@k: oracle upper bound (at least one final candidate correct), not an accuracy "
        "any selection rule reached."
    )

