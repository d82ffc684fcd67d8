"""Command line: ``outthink solve``, ``outthink doctor``, ``outthink models ...``.

With no arguments ``outthink`` starts the desktop app.
"""

from __future__ import annotations

# Ctrl-C while the command line is still importing (the console script imports this module
# before main() runs) ends it like any other Ctrl-C: "Interrupted.", status 130, no traceback.
try:
    import argparse
    import contextlib
    import importlib.util
    import json
    import logging
    import logging.handlers
    import os
    import signal
    import sys
    from collections.abc import Iterator, Sequence
    from dataclasses import replace
    from pathlib import Path
    from typing import Any

    from outthink import __version__, ranges
    from outthink.config import Settings, cache_dir, config_dir, data_dir, load_settings, log_dir
    from outthink.errors import Cancelled, ConfigError, OutthinkError, describe
    from outthink.events import Event, RunFailed, RunFinished, to_json
    from outthink.generation import CancelToken
    from outthink.interrupts import EXIT_INTERRUPTED, install_sigint, loading_models
    from outthink.prompts import PromptFormat
    from outthink.resolve import (
        build_verifier,
        natural_aggregation,
        preflight,
        resolve_policy,
    )
    from outthink.search.config import THINKING_CHOICES, SearchConfig
    from outthink.search.selection import AGGREGATIONS, SELECTION_RULES
    from outthink.search.strategies import strategy_names
    from outthink.selfcheck import run as run_self_check
    from outthink.thinking import defaults_for
    from outthink.verifiers.base import VIEWS
except KeyboardInterrupt:
    import sys

    print("\nInterrupted.", file=sys.stderr)
    raise SystemExit(130) from None

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- logging


def setup_logging(verbose: bool = False) -> Path | None:
    """Log to a rotating file in the platformdirs log folder; ``--verbose`` also to stderr."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for h in list(root.handlers):
        if getattr(h, "_outthink", False):
            root.removeHandler(h)
            h.close()
    path: Path | None = None
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "outthink.log"
        fh = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        fh.setLevel(logging.DEBUG if verbose else logging.INFO)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh._outthink = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    except OSError:
        path = None  # a read-only home must not stop the app
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.DEBUG if verbose else logging.ERROR)
    err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    err._outthink = True  # type: ignore[attr-defined]
    root.addHandler(err)
    return path


# --------------------------------------------------------------------------- solve


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


def fill_model_defaults(args: argparse.Namespace, thinks: bool) -> None:
    """The token budgets and step settings the user left unset, for the model: thousands of
    tokens and longer steps for one that thinks (:data:`outthink.thinking.REASONING_DEFAULTS`),
    the thinking budget three quarters of the max tokens so that the answer has room."""
    defaults = defaults_for(thinks)
    for name in ("max_tokens", "max_steps", "min_step_tokens"):
        if getattr(args, name, None) is None:
            setattr(args, name, defaults[name])
    if getattr(args, "thinking_budget", None) is None:
        args.thinking_budget = args.max_tokens * 3 // 4 if thinks else 0


def search_options(args: argparse.Namespace) -> dict[str, Any]:
    """The SearchConfig fields that `solve` and `bench` take from the same options."""
    return {
        name: getattr(args, name)
        for name in (
            "width",
            "max_steps",
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "min_p",
            "seed",
            "agg",
            "thinking",
            "thinking_budget",
            "min_step_tokens",
        )
    }


_UTF8_HINT = (
    "Give it as UTF-8 text: convert a file with `iconv -f LATIN1 -t UTF-8 FILE` (name its real "
    "encoding), or set the terminal to UTF-8."
)


def utf8_text(text: str | bytes, what: str) -> str:
    """``text`` as valid Unicode, else a ConfigError that shows where it is not UTF-8.

    Python hands over undecodable command-line bytes as lone surrogates (``surrogateescape``),
    which would fail much later, when the text is encoded for the tokenizer or printed.
    """
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            before = text[: exc.start].decode("utf-8", "replace")
            shown = " ".join(f"0x{b:02x}" for b in text[exc.start : exc.end])
            raise _not_utf8(what, f"byte {shown}", before) from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = ord(text[exc.start])
        # surrogateescape keeps an undecodable byte B as the code point U+DC00 + B.
        shown = f"byte 0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else f"U+{char:04X}"
        raise _not_utf8(what, shown, text[: exc.start]) from None
    return text


def _not_utf8(what: str, shown: str, before: str) -> ConfigError:
    where = f"after {before[-30:]!r}" if before else "at the start"
    return ConfigError(f"{what} is not valid UTF-8: {shown} {where}.", hint=_UTF8_HINT)


def read_problem(words: Sequence[str]) -> str:
    """The problem from the command line, or from standard input when it is ``-``."""
    problem = " ".join(words).strip()
    if problem != "-":
        return utf8_text(problem, "The problem")
    if sys.stdin is None:
        raise ConfigError(
            "The problem is `-` (read standard input), but there is no standard input.",
            hint='Give the problem as an argument: outthink solve "What is 2+3?"',
        )
    # The bytes themselves: the text layer's decoding depends on the locale and on
    # PYTHONIOENCODING (strict: a traceback; surrogateescape: garbage further on).
    stream = getattr(sys.stdin, "buffer", None)
    data: str | bytes = stream.read() if stream is not None else sys.stdin.read()
    return utf8_text(data, "The problem on standard input").strip()


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


# --------------------------------------------------------------------------- doctor


def cmd_doctor(args: argparse.Namespace) -> int:
    from outthink import engine
    from outthink.starter import starter_installed

    settings = load_settings()
    info: dict[str, Any] = {"outthink": __version__, "python": sys.version.split()[0]}
    try:
        info.update(engine.system_info())
    except Exception as exc:  # broken native library: say so, keep going
        info["llama_cpp_error"] = describe(exc)
    info["threads_default"] = settings.threads or engine.physical_cores()
    info["folders"] = {
        "data": str(data_dir()),
        "models": str(settings.models_path()),
        "config": str(config_dir()),
        "cache": str(cache_dir()),
        "logs": str(log_dir()),
    }
    info["starter_model_installed"] = starter_installed()
    info.update(_models_on_disk(settings))
    info["offline"] = settings.is_offline()
    from outthink.qtdeps import check_display

    display = check_display()
    info["qt_display"] = display.to_dict()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"Outthink {info['outthink']} (Python {info['python']})")
    if "llama_cpp_error" in info:
        print(f"llama.cpp:       NOT WORKING - {info['llama_cpp_error']}")
    else:
        print(f"llama.cpp:       llama-cpp-python {info['llama_cpp_python']}")
        offload = "yes" if info["gpu_offload"] else "no (CPU build; see README for GPU builds)"
        print(f"GPU offload:     {offload}")
        print(f"CPU features:    {info['system_info']}")
    print(f"Threads:         {info['threads_default']} (physical cores: {engine.physical_cores()})")
    for k, v in info["folders"].items():
        print(f"{k.capitalize() + ' folder:':<17}{v}")
    print(f"Starter model:   {'installed' if info['starter_model_installed'] else 'not installed'}")
    if "models_error" in info:
        print(f"Models on disk:  unknown - {info['models_error']}")
    else:
        found = [m if state == "present" else f"{m} ({state})"
                 for m, state in info["models_found"].items()]
        print(f"Models on disk:  {', '.join(found) if found else 'none'}")
    if info.get("untracked_files"):
        print(f"Other .gguf:     {', '.join(info['untracked_files'])} "
              "(not in the catalog; `outthink models import PATH` adds one)")
    print(f"Offline mode:    {'on' if info['offline'] else 'off'}")
    print(f"Qt display:      {display.summary()}")
    if display.missing:
        print(f"                 (Fedora: sudo dnf install {' '.join(display.fedora_packages)})")
    return 0


def _models_on_disk(settings: Settings) -> dict[str, Any]:
    """The catalog's models that have a file here (Hub downloads sit in sub-folders of the
    models folder, imports anywhere), with their state, and .gguf files no entry knows."""
    from outthink.catalog import list_models, load_catalog, untracked_files

    try:
        catalog = load_catalog(settings)
        found = {
            s.entry.id: s.state
            for s in list_models(settings, catalog)
            if s.state in ("present", "unverified", "changed")
        }
        stray = [str(p) for p in untracked_files(settings, catalog)]
    except OutthinkError as exc:  # a broken catalog must not stop the doctor
        return {"models_found": {}, "untracked_files": [], "models_error": describe(exc)}
    return {"models_found": found, "untracked_files": stray}


# --------------------------------------------------------------------------- parser


def add_thinking_arguments(parser: argparse.ArgumentParser) -> None:
    """The options for reasoning models that ``solve`` and ``bench`` share."""
    parser.add_argument(
        "--thinking",
        choices=THINKING_CHOICES,
        default="auto",
        help="reasoning models: think before answering (on), answer at once (off; Qwen3's "
        "enable_thinking), or as the model does by default (auto)",
    )
    ranges.add_argument(
        parser,
        "thinking_budget",
        None,
        "most tokens a candidate thinks before its thinking is closed and it must answer "
        "(default: three quarters of --max-tokens for a model that thinks)",
    )
    ranges.add_argument(
        parser,
        "min_step_tokens",
        None,
        "a step ends at a blank line only after this many tokens (default 0; 48 for a model "
        "that thinks)",
    )


def build_parser() -> argparse.ArgumentParser:
    import outthink.verifiers as verifiers

    p = argparse.ArgumentParser(
        prog="outthink",
        description="Small local models out-think big ones: test-time search with verifiers.",
    )
    p.add_argument("--version", action="version", version=f"outthink {__version__}")
    p.add_argument("--verbose", "-v", action="store_true", help="log debug details to stderr")
    p.add_argument(
        "--self-check",
        nargs="?",
        const="auto",
        metavar="MODEL",
        help="load a model (the starter model, else the bundled test model; or 'tiny', "
        "'starter', a .gguf path), generate a few tokens, report the llama.cpp backend, exit",
    )
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("solve", help="solve a problem with test-time search")
    s.add_argument("problem", nargs="+", help='the problem text ("-" reads standard input)')
    s.add_argument("--policy", help="policy model: catalog id or .gguf path (default: starter)")
    s.add_argument(
        "--verifier",
        default="self-certainty",
        help=f"verifier kind ({', '.join(sorted(verifiers.VERIFIERS))}) or catalog id",
    )
    s.add_argument(
        "--verifier-model",
        "--judge-model",
        dest="verifier_model",
        help="model for a model-based verifier (catalog id or .gguf path)",
    )
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

    d = sub.add_parser("doctor", help="llama.cpp build, GPU support, folders, models found")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_doctor)

    if importlib.util.find_spec("outthink.cli_models") is not None:
        from outthink.cli_models import add_models_parser

        add_models_parser(sub)
    from outthink.bench.cli import add_bench_parser

    add_bench_parser(sub)
    return p


def launch_gui() -> int:
    if importlib.util.find_spec("outthink.gui") is None:
        print(
            "The Outthink desktop app is not part of this build yet.\n"
            "Use the command line meanwhile, for example:\n"
            '  outthink solve "Tom has 3 apples and buys 5 more. How many apples does he have?"\n'
            "  outthink doctor\n"
            "  outthink --help"
        )
        return 0
    if not display_ready():
        return 1
    from outthink.gui.app import main as gui_main

    return int(gui_main())


def display_ready() -> bool:
    """Check, before Qt starts, that it can open a window here; say what to install when not.

    Qt aborts the process when its display plugin cannot load, with a message that names no
    package (see :mod:`outthink.qtdeps`).
    """
    from outthink.qtdeps import check_display

    check = check_display()
    if check.ok:
        return True
    log.error("The window cannot open: %s", check.summary())
    print(check.message(), file=sys.stderr)
    return False


#: Exit status when standard output was closed early (``outthink ... | head -1``): 128 + SIGPIPE,
#: what a shell reports for a program that a closed pipe stopped.
EXIT_BROKEN_PIPE = 141


def _drop_closed_output() -> None:
    """Point a standard stream that cannot be flushed (its reader has gone) at the null device.

    Python flushes the standard streams when it exits; without this, what is still buffered
    for a closed pipe ends in an "Exception ignored ... BrokenPipeError" message.
    """
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, stream.fileno())
                os.close(null)


def _flush_output() -> bool:
    """Flush standard output; False when its reader has gone (``| head -1``)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        _drop_closed_output()
        return False
    except (OSError, ValueError):
        pass
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _command(argv)
    except BrokenPipeError:
        # The output's reader went away: stop (a run stops too) without a word, as a program
        # that SIGPIPE ends would.
        log.info("Standard output was closed; stopped.")
        _drop_closed_output()
        return EXIT_BROKEN_PIPE
    # Output to a pipe is buffered: a reader that has gone shows up now, not at exit.
    return code if _flush_output() else EXIT_BROKEN_PIPE


def _command(argv: list[str]) -> int:
    try:
        parser = build_parser()
        for arg in argv:
            if arg == "--":
                break
            # argparse reads "--option=--" as an empty list, never as the text "--".
            if arg.startswith("--") and arg.endswith("=--"):
                parser.error(f"{arg[:-3]} needs a value, not '--'")
        args = parser.parse_args(argv)
        setup_logging(getattr(args, "verbose", False))
        if getattr(args, "self_check", None):
            return run_self_check(args.self_check)
        if not getattr(args, "command", None):
            return launch_gui()
        return int(args.func(args))
    except Cancelled as exc:  # the user stopped it (Ctrl-C): not a failure
        log.info("Command stopped: %s", exc)
        print(describe(exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    except OutthinkError as exc:
        log.info("Command failed: %s", exc)
        print(f"Error: {describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
