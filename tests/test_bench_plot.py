"""The accuracy plot (``outthink bench``'s PNG and the Benchmark tab): title and legends never
overlap each other or the axes, nothing leaves the figure, at any size; reported numbers are
drawn only over the benchmark they were measured on."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from outthink.bench.report import (
    REPORTED_LABEL,
    SummaryRow,
    plot_data,
    render_figure,
    summarize_results,
    write_report,
)
from tests.test_bench import FakeSolver, arithmetic, drive, spec


def figure_boxes(fig: Any) -> dict[str, Any]:
    """The display boxes of what must not overlap: every title line, every legend, and the
    axes with their tick and axis labels."""
    from matplotlib.legend import Legend
    from matplotlib.transforms import Bbox

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = {
        "axes": Bbox.union([
            ax.bbox,
            ax.xaxis.get_tightbbox(renderer),
            ax.yaxis.get_tightbbox(renderer),
        ])
    }
    titles = [t for t in fig.texts if t.get_text()]
    if ax.title.get_text():
        titles.append(ax.title)
    for i, text in enumerate(titles):
        boxes[f"title {i}: {text.get_text()[:30]!r}"] = text.get_window_extent(renderer)
    legends = list(fig.legends) + [a for a in ax.get_children() if isinstance(a, Legend)]
    for i, legend in enumerate(legends):
        boxes[f"legend {i} ({legend.get_title().get_text()[:20]!r})"] = (
            legend.get_window_extent(renderer)
        )
    return boxes


def assert_laid_out(fig: Any) -> None:
    """Nothing overlaps and nothing is cut off by the figure's edges."""
    boxes = figure_boxes(fig)
    edge = fig.bbox
    for name, box in boxes.items():
        assert (
            box.x0 >= edge.x0 - 0.5 and box.y0 >= edge.y0 - 0.5
            and box.x1 <= edge.x1 + 0.5 and box.y1 <= edge.y1 + 0.5
        ), f"{name} {box.bounds} leaves the figure {edge.bounds}"
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        dx = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
        dy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
        assert dx <= 0.5 or dy <= 0.5, f"{a} {box_a.bounds} overlaps {b} {box_b.bounds}"


def many_rows() -> list[SummaryRow]:
    """Every strategy and selection rule at four budgets: the longest legend there is."""
    records = []
    for strategy, selection, budget, pid in itertools.product(
        ("best-of-n", "beam", "dvts", "adaptive"), ("weighted", "majority", "vanilla"),
        (1, 2, 4, 8), "abc",
    ):
        records.append({"problem_id": pid, "strategy": strategy, "selection": selection,
                        "budget": budget, "correct": (budget + ord(pid)) % 3 > 0,
                        "any_correct": True})
    records += [{"problem_id": p, "strategy": "greedy", "selection": "-", "budget": 1,
                 "correct": p == "a"} for p in "abc"]
    return summarize_results(records)


LONG_NAME = "my-own-problem-set-exported-from-the-team-drive-2025-final-version-3 · calculator"

SIZES = [  # width_in, height_in, dpi: the command line's PNG, GUI plots large and small
    (11.0, 5.8, 110),
    (411 / 96, 625 / 96, 96),
    (987 / 96, 925 / 96, 96),
    (400 / 96, 300 / 96, 96),
    (1400 / 192, 500 / 192, 192),
]


@pytest.mark.parametrize(("width_in", "height_in", "dpi"), SIZES)
def test_title_and_legends_fit_without_overlap_at_every_size(
    width_in: float, height_in: float, dpi: int
) -> None:
    data = plot_data(
        many_rows(),
        title="Accuracy vs compute with test-time search",
        subtitle=f"{LONG_NAME} verifier (3 problems so far)",
        reference="MATH-500",
        problem_benchmark="MATH-500",
    )
    assert data.reference
    fig = render_figure(data, width_in=width_in, height_in=height_in, dpi=dpi)
    assert_laid_out(fig)
    # Every line has its legend entry, and the reported lines are labelled as such.
    texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert len(texts) == len(data.series) + len(data.reference)
    assert sum("reported" in t for t in texts) == len(data.reference)


@pytest.mark.parametrize("legends", ["right", "below"])
def test_forced_legend_sides_stay_clear_too(legends: str) -> None:
    data = plot_data(many_rows(), subtitle=LONG_NAME, reference="MATH-500",
                     problem_benchmark="MATH-500")
    assert_laid_out(render_figure(data, width_in=8, height_in=5, dpi=100, legends=legends))


def test_the_command_lines_png_is_laid_out_the_same_way(tmp_path: Path) -> None:
    problems = arithmetic(6)
    drive(problems, spec(("greedy", "best-of-n", "beam"), (1, 2, 4), ("weighted", "majority")),
          tmp_path, FakeSolver(problems),
          problem_info={"name": "math500", "benchmark": "MATH-500", "count": 500})
    report = write_report(tmp_path, reference="auto")
    assert report.plot.reference and not report.plot.reference_skipped
    assert "on all of MATH-500" in report.plot.reference_note
    assert_laid_out(render_figure(report.plot))  # what save_plot writes


def _rows() -> list[SummaryRow]:
    return summarize_results([
        {"problem_id": "a", "strategy": "best-of-n", "budget": 4, "selection": "weighted",
         "correct": True, "any_correct": True},
    ])


def test_reported_lines_only_over_their_own_benchmark() -> None:
    from outthink.bench.report import reference_benchmark

    arith = {"name": "arithmetic", "benchmark": None}
    for asked in ("auto", "MATH-500", "AIME24"):
        data = plot_data(_rows(), reference=asked, problems=arith)
        assert data.reference == () and data.reference_note == ""
        assert "arithmetic is neither" in data.reference_skipped
        assert "math500 or aime24" in data.reference_skipped

    math500 = {"name": "math500", "benchmark": "MATH-500", "count": 500, "selected": 20}
    drawn = plot_data(_rows(), reference="auto", problems=math500)
    assert [r.value for r in drawn.reference] == [74.6, 71.4, 65.2]
    assert all(REPORTED_LABEL in r.label for r in drawn.reference)
    assert drawn.reference_skipped == ""
    assert "runs 20 of its 500 problems" in drawn.reference_note

    other = plot_data(_rows(), reference="AIME24", problems=math500)
    assert other.reference == () and "these problems are MATH-500" in other.reference_skipped

    # A subject or level slice is not the benchmark the numbers were reported on.
    sliced = {**math500, "filters": {"subject": None, "level": "1"}}
    data = plot_data(_rows(), reference="auto", problems=sliced)
    assert data.reference == () and "keeps only level 1" in data.reference_skipped

    assert reference_benchmark(None, math500) == (None, "")
    assert plot_data(_rows(), reference=None, problems=arith).reference_skipped == ""


def test_cli_says_why_reference_lines_are_not_drawn(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from outthink.cli import main

    out = tmp_path / "tiny"
    argv = ["bench", "--policy", str(tiny_model), "--problems", "arithmetic", "--limit", "1",
            "--strategies", "greedy", "--budgets", "1", "--verifier", "calculator",
            "--max-tokens", "4", "--reference-lines", "MATH-500", "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Reference lines are not drawn" in err and "arithmetic is neither" in err
