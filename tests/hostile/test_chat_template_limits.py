"""A GGUF's chat template is code from the model file: rendering it is bounded in time and size,
honours Ctrl-C, and a template past the limits is refused with a message naming the file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from outthink.cli import main
from outthink.errors import OutthinkError
from outthink.prompts import PromptFormat, build_prompt, render_chat_template
from tests.tiny_gguf import CHAT_TEMPLATE, write_tiny_model

SPIN = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
HUGE = "{{ 'A' * 4000000000 }}"
OUTTHINK = Path(sys.executable).with_name("outthink")
SOLVE = ["solve", "--n", "1", "--max-tokens", "4", "--verifier", "none", "What is 2+3?"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-templates")
    return {
        name: write_tiny_model(folder / f"{name}.gguf", chat_template=template)
        for name, template in (
            ("spin", SPIN),
            ("huge", HUGE),
            # the template calls strftime_now before spinning: the Ctrl-C test signals there
            ("clock", "{{ strftime_now('%Y') }}" + SPIN),
        )
    }


def _refused(exc: BaseException) -> None:
    text = str(exc)
    assert isinstance(exc, OutthinkError), f"{type(exc).__name__}: {text}"
    assert text.startswith("The chat template in the model ") and (
        "--prompt-format completion" in text
    ), text


# --------------------------------------------------------------------------- in process


@pytest.mark.timeout(15)
@pytest.mark.parametrize(
    ("template", "why"),
    [
        (SPIN, "within 2 s"),
        ("{{ 'A' * 50000000 }}", "50,000,000 characters"),
        ("{{ 'A'|center(50000000) }}", "50,000,000"),
        ("{% set s = 'A' * 999999 %}{{ s|replace('A', s) }}", "characters"),
        (
            "{% set ns = namespace(s='A') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "characters",
        ),
        ("{% for i in range(100000) %}{{ 'A' * 100000 }}{% endfor %}", "characters"),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "too deeply"),
        ("{{ 7 ** 99999999 }}", "bits"),
    ],
    ids=["nested-loops", "repeat", "center", "replace", "doubling", "output", "recursion", "pow"],
)
def test_a_template_past_the_limits_is_refused_quickly(template: str, why: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(Exception) as info:
        build_prompt("What is 2+3?", PromptFormat("chat"), chat_template=template)
    assert time.monotonic() - t0 < 3.5
    _refused(info.value)
    assert why in str(info.value)


def test_an_ordinary_template_renders_as_before() -> None:
    text = render_chat_template(
        CHAT_TEMPLATE + "{{ 'a' ~ 'b' }}{{ '%3s'|format('x') }}{{ [1, 2]|join(',') }}"
        "{% for m in messages %}{{ loop.length }}{% endfor %}"
        "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join }}",
        [{"role": "user", "content": "hi"}],
        bos_token="<s>",
    )
    assert text == "<s><|user|>hi<|end|><|assistant|>ab  x1,21hi"


def test_a_template_error_falls_back_to_a_plain_prompt() -> None:
    prompt = build_prompt("What is 2+3?", PromptFormat("chat"), chat_template="{{ 1 / 0 }}")
    assert prompt.text.startswith("System: ") and "What is 2+3?" in prompt.text


@pytest.mark.timeout(30)
def test_solve_in_process_refuses_a_spinning_template(models: dict[str, Path], capsys) -> None:
    t0 = time.monotonic()
    rc = main([*SOLVE[:1], "--policy", str(models["spin"]), *SOLVE[1:]])
    err = capsys.readouterr().err
    assert rc == 1 and time.monotonic() - t0 < 5
    assert err.startswith("Error: The chat template in spin.gguf did not finish"), err
    assert "--prompt-format completion" in err


# --------------------------------------------------------------------------- the real CLI


def _cli(*args: str, code: str | None = None, timeout: float = 30) -> tuple[int, str, float]:
    cmd = [sys.executable, "-c", code, *args] if code else [str(OUTTHINK), *args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"outthink {' '.join(args)} still running after {timeout} s")
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0


@pytest.mark.parametrize(("name", "why"), [("spin", "within 2 s"), ("huge", "4,000,000,000")])
def test_the_cli_refuses_the_template_with_exit_1(
    models: dict[str, Path], name: str, why: str
) -> None:
    rc, out, seconds = _cli(SOLVE[0], "--policy", str(models[name]), *SOLVE[1:])
    assert rc == 1, out
    assert "Traceback" not in out and "MemoryError" not in out, out
    assert f"Error: The chat template in {name}.gguf" in out and why in out, out
    assert "--prompt-format completion" in out
    assert seconds < 15, f"took {seconds:.1f} s"


# The process signals itself from inside the template (its strftime_now call), so the Ctrl-C
# arrives while the template renders, every time.
CTRL_C_IN_TEMPLATE = """
import datetime, os, signal, sys
import outthink.prompts

class _Date:
    @staticmethod
    def today():
        os.kill(os.getpid(), signal.SIGINT)
        return datetime.date.today()

outthink.prompts.date = _Date
from outthink.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_stops_a_template_at_once(models: dict[str, Path]) -> None:
    rc, out, _ = _cli(
        SOLVE[0], "--policy", str(models["clock"]), *SOLVE[1:], code=CTRL_C_IN_TEMPLATE
    )
    assert rc == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert "did not finish" not in out, "the render ran to its deadline despite Ctrl-C"
    assert "Stopping" in out
