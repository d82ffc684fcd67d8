"""Run the real ``outthink`` console script in a subprocess, optionally with a start-up hook.

A hook is a ``sitecustomize`` module put first on the child's ``PYTHONPATH``: Python imports it
before ``outthink``, so it can wrap library functions to send a signal at an exact phase (no
sleeping and hoping) without any help from the code under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

EXE = Path(sys.executable).with_name("outthink")

#: Sends SIGINT to the process from inside llama.cpp's log callback while
#: ``llama_model_load_from_file`` runs (native code on the stack): one per log line, as many
#: as ``HOOK_SIGINTS`` says (default 1), for the first model loaded.
SIGINT_WHILE_LOADING = '''
import os
import signal

import llama_cpp

_state = {"loading": False, "left": int(os.environ.get("HOOK_SIGINTS", "1"))}
_real_load = llama_cpp.llama_model_load_from_file
_real_callback_type = llama_cpp.llama_log_callback


def _load(*args):
    _state["loading"] = True
    try:
        return _real_load(*args)
    finally:
        _state["loading"] = False


def _callback_type(fn):
    def wrapped(level, text, user):
        if _state["loading"] and _state["left"] > 0:
            _state["left"] -= 1
            os.kill(os.getpid(), signal.SIGINT)
        return fn(level, text, user)

    return _real_callback_type(wrapped)


llama_cpp.llama_model_load_from_file = _load
llama_cpp.llama_log_callback = _callback_type
'''


#: Sends SIGINT once the transfer of a download has started, from its progress callback.
SIGINT_WHILE_DOWNLOADING = '''
import os
import signal

import outthink.cli.models as _cli_models

_sent = [False]
_real_call = _cli_models.TerminalProgress.__call__


def _call(self, progress):
    _real_call(self, progress)
    if progress.state == "downloading" and not _sent[0]:
        _sent[0] = True
        os.kill(os.getpid(), signal.SIGINT)


_cli_models.TerminalProgress.__call__ = _call
'''

#: Sends SIGINT when the module named by ``HOOK_SIGINT_ON_IMPORT`` is about to be imported
#: (the KeyboardInterrupt rises from inside that import statement), once.
SIGINT_ON_IMPORT = '''
import os
import signal
import sys


class _Finder:
    target = os.environ.get("HOOK_SIGINT_ON_IMPORT")

    def find_spec(self, name, path=None, target=None):
        if name == self.target:
            self.target = None
            os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, _Finder())
'''

#: Counts ``llama_decode`` calls and writes the count to ``HOOK_DECODES_FILE`` at exit.
COUNT_DECODES = '''
import atexit
import os

import llama_cpp

_calls = [0]
_real_decode = llama_cpp.llama_decode


def _decode(*args):
    _calls[0] += 1
    return _real_decode(*args)


def _write():
    with open(os.environ["HOOK_DECODES_FILE"], "w") as fh:
        fh.write(str(_calls[0]))


llama_cpp.llama_decode = _decode
atexit.register(_write)
'''


def closed_pipe() -> int:
    """The writing end of a pipe whose reader has already gone (``| head -1`` after it read
    its line): every write to it fails with EPIPE. The caller closes it."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def run_cli(
    args: Sequence[str | bytes],
    tmp: Path,
    *,
    hook: str | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    stdout: int | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """``outthink ARGS`` with the test's folders (inherited), ``hook`` as sitecustomize.

    Standard output is captured unless ``stdout`` (a file descriptor) is given.
    """
    child = dict(os.environ)
    path = [p for p in (child.get("PYTHONPATH") or "").split(os.pathsep) if p]
    if hook is not None:
        folder = tmp / "hook"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(hook, encoding="utf-8")
        path.insert(0, str(folder))
    child["PYTHONPATH"] = os.pathsep.join(path)
    child.update(env or {})
    return subprocess.run(
        [os.fsencode(EXE), *map(os.fsencode, args)],
        input=stdin,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        timeout=timeout,
        env=child,
    )
