"""The benchmark loop: every problem through every strategy and budget, results on disk as
each run finishes, resumable after a crash or a Stop.

:func:`run_bench` is a plain iterator of small progress events; the CLI draws a progress bar
from them and the GUI's Benchmark tab a live plot. The work itself goes through a
:class:`Solver` (``(problem, cfg, cancel) -> events``): :class:`ModelSolver` wraps
:func:`outthink.search.runner.solve` on loaded models; tests pass fakes built on
:func:`outthink.search.runner.run_search`.

Results (``DIR/results.jsonl``): one JSON object per line and per (problem, strategy, budget,
selection): the selected answer, whether it is correct (:func:`outthink.answers.is_correct`,
the equivalence ``solve`` uses for voting), tokens and seconds. Lines are appended and fsynced
when a run finishes, so a crash loses at most the run in progress. A resumed benchmark reads the
file, ignores (and cuts off) a torn last line, and skips every run whose lines are all there: no
finished work is repeated. The configuration is saved as ``DIR/config.json``; resuming with a
different policy, verifier, sampling setting or problem file is refused, because the results
would mix two experiments. Changing the strategies, budgets, selections or the number of
problems is fine: only the missing lines are produced.

How budgets are computed (also written into config.json):

- ``best-of-n``: one run at the largest budget N per problem. Sample ``i`` uses seed
  ``seed + i`` whatever N is, and samples are generated and scored independently, so the first
  b samples of the N-run are the b-run's samples: the result at budget b selects among the
  first b samples. Policy and verifier tokens and seconds at b < N are the N-run's figures
  scaled by the share of the N-run's solution tokens those b samples wrote (exact in token
  terms up to end-of-text tokens and dropped steps; a real b-run decodes in smaller batches
  and takes longer per token). llama.cpp's logits differ slightly between batch sizes
  (docs/engine.md), so on a real model a b-run may diverge from the first b samples after a near
  tie; it is an equally valid draw with the same seeds.
- ``dvts``: run per budget. Its subtrees are independent in distribution, but not sample for
  sample: forked sequences draw seeds from a generator-wide fork counter, and the last step's
  seed derives from candidate ids that interleave across subtrees, so the first b/M subtrees
  of an N-run are not the b-run's subtrees.
- ``beam``: run per budget (survivors are chosen across all beams).
- ``adaptive``: run per budget and per selection rule (its stopping rule depends on both).
- ``greedy``: one run per problem (temperature 0, N = 1); stored at budget 1 with selection
  ``-``.

Selection rules: for every strategy except adaptive the search does not depend on the rule
(only the final pick does), so each run is stored under every requested rule, picked exactly as
:func:`~outthink.search.strategies.best_of_n.selection_event` would.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from outthink import __version__
from outthink.answers import is_correct
from outthink.config import Settings, fsync_dir
from outthink.errors import ConfigError
from outthink.events import (
    AnswerSelected,
    CandidateFinished,
    Event,
    RunFailed,
    RunFinished,
    StepProposed,
    StepScored,
)
from outthink.generation import CancelToken
from outthink.prompts import PromptFormat
from outthink.ranges import option
from outthink.search.config import SearchConfig
from outthink.search.context import Candidate
from outthink.search.selection import SELECTION_RULES
from outthink.search.strategies import strategy_names
from outthink.search.strategies.best_of_n import selection_event

log = logging.getLogger(__name__)

__all__ = [
    "CONFIG_FILE",
    "NO_SELECTION",
    "RESULTS_FILE",
    "SUBSAMPLING",
    "BenchEvent",
    "BenchFinished",
    "BenchProgress",
    "BenchRecorded",
    "BenchSpec",
    "BenchStarted",
    "ModelSolver",
    "ProgressLine",
    "ResultsLog",
    "RunPlan",
    "Solver",
    "bench_config",
    "check_out_dir",
    "failure_records",
    "format_duration",
    "load_solver",
    "plan_runs",
    "read_config",
    "read_results",
    "record_key",
    "records_from_run",
    "run_bench",
    "verifier_id",
]

RESULTS_FILE = "results.jsonl"
CONFIG_FILE = "config.json"
#: The selection of a greedy run: with one candidate there is nothing to select.
NO_SELECTION = "-"
#: Strategies whose search does not depend on the selection rule (only the final pick does).
_POST_HOC_SELECTION = frozenset({"greedy", "best-of-n", "beam", "dvts"})

SUBSAMPLING: dict[str, str] = {
    "best-of-n": "subsampled: one run at the largest budget N; budget b selects among its first "
    "b samples, which are the b-run's samples (sample i uses seed + i whatever N is). Tokens "
    "and seconds at b < N are the N-run's, scaled by the share of its solution tokens the b "
    "samples wrote.",
    "dvts": "run per budget: subtrees are independent in distribution but not sample for "
    "sample (fork seeds come from a generator-wide counter and final-step seeds from candidate "
    "ids that interleave across subtrees), so subsampling an N-run would not equal the b-run.",
    "beam": "run per budget: survivors are chosen across all beams, so a smaller budget is a "
    "different search.",
    "adaptive": "run per budget and per selection rule: its stopping rule depends on both.",
    "greedy": "one run per problem (temperature 0, N = 1), stored at budget 1.",
}

Key = tuple[str, str, int, str]  # problem id, strategy, budget, selection


def record_key(record: Mapping[str, Any]) -> Key:
    return (
        str(record["problem_id"]),
        str(record["strategy"]),
        int(record["budget"]),
        str(record["selection"]),
    )


# --------------------------------------------------------------------------------------------
# What to run


@dataclass(frozen=True, slots=True)
class BenchSpec:
    """What a benchmark runs. ``search`` holds everything but strategy, N and selection."""

    strategies: tuple[str, ...]
    budgets: tuple[int, ...]
    selections: tuple[str, ...] = ("weighted",)
    search: SearchConfig = field(default_factory=SearchConfig)
    policy: str = ""
    verifier: str = ""

    def validate(self) -> BenchSpec:
        known = strategy_names()
        if not self.strategies:
            raise ConfigError("No strategy given.", hint=f"Choose from: {', '.join(known)}.")
        for name in self.strategies:
            if name not in known:
                raise ConfigError(
                    f"Unknown strategy {name!r}.", hint=f"Choose from: {', '.join(known)}."
                )
        if not self.budgets:
            raise ConfigError("No budget given.", hint="E.g. --budgets 1,4,8.")
        for budget in self.budgets:
            why = option("n").problem(budget)
            if why is not None:
                raise ConfigError(why, hint="E.g. --budgets 1,4,8.")
        for rule in self.selections:
            if rule not in SELECTION_RULES:
                raise ConfigError(
                    f"Unknown selection rule {rule!r}.",
                    hint=f"Choose from: {', '.join(SELECTION_RULES)}.",
                )
        if not self.selections:
            raise ConfigError("No selection rule given.", hint="E.g. --select weighted.")
        self.search.with_(n=max(self.budgets)).validate()
        return BenchSpec(
            tuple(dict.fromkeys(self.strategies)),
            tuple(sorted(set(self.budgets))),
            tuple(dict.fromkeys(self.selections)),
            self.search,
            self.policy,
            self.verifier,
        )


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One search per problem, and the result lines (budgets x selections) it yields."""

    strategy: str
    run_budget: int
    budgets: tuple[int, ...]
    selections: tuple[str, ...]
    subsampled: bool = False

    def keys(self, problem_id: str) -> list[Key]:
        return [
            (problem_id, self.strategy, b, s) for b in self.budgets for s in self.selections
        ]

    @property
    def label(self) -> str:
        if self.strategy == "greedy":
            return "greedy"
        sel = f" {self.selections[0]}" if self.strategy == "adaptive" else ""
        return f"{self.strategy} N={self.run_budget}{sel}"

    def config(self, base: SearchConfig) -> SearchConfig:
        """The search's config; its own pick uses the first selection rule."""
        first = self.selections[0]
        select = "vanilla" if first == NO_SELECTION else first
        return base.with_(strategy=self.strategy, n=self.run_budget, select=select)


def plan_runs(spec: BenchSpec) -> list[RunPlan]:
    """The searches one problem needs, cheapest first within each strategy."""
    plans: list[RunPlan] = []
    sels = spec.selections
    for strategy in spec.strategies:
        if strategy == "greedy":
            plans.append(RunPlan("greedy", 1, (1,), (NO_SELECTION,)))
        elif strategy == "best-of-n":
            plans.append(RunPlan(strategy, max(spec.budgets), spec.budgets, sels, subsampled=True))
        elif strategy in _POST_HOC_SELECTION:
            plans.extend(RunPlan(strategy, b, (b,), sels) for b in spec.budgets)
        else:
            # A strategy whose search depends on the rule (adaptive, or one added later).
            plans.extend(RunPlan(strategy, b, (b,), (s,)) for b in spec.budgets for s in sels)
    return plans


# --------------------------------------------------------------------------------------------
# Solvers


class Solver(Protocol):
    """Runs one search; the stream ends with exactly one RunFinished or RunFailed."""

    #: whether the verifier's scores carry information (False: selection falls back to votes)
    informative: bool

    def __call__(self, problem: str, cfg: SearchConfig, cancel: CancelToken) -> Iterator[Event]:
        ...


class ModelSolver:
    """:func:`outthink.search.runner.solve` on a loaded policy and verifier."""

    def __init__(
        self,
        policy: Any,
        verifier: Any,
        *,
        prompt_format: PromptFormat | None = None,
        threads: int | None = None,
        policy_id: str = "",
        verifier_id: str = "",
        owned: Sequence[Any] = (),
        n_ctx: int = 0,
    ) -> None:
        self.policy = policy
        self.verifier = verifier
        self.prompt_format = prompt_format
        self.threads = threads
        self.policy_id = policy_id
        self.verifier_id = verifier_id
        self.informative = bool(getattr(verifier, "informative", True))
        self._owned = list(owned)
        self.n_ctx = n_ctx  # the context-size setting (0: sized to each request)

    def __call__(self, problem: str, cfg: SearchConfig, cancel: CancelToken) -> Iterator[Event]:
        from outthink.search.runner import solve

        return solve(
            problem,
            self.policy,
            self.verifier,
            cfg,
            prompt_format=self.prompt_format,
            threads=self.threads,
            cancel=cancel,
            run_info={"policy": self.policy_id},
            n_ctx=self.n_ctx,
        )

    def close(self) -> None:
        """Close the verifier, then every model this solver loaded (verifier models first)."""
        close = getattr(self.verifier, "close", None)
        if close is not None:
            close()
        for model in self._owned:
            model.close()
        self._owned = []


def verifier_id(verifier: str, verifier_model: str | None = None) -> str:
    """How a verifier is named in saved configs and recommendations."""
    return f"{verifier}:{verifier_model}" if verifier_model else verifier


def load_solver(
    *,
    policy: str | None,
    verifier: str,
    verifier_model: str | None = None,
    settings: Settings,
    threads: int | None = None,
    gpu_layers: int | None = None,
    choice: Any = None,
    cancel: CancelToken | None = None,
) -> ModelSolver:
    """Resolve and load the models the way ``outthink solve`` does (same helpers).

    ``choice`` is an already resolved :class:`outthink.resolve.PolicyChoice` for ``policy``;
    ``cancel`` is the benchmark's stop flag, which model-based verifiers check between their
    decode calls (as in ``solve``).
    """
    from outthink.engine import Model
    from outthink.resolve import build_verifier, resolve_policy

    choice = choice or resolve_policy(policy, settings)
    layers = gpu_layers if gpu_layers is not None else settings.gpu_layers
    verifier_obj, loaded = build_verifier(
        verifier,
        settings,
        model=verifier_model,
        threads=threads or settings.threads or None,
        gpu_layers=layers,
        cancel=cancel,
    )
    try:
        model = Model(choice.path, n_gpu_layers=layers)
    except BaseException:
        for m in loaded:
            m.close()
        raise
    return ModelSolver(
        model,
        verifier_obj,
        prompt_format=choice.prompt_format,
        threads=threads or settings.threads or None,
        policy_id=choice.label,
        verifier_id=verifier_id(verifier, verifier_model),
        owned=[*loaded, model],
        n_ctx=settings.context_size,
    )


# --------------------------------------------------------------------------------------------
# From one run's events to result lines


@dataclass(slots=True)
class _RunTrace:
    """What result lines need from one run's event stream."""

    finished: dict[int, CandidateFinished] = field(default_factory=dict)
    node_parent: dict[int, int | None] = field(default_factory=dict)
    node_text: dict[int, str] = field(default_factory=dict)
    node_score: dict[int, float] = field(default_factory=dict)
    cand_tokens: dict[int, int] = field(default_factory=dict)  # own steps' tokens
    selected: AnswerSelected | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Sequence[Event]) -> _RunTrace:
        t = cls()
        for ev in events:
            if isinstance(ev, StepProposed):
                t.node_parent[ev.node] = ev.parent
                t.node_text[ev.node] = ev.text
                t.cand_tokens[ev.candidate] = t.cand_tokens.get(ev.candidate, 0) + ev.tokens
            elif isinstance(ev, StepScored):
                t.node_score[ev.node] = ev.score
            elif isinstance(ev, CandidateFinished):
                t.finished[ev.candidate] = ev
            elif isinstance(ev, AnswerSelected):
                t.selected = ev
            elif isinstance(ev, RunFinished | RunFailed):
                t.usage = ev.usage
        return t

    def candidate(self, cid: int) -> Candidate:
        """The candidate as the strategy held it when it finished: the text of its whole chain
        of steps (inherited ones included) and the scores of the scored ones, in order."""
        chain: list[int] = []
        node = self.finished[cid].node
        while node is not None and node in self.node_parent:
            chain.append(node)
            node = self.node_parent[node]
        chain.reverse()
        return Candidate(
            id=cid,
            seq=-1,
            node=self.finished[cid].node,
            steps=[self.node_text[n] for n in chain],
            scores=[self.node_score[n] for n in chain if n in self.node_score],
            finished=True,
            reason=self.finished[cid].reason,
        )


def _round(value: float, digits: int = 0) -> float | int:
    return round(value, digits) if digits else round(value)


def records_from_run(
    events: Sequence[Event],
    problem: Any,
    plan: RunPlan,
    cfg: SearchConfig,
    *,
    informative: bool,
    grade: Callable[[str | None, str], bool] = is_correct,
) -> list[dict[str, Any]]:
    """The result lines of one finished run (every budget and selection of ``plan``)."""
    trace = _RunTrace.of(events)
    cands = [trace.candidate(cid) for cid in sorted(trace.finished)]
    grades: dict[str | None, bool] = {}

    def correct(answer: str | None) -> bool:
        if answer not in grades:
            grades[answer] = grade(answer, problem.answer)
        return grades[answer]

    usage = trace.usage
    total_tokens = sum(trace.cand_tokens.get(c.id, 0) for c in cands)
    extra = {k: v for k, v in (("subject", problem.subject), ("level", problem.level)) if v}
    out: list[dict[str, Any]] = []
    for budget in plan.budgets:
        # Best-of-N's candidate i is sample i (seed + i): the first b candidates are the b-run.
        pool = [c for c in cands if c.id < budget] if plan.subsampled else cands
        if plan.subsampled and budget < plan.run_budget:
            own = sum(trace.cand_tokens.get(c.id, 0) for c in pool)
            share = own / total_tokens if total_tokens else budget / plan.run_budget
        else:
            share = 1.0
        correct_count = sum(correct(c.answer) for c in pool)
        for sel in plan.selections:
            rule = "vanilla" if sel == NO_SELECTION else sel
            chosen = selection_event(pool, cfg.with_(select=rule), informative)
            # Our re-selection must agree with the search's own pick; if it does not, the event
            # stream no longer carries what selection needs and the results are suspect.
            whole = budget == plan.run_budget
            own_pick = trace.selected if whole and rule == cfg.select else None
            if own_pick is not None and chosen.candidate != own_pick.candidate:
                log.warning(
                    "Re-selection disagrees with the run for %s (%s): %s vs %s",
                    problem.id, plan.label, chosen.candidate, own_pick.candidate,
                )
            out.append(
                {
                    "problem_id": problem.id,
                    "strategy": plan.strategy,
                    "budget": budget,
                    "selection": sel,
                    "answer": chosen.answer,
                    "correct": correct(chosen.answer),
                    "policy_tokens": _round(float(usage.get("policy_tokens", 0)) * share),
                    "verifier_tokens": _round(float(usage.get("verifier_tokens", 0)) * share),
                    "seconds": _round(float(usage.get("seconds", 0.0)) * share, 3),
                    "status": "ok",
                    "rule": chosen.rule,
                    "candidates": len(pool),
                    "any_correct": correct_count > 0,
                    "samples_correct": correct_count,
                    "subsampled_from": plan.run_budget
                    if plan.subsampled and budget < plan.run_budget
                    else None,
                    **extra,
                }
            )
    return out


def failure_records(
    problem: Any, plan: RunPlan, failed: RunFailed
) -> list[dict[str, Any]]:
    """Lines for a run that failed: counted as wrong, and run again on resume."""
    return [
        {
            "problem_id": problem.id,
            "strategy": plan.strategy,
            "budget": b,
            "selection": s,
            "answer": None,
            "correct": False,
            "policy_tokens": int(failed.usage.get("policy_tokens", 0)),
            "verifier_tokens": int(failed.usage.get("verifier_tokens", 0)),
            "seconds": float(failed.usage.get("seconds", 0.0)),
            "status": "failed",
            "error": f"{failed.error} {failed.hint}".strip(),
        }
        for (_, _, b, s) in plan.keys(problem.id)
    ]


# --------------------------------------------------------------------------------------------
# Results on disk


class ResultsLog:
    """``results.jsonl``: append-only, fsynced per run, tolerant of a torn last line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[Key, dict[str, Any]] = {}
        self._repair_and_load()

    def _repair_and_load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            # A crash in the middle of a write leaves a partial last line; its run was not
            # recorded, so it runs again. Cut it off, or the next append would join onto it.
            log.warning("Ignoring a torn last line in %s (%d bytes)", self.path, len(data) - cut)
            with self.path.open("r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
        for record in _parse_lines(data[:cut], self.path):
            self.records[record_key(record)] = record

    def done(self, key: Key) -> bool:
        record = self.records.get(key)
        return record is not None and record.get("status", "ok") == "ok"

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        new = not self.path.exists()
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            fsync_dir(self.path.parent)
        for r in records:
            self.records[record_key(r)] = dict(r)


def _parse_lines(data: bytes, path: Path) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record_key(record)
        except (ValueError, KeyError, TypeError):
            log.warning("Skipping unreadable line %d of %s", number, path)
            continue
        yield record


def read_results(out_dir: Path) -> list[dict[str, Any]]:
    """Every result line of a benchmark folder, the latest per key (a retried failure replaces
    the failure), in first-seen order. Read-only: a torn last line is skipped, not cut."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.exists():
        return []
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    latest: dict[Key, dict[str, Any]] = {}
    for record in _parse_lines(data[:cut], path):
        latest[record_key(record)] = record
    return list(latest.values())


def read_config(out_dir: Path) -> dict[str, Any] | None:
    path = Path(out_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot read {path}: {exc}.",
            hint="Delete the file to start the benchmark configuration afresh (results stay).",
        ) from exc
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _identity(spec: BenchSpec, problem_info: Mapping[str, Any]) -> dict[str, Any]:
    """What must not change between a run and its resume."""
    search = spec.search.to_dict()
    for key in ("strategy", "n", "select"):
        search.pop(key, None)
    # Settings for reasoning models, left out at their defaults: a folder written before they
    # existed still resumes.
    base = SearchConfig().to_dict()
    for key in ("thinking", "thinking_budget", "min_step_tokens", "boundary"):
        if search.get(key) == base[key]:
            search.pop(key, None)
    return {
        "policy": spec.policy,
        "verifier": spec.verifier,
        "search": search,
        "problems_sha256": problem_info.get("sha256"),
    }


def _check_resume(old: Mapping[str, Any], identity: Mapping[str, Any], out_dir: Path) -> None:
    before = old.get("identity")
    if not isinstance(before, Mapping):
        return
    changed = [k for k in identity if before.get(k) != identity[k]]
    if "search" in changed:
        a, b = before.get("search") or {}, identity["search"]
        detail = ", ".join(
            f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)
        )
        changed[changed.index("search")] = f"search settings ({detail})"
    if "problems_sha256" in changed:
        changed[changed.index("problems_sha256")] = "problem file contents"
    if changed:
        raise ConfigError(
            f"{out_dir} holds results of a different benchmark ({'; '.join(changed)} differ), "
            "so resuming there would mix two experiments.",
            hint="Use another --out folder, or repeat the original settings to resume.",
        )


def check_out_dir(out_dir: Path, spec: BenchSpec, problem_info: Mapping[str, Any]) -> bool:
    """Raise ConfigError when ``out_dir`` holds another benchmark; True when it resumes one.

    :func:`run_bench` checks this too; callers check it first to fail before loading models.
    """
    old = read_config(Path(out_dir))
    if old is None:
        return False
    _check_resume(old, _identity(spec.validate(), problem_info), Path(out_dir))
    return True


def bench_config(
    spec: BenchSpec,
    problems: Sequence[Any],
    problem_info: Mapping[str, Any],
    *,
    informative: bool,
    plans: Sequence[RunPlan],
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "outthink_version": __version__,
        "updated": now,
        "problems": {**problem_info, "selected": len(problems), "ids": [p.id for p in problems]},
        "policy": spec.policy,
        "verifier": spec.verifier,
        "verifier_informative": informative,
        "strategies": list(spec.strategies),
        "budgets": list(spec.budgets),
        "selections": list(spec.selections),
        "search": spec.search.to_dict(),
        "runs": [
            {
                "strategy": p.strategy,
                "run_budget": p.run_budget,
                "budgets": list(p.budgets),
                "selections": list(p.selections),
                "subsampled": p.subsampled,
            }
            for p in plans
        ],
        "how_budgets_are_computed": {
            s: SUBSAMPLING[s] for s in spec.strategies if s in SUBSAMPLING
        },
        "grading": "outthink.answers.is_correct: the selected answer against the reference, "
        "with the mathematical equivalence solve uses to group answers (math-verify).",
        "columns": {
            "policy_tokens": "tokens the policy sampled (prompt not included)",
            "verifier_tokens": "tokens the verifier model decoded (0 for rule-based verifiers)",
            "any_correct": "oracle: at least one of the run's final candidates is correct",
            "samples_correct": "how many of the run's final candidates are correct",
            "subsampled_from": "the budget of the run these figures were taken from, if smaller",
        },
        "identity": _identity(spec, problem_info),
    }


# --------------------------------------------------------------------------------------------
# Progress events


@dataclass(frozen=True, slots=True)
class BenchStarted:
    total: int  # runs (one search of one problem) in this benchmark
    pending: int  # runs still to do (the rest are already in results.jsonl)
    problems: int
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BenchProgress:
    done: int  # runs finished, earlier sessions included
    total: int
    elapsed_s: float  # this session
    rate_per_min: float  # runs per minute this session (0 until one has finished)
    eta_s: float | None  # from this session's speed, weighted by each run's budget
    current: str  # what runs now, e.g. "best-of-n N=8 · apples"

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True, slots=True)
class BenchRecorded:
    records: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class BenchFinished:
    status: str  # "finished" or "cancelled"
    recorded: int  # result lines written this session
    failed_runs: int


BenchEvent = BenchStarted | BenchProgress | BenchRecorded | BenchFinished


def _progress(
    done: int, total: int, t0: float, now: float, done_cost: int, left_cost: int, runs: int,
    current: str,
) -> BenchProgress:
    elapsed = now - t0
    rate = runs / elapsed * 60 if runs and elapsed > 0 else 0.0
    eta = left_cost * elapsed / done_cost if done_cost else None
    return BenchProgress(done, total, elapsed, rate, eta, current)


# --------------------------------------------------------------------------------------------
# The loop


def run_bench(
    problems: Sequence[Any],
    spec: BenchSpec,
    out_dir: Path,
    *,
    solver: Solver,
    cancel: CancelToken | None = None,
    problem_info: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[BenchEvent]:
    """Run (or resume) a benchmark into ``out_dir``; yields progress, ends with BenchFinished.

    ``problems`` are :class:`~outthink.bench.problems.Problem` objects (id, problem, answer).
    Errors in one run (a RunFailed event) are recorded as failed lines and the loop goes on;
    a cancel stops after the current run's events end (nothing of that run is recorded).
    """
    cancel = cancel or CancelToken()
    spec = spec.validate()
    info = dict(problem_info or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = plan_runs(spec)
    config = bench_config(spec, problems, info, informative=solver.informative, plans=plans)
    old = read_config(out_dir)
    if old is not None:
        _check_resume(old, config["identity"], out_dir)
        config["created"] = old.get("created", config["updated"])
    else:
        config["created"] = config["updated"]
    _write_json(out_dir / CONFIG_FILE, config)
    results = ResultsLog(out_dir / RESULTS_FILE)

    units = [(p, plan) for p in problems for plan in plans]
    pending = [
        (p, plan) for p, plan in units if not all(results.done(k) for k in plan.keys(p.id))
    ]
    total = len(units)
    done = total - len(pending)
    left_cost = sum(plan.run_budget for _, plan in pending)
    yield BenchStarted(total, len(pending), len(problems), config)
    t0 = clock()
    done_cost = runs = recorded = failed = 0
    status = "finished"
    for problem, plan in pending:
        if cancel.cancelled:
            status = "cancelled"
            break
        current = f"{plan.label} · {problem.id}"
        yield _progress(done, total, t0, clock(), done_cost, left_cost, runs, current)
        cfg = plan.config(spec.search)
        events = list(solver(problem.problem, cfg, cancel))
        last = events[-1] if events else None
        if isinstance(last, RunFinished) and last.cancelled:
            status = "cancelled"
            break
        if isinstance(last, RunFinished):
            lines = records_from_run(
                events, problem, plan, cfg, informative=solver.informative
            )
        else:
            failure = last if isinstance(last, RunFailed) else RunFailed("The run ended early.")
            log.warning("Run %s failed: %s", current, failure.error)
            lines = failure_records(problem, plan, failure)
            failed += 1
        new = [r for r in lines if not results.done(record_key(r))]
        results.append(new)
        recorded += len(new)
        done += 1
        runs += 1
        done_cost += plan.run_budget
        left_cost -= plan.run_budget
        if new:
            yield BenchRecorded(tuple(new))
    if cancel.cancelled:
        status = "cancelled"
    yield _progress(done, total, t0, clock(), done_cost, left_cost, runs, "")
    yield BenchFinished(status, recorded, failed)


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "--:--"
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressLine:
    """One updating progress line (``\\r``) on a terminal; plain lines now and then otherwise."""

    def __init__(self, stream: Any, *, width: int = 28, log_every_s: float = 15.0) -> None:
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.log_every_s = log_every_s
        self._last_plain = -math.inf
        self._shown = False

    def render(self, p: BenchProgress) -> str:
        filled = round(self.width * p.fraction)
        bar = "█" * filled + "░" * (self.width - filled)
        rate = f"{p.rate_per_min:.1f} runs/min" if p.rate_per_min else "-- runs/min"
        now = f"  {p.current}" if p.current else ""
        return (
            f"[{bar}] {p.done}/{p.total} {p.fraction:4.0%}  {rate}  "
            f"ETA {format_duration(p.eta_s)}{now}"
        )

    def update(self, p: BenchProgress) -> None:
        text = self.render(p)
        if self.tty:
            try:
                columns = os.get_terminal_size(self.stream.fileno()).columns
            except (OSError, ValueError, AttributeError):
                columns = 120
            self.stream.write("\r" + text[: columns - 1].ljust(columns - 1))
            self._shown = True
        elif time.monotonic() - self._last_plain >= self.log_every_s or p.done == p.total:
            self.stream.write(text + "\n")
            self._last_plain = time.monotonic()
        self.stream.flush()

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

