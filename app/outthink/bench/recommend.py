"""Compute-optimal choice: which strategy and budget to use, per problem difficulty.

After a benchmark, every problem gets a difficulty bin from the policy's own pass rate, the
share of its Best-of-N samples (at the largest budget) that are correct: easy >= 50%, medium
10-50%, hard < 10% (docs/search.md). Within each bin, and over all problems ("all"), every measured
(strategy, selection, budget) is compared on the problems they all finished, by accuracy and by
mean tokens (policy + verifier) per problem.

The choice per bin: the most accurate configuration, and among equally accurate ones the one
that spent the fewest tokens, i.e. the top of the accuracy-against-tokens Pareto frontier
(every frontier point is the best accuracy its tokens bought). The literal highest ratio
accuracy / tokens (``objective="accuracy_per_token"``) is available too, but it almost always
names greedy (the cheapest run) whenever greedy solves anything, which would make
``--strategy auto`` equal to greedy; the frontier is saved alongside so either can be read.

Recommendations are saved in ``<data>/recommendations.json``, keyed by policy and verifier.
:func:`auto_config` turns one into the :class:`SearchConfig` for ``solve --strategy auto``:
a problem that was in the benchmark (same text) uses its own bin; any other problem, whose
difficulty is unknown before solving it, uses the "all" choice, which is the best one on
average for problems like the benchmark's.

Reasoning models are a family of their own. A model that thinks before it answers writes
long traces that process reward models score badly, and majority voting over its samples is
the baseline to beat (Liu et al. 2025 recommend it for R1-distilled policies). So in the
``reasoning`` family the choice per bin is majority-voting Best-of-N unless another
configuration is strictly better by the objective; the baseline is saved next to the choice.
A recommendation is saved per family (the same Qwen3 file with and without thinking is two
models here), and ``solve --strategy auto`` for a model that thinks, with no benchmark yet,
uses the baseline (:func:`reasoning_baseline`).

Caveat (as in the published compute-optimal experiments): bins come from the same samples
that Best-of-N is measured on, so within-bin Best-of-N accuracies are optimistic for easy
problems and pessimistic for hard ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outthink.bench.runner import NO_SELECTION, read_config, read_results
from outthink.config import data_dir
from outthink.errors import ConfigError
from outthink.search.config import SearchConfig

log = logging.getLogger(__name__)

__all__ = [
    "ALL",
    "BINS",
    "FAMILIES",
    "OBJECTIVES",
    "RECOMMENDATIONS_FILE",
    "Choice",
    "auto_config",
    "difficulty_bin",
    "family_of",
    "load_recommendations",
    "pass_rates",
    "problem_hash",
    "reasoning_baseline",
    "recommend",
    "recommendation_key",
    "recommendations_path",
    "save_recommendation",
    "update_from_results",
]

RECOMMENDATIONS_FILE = "recommendations.json"
BINS = ("easy", "medium", "hard")
ALL = "all"
OBJECTIVES = ("accuracy", "accuracy_per_token")
EASY_AT, MEDIUM_AT = 0.5, 0.1
#: Model families: models that answer at once, and models that think first.
FAMILIES = ("standard", "reasoning")
#: The reasoning family's baseline: majority voting over Best-of-N samples (adaptive samples
#: the same candidates and stops early).
BASELINE_SELECTION = "majority"
BASELINE_STRATEGIES = ("best-of-n", "adaptive")
#: Majority voting's budget for a reasoning model nobody benchmarked yet.
BASELINE_N = 8


def family_of(thinks: bool) -> str:
    """The family of a run: "reasoning" when the model thinks before it answers."""
    return "reasoning" if thinks else "standard"


def reasoning_baseline(n: int = BASELINE_N) -> SearchConfig:
    """The search for a reasoning model without a benchmark: majority voting over N samples."""
    return SearchConfig(strategy="best-of-n", n=n, select=BASELINE_SELECTION)


def difficulty_bin(pass_rate: float) -> str:
    if pass_rate >= EASY_AT:
        return "easy"
    if pass_rate >= MEDIUM_AT:
        return "medium"
    return "hard"


def problem_hash(problem: str) -> str:
    """Key of a problem text, insensitive to surrounding and repeated whitespace."""
    return hashlib.sha256(" ".join(problem.split()).encode("utf-8")).hexdigest()[:16]


def recommendation_key(policy_id: str, verifier_id: str, family: str = "standard") -> str:
    key = f"{policy_id}|{verifier_id}"
    return key if family == "standard" else f"{key}|{family}"


def recommendations_path() -> Path:
    return data_dir() / RECOMMENDATIONS_FILE


@dataclass(frozen=True, slots=True)
class Choice:
    strategy: str
    selection: str
    budget: int
    problems: int
    accuracy: float
    mean_tokens: float  # policy + verifier tokens per problem

    @property
    def accuracy_per_1k_tokens(self) -> float:
        return 1000 * self.accuracy / self.mean_tokens if self.mean_tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy_per_1k_tokens": round(self.accuracy_per_1k_tokens, 4)}


def pass_rates(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Each problem's share of correct Best-of-N samples, from the largest-budget lines."""
    best: dict[str, tuple[int, float]] = {}
    for r in records:
        if r.get("strategy") != "best-of-n" or r.get("status", "ok") != "ok":
            continue
        n = int(r.get("candidates") or 0)
        if n <= 0 or "samples_correct" not in r:
            continue
        pid = str(r["problem_id"])
        if pid not in best or n > best[pid][0]:
            best[pid] = (n, int(r["samples_correct"]) / n)
    return {pid: rate for pid, (_, rate) in best.items()}


def _choices(
    records: Sequence[Mapping[str, Any]], problem_ids: set[str]
) -> list[Choice]:
    """Every configuration, measured on the problems of ``problem_ids`` all of them finished."""
    by_config: dict[tuple[str, str, int], dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for r in records:
        pid = str(r["problem_id"])
        if pid in problem_ids and r.get("status", "ok") == "ok":
            by_config[(str(r["strategy"]), str(r["selection"]), int(r["budget"]))][pid] = r
    if not by_config:
        return []
    common = set.intersection(*(set(v) for v in by_config.values()))
    if not common:
        return []
    out = []
    for (strategy, selection, budget), rows in sorted(by_config.items()):
        rs = [rows[p] for p in sorted(common)]
        tokens = sum(float(r.get("policy_tokens", 0)) + float(r.get("verifier_tokens", 0))
                     for r in rs)
        out.append(
            Choice(
                strategy,
                selection,
                budget,
                len(rs),
                sum(bool(r.get("correct")) for r in rs) / len(rs),
                tokens / len(rs),
            )
        )
    return out


def _pick(choices: Sequence[Choice], objective: str) -> Choice:
    if objective == "accuracy_per_token":
        return max(choices, key=lambda c: (c.accuracy_per_1k_tokens, c.accuracy, -c.mean_tokens))
    return max(choices, key=lambda c: (c.accuracy, -c.mean_tokens, -c.budget))


def _baseline(choices: Sequence[Choice]) -> Choice | None:
    """The best majority-voting Best-of-N configuration (the reasoning family's baseline)."""
    voting = [
        c for c in choices
        if c.selection == BASELINE_SELECTION and c.strategy in BASELINE_STRATEGIES
    ]
    return _pick(voting, "accuracy") if voting else None


def _pick_reasoning(choices: Sequence[Choice], objective: str) -> tuple[Choice, Choice | None]:
    """(choice, baseline): another configuration only when it strictly beats the baseline."""
    best = _pick(choices, objective)
    baseline = _baseline(choices)
    if baseline is None:
        return best, None
    if objective == "accuracy_per_token":
        beats = best.accuracy_per_1k_tokens > baseline.accuracy_per_1k_tokens
    else:
        beats = best.accuracy > baseline.accuracy
    return (best if beats else baseline), baseline


def _frontier(choices: Sequence[Choice]) -> list[Choice]:
    """Configurations no other one beats on accuracy without spending more tokens."""
    ordered = sorted(choices, key=lambda c: (c.mean_tokens, -c.accuracy))
    front: list[Choice] = []
    for c in ordered:
        if not front or c.accuracy > front[-1].accuracy:
            front.append(c)
    return front


def recommend(
    records: Sequence[Mapping[str, Any]],
    *,
    problems: Mapping[str, str] | None = None,
    objective: str = "accuracy",
    family: str = "standard",
) -> dict[str, Any]:
    """The recommendation per bin (and "all") from a benchmark's result lines.

    ``problems`` maps problem id to problem text, so later solves of the same problems can
    use their own bin. ``family`` "reasoning": majority voting is the baseline that another
    configuration must strictly beat (see the module notes).
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"Unknown objective {objective!r}.", hint=f"Use one of {OBJECTIVES}.")
    if family not in FAMILIES:
        raise ConfigError(f"Unknown model family {family!r}.", hint=f"Use one of {FAMILIES}.")
    ids = {str(r["problem_id"]) for r in records}
    rates = pass_rates(records)
    bins_of = {pid: difficulty_bin(rate) for pid, rate in rates.items()}
    groups: dict[str, set[str]] = {ALL: ids}
    for b in BINS:
        members = {pid for pid, v in bins_of.items() if v == b}
        if members:
            groups[b] = members
    result: dict[str, Any] = {"bins": {}, "frontier": {}, "sizes": {}, "family": family}
    if family == "reasoning":
        result["baseline"] = {}
    for name, members in groups.items():
        choices = _choices(records, members)
        if not choices:
            continue
        if family == "reasoning":
            chosen, baseline = _pick_reasoning(choices, objective)
            if baseline is not None:
                result["baseline"][name] = baseline.to_dict()
        else:
            chosen = _pick(choices, objective)
        result["bins"][name] = chosen.to_dict()
        result["frontier"][name] = [c.to_dict() for c in _frontier(choices)]
        result["sizes"][name] = len(members)
    result["objective"] = objective
    result["thresholds"] = {"easy": f">= {EASY_AT:.0%}", "medium": "10-50%", "hard": "< 10%"}
    result["difficulty_from"] = (
        "share of correct best-of-n samples at the largest budget"
        if rates
        else "unknown: run best-of-n in the benchmark to get difficulty bins"
    )
    texts = problems or {}
    result["problem_bins"] = {
        problem_hash(texts[pid]): b for pid, b in sorted(bins_of.items()) if pid in texts
    }
    return result


def load_recommendations(path: Path | None = None) -> dict[str, Any]:
    path = path or recommendations_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable recommendations file %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save_recommendation(
    policy_id: str,
    verifier_id: str,
    recommendation: Mapping[str, Any],
    *,
    search: Mapping[str, Any],
    source: str = "",
    path: Path | None = None,
) -> Path:
    """Store (replace) the recommendation for one policy + verifier pair (and its family),
    atomically."""
    path = path or recommendations_path()
    data = load_recommendations(path)
    family = str(recommendation.get("family") or "standard")
    data[recommendation_key(policy_id, verifier_id, family)] = {
        "policy": policy_id,
        "verifier": verifier_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "search": dict(search),
        **recommendation,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def update_from_results(
    out_dir: Path,
    *,
    problems: Mapping[str, str] | None = None,
    objective: str = "accuracy",
    path: Path | None = None,
    family: str = "standard",
) -> dict[str, Any] | None:
    """Recommend from a benchmark folder and save it under its policy, verifier and family."""
    config = read_config(out_dir) or {}
    records = read_results(out_dir)
    if not records or not config.get("policy"):
        return None
    rec = recommend(records, problems=problems, objective=objective, family=family)
    if not rec["bins"]:
        return None
    save_recommendation(
        str(config["policy"]),
        str(config.get("verifier") or ""),
        rec,
        search=config.get("search") or {},
        source=str(Path(out_dir).resolve()),
        path=path,
    )
    return rec


_SEARCH_FIELDS = {f.name for f in fields(SearchConfig)}


def auto_config(
    policy_id: str,
    verifier_id: str,
    problem: str,
    *,
    path: Path | None = None,
    family: str = "standard",
) -> SearchConfig | None:
    """The recommended search for ``problem`` with these models (in this family), or None
    without a saved recommendation. The problem's own bin if it was benchmarked, else the
    "all" choice."""
    key = recommendation_key(policy_id, verifier_id, family)
    entry = load_recommendations(path).get(key)
    if not isinstance(entry, Mapping):
        return None
    bins = entry.get("bins") or {}
    known = (entry.get("problem_bins") or {}).get(problem_hash(problem))
    choice = bins.get(known) if known in bins else bins.get(ALL)
    if not isinstance(choice, Mapping):
        return None
    base = {k: v for k, v in (entry.get("search") or {}).items() if k in _SEARCH_FIELDS}
    for key in ("stop", "boundary"):
        if key in base:
            base[key] = tuple(base[key])
    for key in ("strategy", "n", "select"):
        base.pop(key, None)
    selection = str(choice.get("selection") or "weighted")
    try:
        cfg = SearchConfig(**base).with_(
            strategy=str(choice["strategy"]),
            n=int(choice["budget"]),
            select="vanilla" if selection == NO_SELECTION else selection,
        )
        return cfg.validate()
    except (TypeError, KeyError, ValueError, ConfigError) as exc:
        log.warning("Ignoring a saved recommendation that no longer fits: %s", exc)
        return None
