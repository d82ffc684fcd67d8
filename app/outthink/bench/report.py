"""Benchmark reports: ``summary.csv`` and ``accuracy_vs_compute.png``.

One summary row per (strategy, selection, budget): accuracy with a 95% Wilson interval, the
oracle pass@k (at least one final candidate correct: an upper bound no selection rule can
beat, never an achieved accuracy), mean tokens and mean seconds per problem.

The plot shows measured accuracy against the budget on a log-2 axis, one line per strategy and
selection rule, with the Wilson interval as a band; greedy (no search) is a dashed horizontal
baseline; best-of-n's pass@k is a dotted line labelled as an oracle. Optional horizontal lines
show large models' scores *reported* in Liu et al. 2025 (arXiv 2502.06703): grey, dotted,
labelled "reported (Liu et al. 2025)" and listed in a legend of their own, so they are never
mistaken for (or mixed with) measured values. They are drawn only over the benchmark they were
measured on (MATH-500 or AIME24, all subjects and levels), never over another problem set.

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
    "MEASURED_LEGEND_GID",
    "REPORTED",
    "REPORTED_LABEL",
    "REPORTED_LEGEND_GID",
    "SUBTITLE_GID",
    "SUMMARY_CSV",
    "TITLE_GID",
    "PlotData",
    "ReferenceLine",
    "Report",
    "Reported",
    "Series",
    "SummaryRow",
    "plot_data",
    "reference_benchmark",
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
    """A published score (percent) from the reported-numbers table in docs/search.md."""

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
    #: why reference lines that were asked for are not drawn ("" when drawn or not asked for)
    reference_skipped: str = ""


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


def reference_benchmark(
    reference: str | None, problems: Mapping[str, Any] | None
) -> tuple[str | None, str]:
    """The benchmark whose reported numbers may be drawn over a problem set, or None and why
    not (a sentence for the user) when reference lines were asked for but do not apply.

    Reported numbers are scores on a whole published benchmark. Drawn over another problem set,
    or over a subject or level slice of the benchmark, they invite a comparison that means
    nothing, so they are drawn only where the problem set *is* that benchmark. ``reference``:
    None, "auto" (the set's own benchmark) or a benchmark name; ``problems``: the results
    folder's description of its problem set (``config.json``'s ``problems``: ``benchmark``,
    ``name``, ``filters``).
    """
    if reference in (None, "", "none"):
        return None, ""
    info = problems or {}
    own = info.get("benchmark")
    name = info.get("name") or "this problem set"
    wanted = own if reference == "auto" else resolve_reference(reference, None)
    sets = " and ".join(BENCHMARKS)
    if own not in BENCHMARKS:
        return None, (
            f"Reference lines are not drawn: the reported numbers are scores on {sets}, and "
            f"{name} is neither. Benchmark the math500 or aime24 set to compare with them."
        )
    if wanted != own:
        return None, f"Reference lines for {wanted} are not drawn: these problems are {own}."
    filters = info.get("filters") or {}
    narrowed = [f"{key} {filters[key]}" for key in ("subject", "level") if filters.get(key)]
    if narrowed:
        return None, (
            f"Reference lines are not drawn: the reported {own} numbers cover all of its "
            f"subjects and levels, and this benchmark keeps only {' and '.join(narrowed)}."
        )
    return own, ""


def plot_data(
    rows: Sequence[SummaryRow],
    *,
    title: str = "Accuracy vs compute",
    subtitle: str = "",
    reference: str | None = None,
    problems: Mapping[str, Any] | None = None,
    problem_benchmark: str | None = None,
) -> PlotData:
    """What :func:`render_figure` draws: measured series, greedy baseline, pass@k oracle, and
    reported reference lines for ``reference`` (None, "auto", "MATH-500" or "AIME24"), drawn
    only over that benchmark's own problems (:func:`reference_benchmark`; ``problems`` describes
    the problem set, or ``problem_benchmark`` names its benchmark)."""
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
    if problems is None and problem_benchmark is not None:
        problems = {"benchmark": problem_benchmark}
    benchmark, skipped = reference_benchmark(reference, problems)
    refs = reference_lines(benchmark)
    note = ""
    if refs:
        note = f"Reported, not measured here ({CITATION}), on all of {benchmark}"
        count, selected = (problems or {}).get("count"), (problems or {}).get("selected")
        if isinstance(count, int) and isinstance(selected, int) and selected < count:
            note += f"; this benchmark runs {selected} of its {count} problems"
    budgets = tuple(sorted({b for s in series for b in s.budgets}))
    return PlotData(title, subtitle, tuple(series), refs, note, budgets, skipped)


# --------------------------------------------------------------------------------------------
# Drawing

_LINESTYLES = {"weighted": "-", "majority": "--", "vanilla": "-."}
_MARKERS = {"weighted": "o", "majority": "s", "vanilla": "D"}
#: Sizes in points: margins, gaps between blocks, fonts.
_PAD_PT, _GAP_PT = 6.0, 5.0
_TITLE_PT, _SUBTITLE_PT = 11.0, 9.0
#: Figure elements the layout keeps apart (their matplotlib gid).
TITLE_GID, SUBTITLE_GID = "title", "subtitle"
MEASURED_LEGEND_GID, REPORTED_LEGEND_GID = "legend-measured", "legend-reported"


def render_figure(
    data: PlotData,
    *,
    width_in: float = 11.0,
    height_in: float = 5.8,
    dpi: int = 110,
    legends: str = "auto",
) -> Any:
    """A matplotlib Figure (Agg canvas attached) of ``data``, laid out by measuring its parts:
    the title and subtitle wrap to the figure's width; the legends (measured lines, then the
    reported lines under a title of their own) stand ``right`` of the axes or ``below`` them in
    as many columns as the width allows ("auto": whichever leaves the axes the better room);
    the axes, with their tick and axis labels, take the rest. Nothing overlaps, and nothing
    leaves the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
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
    notes = []
    for ref in data.reference:
        # The legend's title cites the source; each entry still says "reported".
        short = ref.label.replace(f" — {REPORTED_LABEL}", " (reported)")
        h = ax.axhline(ref.value, color="0.45", linestyle=(0, (1, 2)), linewidth=1.1, label=short)
        ref_handles.append(h)
        notes.append(
            ax.annotate(
                f"{ref.label.split(',')[0]} (reported)",
                (x_left, ref.value),
                xytext=(4, 2),
                textcoords="offset points",
                fontsize=7,
                color="0.35",
                fontstyle="italic",
                # Lines of close values pass behind a label, not through it.
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                      "alpha": 0.6},
                clip_on=True,
            )
        )
        notes[-1].set_clip_path(ax.patch)

    ax.set_xscale("log", base=2)
    ax.set_xlim(x_left, x_right)
    ax.xaxis.set_major_locator(FixedLocator(list(budgets)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(b) for b in budgets])
    # A little room past 0 and 100 % so that markers there are drawn whole.
    ax.set_ylim(-1.5, 101.5)
    ax.yaxis.set_major_locator(FixedLocator([0, 20, 40, 60, 80, 100]))
    ax.set_xlabel("budget N: solutions or beams per problem (log\u2082 scale)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, which="major", alpha=0.3)
    measured_title = "measured on this machine" + (" (95% bands)" if bands and measured else "")
    groups = []
    if measured_handles:
        groups.append(_Group(measured_handles, measured_title, 8.0, MEASURED_LEGEND_GID))
    if ref_handles:
        groups.append(_Group(ref_handles, data.reference_note, 7.0, REPORTED_LEGEND_GID))
    _Layout(fig, ax).apply(data.title, data.subtitle, groups, notes, legends)
    return fig


@dataclass(slots=True)
class _Group:
    """One legend: its lines (labels from the lines), title, font size and gid."""

    handles: list[Any]
    title: str
    fontsize: float
    gid: str


class _Layout:
    """Places title, legends and axes of a figure by measuring them with its renderer (pixel
    units throughout; y grows upwards, as in matplotlib's display coordinates)."""

    def __init__(self, fig: Any, ax: Any) -> None:
        self.fig, self.ax = fig, ax
        self.renderer = fig.canvas.get_renderer()
        self.width, self.height = fig.bbox.width, fig.bbox.height
        self.pt = fig.dpi / 72.0
        self.pad, self.gap = _PAD_PT * self.pt, _GAP_PT * self.pt
        self._widths: dict[tuple[str, float], float] = {}

    def apply(
        self, title: str, subtitle: str, groups: list[_Group], notes: list[Any], legends: str
    ) -> None:
        titles = [
            (self.wrap(text.replace("$", r"\$"), self.width - 2 * self.pad, size), size, gid)
            for text, size, gid in (
                (title, _TITLE_PT, TITLE_GID), (subtitle, _SUBTITLE_PT, SUBTITLE_GID)
            )
            if text
        ]
        heights = []
        for text, size, _gid in titles:
            t = self.fig.text(0, 0, text, fontsize=size)
            heights.append(t.get_window_extent(self.renderer).height)
            t.remove()
        # Legends too long for the figure make it taller (a window scales the image down)
        # rather than squeeze the axes to nothing or run over them.
        least = max(0.4 * self.height, 150 * self.pt)
        for attempt in range(2):
            top = self.height - self.pad - sum(h + self.gap / 2 for h in heights) - self.gap / 2
            plans = []
            for side in ("right", "below") if legends == "auto" else (legends,):
                plan = self.plan(side, groups, top)
                if plan is not None:
                    plans.append(plan)
            if not plans:  # "right" forced where it does not fit
                below = self.plan("below", groups, top)
                assert below is not None  # below always has a place (the figure may grow)
                plans.append(below)
            region, placed = max(plans, key=lambda p: self.score(p[0]))
            short = least - (region[3] - region[1])
            if short <= 1 or attempt:
                break
            dpi = self.fig.dpi
            self.fig.set_size_inches(self.width / dpi, (self.height + short) / dpi)
            self.renderer = self.fig.canvas.get_renderer()
            self.height = self.fig.bbox.height
        y = self.height - self.pad
        for (text, size, gid), h in zip(titles, heights, strict=True):
            self.fig.text(
                0.5, y / self.height, text, ha="center", va="top", fontsize=size, gid=gid
            )
            y -= h + self.gap / 2
        for group, labels, ncols, width, loc, anchor in placed:
            self.legend(group, labels, ncols, width, loc, anchor)
        self.fit_axes(region)
        self.spread(notes)
        self.fit_axes(region)

    # -------------------------------------------------------------- measuring

    def text_width(self, text: str, size: float) -> float:
        """The width of ``text``'s widest line, in pixels (measured once per text and size:
        the layout asks about the same words many times)."""
        key = (text, size)
        width = self._widths.get(key)
        if width is None:
            from matplotlib.font_manager import FontProperties

            font = FontProperties(size=size)
            width = max(
                (
                    self.renderer.get_text_width_height_descent(line, font, False)[0]
                    for line in text.split("\n")
                ),
                default=0.0,
            )
            self._widths[key] = width
        return width

    def wrap(self, text: str, max_px: float, size: float) -> str:
        """``text`` broken at spaces (inside a word too long for a line, anywhere) so that
        no line is wider than ``max_px`` (a line's width taken as its words' and spaces')."""
        space = self.text_width("a a", size) - 2 * self.text_width("a", size)
        out: list[str] = []
        for paragraph in text.split("\n"):
            line, used = "", 0.0
            for word in paragraph.split(" "):
                width = self.text_width(word, size)
                if line and used + space + width <= max_px:
                    line, used = f"{line} {word}", used + space + width
                    continue
                if line:
                    out.append(line)
                while width > max_px and len(word) > 1:
                    lo, hi = 1, len(word) - 1  # the longest prefix that fits (at least 1)
                    while lo < hi:
                        mid = (lo + hi + 1) // 2
                        if self.text_width(word[:mid], size) <= max_px:
                            lo = mid
                        else:
                            hi = mid - 1
                    out.append(word[:lo])
                    word = word[lo:]
                    width = self.text_width(word, size)
                line, used = word, width
            out.append(line)
        return "\n".join(out)

    def legend(
        self,
        group: _Group,
        labels: list[str],
        ncols: int,
        width: float,
        loc: str = "lower left",
        anchor: tuple[float, float] = (0.0, 0.0),
    ) -> Any:
        """The legend of ``group``, its title wrapped to ``width`` pixels."""
        leg = self.fig.legend(
            handles=group.handles,
            labels=labels,
            loc=loc,
            bbox_to_anchor=(anchor[0] / self.width, anchor[1] / self.height),
            ncols=ncols,
            fontsize=group.fontsize,
            title=self.wrap(group.title, width, group.fontsize) if group.title else None,
            title_fontsize=group.fontsize,
            frameon=False,
            borderaxespad=0.0,
            borderpad=0.0,
            columnspacing=1.5,
        )
        leg.set_gid(group.gid)
        return leg

    def measure(
        self, group: _Group, labels: list[str], ncols: int, width: float
    ) -> tuple[float, float]:
        leg = self.legend(group, labels, ncols, width)
        box = leg.get_window_extent(self.renderer)
        leg.remove()
        return box.width, box.height

    def fit_group(self, group: _Group, max_px: float, most_cols: int) -> tuple[list[str], int]:
        """Labels and a number of columns for a legend no wider than ``max_px``: the lowest
        legend, labels wrapped only where a column is too narrow for them, and no column so
        narrow that its labels break every few words."""
        labels = [str(h.get_label()) for h in group.handles]
        em = group.fontsize * self.pt
        handle_px, spacing = 3.5 * em, 1.5 * em  # a line sample with its gap; between columns
        natural = max((self.text_width(label, group.fontsize) for label in labels), default=0)
        best: tuple[float, list[str], int] | None = None
        tried: set[int] = set()
        for wanted in range(min(most_cols, len(labels)), 0, -1):
            # The fewest columns that need no more rows: no lone entry on a last row.
            ncols = math.ceil(len(labels) / math.ceil(len(labels) / wanted))
            if ncols in tried:
                continue
            tried.add(ncols)
            room = (max_px - ncols * handle_px - (ncols - 1) * spacing) / ncols
            if ncols > 1 and room < min(natural, 12 * em):
                continue
            trial = labels if natural <= room else self.wrap_all(labels, room, group.fontsize)
            for _ in range(8):
                width, height = self.measure(group, trial, ncols, max_px)
                if width <= max_px:
                    # Lower is better, but a wrapped label costs about a row of its own.
                    key = height + 1.7 * em * sum(t.count("\n") for t in trial)
                    if best is None or key < best[0]:
                        best = (key, trial, ncols)
                    break
                room *= 0.9
                trial = self.wrap_all(labels, room, group.fontsize)
        if best is None:  # nothing fits: one column, wrapped as narrow as it goes
            return self.wrap_all(labels, max_px - handle_px, group.fontsize), 1
        return best[1], best[2]

    def wrap_all(self, labels: list[str], max_px: float, size: float) -> list[str]:
        return [self.wrap(label, max(max_px, size * self.pt), size) for label in labels]

    # -------------------------------------------------------------- plans

    def plan(
        self, side: str, groups: list[_Group], top: float
    ) -> tuple[tuple[float, float, float, float], list[Any]] | None:
        """The axes' region (x0, y0, x1, y1) and where each legend goes, or None when the
        legends do not fit on that side."""
        pad, gap = self.pad, self.gap
        placed: list[Any] = []
        if side == "right":
            column = min(0.42 * self.width, self.width - 2 * pad - 0.45 * self.width)
            if column < 80 * self.pt:
                return None
            fitted = [(g, *self.fit_group(g, column, 3)) for g in groups]
            sizes = [self.measure(g, labels, ncols, column) for g, labels, ncols in fitted]
            used = max((w for w, _ in sizes), default=0.0)
            needed = sum(h for _, h in sizes) + 2 * gap * max(0, len(sizes) - 1)
            if needed > top - pad:
                return None
            x = self.width - pad - used
            y = top
            for (g, labels, ncols), (_, h) in zip(fitted, sizes, strict=True):
                placed.append((g, labels, ncols, column, "upper left", (x, y)))
                y -= h + 2 * gap
            right = x - 2 * gap if groups else self.width - pad
            return (pad, pad, right, top), placed
        width = self.width - 2 * pad
        y = pad
        for g in reversed(groups):
            labels, ncols = self.fit_group(g, width, len(g.handles))
            _, h = self.measure(g, labels, ncols, width)
            placed.insert(0, (g, labels, ncols, width, "lower center", (self.width / 2, y)))
            y += h + 2 * gap
        return (pad, y, self.width - pad, top), placed

    def score(self, region: tuple[float, float, float, float]) -> float:
        """How good a region is for the axes: its area, less for shapes outside 6:5 to 9:5."""
        w, h = region[2] - region[0], region[3] - region[1]
        if w <= 0 or h <= 0:
            return -1.0
        aspect = w / h
        return w * h * min(1.0, 1.8 / aspect) * min(1.0, aspect / 1.2)

    # -------------------------------------------------------------- the axes

    def fit_axes(self, region: tuple[float, float, float, float]) -> None:
        """Put the axes, with their ticks and axis labels, inside ``region`` (what is drawn in
        the axes is clipped to them)."""
        x0, y0, x1, y1 = region
        w, h = self.width, self.height
        label = self.ax.xaxis.label
        label.set_text(self.wrap(label.get_text().replace("\n", " "), x1 - x0, label.get_size()))
        self.ax.set_position([x0 / w, y0 / h, max(1.0, x1 - x0) / w, max(1.0, y1 - y0) / h])
        for _ in range(3):
            box = self.ax.get_window_extent(self.renderer)
            tight = self.ax.get_tightbbox(self.renderer, bbox_extra_artists=[])
            left = x0 + (box.x0 - tight.x0)
            bottom = y0 + (box.y0 - tight.y0)
            right = x1 - (tight.x1 - box.x1)
            top = y1 - (tight.y1 - box.y1)
            self.ax.set_position(
                [left / w, bottom / h, max(1.0, right - left) / w, max(1.0, top - bottom) / h]
            )

    def spread(self, notes: list[Any]) -> None:
        """Move the reported lines' labels apart where close values made them overlap."""
        above = None
        for note in sorted(notes, key=lambda n: n.xy[1]):
            box = note.get_window_extent(self.renderer)
            if above is not None and box.y0 < above.y1 + 1:
                dx, dy = note.xyann
                note.xyann = (dx, dy + (above.y1 + 1 - box.y0) / self.pt)
                box = note.get_window_extent(self.renderer)
            above = box


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
    """A benchmark name as the reported numbers spell it (a typo raises ConfigError);
    ``auto``: the problem set's own benchmark, None when it has none."""
    if reference in (None, "", "none"):
        return None
    if reference == "auto":
        bench = ((config or {}).get("problems") or {}).get("benchmark")
        return bench if bench in BENCHMARKS else None
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
        reference=reference,
        problems=problems,
    )
    csv_path = write_summary_csv(rows, out_dir / SUMMARY_CSV)
    png_path = save_plot(data, out_dir / ACCURACY_PLOT)
    log.info("Wrote %s and %s", csv_path, png_path)
    return Report(tuple(rows), data, csv_path, png_path)
