"""Run history: every run the window makes is kept, listed in a sidebar (the right-hand pane of
the Solve tab, View → History), reopened in one click.

Each run that started (finished, stopped or failed on the way) is written to the data folder's
``history`` folder as one file, the same JSON as File → Export run as JSON (the run's events),
atomically. Re-ranking a run writes its file again, so the file always says what the window
showed.

Listing hundreds of runs must not parse hundreds of event files at every start, nor on the GUI
thread: :class:`HistoryStore` keeps a summary of each file (problem, answer, right/wrong,
strategy, time) in ``.index.json`` next to them, keyed by the file's size and modification
time, and parses only the files it does not know; loading runs on a worker. A file that cannot
be read is left out of the list with a line in the log (and a count under the list), never an
error. The newest :data:`MAX_LISTED` runs are listed.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from outthink.config import data_dir, write_atomic
from outthink.errors import OutthinkError
from outthink.events import Event, RunStarted, event_from_dict
from outthink.gui import theme
from outthink.gui.clipboard import copy_text, popup
from outthink.gui.mathtext import latex_to_unicode
from outthink.gui.workers import FunctionWorker, io_pool
from outthink.search.runmodel import RunModel

log = logging.getLogger(__name__)

#: Runs listed at most (the newest); older files stay on disk.
MAX_LISTED = 1000
INDEX_NAME = ".index.json"
INDEX_SCHEMA = 1

_Index = QModelIndex | QPersistentModelIndex


def history_dir() -> Path:
    return data_dir() / "history"


@dataclass(slots=True)
class HistoryEntry:
    """What the list shows of one saved run."""

    name: str  # the file's name in the history folder
    problem: str = ""
    answer: str | None = None
    correct: bool | None = None
    reference: str | None = None
    strategy: str = ""
    n: int | None = None
    policy: str = ""
    status: str = ""
    saved_at: float = 0.0  # seconds since the epoch

    @property
    def path(self) -> Path:
        return history_dir() / self.name

    @classmethod
    def of(cls, name: str, run: RunModel, saved_at: float) -> HistoryEntry:
        sel = run.selection
        config = run.config
        n = config.get("n")
        return cls(
            name=name,
            problem=run.problem,
            answer=sel.answer if sel is not None else None,
            correct=run.chosen_correct(),
            reference=run.reference,
            strategy=str(config.get("strategy") or ""),
            n=n if isinstance(n, int) else None,
            policy=str(config.get("policy") or ""),
            status=run.status,
            saved_at=saved_at,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def matches(self, words: Sequence[str]) -> bool:
        """True when every word occurs in the problem or the answer (case ignored)."""
        hay = f"{self.problem}\n{self.answer or ''}".casefold()
        return all(w in hay for w in words)


@dataclass(slots=True)
class Loaded:
    """The result of :meth:`HistoryStore.load`."""

    entries: list[HistoryEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files that could not be read
    older: int = 0  # runs beyond MAX_LISTED, not listed


def events_json(events: Iterable[Event]) -> str:
    """A run as File → Export run as JSON writes it."""
    return json.dumps([e.to_dict() for e in events], ensure_ascii=False, indent=1)


def read_run(path: Path) -> list[Event]:
    """The events of a saved run; ValueError (with the reason) when it is not one."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError("not a list of events")
    try:
        events = [event_from_dict(item) for item in raw]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not an event ({type(exc).__name__}: {exc})") from None
    if not any(isinstance(e, RunStarted) for e in events):
        raise ValueError("no run_started event")
    return events


class HistoryStore:
    """The history folder: saves, lists and deletes runs. Thread-safe (saves and loads run on
    workers); no Qt here."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._index: dict[str, dict[str, Any]] | None = None
        #: How many times a file was parsed (the index spares most of them).
        self.parsed = 0
        #: The newest write asked for each file, so an older one that finishes late is dropped.
        self._generation: dict[str, int] = {}
        self._written: dict[str, int] = {}

    @property
    def folder(self) -> Path:
        return self._folder or history_dir()

    @staticmethod
    def new_name() -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return f"run-{stamp}-{uuid.uuid4().hex[:6]}.json"

    def reserve(self, name: str) -> int:
        """A generation number for the next write of ``name`` (on the caller's thread, so the
        order of writes is the order they were asked for)."""
        with self._lock:
            gen = self._generation.get(name, 0) + 1
            self._generation[name] = gen
            return gen

    # ------------------------------------------------------------------ writing

    def save(self, name: str, events: Sequence[Event], generation: int = 0) -> HistoryEntry:
        """Write the run as ``name`` (atomically); returns its entry. Raises
        :class:`~outthink.errors.StorageError` when the disk refuses."""
        run = RunModel.of(events)
        text = events_json(events)
        folder = self.folder
        with self._lock:
            if generation and generation < self._written.get(name, 0):
                # A newer version of this run was written already.
                return HistoryEntry.of(name, run, time.time())
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            write_atomic(path, text, what="the run's history file")
            self._written[name] = generation
            previous = (self._index or {}).get(name, {}).get("entry", {})
            saved_at = float(previous.get("saved_at") or time.time())
            entry = HistoryEntry.of(name, run, saved_at)
            self._remember(path, entry)
            self._write_index()
        return entry

    def delete(self, name: str) -> None:
        """Remove a saved run (OSError when it cannot be removed)."""
        path = self.folder / name
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with self._lock:
            if self._index is not None and self._index.pop(name, None) is not None:
                self._write_index(quiet=True)

    # ------------------------------------------------------------------ reading

    def load(self, limit: int = MAX_LISTED) -> Loaded:
        """The newest ``limit`` runs, newest first. Files that cannot be read are skipped
        (logged once per file version)."""
        folder = self.folder
        out = Loaded()
        try:
            files = [
                (p, p.stat())
                for p in folder.glob("*.json")
                if not p.name.startswith(".") and p.is_file()
            ]
        except OSError as exc:
            if folder.exists():
                log.warning("Cannot list the run history in %s: %s", folder, exc)
            return out
        files.sort(key=lambda f: (f[1].st_mtime_ns, f[0].name), reverse=True)
        out.older = max(0, len(files) - limit)
        files = files[:limit]
        with self._lock:
            index = self._read_index()
            known = dict(index)
        changed = False
        fresh: dict[str, dict[str, Any]] = {}
        for path, st in files:
            cached = known.get(path.name)
            if cached and cached.get("size") == st.st_size and cached.get(
                "mtime_ns"
            ) == st.st_mtime_ns:
                if cached.get("skipped"):
                    out.skipped.append(path.name)
                else:
                    out.entries.append(HistoryEntry.from_dict(cached["entry"]))
                continue
            changed = True
            self.parsed += 1
            try:
                run = RunModel.of(read_run(path))
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                log.warning("Run history: skipping %s, which is not a saved run: %s", path, exc)
                out.skipped.append(path.name)
                fresh[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                    "skipped": True}
                continue
            entry = HistoryEntry.of(path.name, run, st.st_mtime)
            if cached and "entry" in cached:  # the same run, written again: keep its time
                entry.saved_at = float(cached["entry"].get("saved_at") or st.st_mtime)
            out.entries.append(entry)
            fresh[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                "entry": asdict(entry)}
        listed = {p.name for p, _ in files}
        with self._lock:
            index = self._read_index()
            index.update(fresh)
            gone = [name for name in index if name not in listed and name not in fresh]
            # Entries of files beyond the limit are kept; those of deleted files go.
            for name in gone:
                if not (folder / name).exists():
                    del index[name]
                    changed = True
            if changed:
                self._write_index(quiet=True)
        out.entries.sort(key=lambda e: (e.saved_at, e.name), reverse=True)
        return out

    # ------------------------------------------------------------------ the index

    def _read_index(self) -> dict[str, dict[str, Any]]:
        """The index (read once; the caller holds the lock)."""
        if self._index is not None:
            return self._index
        path = self.folder / INDEX_NAME
        index: dict[str, dict[str, Any]] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(raw, dict) and raw.get("schema") == INDEX_SCHEMA:
                files = raw.get("files")
                if isinstance(files, dict):
                    index = {k: v for k, v in files.items() if isinstance(v, dict)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("Run history: rebuilding the index %s, which cannot be read: %s",
                        path, exc)
        self._index = index
        return index

    def _remember(self, path: Path, entry: HistoryEntry) -> None:
        index = self._read_index()
        try:
            st = path.stat()
        except OSError:
            return
        index[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                            "entry": asdict(entry)}

    def _write_index(self, *, quiet: bool = False) -> None:
        """Write the index (the caller holds the lock). It is only a cache: failing to write
        it costs a slower next start, so it is logged, not raised, when ``quiet``."""
        data = {"schema": INDEX_SCHEMA, "files": self._index or {}}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / INDEX_NAME, json.dumps(data, ensure_ascii=False),
                         what="the run history's index")
        except (OSError, OutthinkError) as exc:
            if not quiet:
                log.warning("Run history: could not write the index: %s", exc)


# ---------------------------------------------------------------------- the list


def when_text(saved_at: float, now: float | None = None) -> str:
    """'14:03' today, '12 Mar 14:03' this year, '12 Mar 2024' before."""
    t = time.localtime(saved_at)
    today = time.localtime(now if now is not None else time.time())
    if t.tm_year != today.tm_year:
        return time.strftime("%d %b %Y", t).lstrip("0")
    if (t.tm_yday, t.tm_year) == (today.tm_yday, today.tm_year):
        return time.strftime("%H:%M", t)
    return time.strftime("%d %b %H:%M", t).lstrip("0")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class HistoryModel(QAbstractListModel):
    EntryRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[HistoryEntry] = []

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.entries)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _one_line(entry.problem)
        if role == self.EntryRole:
            return entry
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry)
        return None

    @staticmethod
    def _tooltip(e: HistoryEntry) -> str:
        answer = html.escape(latex_to_unicode(e.answer) or e.answer) if e.answer else "none"
        lines = [f"<p>{html.escape(e.problem[:600])}</p>", f"Answer: <b>{answer}</b>"]
        if e.correct is not None and e.reference is not None:
            ref = html.escape(latex_to_unicode(e.reference) or e.reference)
            lines.append(("✓ right" if e.correct else "✗ wrong") + f" (reference {ref})")
        how = e.strategy + (f", N = {e.n}" if e.n else "")
        if e.policy:
            how += f", {html.escape(e.policy)}"
        lines.append(html.escape(how))
        saved = time.strftime("%c", time.localtime(e.saved_at))
        lines.append(f"{_status_word(e.status)} · {saved}")
        lines.append("Click to open it again; Delete removes it.")
        return "<br>".join(lines)

    def set_entries(self, entries: list[HistoryEntry]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.endResetModel()

    def put(self, entry: HistoryEntry) -> None:
        """Add a run at the top, or update it where it is."""
        for row, old in enumerate(self.entries):
            if old.name == entry.name:
                self.entries[row] = entry
                index = self.index(row, 0)
                self.dataChanged.emit(index, index)
                return
        self.beginInsertRows(QModelIndex(), 0, 0)
        self.entries.insert(0, entry)
        self.endInsertRows()

    def remove(self, name: str) -> None:
        for row, old in enumerate(self.entries):
            if old.name == name:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.entries[row]
                self.endRemoveRows()
                return


def _status_word(status: str) -> str:
    return {"cancelled": "stopped", "finished": "finished"}.get(status, status)


class HistoryFilter(QSortFilterProxyModel):
    """Rows whose problem or answer hold every word of the search text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.words: list[str] = []

    def set_query(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9 and later
            self.beginFilterChange()
            self.words = text.casefold().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.words = text.casefold().split()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, HistoryModel) or source_row >= len(model.entries):
            return False
        return model.entries[source_row].matches(self.words)


class HistoryDelegate(QStyledItemDelegate):
    """Two lines per run: the problem; then ✓/✗, the answer, the strategy and the time."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        fm = QFontMetrics(option.font)
        pad = max(2, fm.height() // 4)
        return QSize(fm.averageCharWidth() * 20, fm.height() * 2 + pad * 3)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        entry = index.data(HistoryModel.EntryRole)
        if not isinstance(entry, HistoryEntry):
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect: QRect = opt.rect
        fm = QFontMetrics(opt.font)
        pad = max(2, fm.height() // 4)
        inner = rect.adjusted(pad * 2, pad, -pad * 2, -pad)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        pal: QPalette = opt.palette
        text = pal.highlightedText().color() if selected else pal.text().color()
        painter.save()
        painter.setPen(text)
        first = QRect(inner.left(), inner.top(), inner.width(), fm.height())
        problem = fm.elidedText(_one_line(entry.problem) or "(empty problem)",
                                Qt.TextElideMode.ElideRight, inner.width())
        painter.drawText(first, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         problem)
        second = QRect(inner.left(), inner.top() + fm.height() + pad, inner.width(),
                       fm.height())
        x = second.left()
        if entry.correct is not None:
            mark = "✓ " if entry.correct else "✗ "
            painter.setPen(theme.RIGHT if entry.correct else theme.WRONG)
            painter.drawText(QRect(x, second.top(), second.width(), second.height()),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             mark)
            x += fm.horizontalAdvance(mark)
        answer = latex_to_unicode(entry.answer) or entry.answer if entry.answer else "no answer"
        details = [entry.strategy] if entry.strategy else []
        if entry.status in ("cancelled", "failed"):
            details.append(_status_word(entry.status))
        details.append(when_text(entry.saved_at))
        line = f"{answer} · {' · '.join(details)}"
        dim = text if selected else pal.placeholderText().color()
        painter.setPen(dim)
        painter.drawText(
            QRect(x, second.top(), second.right() - x, second.height()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            fm.elidedText(line, Qt.TextElideMode.ElideRight, max(0, second.right() - x)),
        )
        painter.restore()


class HistoryPanel(QWidget):
    """The sidebar: a search box and the runs, newest first."""

    open_requested = Signal(str)  # file name
    delete_requested = Signal(list)  # file names
    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        m = theme.em(self, 0.3)
        layout.setContentsMargins(m, m, m, m)
        title = QLabel("<b>History</b>")
        title.setToolTip("Every run is kept here (View → History, Ctrl+H, hides this list).")
        layout.addWidget(title)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search problems, answers")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Shows the runs whose problem or answer holds every word typed.")
        layout.addWidget(self.search)
        self.model = HistoryModel(self)
        self.proxy = HistoryFilter(self)
        self.proxy.setSourceModel(self.model)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(HistoryDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setToolTip("")
        layout.addWidget(self.view, 1)
        self.note = QLabel("Loading the run history…")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)
        layout.addWidget(self.note)
        self.setMinimumWidth(theme.em(self, 9))
        self.skipped: list[str] = []
        self.older = 0
        self.loaded = False

        self.delete_action = QAction("Delete", self.view)
        self.delete_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Delete),
                                         QKeySequence(Qt.Key.Key_Backspace)])
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.delete_action.triggered.connect(self.delete_selected)
        self.view.addAction(self.delete_action)

        self.search.textChanged.connect(self._on_search)
        self.view.clicked.connect(self._open_index)
        self.view.activated.connect(self._open_index)  # Return on the keyboard
        self.view.customContextMenuRequested.connect(self._menu)

    # ------------------------------------------------------------------ content

    def set_loaded(self, loaded: Loaded) -> None:
        self.loaded = True
        fresh = {e.name for e in self.model.entries}  # saved while the list was loading
        entries = [e for e in self.model.entries] + [
            e for e in loaded.entries if e.name not in fresh
        ]
        self.model.set_entries(entries)
        self.skipped, self.older = loaded.skipped, loaded.older
        self._update_note()

    def put(self, entry: HistoryEntry) -> None:
        self.model.put(entry)
        self._update_note()

    def remove(self, name: str) -> None:
        self.model.remove(name)
        self._update_note()

    def set_current(self, name: str | None) -> None:
        """Select the run the window shows (none: clear the selection)."""
        self.view.clearSelection()
        if name is None:
            return
        for row, entry in enumerate(self.model.entries):
            if entry.name == name:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                if index.isValid():
                    self.view.setCurrentIndex(index)
                return

    def entry_names(self) -> list[str]:
        """The listed runs, as shown (filtered), top first."""
        return [
            self.proxy.index(row, 0).data(HistoryModel.EntryRole).name
            for row in range(self.proxy.rowCount())
        ]

    def _on_search(self, text: str) -> None:
        self.proxy.set_query(text)
        self._update_note()

    def _update_note(self) -> None:
        total = len(self.model.entries)
        shown = self.proxy.rowCount()
        if not self.loaded and not total:
            text = "Loading the run history…"
        elif not total:
            text = "No runs yet. Every run is kept here, to open again later."
        elif self.proxy.words and shown < total:
            text = f"{shown} of {total} runs match." if shown else "No run matches the search."
        else:
            text = f"{total} run{'s' if total != 1 else ''}. Click one to open it again."
        if self.older:
            text += f" The {self.older} oldest are not listed; their files are kept."
        if self.skipped:
            count = len(self.skipped)
            text += (
                f" {count} file{'s' if count != 1 else ''} in the history folder could not be "
                "read and {0} left out (the log names {1}).".format(
                    "is" if count == 1 else "are", "it" if count == 1 else "them"
                )
            )
        self.note.setText(text)

    # ------------------------------------------------------------------ actions

    def _entry(self, index: _Index) -> HistoryEntry | None:
        entry = index.data(HistoryModel.EntryRole) if index.isValid() else None
        return entry if isinstance(entry, HistoryEntry) else None

    def _open_index(self, index: QModelIndex) -> None:
        entry = self._entry(index)
        if entry is not None:
            self.open_requested.emit(entry.name)

    def selected_names(self) -> list[str]:
        names = []
        for index in self.view.selectionModel().selectedIndexes():
            entry = self._entry(index)
            if entry is not None:
                names.append(entry.name)
        return names

    def menu_entries(self, index: QModelIndex) -> list[tuple[str, Any]]:
        entry = self._entry(index)
        if entry is None:
            return []
        if entry.name not in self.selected_names():
            self.view.setCurrentIndex(index)
        names = self.selected_names()
        answer = entry.answer

        def copy_answer() -> None:
            if copy_text(answer or ""):
                self.copied.emit("Answer copied to the clipboard.")

        def copy_problem() -> None:
            if copy_text(entry.problem):
                self.copied.emit("Problem copied to the clipboard.")

        many = f" {len(names)} runs" if len(names) > 1 else ""
        return [
            ("Open", lambda: self.open_requested.emit(entry.name)),
            ("Copy answer", copy_answer if answer else None),
            ("Copy problem", copy_problem),
            (f"Delete{many}…", lambda: self.delete_requested.emit(names)),
        ]

    def _menu(self, pos: QPoint) -> None:
        entries = self.menu_entries(self.view.indexAt(pos))
        if entries:
            self.menu = popup(self, entries, self.view.viewport().mapToGlobal(pos))

    def delete_selected(self) -> None:
        names = self.selected_names()
        if names:
            self.delete_requested.emit(names)


def toggle_action(panel: HistoryPanel, parent: QObject) -> QAction:
    """View → History: shows and hides the sidebar (Ctrl+H)."""
    action = QAction("&History", parent)
    action.setCheckable(True)
    action.setChecked(True)
    action.setShortcut(QKeySequence("Ctrl+H"))
    action.setToolTip("Show or hide the runs made before (Ctrl+H).")
    action.toggled.connect(panel.setVisible)
    return action


# ---------------------------------------------------------------------- the glue


def confirm_delete(parent: QWidget, count: int) -> bool:
    """Ask before runs are deleted (their files cannot be brought back)."""
    what = "this run" if count == 1 else f"these {count} runs"
    answer = QMessageBox.question(
        parent,
        "Delete from the history",
        f"Delete {what} from the history? The file{'s' if count != 1 else ''} "
        "will be removed from the disk.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


class HistoryController(QObject):
    """Saves every run that started, loads the list off the GUI thread, opens and deletes.

    ``runs`` is the window's :class:`~outthink.gui.run_controller.RunController`;
    ``open_run(path)`` shows a saved run (the app controller's); ``report(message, hint)``
    is the window's one error path.
    """

    def __init__(
        self,
        panel: HistoryPanel,
        runs: Any,
        open_run: Callable[[Path], bool],
        report: Callable[[str, str], None],
        store: HistoryStore | None = None,
    ) -> None:
        super().__init__(panel)
        self.panel = panel
        self.runs = runs
        self._open_run = open_run
        self._report = report
        self.store = store or HistoryStore()
        #: The history file of the run the window shows (None: not saved, or none shown).
        self.current: str | None = None
        self._saving: dict[FunctionWorker, threading.Event] = {}
        self.confirm: Callable[[QWidget, int], bool] = confirm_delete
        panel.open_requested.connect(self.open)
        panel.delete_requested.connect(self.delete)
        runs.updated.connect(self._on_updated)
        runs.run_ended.connect(self._on_run_ended)
        runs.reranked.connect(self._on_reranked)
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self) -> FunctionWorker:
        worker = FunctionWorker(self.store.load)
        worker.signals.returned.connect(self.panel.set_loaded)
        worker.signals.errored.connect(
            lambda exc: log.error("Run history could not be listed: %s", exc)
        )
        self._loader = worker
        worker.start(io_pool())
        return worker

    # ------------------------------------------------------------------ saving

    def _on_updated(self, changes: Any) -> None:
        if changes.started:  # a new run, or a file opened: not (yet) this history's run
            self.current = None
            self.panel.set_current(None)

    def _on_run_ended(self, _status: str) -> None:
        events = list(self.runs.events)
        if not any(isinstance(e, RunStarted) for e in events):
            return  # it never started (no model, say): nothing to keep
        self.current = self.store.new_name()
        self.save(self.current, events)

    def _on_reranked(self) -> None:
        if self.current is not None and not self.runs.busy:
            self.save(self.current, list(self.runs.events))

    def save(self, name: str, events: list[Event]) -> FunctionWorker:
        """Write the run on a worker; the list shows it once written."""
        generation = self.store.reserve(name)
        done = threading.Event()

        def write() -> HistoryEntry:
            try:
                return self.store.save(name, events, generation)
            finally:
                done.set()  # on the worker thread: shutdown() may wait with no event loop

        worker = FunctionWorker(write)
        self._saving[worker] = done

        def saved(entry: object) -> None:
            if isinstance(entry, HistoryEntry):
                self.panel.put(entry)
                if entry.name == self.current:
                    self.panel.set_current(entry.name)

        def failed(exc: object) -> None:
            if isinstance(exc, OutthinkError):
                message, hint = exc.message, exc.hint
            else:
                message, hint = f"{type(exc).__name__}: {exc}", "The log file has the details."
            self._report(f"The run could not be kept in the history. {message}", hint)

        def finished() -> None:
            self._saving.pop(worker, None)

        worker.signals.returned.connect(saved)
        worker.signals.errored.connect(failed)
        worker.signals.finished.connect(finished)
        worker.start(io_pool())
        return worker

    def wait(self, timeout_s: float = 5.0) -> bool:
        """Wait for saves in progress (the window is closing); False on timeout."""
        deadline = time.monotonic() + timeout_s
        for done in list(self._saving.values()):
            if not done.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    # ------------------------------------------------------------------ open, delete

    def open(self, name: str) -> bool:
        if self.runs.busy:
            self._report(
                "A run is going: the saved run cannot be shown now.",
                "Stop it (Escape) or wait for it to end, then click the saved run again.",
            )
            return False
        if not self._open_run(self.store.folder / name):
            return False
        self.current = name
        self.panel.set_current(name)
        return True

    def delete(self, names: list[str]) -> int:
        if not names or not self.confirm(self.panel, len(names)):
            return 0
        deleted = 0
        for name in names:
            try:
                self.store.delete(name)
            except OSError as exc:
                self._report(
                    f"Could not delete {self.store.folder / name}: {exc.strerror or exc}.",
                    "Check that the history folder is writable.",
                )
                continue
            deleted += 1
            self.panel.remove(name)
            if name == self.current:
                self.current = None
        return deleted

