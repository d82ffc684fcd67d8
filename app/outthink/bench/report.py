"""Benchmark reports: ``summary.csv`` and ``accuracy_vs_compute.png``.

One summary row per (strategy, selection, budget): accuracy with a 95% Wilson interval, the
oracle pass@k (at least one final candidate correct: an upper bound no selection rule can
beat, never an achieved accuracy), mean tokens and mean seconds per problem.

The plot shows measured accuracy against the budget on a log-2 axis, one line per strategy and
selection rule, with the Wilson interval as a band; greedy (no search) is a dashed horizontal
baseline; best-of-n's pass@k is a dotted line labelled as an oracle. Optional horizontal lines
show large models' scores *reported* in Liu et al. 2025 (arXiv 2502.06703): grey, dotted,
labelled "reported (Liu et al. 2025)" and listed in a legend of their own, so they are never
mistaken for (or mixed with) measured values.

:func:`plot_data` decides what to draw (pure, testable); :func:`render_figure` draws it with
matplotlib's object API on the Agg canvas (no pyplot, so the GUI's Qt backend is untouched);
the GUI renders the same figure into a QImage.
"""

from __future__ import annotations

import csv
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outthink.bench.runner import NO_SELECTION, read_config, read_results

log = logging.getLogger(__name__)

__all__ = [
    "ACCURACY_PLOT",
    "CITATION",
    "CSV_COLUMNS",
    "REPORTED",
    "REPORTED_LABEL",
    "SUMMARY_CSV",
    "PlotData",
    "ReferenceLine",
    "Report",
    "Reported",
    "Series",
    "SummaryRow",
    "plot_data",
    "reference_lines",
    "render_figure",
    "resolve_reference",
    "save_plot",
    "summarize_results",
    "wilson_interval",
    "write_report",
    "write_summary_csv",
]

SUMMARY_CSV = "summary.csv"
ACCURACY_PLOT = "accuracy_vs_compute.png"
CITATION = "Liu et al. 2025, arXiv 2502.06703"
REPORTED_LABEL = "reported (Liu et al. 2025)"


@dataclass(frozen=True, slots=True)
class Reported:
    """A published score (percent) from the reported-numbers table in SEARCH.md."""

    model: str
    setting: str
    scores: Mapping[str, float]  # benchmark ("MATH-500", "AIME24") -> accuracy in percent
    large: bool  # a large model (the reference a small model is compared with)


_COT, _TTS = "chain of thought", "compute-optimal TTS"
REPORTED: tuple[Reported, ...] = (
    Reported("GPT-4o", _COT, {"MATH-500": 74.6, "AIME24": 9.3}, True),
    Reported("Llama-3.1-405B-Instruct", _COT, {"MATH-500": 71.4, "AIME24": 23.3}, True),
    Reported("Llama-3.1-70B-Instruct", _COT, {"MATH-500": 65.2, "AIME24": 16.7}, True),
    Reported("Llama-3.2-1B-Instruct", _TTS, {"MATH-500": 66.2, "AIME24": 16.7}, False),
    Reported("Llama-3.2-3B-Instruct", _TTS, {"MATH-500": 75.6, "AIME24": 30.0}, False),
    Reported("Qwen2.5-0.5B-Instruct", _TTS, {"MATH-500": 76.4, "AIME24": 10.0}, False),
    Reported("Qwen2.5-1.5B-Instruct", _TTS, {"MATH-500": 81.8, "AIME24": 20.0}, False),
)
BENCHMARKS = ("MATH-500", "AIME24")


# --------------------------------------------------------------------------------------------
# Summary


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion; (0, 1) when there is no data.

    Wilson rather than the normal approximation: with 20-40 problems and accuracies near 0 or
    1, the normal interval leaves [0, 1] or collapses to a point.
    """
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    strategy: str
    selection: str
    budget: int
    problems: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    pass_at_k: float  # oracle: share of problems with at least one correct final candidate
    mean_policy_tokens: float
    mean_verifier_tokens: float
    mean_seconds: float
    failed: int
    computed_from_budget: int | None  # the run's budget when subsampled from a larger run

    @property
    def label(self) -> str:
        if self.strategy == "greedy" or self.selection == NO_SELECTION:
            return self.strategy
        return f"{self.strategy} ({self.selection})"

    @property
    def mean_tokens(self) -> float:
        return self.mean_policy_tokens + self.mean_verifier_tokens


CSV_COLUMNS = (
    "strategy",
    "selection",
    "budget",
    "problems",
    "correct",
    "accuracy",
    "ci95_low",
    "ci95_high",
    "pass_at_k_oracle",
    "mean_policy_tokens",
    "mean_verifier_tokens",
    "mean_seconds",
    "failed",
    "computed_from_budget",
)


def summarize_results(records: Iterable[Mapping[str, Any]]) -> list[SummaryRow]:
    """One row per (strategy, selection, budget), in a stable order."""
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(str(r["strategy"]), str(r["selection"]), int(r["budget"]))].append(r)
    rows = []
    for (strategy, selection, budget), rs in groups.items():
        n = len(rs)
        k = sum(bool(r.get("correct")) for r in rs)
        lo, hi = wilson_interval(k, n)
        ok = [r for r in rs if r.get("status", "ok") == "ok"]
        froms = {int(r["subsampled_from"]) for r in ok if r.get("subsampled_from")}
        rows.append(
            SummaryRow(
                strategy=strategy,
                selection=selection,
                budget=budget,
                problems=n,
                correct=k,
                accuracy=k / n,
                ci_low=lo,
                ci_high=hi,
                pass_at_k=sum(bool(r.get("any_correct", r.get("correct"))) for r in rs) / n,
                mean_policy_tokens=_mean(r.get("policy_tokens", 0) for r in rs),
                mean_verifier_tokens=_mean(r.get("verifier_tokens", 0) for r in rs),
                mean_seconds=_mean(r.get("seconds", 0.0) for r in rs),
                failed=n - len(ok),
                computed_from_budget=max(froms) if froms else None,
            )
        )
    return sorted(rows, key=lambda r: (r.strategy != "greedy", r.strategy, r.selection, r.budget))


def _mean(values: Iterable[Any]) -> float:
    vals = [float(v or 0) for v in values]
    return math.fsum(vals) / len(vals) if vals else 0.0


def write_summary_csv(rows: Sequence[SummaryRow], path: Path) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(
                [
                    r.strategy,
                    r.selection,
                    r.budget,
                    r.problems,
                    r.correct,
                    f"{r.accuracy:.4f}",
                    f"{r.ci_low:.4f}",
                    f"{r.ci_high:.4f}",
                    f"{r.pass_at_k:.4f}",
                    f"{r.mean_policy_tokens:.1f}",
                    f"{r.mean_verifier_tokens:.1f}",
                    f"{r.mean_seconds:.3f}",
                    r.failed,
                    "" if r.computed_from_budget is None else r.computed_from_budget,
                ]
            )
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# What the plot shows


@dataclass(frozen=True, slots=True)
class Series:
    """One plotted line. ``kind``: measured | baseline (greedy) | oracle (pass@k)."""

    label: str
    strategy: str
    selection: str
    kind: str
    budgets: tuple[int, ...]
    accuracy: tuple[float, ...]  # percent
    ci_low: tuple[float, ...]  # percent
    ci_high: tuple[float, ...]  # percent


@dataclass(frozen=True, slots=True)
class ReferenceLine:
    label: str  # always contains REPORTED_LABEL
    value: float  # percent


@dataclass(frozen=True, slots=True)
class PlotData:
    title: str
    subtitle: str
    series: tuple[Series, ...]
    reference: tuple[ReferenceLine, ...]
    reference_note: str  # the reference legend's title ("" without reference lines)
    budgets: tuple[int, ...]


def _pct(x: float) -> float:
    return round(100.0 * x, 2)


def reference_lines(benchmark: str | None, *, large_only: bool = True) -> tuple[ReferenceLine, ...]:
    if benchmark not in BENCHMARKS:
        return ()
    return tuple(
        ReferenceLine(
            f"{r.model}, {r.setting}: {r.scores[benchmark]:.1f}% — {REPORTED_LABEL}",
            r.scores[benchmark],
        )
        for r in REPORTED
        if (r.large or not large_only) and benchmark in r.scores
    )


def plot_data(
    rows: Sequence[SummaryRow],
    *,
    title: str = "Accuracy vs compute",
    subtitle: str = "",
    reference: str | None = None,
    problem_benchmark: str | None = None,
) -> PlotData:
    """What :func:`render_figure` draws: measured series, greedy baseline, pass@k oracle, and
    reported reference lines for ``reference`` ("MATH-500" or "AIME24"; None: none)."""
    by_line: dict[tuple[str, str], list[SummaryRow]] = defaultdict(list)
    for r in rows:
        by_line[(r.strategy, r.selection)].append(r)
    series: list[Series] = []
    oracle_done: set[str] = set()
    for (strategy, selection), rs in by_line.items():
        rs = sorted(rs, key=lambda r: r.budget)
        kind = "baseline" if strategy == "greedy" else "measured"
        label = rs[0].label + (" (no search)" if kind == "baseline" else "")
        series.append(
            Series(
                label,
                strategy,
                selection,
                kind,
                tuple(r.budget for r in rs),
                tuple(_pct(r.accuracy) for r in rs),
                tuple(_pct(r.ci_low) for r in rs),
                tuple(_pct(r.ci_high) for r in rs),
            )
        )
        if strategy == "best-of-n" and strategy not in oracle_done:
            oracle_done.add(strategy)
            series.append(
                Series(
                    "best-of-n pass@k (oracle upper bound)",
                    strategy,
                    selection,
                    "oracle",
                    tuple(r.budget for r in rs),
                    tuple(_pct(r.pass_at_k) for r in rs),
                    tuple(_pct(r.pass_at_k) for r in rs),
                    tuple(_pct(r.pass_at_k) for r in rs),
                )
            )
    refs = reference_lines(reference)
    note = ""
    if refs:
        note = f"Reported, not measured here ({CITATION}), on {reference}"
        if problem_benchmark != reference:
            note += ": a different problem set"
    budgets = tuple(sorted({b for s in series for b in s.budgets}))
    return PlotData(title, subtitle, tuple(series), refs, note, budgets)


# --------------------------------------------------------------------------------------------
# Drawing

_LINESTYLES = {"weighted": "-", "majority": "--", "vanilla": "-."}
_MARKERS = {"weighted": "o", "majority": "s", "vanilla": "D"}


def render_figure(
    data: PlotData,
    *,
    width_in: float = 11.0,
    height_in: float = 5.8,
    dpi: int = 110,
    legends: str = "right",
) -> Any:
    """A matplotlib Figure (Agg canvas attached) of ``data``. Legends sit outside the axes,
    ``right`` of them (measured lines on top, reported lines below under their own title) or
    ``below`` them (for narrow figures)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    palette = [f"C{i}" for i in range(10)]
    strategies = list(dict.fromkeys(s.strategy for s in data.series))
    color_of = {name: palette[i % len(palette)] for i, name in enumerate(strategies)}
    budgets = data.budgets or (1,)
    lo_x, hi_x = min(budgets), max(budgets)
    x_left, x_right = (lo_x / 1.3, hi_x * 1.3) if hi_x > lo_x else (lo_x / 2, lo_x * 2)
    measured = [s for s in data.series if s.kind == "measured"]
    # Interval bands stay readable for a few lines of different colours only (lines of one
    # strategy share a colour); otherwise the CSV has the intervals.
    bands = len(measured) <= 3 and len({s.strategy for s in measured}) == len(measured)

    measured_handles = []
    for s in data.series:
        color = color_of[s.strategy]
        if s.kind == "baseline":
            y = s.accuracy[0]
            (h,) = ax.plot(
                [x_left, x_right], [y, y], color=color, linestyle="--", linewidth=1.4,
                label=f"{s.label}: {y:.1f}%",
            )
            ax.plot([s.budgets[0]], [y], marker="o", color=color)
        elif s.kind == "oracle":
            (h,) = ax.plot(
                s.budgets, s.accuracy, color=color, linestyle=":", linewidth=1.6, marker="^",
                markersize=5, alpha=0.85, label=s.label,
            )
        else:
            (h,) = ax.plot(
                s.budgets, s.accuracy, color=color, linestyle=_LINESTYLES.get(s.selection, "-"),
                linewidth=2.0, marker=_MARKERS.get(s.selection, "o"), label=s.label,
            )
            if bands and len(s.budgets) > 1:
                ax.fill_between(
                    s.budgets, s.ci_low, s.ci_high, color=color, alpha=0.12, linewidth=0
                )
            elif bands:
                ax.errorbar(
                    s.budgets, s.accuracy,
                    yerr=[[s.accuracy[0] - s.ci_low[0]], [s.ci_high[0] - s.accuracy[0]]],
                    color=color, capsize=3, linewidth=1,
                )
        measured_handles.append(h)

    ref_handles = []
    for ref in data.reference:
        h = ax.axhline(
            ref.value, color="0.45", linestyle=(0, (1, 2)), linewidth=1.1, label=ref.label
        )
        ref_handles.append(h)
        ax.annotate(
            f"{ref.label.split(',')[0]} (reported)",
            (x_left, ref.value),
            xytext=(4, 2),
            textcoords="offset points",
            fontsize=7,
            color="0.35",
            fontstyle="italic",
        )

    ax.set_xscale("log", base=2)
    ax.set_xlim(x_left, x_right)
    ax.xaxis.set_major_locator(FixedLocator(list(budgets)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(b) for b in budgets])
    ax.set_ylim(0, 100)
    ax.set_xlabel("budget N: solutions or beams per problem (log\u2082 scale)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, which="major", alpha=0.3)
    title = data.title + (f"\n{data.subtitle}" if data.subtitle else "")
    ax.set_title(title, fontsize=11)
    measured_title = "measured on this machine" + (" (95% bands)" if bands and measured else "")
    if legends == "below":
        # Figure-level legends stacked under the axes; constrained layout makes room.
        fig.legend(
            handles=measured_handles, loc="outside lower left", ncols=2, fontsize=7,
            title=measured_title, title_fontsize=7, frameon=False,
        )
        if ref_handles:
            fig.legend(
                handles=ref_handles, loc="outside lower right", fontsize=6,
                title=_wrap(data.reference_note, 60), title_fontsize=6, frameon=False,
            )
        return fig
    first = ax.legend(
        handles=measured_handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        title=measured_title,
        title_fontsize=8,
        frameon=False,
    )
    if ref_handles:
        ax.add_artist(first)
        ax.legend(
            handles=ref_handles,
            loc="lower left",
            bbox_to_anchor=(1.01, 0.0),
            fontsize=7,
            title=_wrap(data.reference_note, 48),
            title_fontsize=7,
            frameon=False,
        )
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def save_plot(data: PlotData, path: Path) -> Path:
    fig = render_figure(data)
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# The whole report


@dataclass(frozen=True, slots=True)
class Report:
    rows: tuple[SummaryRow, ...]
    plot: PlotData
    csv_path: Path
    png_path: Path


def resolve_reference(reference: str | None, config: Mapping[str, Any] | None) -> str | None:
    """``auto``: the problem set's own benchmark, else MATH-500 (flagged as another set)."""
    if reference in (None, "", "none"):
        return None
    if reference == "auto":
        bench = ((config or {}).get("problems") or {}).get("benchmark")
        return bench if bench in BENCHMARKS else "MATH-500"
    wanted = {b.lower().replace("-", ""): b for b in BENCHMARKS}
    key = reference.lower().replace("-", "").replace("aime2024", "aime24")
    if key not in wanted:
        from outthink.errors import ConfigError

        raise ConfigError(
            f"No reported numbers for {reference!r}.",
            hint=f"Choose one of: auto, {', '.join(BENCHMARKS)}, none.",
        )
    return wanted[key]


def write_report(out_dir: Path, *, reference: str | None = None) -> Report:
    """Read ``results.jsonl`` and write ``summary.csv`` and ``accuracy_vs_compute.png``."""
    out_dir = Path(out_dir)
    config = read_config(out_dir) or {}
    rows = summarize_results(read_results(out_dir))
    problems = config.get("problems") or {}
    name = problems.get("name") or "problems"
    n = max((r.problems for r in rows), default=0)
    verifier = config.get("verifier") or "?"
    subtitle = (
        f"{config.get('policy') or '?'} · {verifier} verifier · {name} ({n} problems) · "
        f"max {config.get('search', {}).get('max_tokens', '?')} tokens"
    )
    data = plot_data(
        rows,
        title="Accuracy vs compute with test-time search",
        subtitle=subtitle,
        reference=resolve_reference(reference, config),
        problem_benchmark=problems.get("benchmark"),
    )
    csv_path = write_summary_csv(rows, out_dir / SUMMARY_CSV)
    png_path = save_plot(data, out_dir / ACCURACY_PLOT)
    log.info("Wrote %s and %s", csv_path, png_path)
    return Report(tuple(rows), data, csv_path, png_path)
