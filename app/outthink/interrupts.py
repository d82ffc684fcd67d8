"""Ctrl-C in the command line: stop a run cleanly, never lose it inside llama.cpp.

Two phases need different handlers:

* While a run goes on, :func:`install_sigint`: the first Ctrl-C sets the run's cancel token (the
  run stops at the next decode step and keeps its partial results), the second quits at once.
* While llama.cpp loads a model, :func:`loading_models`. llama.cpp calls back into Python as it
  loads (its log), and a Python exception raised inside a ctypes callback is printed and dropped
  by ctypes: a ``KeyboardInterrupt`` raised there would be lost and the command would go on as
  if nothing happened. So the handler only records the first Ctrl-C, and the block raises
  ``KeyboardInterrupt`` once the native call has returned; a second Ctrl-C exits at once (a
  load has nothing to save).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

from outthink.generation import CancelToken

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def install_sigint(
    cancel: CancelToken, message: str = "Stopping... (Ctrl-C again to quit at once)"
) -> Any:
    """First Ctrl-C sets ``cancel`` and prints ``message`` (the run stops cleanly, its partial
    results kept); the second quits at once. Returns the previous handler to restore."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        print(f"\n{message}", file=sys.stderr)

    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        return None


def _quit_now() -> None:
    """Exit with :data:`EXIT_INTERRUPTED` from inside native code, where raising cannot work."""
    print("Interrupted.", file=sys.stderr)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def loading_models() -> Iterator[CancelToken]:
    """Around model loads (llama.cpp native code): Ctrl-C is recorded, then acted upon.

    The first Ctrl-C says so and lets the current load finish; leaving the block then raises
    ``KeyboardInterrupt`` (the CLI prints "Interrupted." and exits with status 130), so nothing
    else is loaded or run. A second Ctrl-C exits at once. The yielded token tells the block
    whether Ctrl-C was pressed. Outside the main thread (no signal handlers there) it does
    nothing.
    """
    pressed = CancelToken()

    def handler(signum: int, frame: FrameType | None) -> None:
        if pressed.cancelled:
            _quit_now()
        pressed.cancel()
        print(
            "\nStopping once the model has loaded... (Ctrl-C again to quit at once)",
            file=sys.stderr,
            flush=True,
        )

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield pressed
        return
    try:
        yield pressed
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if pressed.cancelled:
        raise KeyboardInterrupt


__all__ = ["EXIT_INTERRUPTED", "install_sigint", "loading_models"]
