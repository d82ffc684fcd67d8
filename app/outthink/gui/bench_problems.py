"""Which problems one benchmark configuration got right and wrong.

A row of the Benchmark tab's summary table (a strategy, selection rule and budget) opens a
:class:`ProblemsDialog`: one line per problem with the answer that configuration chose, ✓ or ✗
against the reference, and how many of its final candidates were right. The answers and marks
come from the ``results.jsonl`` lines the benchmark wrote (already in memory); the problem
texts and reference answers come from the problem file named in the folder's ``config.json``,
read on a worker thread (:func:`read_problem_texts`, which also checks that the file is the one
the benchmark read).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from outthink.bench.report import SummaryRow
from outthink.bench.runner import NO_SELECTION
from outthink.catalog import sha256_file
from outthink.errors import OutthinkError
from outthink.gui import theme
from outthink.gui.mathtext import latex_to_html, latex_to_unicode
from outthink.gui.workers import FunctionWorker, io_pool

log = logging.getLogger(__name__)

__all__ = ["COLUMNS", "Outcome", "ProblemTexts", "ProblemsDialog", "outcomes", "read_problem_texts"]

COLUMNS = ("", "Problem", "Reference", "Chosen answer", "Right candidates")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One problem as one configuration did it (a results.jsonl line)."""

    problem_id: str
    answer: str | None
    correct: bool
    failed: bool
    error: str = ""
    samples_correct: int | None = None
    candidates: int | None = None


def outcomes(
    row: SummaryRow, records: Sequence[Mapping[str, Any]], order: Sequence[str] = ()
) -> list[Outcome]:
    """The lines of ``row``'s configuration, in the problem set's order (``order``: problem
    ids) where it is known."""
    mine = [
        r
        for r in records
        if (str(r["strategy"]), str(r["selection"]), int(r["budget"]))
        == (row.strategy, row.selection, row.budget)
    ]
    rank = {pid: i for i, pid in enumerate(order)}
    mine.sort(key=lambda r: rank.get(str(r["problem_id"]), len(rank)))
    out = []
    for r in mine:
        failed = r.get("status", "ok") != "ok"
        answer = r.get("answer")
        out.append(
            Outcome(
                problem_id=str(r["problem_id"]),
                answer=None if answer is None else str(answer),
                correct=bool(r.get("correct")),
                failed=failed,
                error=str(r.get("error") or ""),
                samples_correct=_int(r.get("samples_correct")),
                candidates=_int(r.get("candidates")),
            )
        )
    return out


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class ProblemTexts:
    """Problem text and reference answer per problem id, or why they cannot be shown."""

    texts: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    note: str = ""


def read_problem_texts(config: Mapping[str, Any] | None) -> ProblemTexts:
    """Read the problem file a benchmark used (``config.json``'s ``problems``: its path and
    SHA-256). A file that is gone or has changed since gives no texts, and a note saying so:
    texts of another version of the file could sit beside answers they do not belong to.
    Runs on a worker thread (the file may be large)."""
    from outthink.bench.problems import read_problems

    info = (config or {}).get("problems") or {}
    order = tuple(str(i) for i in info.get("ids") or ())
    after = "The answers and marks come from results.jsonl."
    path_text = info.get("path")
    if not path_text:
        return ProblemTexts(
            order=order,
            note="This results folder does not name its problem file, so problem texts and "
            f"reference answers cannot be shown. {after}",
        )
    path = Path(str(path_text))
    if not path.is_file():
        return ProblemTexts(
            order=order,
            note=f"The problem file {path} is not there any more, so problem texts and "
            f"reference answers cannot be shown. {after} Put the file back to see them.",
        )
    expected = info.get("sha256")
    try:
        if expected and sha256_file(path) != expected:
            return ProblemTexts(
                order=order,
                note=f"The problem file {path} has changed since this benchmark ran, so its "
                f"texts are not shown (they might not be the problems that were run). {after}",
            )
        problems = read_problems(path)
    except OutthinkError as exc:
        return ProblemTexts(order=order, note=f"Could not read {path}: {exc.message} {after}")
    except OSError as exc:
        return ProblemTexts(
            order=order, note=f"Could not read {path}: {exc.strerror or exc}. {after}"
        )
    return ProblemTexts({p.id: (p.problem, p.answer) for p in problems}, order)


def _read_texts(out_dir: Path) -> ProblemTexts:
    from outthink.bench.runner import read_config

    try:
        config = read_config(out_dir)
    except OutthinkError as exc:
        return ProblemTexts(note=f"{exc.message} The answers and marks come from results.jsonl.")
    return read_problem_texts(config)


def describe_row(row: SummaryRow) -> str:
    """How the dialog names a configuration: 'best-of-n (weighted), N = 8'."""
    if row.strategy == "greedy" or row.selection == NO_SELECTION:
        return row.strategy
    return f"{row.label}, N = {row.budget}"


class ProblemsDialog(QDialog):
    """One configuration's result on every problem; the selected problem in full below."""

    def __init__(
        self,
        row: SummaryRow,
        records: Sequence[Mapping[str, Any]],
        out_dir: Path | None,
        *,
        running: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.row = row
        self.records = list(records)
        self.outcomes = outcomes(row, self.records)
        self.texts = ProblemTexts()
        name = describe_row(row)
        self.setWindowTitle(f"Problems: {name}")
        right = sum(o.correct for o in self.outcomes)
        failed = sum(o.failed for o in self.outcomes)
        summary = f"<b>{html.escape(name)}</b>: {right} of {len(self.outcomes)} problems right"
        if failed:
            summary += f", {failed} failed (counted as wrong; running the benchmark again " \
                       "retries them)"
        if running:
            summary += " so far (the benchmark is still running)"
        self.summary = QLabel(summary + ".")
        self.summary.setWordWrap(True)
        self.only_wrong = QCheckBox("Only the problems it got wrong")
        self.note = QLabel("Reading the problem file…")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.detail = QTextBrowser()
        self.detail.setOpenLinks(False)
        self.detail.setPlaceholderText("Select a problem to read it in full.")

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.only_wrong)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(split, 1)
        layout.addWidget(buttons)
        self.resize(theme.em(self, 62), theme.em(self, 34))

        self._fill()
        self.only_wrong.toggled.connect(self._filter)
        self.table.selectionModel().selectionChanged.connect(self._on_selected)
        if out_dir is None:
            self._texts_read(ProblemTexts(note="No results folder: only the answers are shown."))
        else:
            worker = FunctionWorker(_read_texts, Path(out_dir))
            worker.signals.returned.connect(self._texts_read)
            worker.signals.errored.connect(self._texts_failed)
            worker.start(io_pool())

    # ------------------------------------------------------------------ filling

    def _fill(self) -> None:
        self.model.removeRows(0, self.model.rowCount())
        for o in self.outcomes:
            problem, reference = self.texts.texts.get(o.problem_id, ("", ""))
            mark = QStandardItem("failed" if o.failed else ("✓" if o.correct else "✗"))
            mark.setForeground(theme.RIGHT if o.correct else theme.WRONG)
            mark.setToolTip(
                o.error or ("Right" if o.correct else "Wrong") + " against the reference."
            )
            shown = " ".join(problem.split()) if problem else o.problem_id
            text = QStandardItem(shown)
            text.setToolTip(f"{o.problem_id}\n\n{problem}" if problem else o.problem_id)
            chosen = QStandardItem(
                latex_to_unicode(o.answer) if o.answer is not None else "no answer"
            )
            counted = (
                f"{o.samples_correct} of {o.candidates}"
                if o.samples_correct is not None and o.candidates
                else ""
            )
            items = [mark, text, QStandardItem(latex_to_unicode(reference)), chosen,
                     QStandardItem(counted)]
            for item in items:
                item.setEditable(False)
            items[0].setData(o.problem_id, Qt.ItemDataRole.UserRole)
            self.model.appendRow(items)
        header = self.table.horizontalHeader()
        self.table.resizeColumnsToContents()
        header.resizeSection(1, min(header.sectionSize(1), theme.em(self, 30)))
        self._filter(self.only_wrong.isChecked())

    def _filter(self, only_wrong: bool) -> None:
        for i, o in enumerate(self.outcomes):
            self.table.setRowHidden(i, only_wrong and o.correct)

    def _texts_read(self, texts: object) -> None:
        if not isinstance(texts, ProblemTexts):
            return
        self.texts = texts
        if texts.order:
            self.outcomes = outcomes(self.row, self.records, texts.order)
        self.note.setText(texts.note)
        self.note.setVisible(bool(texts.note))
        self._fill()

    def _texts_failed(self, exc: object) -> None:
        log.warning("Could not read the problem texts: %s", exc)
        self._texts_read(
            ProblemTexts(note=f"Could not read the problem file: {exc}. The answers and marks "
                         "come from results.jsonl.")
        )

    def _on_selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {index.row() for index in selected.indexes()}
        if not rows:
            return
        o = self.outcomes[min(rows)]
        problem, reference = self.texts.texts.get(o.problem_id, ("", ""))
        mark = (
            f"<span style='color:{theme.css(theme.RIGHT)}'>✓ right</span>" if o.correct
            else f"<span style='color:{theme.css(theme.WRONG)}'>✗ wrong</span>"
        )
        parts = [f"<p><b>{html.escape(o.problem_id)}</b></p>"]
        if problem:
            parts.append(f"<p>{html.escape(problem).replace(chr(10), '<br>')}</p>")
        if reference:
            parts.append(f"<p>Reference answer: <b>{latex_to_html(reference)}</b></p>")
        if o.failed:
            parts.append(f"<p>The run failed: {html.escape(o.error or 'no reason given')}</p>")
        else:
            chosen = latex_to_html(o.answer) if o.answer is not None else "no answer"
            parts.append(f"<p>Chosen answer: <b>{chosen}</b> {mark}</p>")
        self.detail.setHtml("".join(parts))
