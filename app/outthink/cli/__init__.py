"""Command line: ``outthink solve``, ``outthink doctor``, ``outthink models ...``,
``outthink bench``; each sub-command is a module of this package.

With no arguments ``outthink`` starts the desktop app, through :mod:`outthink.gui.app` alone.
"""

from __future__ import annotations

# Ctrl-C while the command line is still importing (the console script imports this module
# before main() runs) ends it like any other Ctrl-C: "Interrupted.", status 130, no traceback.
try:
    import argparse
    import contextlib
    import importlib.util
    import logging
    import os
    import sys
    from collections.abc import Sequence

    from outthink import __version__
    from outthink.cli.doctor import add_doctor_parser
    from outthink.cli.solve import add_solve_parser
    from outthink.errors import Cancelled, OutthinkError, describe
    from outthink.interrupts import EXIT_INTERRUPTED
    from outthink.logs import setup_logging
    from outthink.qtdeps import display_ready
    from outthink.selfcheck import run as run_self_check
except KeyboardInterrupt:
    import sys

    print("\nInterrupted.", file=sys.stderr)
    raise SystemExit(130) from None

log = logging.getLogger(__name__)


__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
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

    add_solve_parser(sub)
    add_doctor_parser(sub)
    if importlib.util.find_spec("outthink.cli.models") is not None:
        from outthink.cli.models import add_models_parser

        add_models_parser(sub)
    from outthink.cli.bench import add_bench_parser

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
