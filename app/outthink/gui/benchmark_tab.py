"""The Benchmark tab: run a problem set through strategies and budgets, watch accuracy against
compute grow, stop and resume, open earlier results.

Three parts, as elsewhere in the GUI:

- :func:`bench_job` (no Qt) runs on the engine worker thread: it loads the problem set and the
  models and yields the core's benchmark events (:func:`outthink.bench.runner.run_bench`),
  then writes the report. Everything that fails is raised and reaches the GUI through the
  worker's one ``errored`` signal.
- :class:`BenchmarkController` (GUI thread) starts and stops that job, keeps the results seen
  so far and turns them into summary rows and plot data, re-plotting at most every
  :data:`REPLOT_MS` while a run goes on.
- :class:`BenchmarkTab` is the layout; :class:`AccuracyPlot` paints the report's matplotlib
  figure, rendered off-screen with the Agg canvas into a QImage at the widget's size.

Stop only sets the cancel flag: the run in progress ends within a step, finished runs are
already on disk, and Run with the same settings resumes.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import (
    QImage,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from outthink.bench.problems import PRESETS
from outthink.bench.report import PlotData, SummaryRow, plot_data, render_figure, summarize_results
from outthink.bench.runner import (
    BenchFinished,
    BenchProgress,
    BenchRecorded,
    BenchSpec,
    BenchStarted,
    Solver,
    format_duration,
    read_config,
    read_results,
)
from outthink.config import Settings, data_dir
from outthink.errors import OutthinkError, describe
from outthink.generation import CancelToken
from outthink.gui import theme
from outthink.gui.bench_problems import ProblemsDialog
from outthink.gui.controls import WheelGuard
from outthink.gui.options import TOOLTIPS
from outthink.gui.workers import FunctionWorker, GeneratorWorker, Status, engine_pool
from outthink.ranges import option
from outthink.search.config import SearchConfig
from outthink.search.selection import AGGREGATIONS, SELECTION_RULES
from outthink.search.strategies import strategy_names

log = logging.getLogger(__name__)

__all__ = [
    "REPLOT_MS",
    "AccuracyPlot",
    "BenchRequest",
    "BenchmarkController",
    "BenchmarkTab",
    "ReportDone",
    "bench_job",
]

#: Longest wait between a new result and the plot showing it while a benchmark runs (a
#: matplotlib render takes 0.1-0.3 s, so the plot is not redrawn for every line).
REPLOT_MS = 700


@dataclass(frozen=True, slots=True)
class BenchRequest:
    problems: str  # --problems: file, preset or ORG/NAME:FILE
    spec: BenchSpec  # policy/verifier ids are filled in by the job
    out_dir: Path
    settings: Settings
    policy: str | None = None  # catalog id or .gguf path; None: the starter model
    verifier: str = "self-certainty"
    verifier_model: str | None = None
    limit: int | None = None
    subject: str | None = None
    level: str | None = None
    sample_seed: int | None = None
    reference: str | None = None  # reference lines: None, "auto", "MATH-500", "AIME24"


@dataclass(frozen=True, slots=True)
class ReportDone:
    csv_path: Path
    png_path: Path
    rows: tuple[SummaryRow, ...]
    recommendation: dict[str, Any] | None = field(default=None)


#: Loads the solver for a request; the stop flag is handed to model-based verifiers.
SolverFactory = Callable[[BenchRequest, CancelToken], Solver]


class ModelLoader:
    """The default solver factory: loads the models a request names, with the request's
    settings (models folder, threads, GPU layers)."""

    def policy_label(self, req: BenchRequest) -> str:
        """How the policy is named in the results folder, found without loading it."""
        from outthink.resolve import resolve_policy

        return resolve_policy(req.policy, req.settings).label

    def __call__(self, req: BenchRequest, cancel: CancelToken) -> Solver:
        from outthink.bench.runner import load_solver

        return load_solver(
            policy=req.policy,
            verifier=req.verifier,
            verifier_model=req.verifier_model,
            settings=req.settings,
            cancel=cancel,
        )


load_model_solver = ModelLoader()


def bench_job(
    req: BenchRequest,
    cancel: CancelToken,
    *,
    make_solver: SolverFactory = load_model_solver,
) -> Iterator[object]:
    """Everything a benchmark does off the GUI thread. Raises on errors (the worker's
    ``errored`` signal carries them); ends with :class:`ReportDone`."""
    from outthink.bench.problems import load_problem_set, resolve_source
    from outthink.bench.recommend import update_from_results
    from outthink.bench.report import write_report
    from outthink.bench.runner import check_out_dir, run_bench, verifier_id
    from outthink.errors import ConfigError

    yield Status("Loading the problem set…")
    problem_set = load_problem_set(resolve_source(req.problems))
    problems, info = problem_set.choose(
        subject=req.subject, level=req.level, limit=req.limit, sample_seed=req.sample_seed
    )
    # A folder holding another benchmark's results is refused before the models load (which
    # takes a while), as the command line does: the policy is named without loading it.
    label = getattr(make_solver, "policy_label", None)
    spec = replace(
        req.spec,
        policy=label(req) if label is not None else (req.policy or "starter"),
        verifier=verifier_id(req.verifier, req.verifier_model),
    )
    try:
        check_out_dir(req.out_dir, spec, info)
    except ConfigError as exc:  # its hint names the command line's --out
        raise ConfigError(
            exc.message,
            hint="Choose another results folder, or repeat that benchmark's settings to resume.",
        ) from None
    yield Status("Loading the models…")
    solver = make_solver(req, cancel)
    try:
        yield Status("Running…")
        finished: BenchFinished | None = None
        for ev in run_bench(problems, spec, req.out_dir, solver=solver, cancel=cancel,
                            problem_info=info):
            if isinstance(ev, BenchFinished):
                finished = ev
            yield ev
    finally:
        close = getattr(solver, "close", None)
        if close is not None:
            close()
    yield Status("Writing the report…")
    report = write_report(req.out_dir, reference=req.reference)
    recommendation = None
    if finished is not None and finished.status == "finished":
        recommendation = update_from_results(
            req.out_dir, problems={p.id: p.problem for p in problems}
        )
    yield ReportDone(report.csv_path, report.png_path, report.rows, recommendation)


# --------------------------------------------------------------------------------------------
# Controller


class BenchmarkController(QObject):
    """Starts and stops benchmarks; owns the results shown and the plot data."""

    busy_changed = Signal(bool)
    status = Signal(str)
    progress = Signal(object)  # BenchProgress
    rows_changed = Signal(object)  # tuple[SummaryRow, ...]
    plot_changed = Signal(object)  # PlotData
    failed = Signal(str, str)  # message, hint
    finished = Signal(str)  # "finished", "cancelled", "failed"

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        make_solver: SolverFactory = load_model_solver,
    ) -> None:
        super().__init__(parent)
        self._make_solver = make_solver
        self._worker: GeneratorWorker | None = None
        self._cancel: CancelToken | None = None
        self._records: dict[tuple[str, str, int, str], dict[str, Any]] = {}
        self._title = ""
        self._reference: str | None = None
        #: the results folder's description of its problem set (config.json's "problems")
        self._problems: dict[str, Any] = {}
        self._outcome = "failed"
        self.rows: tuple[SummaryRow, ...] = ()
        self.plot: PlotData | None = None
        self.out_dir: Path | None = None
        self.report: ReportDone | None = None
        self._replot = QTimer(self)
        self._replot.setSingleShot(True)
        self._replot.setInterval(REPLOT_MS)
        self._replot.timeout.connect(self.refresh)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def records(self) -> list[dict[str, Any]]:
        return list(self._records.values())

    def start(self, req: BenchRequest) -> bool:
        """Start (or resume) a benchmark; False while one is running."""
        if self.busy:
            return False
        self.out_dir = req.out_dir
        self.report = None
        self._outcome = "failed"
        self._reference = req.reference
        # A resumed folder already has results: show them from the start.
        self._load_records(req.out_dir)
        self._title = f"{req.problems} · {req.verifier} verifier"
        self.refresh()
        cancel = CancelToken()
        worker = GeneratorWorker(bench_job, req, cancel, make_solver=self._make_solver)
        worker.signals.yielded.connect(self._on_event)
        worker.signals.errored.connect(self._on_error)
        worker.signals.finished.connect(self._on_finished)
        self._worker, self._cancel = worker, cancel
        self.busy_changed.emit(True)
        worker.start(engine_pool())
        return True

    def stop(self) -> None:
        """Ask the running benchmark to stop; finished runs are kept for a resume."""
        if self._cancel is not None:
            self._cancel.cancel()
            self.status.emit("Stopping after saving the finished runs…")

    def open_results(self, out_dir: Path) -> int:
        """Show the results of an earlier (or running elsewhere) benchmark folder."""
        if self.busy:
            return 0
        self.out_dir = Path(out_dir)
        config = read_config(self.out_dir)
        if config is None and not (self.out_dir / "results.jsonl").exists():
            self.failed.emit(
                f"{self.out_dir} holds no benchmark results.",
                "Pick the folder a benchmark wrote results.jsonl into.",
            )
            return 0
        self._load_records(self.out_dir)
        problems = (config or {}).get("problems") or {}
        verifier = (config or {}).get("verifier", "?")
        self._title = f"{problems.get('name', self.out_dir.name)} · {verifier} verifier"
        self._problems = dict(problems)
        self.refresh()
        self.status.emit(f"{len(self._records)} results from {self.out_dir}")
        return len(self._records)

    def set_reference(self, reference: str | None) -> None:
        self._reference = reference
        self.refresh()

    # ------------------------------------------------------------------ internals

    def _load_records(self, out_dir: Path) -> None:
        from outthink.bench.runner import record_key

        self._records = {record_key(r): r for r in read_results(out_dir)}
        config = read_config(out_dir) or {}
        self._problems = dict(config.get("problems") or {})

    def refresh(self) -> None:
        """Recompute summary rows and plot data from the results seen so far."""
        self.rows = tuple(summarize_results(self._records.values()))
        problems = max((r.problems for r in self.rows), default=0)
        self.plot = plot_data(
            self.rows,
            title="Accuracy vs compute with test-time search",
            subtitle=f"{self._title} ({problems} problems so far)" if self._title else "",
            reference=self._reference,
            problems=self._problems,
        )
        self.rows_changed.emit(self.rows)
        self.plot_changed.emit(self.plot)

    def _on_event(self, ev: object) -> None:
        if isinstance(ev, Status):
            self.status.emit(ev.text)
        elif isinstance(ev, BenchStarted):
            self._problems = dict(ev.config.get("problems") or {})
            self.status.emit(
                f"{ev.pending} of {ev.total} runs to do ({ev.total - ev.pending} already done)"
            )
        elif isinstance(ev, BenchProgress):
            self.progress.emit(ev)
        elif isinstance(ev, BenchRecorded):
            from outthink.bench.runner import record_key

            for r in ev.records:
                self._records[record_key(r)] = dict(r)
            if not self._replot.isActive():
                self._replot.start()
        elif isinstance(ev, BenchFinished):
            self._outcome = ev.status
        elif isinstance(ev, ReportDone):
            self.report = ev
            self.status.emit(f"Report written: {ev.csv_path.parent}")

    def _on_error(self, exc: object) -> None:
        self._outcome = "failed"
        if isinstance(exc, OutthinkError):
            self.failed.emit(exc.message, exc.hint)
        else:
            log.error("Benchmark failed", exc_info=exc if isinstance(exc, BaseException) else None)
            self.failed.emit(describe(exc if isinstance(exc, BaseException) else Exception()), "")

    def _on_finished(self) -> None:
        self._worker, self._cancel = None, None
        self._replot.stop()
        self.refresh()
        self.busy_changed.emit(False)
        done = {"finished": "Finished.", "cancelled": "Stopped: Run again to resume."}
        self.status.emit(done.get(self._outcome, "Failed."))
        self.finished.emit(self._outcome)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop a running benchmark and wait for its thread, and for a plot being drawn
        (window closing)."""
        self.stop()
        deadline = time.monotonic() + timeout_s
        while self.busy and time.monotonic() < deadline:
            from PySide6.QtCore import QCoreApplication

            QCoreApplication.processEvents()
            time.sleep(0.01)
        render_pool().waitForDone(max(0, round((deadline - time.monotonic()) * 1000)))


# --------------------------------------------------------------------------------------------
# Views


_RENDER_POOL: QThreadPool | None = None


def render_pool() -> QThreadPool:
    """The thread that renders plots: matplotlib off the GUI thread, one figure at a time."""
    global _RENDER_POOL
    if _RENDER_POOL is None:
        _RENDER_POOL = QThreadPool()
        _RENDER_POOL.setMaxThreadCount(1)
        _RENDER_POOL.setObjectName("outthink-plot")
    return _RENDER_POOL


def render_image(
    data: PlotData, width_in: float, height_in: float, dpi: int, ratio: float
) -> tuple[QImage, Any]:
    """The plot as a QImage (and its Figure): runs on :func:`render_pool`'s thread."""
    fig = render_figure(data, width_in=width_in, height_in=height_in, dpi=dpi)
    fig.canvas.draw()
    w, h = fig.canvas.get_width_height(physical=True)
    buf = fig.canvas.buffer_rgba()
    image = QImage(bytes(buf), w, h, QImage.Format.Format_RGBA8888).copy()
    image.setDevicePixelRatio(ratio)
    return image, fig


class AccuracyPlot(QWidget):
    """Paints :func:`outthink.bench.report.render_figure` of the current plot data, rendered at
    the widget's size (the layout is measured there, so nothing overlaps or is cut off);
    below :data:`SMALLEST` it is rendered at that size and scaled down to fit. Rendering
    (0.05-0.3 s) runs on :func:`render_pool`'s thread; the last image stays until the next is
    ready, and data that arrives meanwhile is rendered right after."""

    #: The smallest figure rendered, in device-independent pixels (width, height).
    SMALLEST = (400, 300)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: PlotData | None = None
        self.image: QImage | None = None
        #: the matplotlib Figure behind ``image``
        self.figure: Any = None
        self.renders = 0
        #: a render is running; ``_again``: render once more when it ends (newer data or size)
        self.rendering = False
        self._again = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(theme.em(self, 24), theme.em(self, 14))
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(150)
        self._resize_timer.timeout.connect(self._render)

    def sizeHint(self) -> QSize:
        return QSize(theme.em(self, 50), theme.em(self, 28))

    def set_data(self, data: PlotData | None) -> None:
        self.data = data
        self._render()

    def _render(self) -> None:
        if self.data is None:
            self.image = self.figure = None
            self.update()
            return
        if self.rendering:
            self._again = True
            return
        ratio = self.devicePixelRatioF()
        dpi = round(96 * ratio)
        width_in = max(self.SMALLEST[0], self.width()) * ratio / dpi
        height_in = max(self.SMALLEST[1], self.height()) * ratio / dpi
        worker = FunctionWorker(render_image, self.data, width_in, height_in, dpi, ratio)
        worker.signals.returned.connect(self._rendered)
        worker.signals.errored.connect(self._render_failed)
        worker.signals.finished.connect(self._render_ended)
        self.rendering = True
        worker.start(render_pool())

    def _rendered(self, result: object) -> None:
        if self.data is None or not isinstance(result, tuple):
            return
        self.image, self.figure = result
        self.renders += 1
        self.update()

    def _render_failed(self, exc: object) -> None:
        log.error("Could not draw the plot", exc_info=exc if isinstance(exc, Exception) else None)

    def _render_ended(self) -> None:
        self.rendering = False
        if self._again:
            self._again = False
            self._render()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.data is not None:
            self._resize_timer.start()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        if self.image is not None:
            size = self.image.deviceIndependentSize()
            if size.width() <= self.width() and size.height() <= self.height():
                painter.drawImage(0, 0, self.image)
            else:  # smaller than the smallest figure: scaled down, nothing cut off
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                box = size.scaled(self.size().toSizeF(), Qt.AspectRatioMode.KeepAspectRatio)
                painter.drawImage(QRectF(QPointF(0, 0), box), self.image)
        else:
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter,
                "Run a benchmark or open earlier results to see accuracy against compute.",
            )
        painter.end()


_COLUMNS = ("Strategy", "Select", "N", "Accuracy", "95% interval", "pass@k (oracle)",
            "Tokens", "Seconds", "Problems")


def _row_items(r: SummaryRow) -> list[QStandardItem]:
    values = [
        r.strategy,
        r.selection,
        str(r.budget),
        f"{r.accuracy:.1%}",
        f"{r.ci_low:.0%} – {r.ci_high:.0%}",
        f"{r.pass_at_k:.1%}",
        f"{r.mean_tokens:.0f}",
        f"{r.mean_seconds:.1f}",
        str(r.problems) + (f" ({r.failed} failed)" if r.failed else ""),
    ]
    items = []
    for v in values:
        item = QStandardItem(v)
        item.setEditable(False)
        items.append(item)
    items[5].setToolTip("Oracle upper bound: at least one final candidate was correct.")
    return items


class BenchmarkTab(QWidget):
    """Layout of the Benchmark tab, wired to a :class:`BenchmarkController`."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        controller: BenchmarkController | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        self.controller = controller or BenchmarkController(self)
        if self.controller.parent() is None:
            self.controller.setParent(self)

        # -- the problems and what to run
        self.problem_set = QComboBox()
        self.problem_set.setEditable(True)
        for name, preset in PRESETS.items():
            self.problem_set.addItem(name, name)
            self.problem_set.setItemData(
                self.problem_set.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole
            )
        self.problem_set.setToolTip(
            "A shipped set, a dataset, a JSON-lines file (id, problem, answer) or "
            "ORG/NAME:FILE on the Hub."
        )
        self.browse_problems = QPushButton("File…")
        self.limit = QSpinBox()
        self.limit.setRange(0, option("limit").bounds[1])  # 0: all
        self.limit.setSpecialValueText("all")
        self.limit.setValue(20)
        self.subject = QLineEdit()
        self.subject.setPlaceholderText("any")
        self.level = QLineEdit()
        self.level.setPlaceholderText("any (e.g. 3 or 2-4)")

        self.strategy_boxes: dict[str, QCheckBox] = {}
        strategies = QHBoxLayout()
        for name in strategy_names():
            box = QCheckBox(name)
            box.setChecked(name in ("greedy", "best-of-n"))
            self.strategy_boxes[name] = box
            strategies.addWidget(box)
        strategies.addStretch(1)
        self.budgets = QLineEdit("1,4,8")
        self.budgets.setToolTip("Comma-separated budgets N (solutions or beams per problem).")
        self.selection_boxes: dict[str, QCheckBox] = {}
        selections = QHBoxLayout()
        for rule in SELECTION_RULES:
            box = QCheckBox(rule)
            box.setChecked(rule == "weighted")
            self.selection_boxes[rule] = box
            selections.addWidget(box)
        selections.addStretch(1)

        import outthink.verifiers as verifiers

        self.policy = QLineEdit()
        self.policy.setPlaceholderText("starter model")
        self.verifier = QComboBox()
        for kind in sorted(verifiers.VERIFIERS):
            self.verifier.addItem(kind, kind)
        self.verifier.setCurrentIndex(max(0, self.verifier.findData("self-certainty")))
        self.verifier_model = QLineEdit()
        self.verifier_model.setPlaceholderText("only for model-based verifiers")
        self.agg = QComboBox()
        self.agg.addItems(list(AGGREGATIONS))
        self.agg.setToolTip(
            TOOLTIPS["agg"] + " Picking a verifier sets the aggregation its scores suit."
        )
        self._set_verifier_aggregation()
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(*option("max_tokens").bounds)
        self.max_tokens.setValue(384)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(*option("temperature").bounds)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)
        self.seed = QSpinBox()
        self.seed.setRange(*option("seed").bounds)
        self.reference = QCheckBox("Reference lines: large models' reported scores")
        self.reference.setToolTip(
            "Liu et al. 2025 (arXiv 2502.06703), drawn grey and labelled 'reported'; measured "
            "on MATH-500 and AIME24, not on this machine, so drawn only over those problem "
            "sets (math500, aime24) with no subject or level filter."
        )
        self.reference_note = QLabel("")
        self.reference_note.setWordWrap(True)
        self.reference_note.setEnabled(False)
        self.reference_note.hide()
        self.out_dir = QLineEdit()
        self.browse_out = QPushButton("Folder…")

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.problem_set, 1)
        row.addWidget(self.browse_problems)
        form.addRow("Problems", row)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Count"))
        filters.addWidget(self.limit)
        filters.addWidget(QLabel("Subject"))
        filters.addWidget(self.subject, 1)
        filters.addWidget(QLabel("Level"))
        filters.addWidget(self.level, 1)
        form.addRow("", filters)
        form.addRow("Strategies", strategies)
        form.addRow("Budgets", self.budgets)
        form.addRow("Selection", selections)
        form.addRow("Policy", self.policy)
        verifier_row = QHBoxLayout()
        verifier_row.addWidget(self.verifier)
        verifier_row.addWidget(self.verifier_model, 1)
        form.addRow("Verifier", verifier_row)
        agg_row = QHBoxLayout()
        agg_row.addWidget(self.agg)
        agg_row.addStretch(1)
        form.addRow("Aggregation", agg_row)
        sampling = QHBoxLayout()
        sampling.addWidget(QLabel("Max tokens"))
        sampling.addWidget(self.max_tokens)
        sampling.addWidget(QLabel("Temperature"))
        sampling.addWidget(self.temperature)
        sampling.addWidget(QLabel("Seed"))
        sampling.addWidget(self.seed)
        sampling.addStretch(1)
        form.addRow("Sampling", sampling)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_dir, 1)
        out_row.addWidget(self.browse_out)
        form.addRow("Results folder", out_row)
        form.addRow("", self.reference)
        form.addRow("", self.reference_note)
        settings_box = QGroupBox("Benchmark")
        settings_box.setLayout(form)
        # The wheel changes only a control the user clicked or tabbed into, as in the Solve
        # panel: turning it over the form must not change the experiment.
        self._wheel_guard = WheelGuard(self)
        for widget in settings_box.findChildren(QWidget):
            if isinstance(widget, QComboBox | QSpinBox | QDoubleSpinBox):
                widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
                widget.installEventFilter(self._wheel_guard)

        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.open_button = QPushButton("Open results…")
        self.problems_button = QPushButton("Problems…")
        self.problems_button.setEnabled(False)
        self.problems_button.setToolTip(
            "Which problems the selected row got right and wrong (or double-click the row)."
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(self.problems_button)
        buttons.addWidget(self.open_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.hide()

        self.plot = AccuracyPlot()
        self.table_model = QStandardItemModel(0, len(_COLUMNS), self)
        self.table_model.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setToolTip("Double-click a row to see which problems it got right and wrong.")
        self.problems_dialog: ProblemsDialog | None = None
        self._shown_rows: tuple[SummaryRow, ...] = ()  # the table's rows, in order

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(settings_box)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)
        left_layout.addWidget(self.error)
        left_layout.addWidget(self.table, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.plot)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        outer = QVBoxLayout(self)
        outer.addWidget(split)

        # -- wiring
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.controller.stop)
        self.open_button.clicked.connect(lambda: self.open_results())
        self.problems_button.clicked.connect(lambda: self.show_problems())
        # Double-click, or Enter, on a row (a configuration): its problems, right and wrong.
        self.table.activated.connect(lambda index: self.show_problems(index.row()))
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self.problems_button.setEnabled(self._selected_row() is not None)
        )
        self.browse_problems.clicked.connect(self._browse_problems)
        self.browse_out.clicked.connect(self._browse_out)
        self.problem_set.currentTextChanged.connect(self._suggest_out_dir)
        self.verifier.currentTextChanged.connect(self._suggest_out_dir)
        self.verifier.activated.connect(lambda _i: self._set_verifier_aggregation())
        self.agg.currentTextChanged.connect(self._suggest_out_dir)
        self.reference.toggled.connect(
            lambda on: self.controller.set_reference("auto" if on else None)
        )
        c = self.controller
        c.busy_changed.connect(self._set_busy)
        c.status.connect(self.status.setText)
        c.progress.connect(self._on_progress)
        c.rows_changed.connect(self._fill_table)
        c.plot_changed.connect(self.plot.set_data)
        c.plot_changed.connect(self._show_reference_note)
        c.failed.connect(self._show_error)
        self._out_dir_edited = False
        self.out_dir.textEdited.connect(lambda _t: setattr(self, "_out_dir_edited", True))
        self._suggest_out_dir()

    # ------------------------------------------------------------------ actions

    def set_settings(self, settings: Settings) -> None:
        """The user's settings (models folder, threads, GPU layers), used by the next Run; the
        suggested results folder follows a changed data folder."""
        self.settings = settings
        self._suggest_out_dir()

    def set_models(
        self, policy: str | None, verifier: str, verifier_model: str | None = None
    ) -> None:
        """Pre-fill the models (the main window passes its current choice). A verifier that
        changes brings its aggregation; the same verifier keeps the one the user chose."""
        self.policy.setText(policy or "")
        index = self.verifier.findData(verifier)
        if index >= 0 and index != self.verifier.currentIndex():
            self.verifier.setCurrentIndex(index)
            self._set_verifier_aggregation()
        self.verifier_model.setText(verifier_model or "")

    def request(self) -> BenchRequest:
        """The request the form describes; raises OutthinkError for bad input."""
        from outthink.bench.budgets import parse_int_list
        from outthink.errors import ConfigError

        strategies = tuple(n for n, b in self.strategy_boxes.items() if b.isChecked())
        selections = tuple(n for n, b in self.selection_boxes.items() if b.isChecked())
        try:
            budgets = tuple(parse_int_list(self.budgets.text()))
        except Exception:
            raise ConfigError(
                f"Budgets {self.budgets.text()!r} are not a list like 1,4,8.",
                hint="Type whole numbers separated by commas.",
            ) from None
        search = SearchConfig(
            max_tokens=self.max_tokens.value(),
            temperature=self.temperature.value(),
            seed=self.seed.value(),
            agg=self.agg.currentText(),
        )
        spec = BenchSpec(strategies, budgets, selections or ("weighted",), search).validate()
        out = self.out_dir.text().strip()
        if not out:
            raise ConfigError("No results folder.", hint="Choose a folder for the results.")
        return BenchRequest(
            problems=self.problem_set.currentText().strip(),
            spec=spec,
            out_dir=Path(out).expanduser(),
            # A copy: the worker reads it while the GUI keeps saving its own state into it.
            settings=copy.deepcopy(self.settings),
            policy=self.policy.text().strip() or None,
            verifier=self.verifier.currentData() or "self-certainty",
            verifier_model=self.verifier_model.text().strip() or None,
            limit=self.limit.value() or None,
            subject=self.subject.text().strip() or None,
            level=self.level.text().strip() or None,
            reference="auto" if self.reference.isChecked() else None,
        )

    def start(self) -> bool:
        self.error.hide()
        try:
            req = self.request()
        except OutthinkError as exc:
            self._show_error(exc.message, exc.hint)
            return False
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        return self.controller.start(req)

    def show_problems(self, row: int | None = None) -> ProblemsDialog | None:
        """Open the problems of the configuration in table row ``row`` (default: the selected
        row): each problem with the answer it chose, right or wrong."""
        if row is None:
            row = self._selected_row()
        rows = self.controller.rows
        if row is None or not 0 <= row < len(rows):
            return None
        dialog = ProblemsDialog(
            rows[row],
            self.controller.records,
            self.controller.out_dir,
            running=self.controller.busy,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.problems_dialog = dialog
        return dialog

    def _selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def open_results(self, path: str | Path | None = None) -> int:
        if path is None:
            chosen = QFileDialog.getExistingDirectory(
                self, "Open benchmark results", str(self._default_root())
            )
            if not chosen:
                return 0
            path = chosen
        self.error.hide()
        return self.controller.open_results(Path(path))

    # ------------------------------------------------------------------ view updates

    #: True while a Solve run holds the engine thread (a benchmark started then would queue)
    _engine_busy = False

    def set_engine_busy(self, busy: bool) -> None:
        self._engine_busy = busy
        self.run_button.setEnabled(not busy and not self.stop_button.isEnabled())
        self.run_button.setToolTip("Wait for the Solve run to finish." if busy else "")

    def _set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy and not self._engine_busy)
        self.open_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    def _on_progress(self, p: BenchProgress) -> None:
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.done)
        rate = f"{p.rate_per_min:.1f} runs/min" if p.rate_per_min else "measuring speed"
        now = f" · now: {p.current}" if p.current else ""
        self.progress.setFormat(f"{p.done}/{p.total} runs")
        self.status.setText(f"{rate} · ETA {format_duration(p.eta_s)}{now}")

    def _fill_table(self, rows: Sequence[SummaryRow]) -> None:
        # The selected configuration stays selected as rows come and go during a run.
        selected = self._selected_row()
        key = None
        if selected is not None and selected < len(self._shown_rows):
            r = self._shown_rows[selected]
            key = (r.strategy, r.selection, r.budget)
        self.table_model.removeRows(0, self.table_model.rowCount())
        for r in rows:
            self.table_model.appendRow(_row_items(r))
        self._shown_rows = tuple(rows)
        for i, r in enumerate(rows):
            if (r.strategy, r.selection, r.budget) == key:
                self.table.selectRow(i)
        self.problems_button.setEnabled(self._selected_row() is not None)

    def _show_reference_note(self, data: PlotData | None) -> None:
        note = data.reference_skipped if data is not None else ""
        self.reference_note.setText(note)
        self.reference_note.setVisible(bool(note))

    def _show_error(self, message: str, hint: str) -> None:
        self.error.setText(f"<b>{message}</b>" + (f"<br>{hint}" if hint else ""))
        # The theme's red for errors, readable on a light and on a dark background.
        self.error.setStyleSheet(f"color: {theme.css(theme.WRONG)};")
        self.error.show()

    def _default_root(self) -> Path:
        return data_dir() / "benchmarks"

    def _verifier_aggregation(self) -> str:
        import outthink.verifiers as verifiers

        spec = verifiers.VERIFIERS.get(str(self.verifier.currentData() or ""))
        return spec.aggregation if spec is not None else ""

    def _set_verifier_aggregation(self) -> None:
        """The aggregation the chosen verifier's scores suit (calculator: min, since one false
        equation sinks a solution), as picking a verifier in the Solve panel does."""
        agg = self._verifier_aggregation()
        if agg and self.agg.findText(agg) >= 0:
            self.agg.setCurrentText(agg)

    def _suggest_out_dir(self, *_: object) -> None:
        # One folder per problem set and verifier (and aggregation, when it is not the
        # verifier's own): running again resumes there.
        if self._out_dir_edited:
            return
        name = Path(self.problem_set.currentText().strip() or "problems").stem
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        verifier = self.verifier.currentData() or "verifier"
        agg = self.agg.currentText()
        suffix = f"-{agg}" if agg and agg != self._verifier_aggregation() else ""
        self.out_dir.setText(str(self._default_root() / f"{safe}-{verifier}{suffix}"))

    def _browse_problems(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a problem set", "", "Problem sets (*.jsonl *.json *.csv *.parquet)"
        )
        if path:
            self.problem_set.setEditText(path)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Results folder", str(self._default_root()))
        if path:
            self._out_dir_edited = True
            self.out_dir.setText(path)
