"""Which models a run uses: the policy (a .gguf path, a catalog id, or the embedded starter
model) and the verifier (a verifier kind or a catalog verifier entry, with its model).

The command line, the desktop app and the benchmark runner all resolve models here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outthink.config import Settings
from outthink.errors import ConfigError, OutthinkError
from outthink.generation import CancelToken
from outthink.prompts import DEFAULT_PREAMBLE, DEFAULT_SYSTEM_PROMPT, PromptFormat, check_thinking
from outthink.thinking import NO_THINKING, ThinkingSupport, support_from_template


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    path: Path
    label: str
    prompt_format: PromptFormat | None
    #: How the model thinks: its catalog entry's word, else what its chat template says.
    thinking: ThinkingSupport = NO_THINKING

    def thinks(self, thinking: str) -> bool:
        """Whether a run with the thinking choice ``thinking`` (auto, on, off) thinks."""
        return self.thinking.thinks({"on": True, "off": False}.get(thinking))


def _file_thinking(path: Path) -> ThinkingSupport:
    """What the model file's chat template says about thinking (nothing for a file that
    cannot be read: the preflight says what is wrong with it)."""
    from outthink.gguf_file import read_header

    try:
        return support_from_template(read_header(path).chat_template)
    except (OutthinkError, OSError, ValueError):
        return NO_THINKING


def catalog_module() -> Any:
    """The catalog module when present (it is optional for `solve` with a file path)."""
    if importlib.util.find_spec("outthink.catalog") is None:
        return None
    import outthink.catalog as catalog

    return catalog


def format_from_entry(entry: Any) -> PromptFormat | None:
    if entry is None:
        return None
    kind = getattr(entry, "prompt_format", None)
    if kind not in ("chat", "completion"):
        return None
    return PromptFormat(
        kind=kind,
        system_prompt=getattr(entry, "system_prompt", None) or DEFAULT_SYSTEM_PROMPT,
        preamble=getattr(entry, "preamble", None) or DEFAULT_PREAMBLE,
        # a reasoning entry says how it thinks; otherwise the template tells (imported files)
        support=entry.thinking if getattr(entry, "reasoning", False) else None,
    )


def resolve_policy(spec: str | None, settings: Settings) -> PolicyChoice:
    """A path, a catalog id, or (default) the embedded starter model."""
    from outthink.starter import STARTER_ID, starter_model_path

    if spec and (spec.endswith(".gguf") or Path(spec).expanduser().exists()):
        path = Path(spec).expanduser()
        return PolicyChoice(path, path.name, None, _file_thinking(path))
    catalog = catalog_module()
    model_id = spec or STARTER_ID
    if catalog is not None:
        resolved = catalog.resolve_model(model_id, role="policy", settings=settings)
        entry, path = resolved.entry, Path(resolved.path)
        fmt = format_from_entry(entry)
        if fmt is not None and fmt.support is not None:
            support = fmt.support
        elif fmt is not None and fmt.kind == "completion":
            support = NO_THINKING
        else:
            support = _file_thinking(path)
        return PolicyChoice(path, model_id, fmt, support)
    if model_id == STARTER_ID:
        return PolicyChoice(starter_model_path(settings), STARTER_ID, PromptFormat("completion"))
    raise ConfigError(
        f"Unknown model {model_id!r}.", hint="Give the path of a .gguf file with --policy."
    )


def build_verifier(
    name: str,
    settings: Settings,
    *,
    model: str | None = None,
    threads: int | None = None,
    gpu_layers: int = 0,
    cancel: CancelToken | None = None,
    view: str | None = None,
) -> tuple[Any, list[Any]]:
    """The verifier ``name`` (a verifier kind or a catalog id) and any models it loaded.

    ``view``: what it scores of a reasoning model's text ("solution" or "trace"); None: the
    catalog entry's option, else the kind's own default.

    ``model`` is the verifier's model (a catalog id or a .gguf path) for kinds that need one;
    a catalog verifier entry brings its own. Close the verifier before its models (it may hold
    a context on them).
    """
    import outthink.verifiers as verifiers
    from outthink.verifiers.base import VerifierContext

    options: dict[str, Any] = {}
    model_spec = model
    catalog = catalog_module()
    if name not in verifiers.VERIFIERS and catalog is not None:
        entry = catalog.load_catalog(settings).get(name)
        if entry.role != "verifier" or not entry.verifier_kind:
            raise ConfigError(
                f"Catalog entry {name!r} is not a verifier.",
                hint="Pick a verifier entry (see `outthink models list`) or a verifier kind.",
            )
        model_spec = model_spec or name
        options = dict(entry.verifier_options or {})
        name = entry.verifier_kind
    spec = verifiers.get_spec(name)
    loaded: list[Any] = []
    ctx = VerifierContext(threads=threads or None, cancel=cancel)
    if spec.needs_model:
        if not model_spec:
            raise ConfigError(
                f"The {name} verifier needs a model.",
                hint="Give one with --verifier-model (a catalog id or a .gguf path).",
            )
        from outthink.engine import Model

        if model_spec.endswith(".gguf") or Path(model_spec).expanduser().exists():
            vpath = Path(model_spec).expanduser()
        elif catalog is not None:
            vpath = Path(catalog.resolve_model(model_spec, settings=settings).path)
        else:
            vpath = resolve_policy(model_spec, settings).path
        ctx.model = Model(vpath, n_gpu_layers=gpu_layers)
        loaded.append(ctx.model)
    if view is not None:
        options["view"] = view
    return verifiers.build(spec, options, ctx), loaded


def preflight(choice: PolicyChoice, problem: str, cfg: Any, settings: Settings) -> Any:
    """Refuse, before any weights are loaded, a run that cannot work: a model file llama.cpp
    cannot run, a thinking choice the model cannot follow, a problem longer than the model's
    trained context (with ``cfg.max_tokens``), then a request too big for memory (the prompt
    format adds at most a few thousand bytes).
    Returns the file's header. The command line and the desktop app both call this."""
    from outthink.engine import check_memory, check_model_file, check_problem_fits, plan_context
    from outthink.search.strategies import get_strategy

    header = check_model_file(choice.path)
    check_thinking(choice.thinking, cfg.thinking_choice, choice.path.name)
    check_problem_fits(header, problem, cfg.max_tokens, n_ctx=settings.context_size)
    spec = get_strategy(cfg.strategy)
    n_seq = spec.sequences(spec.prepare(cfg))
    check_memory(header, plan_context(len(problem.encode()) + 2048, n_seq, cfg.max_tokens), n_seq)
    return header


def natural_aggregation(name: str, settings: Settings) -> str:
    """The aggregation the verifier ``name`` (a kind or a catalog verifier id) declares for its
    step scores: the default of ``--agg`` and of the app's Aggregation field."""
    import outthink.verifiers as verifiers

    kind = name
    if name not in verifiers.VERIFIERS:
        catalog = catalog_module()
        if catalog is not None:
            try:
                kind = catalog.load_catalog(settings).get(name).verifier_kind or name
            except ConfigError:
                return "last"  # an unknown name: building the verifier will say so
    spec = verifiers.VERIFIERS.get(kind)
    return spec.aggregation if spec is not None else "last"
