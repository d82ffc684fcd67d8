"""Benchmark mode: problem sets, the resumable runner, reports, recommendations, datasets.

Fast tests drive the real strategies through :func:`outthink.search.runner.run_search` with the
scripted :class:`tests.fakes.FakeGenerator` (:class:`FakeSolver`); the ``starter`` test runs
``outthink bench`` on the real starter model.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from outthink.bench import recommend as rec
from outthink.bench.problems import (
    PRESETS,
    DatasetSpec,
    Problem,
    load_problem_set,
    parse_levels,
    read_problems,
    resolve_source,
    select_problems,
)
from outthink.bench.report import (
    ACCURACY_PLOT,
    CSV_COLUMNS,
    SUMMARY_CSV,
    plot_data,
    summarize_results,
    wilson_interval,
    write_report,
)
from outthink.bench.runner import (
    CONFIG_FILE,
    RESULTS_FILE,
    BenchFinished,
    BenchProgress,
    BenchRecorded,
    BenchSpec,
    ProgressLine,
    ResultsLog,
    plan_runs,
    read_results,
    run_bench,
)
from outthink.errors import ConfigError, DownloadError
from outthink.events import Event, RunFailed
from outthink.generation import CancelToken, StopReason
from outthink.prompts import Prompt
from outthink.search.config import SearchConfig
from outthink.search.runner import run_search
from outthink.verifiers.base import StatelessSession, StepRecord
from tests.fakes import FakeGenerator
from tests.hub_server import FakeHub, _Handler

REPO = Path(__file__).resolve().parent.parent
PROMPT = Prompt("Problem: x\nSolution:", "completion", has_bos=False, end_markers=("Problem:",))


# --------------------------------------------------------------------------------------------
# A fake solver: real strategies, scripted generator, a verifier that mostly likes right answers


def _h(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16)


class HashVerifier:
    """Scores a step from its text (so a sample scores the same in every run), higher when it
    states the reference answer; counts one "token" per character, like the fake generator."""

    name = "hash"
    informative = True

    def __init__(self, references: Mapping[str, str]) -> None:
        self.references = references

    def open(self, problem: str) -> StatelessSession:
        ref = self.references.get(problem, "")

        class Session(StatelessSession):
            decoded = 0

            def score_step(self, candidate: int, step: StepRecord) -> float:
                self.decoded += len(step.text)
                good = f"is {ref}." in step.text
                return min(1.0, (0.55 if good else 0.3) + (_h(step.text) % 40) / 100)

            @property
            def tokens_decoded(self) -> int:
                return self.decoded

        return Session(problem)

    def close(self) -> None:
        return None


@dataclass
class FakeSolver:
    """Each problem has a skill level; sample ``seed`` answers right when a hash of (problem,
    seed) falls under it, otherwise one of three wrong answers (so votes can cluster)."""

    problems: list[Problem]
    delay: float = 0.0  # seconds per generated step (for kill and Stop tests)
    informative: bool = True
    calls: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refs = {p.problem: p.answer for p in self.problems}
        self.ids = {p.problem: p.id for p in self.problems}

    def script(self, problem: str) -> Any:
        ref = int(self.refs[problem])
        skill = _h("skill", problem) % 100
        delay = self.delay

        def script(seed: int, index: int, text: str) -> tuple[str, StopReason]:
            if delay:
                time.sleep(delay)
            if index < 1 + seed % 2:  # solutions of different lengths: token shares differ
                return f"Step {index + 1}: {seed} + {index} = {seed + index}.\n\n", "delimiter"
            h = _h(problem, seed)
            answer = ref if h % 100 < skill else ref + 1 + (h // 100) % 3
            return f"The answer is {answer}.", "eog"

        return script

    def __call__(self, problem: str, cfg: SearchConfig, cancel: CancelToken) -> Iterator[Event]:
        self.calls.append((self.ids[problem], cfg.strategy, cfg.n))
        gen = FakeGenerator(self.script(problem), cancel=cancel)
        return run_search(
            problem,
            PROMPT,
            cfg,
            make_generator=lambda _cfg: gen,
            verifier=HashVerifier(self.refs),
            cancel=cancel,
        )


def arithmetic(k: int | None = None) -> list[Problem]:
    problems = read_problems(REPO / "assets" / "problems" / "arithmetic.jsonl")
    return problems[:k] if k else problems


def spec(
    strategies: tuple[str, ...] = ("greedy", "best-of-n"),
    budgets: tuple[int, ...] = (1, 2, 4),
    selections: tuple[str, ...] = ("weighted",),
    **search: Any,
) -> BenchSpec:
    return BenchSpec(
        strategies, budgets, selections, SearchConfig(max_tokens=200, **search), "fake", "hash"
    )


def drive(problems: list[Problem], bench: BenchSpec, out: Path, solver: Any, **kw: Any) -> list:
    return list(run_bench(problems, bench, out, solver=solver, **kw))


def by_key(records: list[Mapping[str, Any]], drop: tuple[str, ...] = ("seconds",)) -> dict:
    """Records keyed by (problem, strategy, budget, selection), without wall-clock fields."""
    return {
        (r["problem_id"], r["strategy"], r["budget"], r["selection"]): {
            k: v for k, v in r.items() if k not in drop
        }
        for r in records
    }


# --------------------------------------------------------------------------------------------
# Problem sets


def test_shipped_sets_load_with_unique_ids_and_integer_answers() -> None:
    arith = arithmetic()
    assert len(arith) == 40 and len({p.id for p in arith}) == 40
    assert all(p.answer.lstrip("-").isdigit() for p in arith)
    math = read_problems(REPO / "assets" / "problems" / "sample_math.jsonl")
    assert len(math) == 10
    assert all(p.subject and p.level for p in math)


def test_field_spellings_of_published_datasets_are_understood(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"unique_id": "test/algebra/1.json", "problem": "2+2?", "answer": "4",
         "subject": "Algebra", "level": 2, "solution": "..."},
        {"ID": "2024-I-1", "Problem": "AIME?", "Answer": 204},
        {"question": "No id here", "answer": "7"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n", encoding="utf-8")
    first, second, third = read_problems(path)
    assert (first.id, first.subject, first.level) == ("test/algebra/1.json", "Algebra", "2")
    assert first.extra["solution"] == "..."  # extra fields are kept
    assert (second.id, second.problem, second.answer) == ("2024-I-1", "AIME?", "204")
    assert third.id == "3"  # the record number when a file has no ids


def test_bad_problem_files_say_what_is_wrong(tmp_path: Path) -> None:
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "problem": "p", "answer": "1"}\n' * 2, encoding="utf-8")
    with pytest.raises(ConfigError, match="appears twice"):
        read_problems(dup)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"id": "a", "problem": "p"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'answer' field"):
        read_problems(missing)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "problem": "p", "answer": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        read_problems(broken)


def test_filters_by_subject_level_and_count() -> None:
    math = read_problems(REPO / "assets" / "problems" / "sample_math.jsonl")
    algebra = select_problems(math, subject="algebra")
    assert algebra and all(p.subject == "Algebra" for p in algebra)
    two_subjects = select_problems(math, subject="Algebra, Geometry")
    assert {p.subject for p in two_subjects} == {"Algebra", "Geometry"}
    assert all(p.level in {"2", "3"} for p in select_problems(math, level="2-3"))
    assert parse_levels("Level 5, 1-2") == {"1", "2", "5"}
    assert [p.id for p in select_problems(math, limit=3)] == [p.id for p in math[:3]]
    with pytest.raises(ConfigError, match=r"Subjects in this set: .*Geometry"):
        select_problems(math, subject="Topology")
    with pytest.raises(ConfigError, match="Levels in this set"):
        select_problems(math, level="9")


def test_random_subset_is_fixed_by_its_seed_and_kept_in_file_order() -> None:
    arith = arithmetic()
    a = select_problems(arith, limit=10, sample_seed=7)
    b = select_problems(arith, limit=10, sample_seed=7)
    c = select_problems(arith, limit=10, sample_seed=8)
    assert [p.id for p in a] == [p.id for p in b]
    assert [p.id for p in a] != [p.id for p in c]
    order = {p.id: i for i, p in enumerate(arith)}
    assert [order[p.id] for p in a] == sorted(order[p.id] for p in a)
    assert len(a) == 10 and [p.id for p in a] != [p.id for p in arith[:10]]


def test_sources_resolve_paths_presets_and_dataset_files(tmp_path: Path) -> None:
    assert resolve_source("arithmetic").path == REPO / "assets" / "problems" / "arithmetic.jsonl"
    math500 = resolve_source("math500")
    assert math500.dataset == DatasetSpec("HuggingFaceH4/MATH-500", "test.jsonl")
    assert math500.benchmark == "MATH-500"
    assert resolve_source("HuggingFaceH4/MATH-500").dataset == math500.dataset
    custom = resolve_source("someone/aime-copy:data/aime.jsonl@v1")
    assert custom.dataset == DatasetSpec("someone/aime-copy", "data/aime.jsonl", "v1")
    local = tmp_path / "mine.jsonl"
    local.write_text('{"id": "a", "problem": "p", "answer": "1"}\n', encoding="utf-8")
    assert resolve_source(str(local)).path == local
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_source(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ConfigError, match="Unknown problem set"):
        resolve_source("not-a-set")
    assert {"arithmetic", "sample-math", "math500", "aime24"} <= set(PRESETS)


# --------------------------------------------------------------------------------------------
# Datasets through the (fake) Hub


@dataclass
class DatasetHub(FakeHub):
    """The test Hub answering the dataset routes ``/datasets/{repo}/resolve/...`` and
    ``/api/datasets/{repo}`` (the file list) instead of the model ones."""

    raw_paths: list[tuple[str, str]] = field(default_factory=list)

    def start(self) -> DatasetHub:
        hub = self

        class Handler(_Handler):
            server_hub = hub

            def _handle(self, method: str) -> None:
                path = urlsplit(self.path).path
                hub.raw_paths.append((method, path))
                if path.startswith("/datasets/"):
                    self.path = self.path[len("/datasets"):]
                    super()._handle(method)
                elif path.startswith("/api/datasets/"):
                    self.path = "/api/models/" + self.path[len("/api/datasets/"):]
                    super()._handle(method)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        import threading

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self


MATH500_ROWS = [
    {"problem": "What is $1+1$?", "solution": "It is 2.", "answer": "2", "subject": "Prealgebra",
     "level": 1, "unique_id": "test/prealgebra/1.json"},
    {"problem": "Solve $2x=6$.", "solution": "x=3", "answer": "3", "subject": "Algebra",
     "level": 2, "unique_id": "test/algebra/2.json"},
    {"problem": "What is $\\frac{1}{2}+\\frac{1}{4}$?", "solution": "...", "answer": "\\frac34",
     "subject": "Prealgebra", "level": 3, "unique_id": "test/prealgebra/3.json"},
]


def test_dataset_download_then_offline_use_without_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = "".join(json.dumps(r) + "\n" for r in MATH500_ROWS).encode()
    with DatasetHub() as hub:
        hub.add_file("HuggingFaceH4/MATH-500", "test.jsonl", body)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        source = resolve_source("math500")
        first = load_problem_set(source)
        assert [p.id for p in first.problems] == [r["unique_id"] for r in MATH500_ROWS]
        assert first.problems[2].answer == "\\frac34" and first.problems[1].level == "2"
        assert any(
            m == "GET" and p == "/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl"
            for m, p in hub.raw_paths
        ), hub.raw_paths
        assert first.path.read_bytes() == body

        # Cached: used again without a single request, even without offline mode ...
        hub.raw_paths.clear()
        again = load_problem_set(source)
        assert again.path == first.path and hub.raw_paths == []
        # ... and in offline mode.
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        offline = load_problem_set(resolve_source("math500"))
        assert [p.id for p in offline.problems] == [p.id for p in first.problems]
        assert hub.raw_paths == []

        # A file that was never fetched: a clear error, still no request.
        with pytest.raises(DownloadError, match="Offline mode is on"):
            load_problem_set(resolve_source("someone/other:test.jsonl"))
        assert hub.raw_paths == []


def test_dataset_file_missing_on_the_hub_says_which_file(monkeypatch: pytest.MonkeyPatch) -> None:
    with DatasetHub() as hub:
        hub.add_file("HuggingFaceH4/MATH-500", "test.jsonl", b"{}\n")
        hub.add_file("HuggingFaceH4/MATH-500", "README.md", b"# MATH-500\n", lfs=False)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(DownloadError, match=r"train\.jsonl is not in the dataset") as err:
            load_problem_set(resolve_source("HuggingFaceH4/MATH-500:train.jsonl"))
        # The hint is the one model downloads give (outthink.hub.map_error): the files the
        # repo does have, listed through the dataset API, and where to fix the name.
        assert ("GET", "/api/datasets/HuggingFaceH4/MATH-500/revision/main") in hub.raw_paths
        assert err.value.hint == (
            "The repo has: README.md, test.jsonl. Fix `file` in --problems "
            "ORG/NAME:FILE@REVISION."
        )
        with pytest.raises(DownloadError, match="The dataset someone/nothing was not found") as err:
            load_problem_set(resolve_source("someone/nothing:test.jsonl"))
        assert "HTTP 404" in err.value.message and "private repos" in err.value.hint


def test_gated_dataset_gets_the_token_hints_of_model_downloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from outthink.config import Settings, settings_path

    token = "hf_DatasetSecret_987654"
    repo = "someone/gated-set"
    with DatasetHub() as hub:
        hub.add_file(repo, "test.jsonl", b'{"problem": "1+1?", "answer": "2"}\n')
        hub.gated[repo] = token
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        source = resolve_source(f"{repo}:test.jsonl")
        page = f"{hub.url}/datasets/{repo}"

        with pytest.raises(DownloadError) as err:
            load_problem_set(source)
        assert err.value.message == (
            f"The dataset {repo} is a gated repo (HTTP 401): downloading it needs a Hugging "
            "Face token and the dataset's accepted terms."
        )
        assert err.value.hint == (
            f"Open {page}, accept its terms, create a read token at {hub.url}/settings/tokens, "
            f'then set it as the HF_TOKEN environment variable or as `hf_token = "..."` in '
            f"{settings_path()}."
        )

        monkeypatch.setenv("HF_TOKEN", "hf_wrong_" + token)
        with pytest.raises(DownloadError, match="HTTP 403") as err:
            load_problem_set(source)
        assert err.value.hint.startswith(f"A token was sent but refused. Check at {page} ")
        assert token not in str(err.value)

        monkeypatch.delenv("HF_TOKEN")
        from outthink.bench.datasets import fetch_dataset_file

        assert source.dataset is not None
        path = fetch_dataset_file(source.dataset, settings=Settings(hf_token=token))
        assert path.read_bytes() == hub.repos[repo]["test.jsonl"].data


# --------------------------------------------------------------------------------------------
# The runner


def test_plans_subsample_best_of_n_only() -> None:
    plans = plan_runs(
        spec(("greedy", "best-of-n", "beam", "dvts", "adaptive"), (1, 4, 8),
             ("weighted", "majority")).validate()
    )
    by = {}
    for p in plans:
        by.setdefault(p.strategy, []).append(p)
    assert [(p.run_budget, p.budgets, p.subsampled) for p in by["best-of-n"]] == [
        (8, (1, 4, 8), True)
    ]
    assert [p.run_budget for p in by["dvts"]] == [1, 4, 8]  # per budget, not subsampled
    assert [p.run_budget for p in by["beam"]] == [1, 4, 8]
    assert not any(p.subsampled for p in by["dvts"] + by["beam"])
    assert len(by["adaptive"]) == 6  # per budget and per selection rule
    assert [(p.run_budget, p.selections) for p in by["greedy"]] == [(1, ("-",))]


def test_results_config_and_fields(tmp_path: Path) -> None:
    problems = arithmetic(4)
    solver = FakeSolver(problems)
    events = drive(problems, spec(), tmp_path, solver, problem_info={"sha256": "abc"})
    assert isinstance(events[-1], BenchFinished) and events[-1].status == "finished"
    assert any(isinstance(e, BenchProgress) for e in events)
    records = read_results(tmp_path)
    assert len(records) == 4 * (1 + 3)  # greedy + best-of-n at 1, 2, 4
    need = {"problem_id", "strategy", "budget", "selection", "answer", "correct",
            "policy_tokens", "verifier_tokens", "seconds"}
    assert all(need <= set(r) for r in records)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert config["strategies"] == ["greedy", "best-of-n"] and config["budgets"] == [1, 2, 4]
    assert "first b samples" in config["how_budgets_are_computed"]["best-of-n"]
    assert config["search"]["max_tokens"] == 200 and config["identity"]["problems_sha256"] == "abc"
    # Grading uses the built-in equivalence: the recorded flag is is_correct's verdict.
    from outthink.answers import is_correct

    ref = {p.id: p.answer for p in problems}
    assert all(r["correct"] == is_correct(r["answer"], ref[r["problem_id"]]) for r in records)
    # One search per problem and plan: best-of-n ran once, at N = 4.
    assert sorted(solver.calls) == sorted(
        [(p.id, "greedy", 1) for p in problems] + [(p.id, "best-of-n", 4) for p in problems]
    )


@pytest.mark.parametrize("rules", [("weighted", "majority", "vanilla")])
def test_subsampling_equals_running_the_smaller_budget(tmp_path: Path, rules: tuple) -> None:
    problems = arithmetic(8)
    big = tmp_path / "big"
    drive(problems, spec(("best-of-n",), (1, 2, 4, 8), rules), big, FakeSolver(problems))
    subsampled = by_key(read_results(big), drop=("seconds", "subsampled_from"))
    assert {r["subsampled_from"] for r in read_results(big) if r["budget"] < 8} == {8}
    for b in (1, 2, 4):
        alone = tmp_path / f"alone-{b}"
        solver = FakeSolver(problems)
        drive(problems, spec(("best-of-n",), (b,), rules), alone, solver)
        assert {n for _, _, n in solver.calls} == {b}  # really ran at N = b
        direct = by_key(read_results(alone), drop=("seconds", "subsampled_from"))
        for key, record in direct.items():
            # Same answer, same grade, same candidates; tokens too (the fake's token counts
            # are exact, so the token share of the first b samples is the b-run's count).
            assert subsampled[key] == record, key
    accuracies = {r.budget: r.accuracy for r in summarize_results(read_results(big))
                  if r.selection == "weighted"}
    assert len(set(accuracies.values())) > 1  # the budgets differ: the test can tell them apart


def test_reselection_agrees_with_each_strategys_own_pick(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    problems = arithmetic(5)
    caplog.set_level("WARNING", logger="outthink.bench.runner")
    drive(problems, spec(("greedy", "best-of-n", "beam", "dvts", "adaptive"), (2, 4),
                         ("weighted", "majority", "vanilla")), tmp_path, FakeSolver(problems))
    assert not [r for r in caplog.records if "disagrees" in r.getMessage()]
    records = read_results(tmp_path)
    assert {r["strategy"] for r in records} == {"greedy", "best-of-n", "beam", "dvts", "adaptive"}


class Crash(RuntimeError):
    pass


def test_resume_after_a_crash_repeats_no_finished_work(tmp_path: Path) -> None:
    problems = arithmetic(6)
    bench = spec(("greedy", "best-of-n", "beam"), (1, 2, 4), ("weighted", "majority"))
    whole = tmp_path / "whole"
    drive(problems, bench, whole, FakeSolver(problems))

    crashing = tmp_path / "crash"
    solver = FakeSolver(problems)
    crash_after = 7

    def flaky(problem: str, cfg: SearchConfig, cancel: CancelToken) -> Iterator[Event]:
        if len(solver.calls) >= crash_after:
            raise Crash("power cut")
        return solver(problem, cfg, cancel)

    flaky.informative = True  # type: ignore[attr-defined]
    with pytest.raises(Crash):
        drive(problems, bench, crashing, flaky)
    lines_before = len((crashing / RESULTS_FILE).read_text().splitlines())
    assert 0 < lines_before < len(read_results(whole))

    again = FakeSolver(problems)
    drive(problems, bench, crashing, again)
    total_runs = len(problems) * len(plan_runs(bench.validate()))
    assert len(again.calls) == total_runs - crash_after  # nothing finished ran twice
    assert not set(again.calls) & set(solver.calls)
    lines = (crashing / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == len({tuple(json.loads(x)[k] for k in
                                    ("problem_id", "strategy", "budget", "selection"))
                              for x in lines})  # no duplicate lines
    assert by_key(read_results(crashing)) == by_key(read_results(whole))


_CHILD = """
import sys
from pathlib import Path
from outthink.bench.runner import run_bench
from tests.test_bench import FakeSolver, arithmetic, spec
problems = arithmetic(8)
bench = spec(("greedy", "best-of-n"), (1, 2, 4), ("weighted",))
for _ in run_bench(problems, bench, Path(sys.argv[1]), solver=FakeSolver(problems, delay=0.05)):
    pass
"""


def test_resume_after_the_process_is_killed(tmp_path: Path) -> None:
    problems = arithmetic(8)
    bench = spec(("greedy", "best-of-n"), (1, 2, 4), ("weighted",))
    whole = tmp_path / "whole"
    drive(problems, bench, whole, FakeSolver(problems))
    expected = by_key(read_results(whole))

    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(out)], cwd=REPO)
    results = out / RESULTS_FILE
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.exists() and len(results.read_text().splitlines()) >= 5:
                break
            if child.poll() is not None:
                pytest.fail(f"the child exited early with {child.returncode}")
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)  # no clean-up of any kind
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    done_before = read_results(out)
    assert 5 <= len(done_before) < len(expected)

    solver = FakeSolver(problems)
    events = drive(problems, bench, out, solver)
    assert events[-1].status == "finished"
    finished_before = {(r["problem_id"], r["strategy"]) for r in done_before}
    assert not {(pid, strategy) for pid, strategy, _ in solver.calls} & finished_before
    assert by_key(read_results(out)) == expected


def test_a_torn_last_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    problems = arithmetic(3)
    bench = spec(("greedy",), (1,))
    drive(problems, bench, tmp_path, FakeSolver(problems))
    path = tmp_path / RESULTS_FILE
    lines = path.read_text().splitlines(keepends=True)
    # The last run's line was cut in the middle of its write.
    path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], encoding="utf-8")
    assert len(read_results(tmp_path)) == 2  # readers skip the torn line
    solver = FakeSolver(problems)
    drive(problems, bench, tmp_path, solver)
    assert solver.calls == [(problems[-1].id, "greedy", 1)]  # only the torn run again
    text = path.read_text()
    assert text.endswith("\n") and all(json.loads(x) for x in text.splitlines())
    assert len(text.splitlines()) == 3


def test_stop_keeps_finished_runs_and_resume_completes(tmp_path: Path) -> None:
    problems = arithmetic(4)
    bench = spec(("greedy", "best-of-n"), (1, 2))
    cancel = CancelToken()
    solver = FakeSolver(problems)
    events = []
    for ev in run_bench(problems, bench, tmp_path, solver=solver, cancel=cancel):
        events.append(ev)
        if isinstance(ev, BenchRecorded) and len(solver.calls) == 3:
            cancel.cancel()
    assert events[-1] == BenchFinished("cancelled", 1 + 2 + 1, 0)
    assert len(solver.calls) == 3
    again = FakeSolver(problems)
    assert drive(problems, bench, tmp_path, again)[-1].status == "finished"
    assert len(again.calls) == 2 * 4 - 3
    assert len(read_results(tmp_path)) == 4 * 3


def test_cancel_during_a_run_records_nothing_of_it(tmp_path: Path) -> None:
    problems = arithmetic(2)
    cancel = CancelToken()
    inner = FakeSolver(problems)

    def stopping(problem: str, cfg: SearchConfig, c: CancelToken) -> Iterator[Event]:
        if len(inner.calls) == 1:
            c.cancel()  # Stop pressed while the second run is going
        return inner(problem, cfg, c)

    stopping.informative = True  # type: ignore[attr-defined]
    events = drive(problems, spec(("greedy",), (1,)), tmp_path, stopping, cancel=cancel)
    assert events[-1].status == "cancelled"
    assert [r["problem_id"] for r in read_results(tmp_path)] == [problems[0].id]


def test_failed_runs_count_as_wrong_and_are_retried(tmp_path: Path) -> None:
    problems = arithmetic(3)
    inner = FakeSolver(problems)
    bad = problems[1].problem

    def failing(problem: str, cfg: SearchConfig, cancel: CancelToken) -> Iterator[Event]:
        if problem == bad:
            return iter([RunFailed("The context is too small.", "Lower N.", {"seconds": 0.1})])
        return inner(problem, cfg, cancel)

    failing.informative = True  # type: ignore[attr-defined]
    bench = spec(("greedy",), (1,))
    assert drive(problems, bench, tmp_path, failing)[-1].failed_runs == 1
    failed = [r for r in read_results(tmp_path) if r["status"] == "failed"]
    assert len(failed) == 1 and not failed[0]["correct"]
    assert "context is too small" in failed[0]["error"]
    assert summarize_results(read_results(tmp_path))[0].failed == 1

    retry = FakeSolver(problems)
    drive(problems, bench, tmp_path, retry)
    assert retry.calls == [(problems[1].id, "greedy", 1)]
    assert all(r["status"] == "ok" for r in read_results(tmp_path))


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    problems = arithmetic(2)
    drive(problems, spec(("greedy",), (1,)), tmp_path, FakeSolver(problems))
    with pytest.raises(ConfigError, match="max_tokens 200 -> 100"):
        drive(problems, BenchSpec(("greedy",), (1,), ("weighted",), SearchConfig(max_tokens=100),
                                  "fake", "hash"), tmp_path, FakeSolver(problems))
    # More budgets, strategies and problems are fine: only the missing lines are produced.
    more = FakeSolver(arithmetic(3))
    drive(arithmetic(3), spec(("greedy", "best-of-n"), (1, 2)), tmp_path, more)
    assert (problems[0].id, "greedy", 1) not in more.calls
    assert len(read_results(tmp_path)) == 3 * 3


def test_progress_line_shows_rate_and_eta(tmp_path: Path) -> None:
    import io

    clock = iter(range(0, 1000, 10))
    problems = arithmetic(3)
    progress = [
        e for e in run_bench(problems, spec(("greedy",), (1,)), tmp_path,
                             solver=FakeSolver(problems), clock=lambda: float(next(clock)))
        if isinstance(e, BenchProgress)
    ]
    # The clock advances 10 "seconds" per reading (start, then before each run): after two
    # runs 30 s have passed, 4 runs per minute, and the last run should take another 15 s.
    assert progress[2].done == 2 and progress[2].elapsed_s == 30.0
    assert progress[2].rate_per_min == pytest.approx(4.0)
    assert progress[2].eta_s == pytest.approx(15.0)
    stream = io.StringIO()
    ProgressLine(stream).update(progress[2])
    line = stream.getvalue()
    assert "2/3" in line and "4.0 runs/min" in line and "ETA 00:15" in line


# --------------------------------------------------------------------------------------------
# Reports


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_summary_csv_and_plot_hold_the_right_values(tmp_path: Path) -> None:
    problems = arithmetic(10)
    drive(problems, spec(("greedy", "best-of-n"), (1, 2, 4), ("weighted", "majority")), tmp_path,
          FakeSolver(problems), problem_info={"name": "arithmetic", "benchmark": None})
    report = write_report(tmp_path, reference="MATH-500")
    records = read_results(tmp_path)

    with (tmp_path / SUMMARY_CSV).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1 + 2 * 3  # greedy, and best-of-n x 2 rules x 3 budgets
    for row in rows:
        mine = [r for r in records if (r["strategy"], r["selection"], r["budget"]) ==
                (row["strategy"], row["selection"], int(row["budget"]))]
        assert int(row["problems"]) == len(mine) == 10
        k = sum(r["correct"] for r in mine)
        assert int(row["correct"]) == k and float(row["accuracy"]) == pytest.approx(k / 10)
        lo, hi = wilson_interval(k, 10)
        assert float(row["ci95_low"]) == pytest.approx(lo, abs=1e-4)
        assert float(row["ci95_high"]) == pytest.approx(hi, abs=1e-4)
        assert float(row["pass_at_k_oracle"]) == pytest.approx(
            sum(r["any_correct"] for r in mine) / 10)
        assert float(row["mean_policy_tokens"]) == pytest.approx(
            sum(r["policy_tokens"] for r in mine) / 10, abs=0.05)
        assert row["computed_from_budget"] == ("4" if row["strategy"] == "best-of-n"
                                               and row["budget"] != "4" else "")
    # pass@k is an upper bound of every selection rule's accuracy.
    assert all(float(r["pass_at_k_oracle"]) >= float(r["accuracy"]) for r in rows)

    png = tmp_path / ACCURACY_PLOT
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    plotted = {s.label: s for s in report.plot.series}
    assert set(plotted) == {"greedy (no search)", "best-of-n (weighted)", "best-of-n (majority)",
                            "best-of-n pass@k (oracle upper bound)"}
    for row in rows:
        label = ("greedy (no search)" if row["strategy"] == "greedy"
                 else f"best-of-n ({row['selection']})")
        s = plotted[label]
        assert s.accuracy[s.budgets.index(int(row["budget"]))] == pytest.approx(
            100 * float(row["accuracy"]), abs=0.01)
    assert plotted["best-of-n pass@k (oracle upper bound)"].kind == "oracle"
    # Reported MATH-500 lines are not drawn over arithmetic problems; the report says why.
    assert report.plot.reference == () and report.plot.reference_note == ""
    assert "arithmetic is neither" in report.plot.reference_skipped
    assert not any("reported" in s.label for s in report.plot.series)


def test_no_reference_lines_unless_asked() -> None:
    rows = summarize_results([
        {"problem_id": "a", "strategy": "best-of-n", "budget": 4, "selection": "weighted",
         "correct": True, "any_correct": True},
    ])
    assert plot_data(rows).reference == ()
    on_aime = plot_data(rows, reference="AIME24", problem_benchmark="AIME24")
    assert [r.value for r in on_aime.reference] == [9.3, 23.3, 16.7]
    assert "different" not in on_aime.reference_note


# --------------------------------------------------------------------------------------------
# Compute-optimal recommendation


def _line(pid: str, strategy: str, budget: int, correct: bool, tokens: int,
          selection: str = "weighted", **extra: Any) -> dict[str, Any]:
    return {"problem_id": pid, "strategy": strategy, "budget": budget, "selection": selection,
            "correct": correct, "policy_tokens": tokens, "verifier_tokens": 0, "status": "ok",
            **extra}


def _synthetic() -> list[dict[str, Any]]:
    lines = []
    # easy: e1, e2 (6 or 8 of 8 samples right); hard: h1, h2 (0 of 8 right)
    for pid, right in (("e1", 8), ("e2", 6), ("h1", 0), ("h2", 0), ("m1", 2)):
        lines.append(_line(pid, "greedy", 1, right >= 6, 50, "-"))
        for b, ok in ((1, right >= 6), (4, right >= 2), (8, right >= 2)):
            lines.append(_line(pid, "best-of-n", b, ok, 55 * b, candidates=b,
                               samples_correct=min(right, b) if b == 8 else 0))
        lines.append(_line(pid, "beam", 4, pid.startswith("h1"), 260))
    return lines


def test_recommendation_per_difficulty_bin() -> None:
    result = rec.recommend(_synthetic(), problems={"e1": "Easy one", "h1": "Hard one"})
    assert result["sizes"] == {"all": 5, "easy": 2, "medium": 1, "hard": 2}
    bins = result["bins"]
    # easy: greedy is already right, and cheapest
    assert (bins["easy"]["strategy"], bins["easy"]["budget"]) == ("greedy", 1)
    # medium: best-of-n N=4 reaches what N=8 does for half the tokens
    assert (bins["medium"]["strategy"], bins["medium"]["budget"]) == ("best-of-n", 4)
    # hard: only beam solved anything
    assert (bins["hard"]["strategy"], bins["hard"]["budget"]) == ("beam", 4)
    assert rec.difficulty_bin(0.5) == "easy" and rec.difficulty_bin(0.1) == "medium"
    assert rec.difficulty_bin(0.09) == "hard"
    ratio = rec.recommend(_synthetic(), objective="accuracy_per_token")["bins"]["all"]
    assert ratio["strategy"] == "greedy"  # the literal ratio favours the cheapest run


def test_auto_config_uses_the_saved_recommendation(tmp_path: Path) -> None:
    path = tmp_path / "recs.json"
    assert rec.auto_config("p", "v", "anything", path=path) is None
    result = rec.recommend(_synthetic(), problems={"h1": "Hard one", "e1": "Easy one"})
    rec.save_recommendation("p", "v", result, search=SearchConfig(max_tokens=99).to_dict(),
                            path=path)
    hard = rec.auto_config("p", "v", "  Hard   one ", path=path)
    assert hard is not None and (hard.strategy, hard.n, hard.max_tokens) == ("beam", 4, 99)
    easy = rec.auto_config("p", "v", "Easy one", path=path)
    assert easy is not None and easy.strategy == "greedy"
    unknown = rec.auto_config("p", "v", "A brand-new problem", path=path)
    best_all = result["bins"]["all"]
    assert unknown is not None and (unknown.strategy, unknown.n) == (
        best_all["strategy"], best_all["budget"])
    assert rec.auto_config("p", "other verifier", "Hard one", path=path) is None


def test_update_from_results_saves_under_policy_and_verifier(tmp_path: Path) -> None:
    problems = arithmetic(6)
    drive(problems, spec(("greedy", "best-of-n"), (1, 4)), tmp_path, FakeSolver(problems))
    saved = rec.update_from_results(tmp_path, problems={p.id: p.problem for p in problems})
    assert saved is not None
    data = json.loads(rec.recommendations_path().read_text())
    entry = data[rec.recommendation_key("fake", "hash")]
    assert entry["bins"]["all"]["strategy"] in {"greedy", "best-of-n"}
    assert entry["search"]["max_tokens"] == 200
    cfg = rec.auto_config("fake", "hash", problems[0].problem)
    assert cfg is not None and cfg.max_tokens == 200


# --------------------------------------------------------------------------------------------
# Command line


def test_cli_refuses_bad_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from outthink.cli import main

    assert main(["bench", "--problems", "nope-set", "--out", str(tmp_path)]) == 1
    assert "Unknown problem set" in capsys.readouterr().err
    assert main(["bench", "--problems", "arithmetic", "--strategies", "greedy,bogus",
                 "--out", str(tmp_path)]) == 1
    assert "Unknown strategy 'bogus'" in capsys.readouterr().err
    assert main(["bench", "--problems", "arithmetic", "--reference-lines", "GSM8K",
                 "--out", str(tmp_path)]) == 1
    assert "No reported numbers for 'GSM8K'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--problems", "arithmetic", "--budgets", "1,x", "--out", str(tmp_path)])


def test_cli_runs_the_real_engine_on_a_tiny_model(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from outthink.cli import main

    out = tmp_path / "tiny"
    argv = ["bench", "--policy", str(tiny_model), "--problems", "arithmetic", "--limit", "2",
            "--strategies", "greedy,best-of-n,beam", "--budgets", "1,2", "--verifier",
            "calculator", "--max-tokens", "8", "--reference-lines", "--out", str(out)]
    assert main(argv) == 0
    records = read_results(out)
    assert len(records) == 2 * (1 + 2 + 2)
    assert all(r["status"] == "ok" and r["policy_tokens"] > 0 for r in records)
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["policy"] == "tiny.gguf" and config["verifier"] == "calculator"
    assert "oracle upper bound" in capsys.readouterr().out
    assert (out / ACCURACY_PLOT).exists() and (out / SUMMARY_CSV).exists()


@pytest.fixture
def starter_env(starter_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OUTTHINK_MODELS_DIR", str(starter_path.parent))
    return starter_path


@pytest.mark.starter
def test_bench_on_the_starter_model(starter_env: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from outthink.cli import main

    out = tmp_path / "bench"
    argv = ["bench", "--problems", str(REPO / "assets" / "problems" / "arithmetic.jsonl"),
            "--limit", "3", "--strategies", "greedy,best-of-n", "--budgets", "1,2",
            "--verifier", "calculator", "--max-tokens", "96", "--threads", "1", "--out", str(out)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "pass@k" in stdout and "Recommendation for gemma-3-270m + calculator" in stdout
    records = read_results(out)
    assert len(records) == 3 * 3
    assert all(r["status"] == "ok" and r["policy_tokens"] > 0 for r in records)
    assert {(r["strategy"], r["budget"]) for r in records} == {
        ("greedy", 1), ("best-of-n", 1), ("best-of-n", 2)}
    with (out / SUMMARY_CSV).open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3
    assert (out / ACCURACY_PLOT).stat().st_size > 10_000
    # Everything is done: running it again changes nothing and loads no work.
    before = (out / RESULTS_FILE).read_bytes()
    assert main(argv) == 0
    assert (out / RESULTS_FILE).read_bytes() == before
    assert ResultsLog(out / RESULTS_FILE).records.keys() == {
        (r["problem_id"], r["strategy"], r["budget"], r["selection"]) for r in records}
    assert os.path.exists(rec.recommendations_path())


def test_the_benchmark_core_imports_neither_qt_nor_the_hub_library_up_front() -> None:
    code = (
        "import sys\n"
        "import outthink.bench.budgets, outthink.bench.problems, outthink.bench.recommend\n"
        "import outthink.bench.report, outthink.bench.runner, outthink.bench.datasets\n"
        "from outthink.bench.report import plot_data, render_figure\n"
        "render_figure(plot_data([])).canvas.draw()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'huggingface_hub', 'llama_cpp')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_benchmark_solver_uses_the_context_setting_and_the_stop_flag(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A benchmark sizes its context like `solve` (the context-size setting) and hands its stop
    flag to the verifier, which model-based verifiers check between decode calls."""
    import outthink.resolve as resolve
    import outthink.search.runner as search_runner
    from outthink.bench.runner import load_solver
    from outthink.config import Settings
    from outthink.generation import CancelToken

    built: list[dict[str, object]] = []
    real_build = resolve.build_verifier

    def build_verifier(*args: object, **kwargs: object) -> object:
        built.append(kwargs)
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    solved: list[dict[str, object]] = []

    def solve(*args: object, **kwargs: object) -> object:
        solved.append(kwargs)
        return iter(())

    monkeypatch.setattr(resolve, "build_verifier", build_verifier)
    monkeypatch.setattr(search_runner, "solve", solve)
    stop = CancelToken()
    solver = load_solver(
        policy=str(tiny_model), verifier="none", settings=Settings(context_size=3072),
        cancel=stop,
    )
    try:
        list(solver("What is 2 + 2?", SearchConfig(n=1), stop))
    finally:
        solver.close()
    assert built[0]["cancel"] is stop
    assert solved[0]["n_ctx"] == 3072
