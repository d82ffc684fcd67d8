"""The Benchmark tab's plot in the real window: title and legends fit beside the axes at the
common window sizes, and reported numbers appear only over their own benchmark."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from outthink.config import Settings
from outthink.gui import benchmark_tab
from tests.test_bench import FakeSolver, arithmetic, drive, spec
from tests.test_bench_plot import assert_laid_out

#: A problem set named after its file, as a user's own set is.
NAME = "math500-exported-from-the-team-drive-for-the-weekly-comparison"


def _results(folder: Path, benchmark: str | None, name: str = NAME) -> Path:
    problems = arithmetic(6)
    drive(problems, spec(("greedy", "best-of-n", "beam"), (1, 2, 4, 8), ("weighted", "majority")),
          folder, FakeSolver(problems),
          problem_info={"name": name, "benchmark": benchmark, "count": 500})
    return folder


@pytest.mark.parametrize("size", [(1024, 700), (1600, 1000)])
def test_title_and_legends_fit_the_plot_in_the_window(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    from outthink.gui.app_controller import AppController

    figures: list[Any] = []
    threads: list[threading.Thread] = []
    real = benchmark_tab.render_figure

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        figures.append(real(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(benchmark_tab, "render_figure", spy)
    out = _results(tmp_path / "math500", "MATH-500")
    ctl = AppController(Settings())
    qtbot.addWidget(ctl.window)
    ctl.window.resize(*size)
    ctl.window.show()
    qtbot.waitExposed(ctl.window)
    ctl.window.modes.setCurrentIndex(1)
    tab = ctl.window.benchmark
    assert tab.open_results(out) == 6 * 17
    tab.reference.setChecked(True)
    tab.plot._render()  # at the plot's final size (resizes re-render after a short delay)
    qtbot.waitUntil(lambda: not getattr(tab.plot, "rendering", False), timeout=20_000)
    data = tab.plot.data
    assert data is not None and data.reference, "MATH-500 results get the reported lines"
    fig = figures[-1]
    assert_laid_out(fig)
    # Rendered at the widget's own size: the image is neither cut off nor stretched.
    width, height = fig.canvas.get_width_height()
    ratio = tab.plot.devicePixelRatioF()
    assert (width, height) == (round(tab.plot.width() * ratio), round(tab.plot.height() * ratio))
    # matplotlib (0.05-0.3 s a figure) never runs on the GUI thread.
    assert threading.main_thread() not in threads
    ctl.shutdown()


def test_reference_lines_only_over_their_own_benchmark_in_the_tab(
    qtbot: Any, tmp_path: Path
) -> None:
    from outthink.gui.benchmark_tab import BenchmarkTab

    tab = BenchmarkTab(Settings())
    qtbot.addWidget(tab)
    tab.reference.setChecked(True)
    tab.open_results(_results(tmp_path / "arith", None, "arithmetic"))
    assert tab.plot.data is not None and tab.plot.data.reference == ()
    assert tab.reference_note.isVisibleTo(tab)
    assert "arithmetic is neither" in tab.reference_note.text()

    tab.open_results(_results(tmp_path / "math", "MATH-500", "math500"))
    assert [r.value for r in tab.plot.data.reference] == [74.6, 71.4, 65.2]
    assert not tab.reference_note.isVisibleTo(tab)
    tab.reference.setChecked(False)
    assert tab.plot.data.reference == () and not tab.reference_note.isVisibleTo(tab)
