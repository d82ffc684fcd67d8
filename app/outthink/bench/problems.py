"""Problem sets for benchmarks: files, shipped samples and Hub datasets; filters and subsets.

A problem set is a JSON-lines file, one problem per line: ``id``, ``problem``, ``answer`` and any
extra fields (``subject``, ``level``, ``solution``, ...), which are kept. Common spellings of the
three fields in published datasets are accepted too (``unique_id``/``ID``, ``Problem``/
``question``, ``Answer``), so MATH-500's file loads as it is. ``.json`` (a list of objects),
``.csv`` and, when ``pyarrow`` is installed, ``.parquet`` files load the same way.

What ``--problems`` accepts (:func:`resolve_source`):

- a path to a file;
- a shipped sample set: ``arithmetic`` (40 one- or two-step word problems), ``sample-math``
  (10 short competition-style problems with subject and level);
- a preset Hub dataset: ``math500`` (``HuggingFaceH4/MATH-500``, ``test.jsonl``) or ``aime24``
  (``HuggingFaceH4/aime_2024``, ``data/train-00000-of-00001.parquet``);
- any dataset file on the Hub as ``ORG/NAME:FILE`` or ``ORG/NAME:FILE@REVISION``.

Assumptions about the Hub (not checkable offline; override with ``ORG/NAME:FILE``):
MATH-500 ships ``test.jsonl`` with ``problem``, ``answer``, ``subject``, ``level`` and
``unique_id``. HuggingFaceH4/aime_2024 ships only a parquet file (``data/train-*.parquet``,
fields ``id``, ``problem``, ``answer``); reading it needs ``pyarrow``, which Outthink does not
install: without it the error says so and how to use a JSON-lines copy instead.

Dataset files are fetched once into the cache folder (:mod:`outthink.bench.datasets`) and used
from there afterwards, also offline.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outthink.bench.datasets import DatasetSpec
from outthink.errors import ConfigError
from outthink.ranges import option
from outthink.resources import resource_path

log = logging.getLogger(__name__)

__all__ = [
    "PRESETS",
    "DatasetSpec",
    "Preset",
    "Problem",
    "ProblemSet",
    "ProblemSource",
    "load_problem_set",
    "parse_levels",
    "read_problems",
    "resolve_source",
    "select_problems",
]

_ID_KEYS = ("id", "unique_id", "ID", "Id", "problem_id", "idx")
_PROBLEM_KEYS = ("problem", "Problem", "question", "Question")
_ANSWER_KEYS = ("answer", "Answer", "final_answer", "expected_answer")


@dataclass(frozen=True, slots=True)
class Problem:
    """One benchmark problem. ``extra`` holds every other field of the source record."""

    id: str
    problem: str
    answer: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str | None:
        value = self.extra.get("subject", self.extra.get("type"))
        return str(value) if value not in (None, "") else None

    @property
    def level(self) -> str | None:
        """The difficulty level as digits ("Level 3" and 3 both give "3"), or None."""
        value = self.extra.get("level")
        if value in (None, ""):
            return None
        digits = re.search(r"\d+", str(value))
        return digits.group(0) if digits else str(value).strip()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "problem": self.problem, "answer": self.answer, **self.extra}


@dataclass(frozen=True, slots=True)
class Preset:
    description: str
    asset: str | None = None  # file name under assets/problems
    dataset: DatasetSpec | None = None
    #: the column of the reported-numbers table this set corresponds to (report reference lines)
    benchmark: str | None = None


PRESETS: dict[str, Preset] = {
    "arithmetic": Preset("40 one- or two-step arithmetic word problems", asset="arithmetic.jsonl"),
    "sample-math": Preset(
        "10 short competition-style problems with subject and level", asset="sample_math.jsonl"
    ),
    "math500": Preset(
        "MATH-500 (500 competition problems, subjects and levels 1-5)",
        dataset=DatasetSpec("HuggingFaceH4/MATH-500", "test.jsonl"),
        benchmark="MATH-500",
    ),
    "aime24": Preset(
        "AIME 2024 (30 problems; parquet, needs pyarrow)",
        dataset=DatasetSpec("HuggingFaceH4/aime_2024", "data/train-00000-of-00001.parquet"),
        benchmark="AIME24",
    ),
}


@dataclass(frozen=True, slots=True)
class ProblemSource:
    """Where a problem set comes from: a local file or a dataset file on the Hub."""

    spec: str  # as the user wrote it
    name: str  # short display name
    path: Path | None = None
    dataset: DatasetSpec | None = None
    benchmark: str | None = None


@dataclass(frozen=True, slots=True)
class ProblemSet:
    source: ProblemSource
    path: Path  # the local file that was read (the cached copy for a dataset)
    sha256: str  # of that file: a resumed benchmark must read the same problems
    problems: tuple[Problem, ...]

    @property
    def name(self) -> str:
        return self.source.name

    def describe(self) -> dict[str, Any]:
        src = self.source
        return {
            "spec": src.spec,
            "name": src.name,
            "path": str(self.path),
            "dataset": None
            if src.dataset is None
            else {
                "repo": src.dataset.repo,
                "file": src.dataset.filename,
                "revision": src.dataset.revision,
            },
            "benchmark": src.benchmark,
            "sha256": self.sha256,
            "count": len(self.problems),
        }

    def choose(
        self,
        *,
        subject: str | None = None,
        level: str | None = None,
        limit: int | None = None,
        sample_seed: int | None = None,
    ) -> tuple[list[Problem], dict[str, Any]]:
        """The problems a benchmark runs (:func:`select_problems`) and the description of
        the set and filters that its results folder records (a resume must match it)."""
        problems = select_problems(
            self.problems, subject=subject, level=level, limit=limit, sample_seed=sample_seed
        )
        filters = {"subject": subject, "level": level, "limit": limit, "sample_seed": sample_seed}
        return problems, {**self.describe(), "filters": filters}


_DATASET_RE = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+):(?P<file>[^@]+?)(?:@(?P<rev>[\w./-]+))?$")


def resolve_source(spec: str) -> ProblemSource:
    """Turn what the user typed into a source; raises ConfigError with the accepted forms."""
    text = spec.strip()
    if not text:
        raise ConfigError("No problem set given.", hint=_FORMS_HINT)
    path = Path(text).expanduser()
    if path.is_file():
        return ProblemSource(text, path.stem, path=path, benchmark=_guess_benchmark(path.name))
    preset = PRESETS.get(text.lower())
    if preset is None:
        # "HuggingFaceH4/MATH-500" alone means the preset with that repo.
        preset = next(
            (p for p in PRESETS.values() if p.dataset and p.dataset.repo.lower() == text.lower()),
            None,
        )
    if preset is not None:
        name = next(k for k, v in PRESETS.items() if v is preset)
        if preset.asset:
            asset = resource_path("assets", "problems", preset.asset)
            return ProblemSource(text, name, path=asset, benchmark=preset.benchmark)
        return ProblemSource(text, name, dataset=preset.dataset, benchmark=preset.benchmark)
    m = _DATASET_RE.match(text)
    if m:
        ds = DatasetSpec(m.group("repo"), m.group("file"), m.group("rev") or "main")
        bench = next(
            (p.benchmark for p in PRESETS.values() if p.dataset and p.dataset.repo == ds.repo),
            None,
        )
        return ProblemSource(text, ds.repo.split("/")[1], dataset=ds, benchmark=bench)
    if path.suffix.lower() in _READERS or "/" in text or "\\" in text:
        raise ConfigError(f"Problem file {path} does not exist.", hint=_FORMS_HINT)
    raise ConfigError(f"Unknown problem set {text!r}.", hint=_FORMS_HINT)


_FORMS_HINT = (
    "Give a JSON-lines file (id, problem, answer per line), a shipped set ("
    + ", ".join(PRESETS)
    + "), or a Hub dataset file as ORG/NAME:FILE[@REVISION]."
)


def _guess_benchmark(filename: str) -> str | None:
    low = filename.lower()
    if "math-500" in low or "math500" in low:
        return "MATH-500"
    if "aime" in low and "24" in low:
        return "AIME24"
    return None


def load_problem_set(
    source: ProblemSource,
    *,
    fetch: Callable[[DatasetSpec], Path] | None = None,
) -> ProblemSet:
    """Read a source's problems; a dataset file is fetched first (``fetch``, by default
    :func:`outthink.bench.datasets.fetch_dataset_file`: cached, offline after the first time)."""
    if source.path is not None:
        path = source.path
    else:
        assert source.dataset is not None
        if fetch is None:
            from outthink.bench.datasets import fetch_dataset_file

            fetch = fetch_dataset_file
        path = fetch(source.dataset)
    problems = read_problems(path)
    return ProblemSet(source, path, _sha256(path), tuple(problems))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Reading files


def _read_jsonl(path: Path) -> Iterable[tuple[int, Any]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path.name}, line {number}: not valid JSON ({exc.msg}).",
                    hint="Each line must be one JSON object with id, problem and answer.",
                ) from None


def _read_json(path: Path) -> Iterable[tuple[int, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid JSON ({exc.msg}).") from None
    if isinstance(data, Mapping):
        data = data.get("rows") or data.get("data") or data.get("problems") or []
    if not isinstance(data, list):
        raise ConfigError(f"{path.name} holds no list of problems.")
    return enumerate(data, 1)


def _read_csv(path: Path) -> Iterable[tuple[int, Any]]:
    with path.open(encoding="utf-8", newline="") as fh:
        # Row numbers count the header as line 1, like a spreadsheet.
        return list(enumerate(csv.DictReader(fh), 2))


def _read_parquet(path: Path) -> Iterable[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            f"{path.name} is a parquet file, and reading parquet needs the pyarrow package, "
            "which Outthink does not install.",
            hint="Install it (`pip install pyarrow`), or convert the file to JSON lines (id, "
            "problem, answer per line) and pass that file with --problems.",
        ) from None
    rows = pq.read_table(path).to_pylist()
    return enumerate(rows, 1)


_READERS: dict[str, Callable[[Path], Iterable[tuple[int, Any]]]] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def _pick(record: Mapping[str, Any], keys: Sequence[str]) -> tuple[str | None, Any]:
    for key in keys:
        if key in record and record[key] not in (None, ""):
            return key, record[key]
    return None, None


def read_problems(path: Path) -> list[Problem]:
    """Every problem in a file, in file order. Ids must be unique (results are keyed by them)."""
    reader = _READERS.get(path.suffix.lower(), _read_jsonl)
    if not path.is_file():
        raise ConfigError(f"Problem file {path} does not exist.", hint=_FORMS_HINT)
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, record in reader(path):
        if not isinstance(record, Mapping):
            raise ConfigError(f"{path.name}, record {number}: not a JSON object.")
        id_key, pid = _pick(record, _ID_KEYS)
        problem_key, text = _pick(record, _PROBLEM_KEYS)
        answer_key, answer = _pick(record, _ANSWER_KEYS)
        if text is None or answer is None:
            missing = "problem" if text is None else "answer"
            raise ConfigError(
                f"{path.name}, record {number}: no {missing!r} field.",
                hint="Each problem needs id, problem and answer fields.",
            )
        # No id: the record number, so a file without ids still resumes correctly as long as
        # its order does not change (the file's hash is checked on resume).
        pid = str(pid).strip() if pid is not None else str(number)
        if pid in seen:
            raise ConfigError(
                f"{path.name}: the id {pid!r} appears twice (records {seen[pid]} and {number}).",
                hint="Give every problem its own id: results are stored by id.",
            )
        seen[pid] = number
        used = {id_key, problem_key, answer_key}
        extra = {k: v for k, v in record.items() if k not in used}
        problems.append(Problem(pid, str(text).strip(), str(answer).strip(), extra))
    if not problems:
        raise ConfigError(f"{path.name} holds no problems.", hint=_FORMS_HINT)
    return problems


# --------------------------------------------------------------------------------------------
# Filters


def parse_levels(text: str) -> set[str]:
    """ "3", "3,4" or "2-4" -> the set of level strings."""
    levels: set[str] = set()
    for part in text.split(","):
        part = part.strip().lower().removeprefix("level").strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            levels.update(str(v) for v in range(min(lo, hi), max(lo, hi) + 1))
        elif part.isdigit():
            levels.add(str(int(part)))
        else:
            raise ConfigError(f"Bad level {part!r}.", hint="Use e.g. --level 3, 3,4 or 2-4.")
    return levels


def select_problems(
    problems: Sequence[Problem],
    *,
    subject: str | None = None,
    level: str | None = None,
    limit: int | None = None,
    sample_seed: int | None = None,
) -> list[Problem]:
    """Filter by subject(s) and level(s), then keep ``limit`` problems.

    Without ``sample_seed`` the first ``limit`` problems are kept; with it, a random subset
    that depends only on the seed and the filtered list (the same seed always picks the same
    problems), kept in file order.
    """
    chosen = list(problems)
    if subject:
        wanted = {s.strip().lower() for s in subject.split(",") if s.strip()}
        chosen = [p for p in chosen if (p.subject or "").lower() in wanted]
        if not chosen:
            subjects = sorted({p.subject for p in problems if p.subject})
            raise ConfigError(
                f"No problem has the subject {subject!r}.",
                hint=f"Subjects in this set: {', '.join(subjects) or 'none'}.",
            )
    if level:
        levels = parse_levels(level)
        chosen = [p for p in chosen if p.level in levels]
        if not chosen:
            present = sorted({p.level for p in problems if p.level}, key=_level_key)
            raise ConfigError(
                f"No problem has level {level}.",
                hint=f"Levels in this set: {', '.join(present) or 'none'}.",
            )
    if limit is not None:
        option("limit").check(limit)
    if sample_seed is not None:
        option("sample_seed").check(sample_seed)
    if sample_seed is not None:
        k = min(limit or len(chosen), len(chosen))
        picked = sorted(random.Random(sample_seed).sample(range(len(chosen)), k))
        chosen = [chosen[i] for i in picked]
    elif limit is not None:
        chosen = chosen[:limit]
    return chosen


def _level_key(level: str) -> tuple[int, str]:
    return (int(level), "") if level.isdigit() else (10**9, level)
