"""What the control panel offers: choices from the registries and the catalog, defaults per
strategy, and the tooltips. No Qt here (the logic is tested without widgets).

Strategies, verifier kinds, selection rules and aggregations all come from the core's
registries, so a strategy added there shows up in the menu without a change here; a strategy
this module has no defaults for gets the core's :class:`SearchConfig` defaults.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from outthink.config import Settings
from outthink.errors import OutthinkError
from outthink.search.config import SearchConfig
from outthink.search.strategies import get_strategy, strategy_names

log = logging.getLogger(__name__)

#: Defaults per strategy where the core's SearchConfig defaults are not the best start.
#: Beam search is strongest at small N; DVTS needs N/M subtrees, so a larger N (docs/search.md).
STRATEGY_DEFAULTS: dict[str, dict[str, Any]] = {
    "best-of-n": {"n": 8, "width": 2, "temperature": 0.8, "select": "weighted"},
    "greedy": {"n": 1, "temperature": 0.0, "select": "vanilla"},
    "beam": {"n": 4, "width": 2, "temperature": 0.8, "select": "vanilla"},
    "dvts": {"n": 8, "width": 4, "temperature": 0.8, "select": "weighted"},
    "adaptive": {"n": 8, "width": 2, "temperature": 0.8, "select": "weighted"},
}

#: The fields the panel edits (the rest keep SearchConfig's defaults).
EDITED_FIELDS = (
    "n",
    "width",
    "temperature",
    "max_tokens",
    "seed",
    "select",
    "agg",
    "thinking",
    "thinking_budget",
)

TOOLTIPS: dict[str, str] = {
    "problem": "The problem to solve. Type or paste any text, or pick an example above.",
    "examples": "Example problems shipped with Outthink (with their reference answers).",
    "policy": "The model that writes the solutions. Installed models are listed first; "
    "'Choose a GGUF file…' runs any model file on disk.",
    "verifier": "What scores every step: a rule (no extra model) or a verifier model "
    "(process reward model or judge) from the catalog.",
    "verifier_model": "The model a model-based verifier kind runs (catalog id or file).",
    "strategy": "How the search spends its budget.",
    "n": "Budget N: the number of full solutions (Best-of-N) or of live beams "
    "(beam search, DVTS). More finds better answers and costs proportionally more tokens.",
    "width": "Beam width M: every kept beam is expanded into M children at each step "
    "(beam search keeps the best N/M; DVTS runs N/M independent subtrees).",
    "temperature": "Sampling temperature: 0 always takes the most likely token (no diversity); "
    "0.7-0.8 gives varied candidates for the verifier to choose from.",
    "max_tokens": "Most new tokens per solution; a candidate that reaches it stops there.",
    "seed": "Random seed: the same seed, settings and model give the same run.",
    "select": "How the final answer is chosen: vanilla = the candidate with the best score; "
    "majority = the most frequent answer; weighted = the answer whose candidates' scores "
    "sum highest (usually the best).",
    "agg": "How a solution's step scores become one score: last = the last step's score; "
    "min = its weakest step; prod = the product; mean = the average.",
    "thinking": "Reasoning models (Qwen3, DeepSeek-R1 distills) think in a <think> block "
    "before they answer: auto, on or off (the chat template's switch), and the thinking budget "
    "after which the thinking is closed and the model must answer.",
    "run": "Start the search (Ctrl+Return).",
    "stop": "Stop the search; everything produced so far is kept (Escape).",
}


def defaults_for(strategy: str) -> dict[str, Any]:
    base = SearchConfig()
    values = {name: getattr(base, name) for name in EDITED_FIELDS}
    values.update(STRATEGY_DEFAULTS.get(strategy, {}))
    return values


def strategy_fields(strategy: str) -> tuple[str, ...]:
    """The fields a strategy has its own values for (remembered per strategy in the panel);
    the other edited fields are shared by all strategies."""
    return tuple(k for k in EDITED_FIELDS if k in STRATEGY_DEFAULTS.get(strategy, {}))


def fixed_fields(strategy: str) -> dict[str, Any]:
    """Fields the strategy forces whatever the user sets (greedy: N=1, temperature 0).

    Found by asking the strategy's own ``prepare`` with two different configs: a field whose
    result does not depend on the input is fixed. So any strategy in the registry is handled.
    """
    try:
        spec = get_strategy(strategy)
        # N a multiple of the width in both probes, for strategies that require it.
        a = spec.prepare(SearchConfig(n=4, width=2, temperature=0.3, select="vanilla", agg="min"))
        b = spec.prepare(SearchConfig(n=6, width=3, temperature=0.9, select="majority", agg="mean"))
    except (OutthinkError, ValueError, TypeError):
        log.debug("Cannot probe strategy %r for fixed fields", strategy, exc_info=True)
        return {}
    probed = ("n", "width", "temperature", "select", "agg")
    return {name: getattr(a, name) for name in probed if getattr(a, name) == getattr(b, name)}


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    name: str
    description: str
    uses_width: bool


def strategy_choices() -> list[StrategyChoice]:
    out = []
    for name in strategy_names():
        spec = get_strategy(name)
        out.append(StrategyChoice(name, spec.description, spec.uses_width))
    return out


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """One line of a model picker. ``spec`` is what resolve_policy/build_verifier take."""

    spec: str
    label: str
    installed: bool
    tooltip: str = ""
    needs_model: bool = False  # verifier kinds that need a verifier model
    enabled: bool = True
    aggregation: str = ""  # verifiers: the aggregation their scores suit
    reasoning: bool = False  # policies: thinks before it answers


def model_values(values: dict[str, Any], reasoning: bool) -> dict[str, Any]:
    """The panel's values that change when a policy is picked: a reasoning model gets
    thousands of tokens and a thinking budget (three quarters of them), another model no
    budget and thinking on auto (what the user set otherwise stays)."""
    from outthink.thinking import REASONING_DEFAULTS, STANDARD_DEFAULTS

    changes: dict[str, Any] = {}
    if reasoning:
        tokens = max(int(values.get("max_tokens") or 0), REASONING_DEFAULTS["max_tokens"])
        if tokens != values.get("max_tokens"):
            changes["max_tokens"] = tokens
        if not values.get("thinking_budget"):
            changes["thinking_budget"] = tokens * 3 // 4
    else:
        if values.get("thinking_budget"):
            changes["thinking_budget"] = STANDARD_DEFAULTS["thinking_budget"]
        if values.get("thinking", "auto") != "auto":
            changes["thinking"] = "auto"
        if int(values.get("max_tokens") or 0) > REASONING_DEFAULTS["max_tokens"] // 2:
            changes["max_tokens"] = STANDARD_DEFAULTS["max_tokens"]
    return changes


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


def _statuses(settings: Settings) -> list[Any]:
    import outthink.catalog as catalog

    return catalog.list_models(settings)


def policy_choices(settings: Settings, statuses: list[Any] | None = None) -> list[ModelChoice]:
    """Catalog policies, installed first (starter first among them), then the rest."""
    from outthink.starter import STARTER_ID

    try:
        statuses = statuses if statuses is not None else _statuses(settings)
    except OutthinkError as exc:
        log.warning("Model catalog unavailable: %s", exc)
        return [ModelChoice(STARTER_ID, "Starter model (Gemma 3 270M)", True)]
    out = []
    for st in statuses:
        entry = st.entry
        if entry.role != "policy":
            continue
        size = f", {_gib(entry.size_bytes)}" if entry.size_bytes else ""
        label = entry.name if st.present else f"{entry.name} (not downloaded)"
        tip = f"{entry.id}{size}. {entry.description}".strip()
        if entry.reasoning:
            how = "can be switched off" if entry.thinking_switch else "always thinks"
            tip += f" Reasoning model: thinks before it answers ({how})."
        usable = st.present
        if st.state == "changed":
            # Offered, so that Run says what is wrong with the file and how to repair it.
            label, usable = f"{entry.name} (damaged)", True
            tip += " The file on disk no longer matches its checksum; Run says how to repair it."
        elif not st.present:
            tip += " Download it in Models → Manage models."
        out.append(
            ModelChoice(entry.id, label, usable, tip, enabled=usable, reasoning=entry.reasoning)
        )
    out.sort(key=lambda c: (not c.installed, c.spec != STARTER_ID))
    return out


def verifier_choices(settings: Settings, statuses: list[Any] | None = None) -> list[ModelChoice]:
    """Verifier kinds usable without extra options, then catalog verifier models."""
    import outthink.verifiers as verifiers
    from outthink.verifiers.base import VerifierContext

    out = []
    for kind, spec in sorted(verifiers.VERIFIERS.items()):
        if not spec.needs_model:
            # A kind that needs options the panel cannot give (e.g. "product" needs its parts)
            # would only fail at Run: leave it to the command line.
            try:
                spec.factory({}, VerifierContext())
            except OutthinkError:
                continue
        out.append(
            ModelChoice(
                kind,
                kind,
                True,
                spec.description,
                needs_model=spec.needs_model,
                aggregation=spec.aggregation,
            )
        )
    try:
        statuses = statuses if statuses is not None else _statuses(settings)
    except OutthinkError as exc:
        log.warning("Model catalog unavailable: %s", exc)
        statuses = []
    models = []
    for st in statuses:
        entry = st.entry
        if entry.role != "verifier":
            continue
        known = entry.verifier_kind in verifiers.VERIFIERS
        label = entry.name if st.present else f"{entry.name} (not downloaded)"
        tip = f"{entry.id}: {entry.description}".strip()
        if not known:
            label += " (needs a newer Outthink)"
            tip += f" This version has no {entry.verifier_kind!r} verifier."
        elif not st.present:
            tip += " Download it in Models → Manage models."
        agg = verifiers.VERIFIERS[entry.verifier_kind].aggregation if known else ""
        models.append(
            ModelChoice(
                entry.id, label, st.present, tip, enabled=known and st.present, aggregation=agg
            )
        )
    models.sort(key=lambda c: not c.installed)
    return out + models


def verifier_model_warning(model_id: str | None, statuses: list[Any]) -> str:
    """A warning when a model-based verifier kind is given a model the catalog does not list
    as a verifier: a policy model asked to grade steps gives scores that are mostly noise."""
    if not model_id:
        return ""
    for st in statuses:
        if st.entry.id == model_id and st.entry.role != "verifier":
            return (
                f"{st.entry.name} is not a verifier model: its step scores will be close to "
                "noise. Pick a verifier model (Models → Manage models lists them), or a "
                "rule-based verifier such as calculator."
            )
    return ""


def load_examples() -> list[dict[str, str]]:
    """The example problems shipped in assets/examples/*.jsonl (id, problem, answer)."""
    import json

    from outthink.resources import resource_path

    folder = resource_path("assets", "examples")
    out: list[dict[str, str]] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    out.append(
                        {
                            "id": str(item["id"]),
                            "problem": str(item["problem"]),
                            "answer": str(item.get("answer", "")),
                        }
                    )
                except (ValueError, KeyError, TypeError):
                    log.warning("Skipping bad example %s:%d", path.name, number)
    return out
