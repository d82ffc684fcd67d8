"""The models manager: the catalog as a table, downloads with progress, cancel and resume,
delete, import of a GGUF already on disk.

Each row says what the model is for (its purpose and, below the table, the catalog's
description), how much memory a run needs and whether that suits this computer's RAM
(:func:`outthink.memory.machine_fit`, the estimate the engine refuses runs by); the best model
of each purpose that fits is marked recommended (:func:`outthink.memory.recommend`). The free
space of the models folder's disk is shown under the table.

:class:`ModelsController` (logic) lives as long as the app, so a download goes on when the
dialog is closed and shows its progress again when it is reopened. :class:`ModelsTableModel`
feeds the table; :class:`ModelsDialog` is layout. Downloads run :func:`outthink.hub.download`
on the I/O pool; a cancel keeps the partial file, and downloading again resumes it. Network
and Hub failures arrive as typed errors with the next step (retry later, use a mirror, add a
token) and are shown in the dialog's banner. A Hub that cannot be reached at all fails within
seconds and says what to do: check the connection, set a Hub mirror (the banner's "Open
Settings…" button asks for the Settings dialog at that field, :attr:`ModelsDialog.
settings_requested`), or import a file. In offline mode nothing touches the network and the
installed and imported models stay usable.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from outthink.config import Settings
from outthink.errors import Cancelled, HubUnreachableError, OutthinkError, describe
from outthink.generation import CancelToken
from outthink.gui import theme
from outthink.gui.banner import MessageBanner
from outthink.gui.workers import FunctionWorker, io_pool

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex

STATE_TEXT = {
    "present": "installed",
    "available": "bundled, ready",
    "missing": "not downloaded",
    "partial": "partly downloaded",
    "unverified": "on disk, not verified",
    "changed": "changed on disk",
}


def size_text(n: int | float | None) -> str:
    if not n:
        return "–"
    n = float(n)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def progress_text(p: Any) -> str:
    """One line for a DownloadProgress snapshot: bytes, rate and time left."""
    if p.state == "checking":
        return p.message or "checking…"
    if p.state == "verifying":
        return "verifying the SHA-256…"
    if p.state == "retrying":
        return f"retrying: {p.message}"
    if p.state == "done":
        return "done"
    if p.state == "cancelled":
        return "cancelled; the partial file is kept"
    if p.state == "failed":
        return "failed"
    total = f" of {size_text(p.total)}" if p.total else ""
    rate = f" · {size_text(p.rate_bps)}/s" if p.rate_bps else " · measuring the speed…"
    eta = f" · {duration_text(p.eta_s)} left" if p.eta_s is not None else ""
    return f"{size_text(p.downloaded)}{total}{rate}{eta}"


def status_progress_text(p: Any) -> str:
    """A running download in the Status column: percent, speed and time left, short enough
    for the column (the line under the table has the byte counts too)."""
    if p.state != "downloading":
        return "waiting to retry…" if p.state == "retrying" else progress_text(p)
    parts = [f"{100 * p.fraction:.0f}%" if p.fraction is not None else size_text(p.downloaded)]
    if p.rate_bps:
        parts.append(f"{size_text(p.rate_bps)}/s")
        if p.eta_s is not None:
            parts.append(f"{duration_text(p.eta_s)} left")
    else:
        parts.append("measuring the speed…")
    return " · ".join(parts)


def finished_text(p: Any) -> str:
    """How a finished download went: size, time and mean speed ("" when nothing came)."""
    if p is None or not p.transferred or p.elapsed_s <= 0:
        return ""
    return (f"{size_text(p.transferred)} in {duration_text(p.elapsed_s)}, "
            f"{size_text(p.average_bps)}/s on average")


def unreachable_hint(exc: HubUnreachableError) -> str:
    """What to do about a Hub that cannot be reached, in the app's own words."""
    again = "then press Download again: it resumes where it stopped."
    importing = "Or import a GGUF file you already have (Import GGUF…)."
    if exc.mirror == "settings":
        return (
            "Check the internet connection and the Hub mirror's address in Settings (empty "
            f"means huggingface.co), {again} {importing}"
        )
    if exc.mirror == "environment":
        return (
            "Check the internet connection and the HF_ENDPOINT environment variable Outthink "
            "was started with, or set a Hub mirror in Settings (it takes precedence), "
            f"{again} {importing}"
        )
    return (
        f"Check the internet connection, {again} If the Hub is blocked here, set a Hub mirror "
        f"in Settings. {importing}"
    )


@dataclass(slots=True)
class _Active:
    worker: FunctionWorker
    cancel: CancelToken
    progress: Any = None


def purpose_text(entry: Any) -> str:
    """What a model does in a run, in a few words (the Purpose column)."""
    if entry.role == "policy":
        return "Solves problems"
    kind = entry.verifier_kind or ""
    if kind.startswith("prm"):
        return "Checks steps (reward model)"
    if kind == "judge":
        return "Checks steps (yes/no judge)"
    return "Checks steps"


#: The "This computer" column: text and colour per fit level (memory.MachineFit.level).
FIT_TEXT = {"fits": "fits", "tight": "tight", "too-big": "too big", "unknown": "unknown"}
FIT_COLOR = {
    "fits": QColor(30, 120, 50),
    "tight": QColor(150, 100, 0),
    "too-big": QColor(180, 40, 30),
}
RECOMMENDED = "★ recommended"


class ModelsTableModel(QAbstractTableModel):
    COLUMNS = ("Model", "Purpose", "Size", "RAM needed", "This computer", "Status")
    MODEL, PURPOSE, SIZE, RAM, FIT, STATUS = range(6)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[Any] = []  # catalog.ModelStatus
        self.progress: dict[str, Any] = {}  # id -> DownloadProgress of a running download
        self.fits: dict[str, Any] = {}  # id -> memory.MachineFit
        self.recommended: dict[str, str] = {}  # role -> id

    def set_rows(self, rows: list[Any], fits: dict[str, Any] | None = None,
                 recommended: dict[str, str] | None = None) -> None:
        self.beginResetModel()
        self.rows = rows
        self.fits = dict(fits or {})
        self.recommended = dict(recommended or {})
        self.endResetModel()

    def row_of(self, model_id: str) -> int:
        return next((i for i, st in enumerate(self.rows) if st.entry.id == model_id), -1)

    def is_recommended(self, entry: Any) -> bool:
        return self.recommended.get(entry.role) == entry.id

    def set_progress(self, model_id: str, progress: Any) -> None:
        if progress is None:
            self.progress.pop(model_id, None)
        else:
            self.progress[model_id] = progress
        row = self.row_of(model_id)
        if row >= 0:
            self.dataChanged.emit(self.index(row, self.STATUS), self.index(row, self.STATUS))

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole and section == self.FIT:
            return "Whether the model suits the RAM of this computer; the best one of each " \
                   "purpose that fits is recommended."
        if role == Qt.ItemDataRole.ToolTipRole and section == self.RAM:
            return "Memory a run needs (4096-token context, 8 candidates)."
        return None

    def status_text(self, st: Any, *, full: bool = False) -> str:
        """The Status cell (``full``: with byte counts and the retry reason, its tooltip)."""
        p = self.progress.get(st.entry.id)
        if p is not None:
            if not full:
                return status_progress_text(p)
            pct = f"{100 * p.fraction:.0f}% · " if p.fraction is not None else ""
            return f"{pct}{progress_text(p)}"
        text = STATE_TEXT.get(st.state, st.state)
        if st.state == "partial" and st.entry.size_bytes:
            text += f" ({min(99, 100 * st.partial_bytes // st.entry.size_bytes)}%)"
        return text

    def fit_text(self, entry: Any) -> str:
        if self.is_recommended(entry):
            return RECOMMENDED
        fit = self.fits.get(entry.id)
        return FIT_TEXT.get(fit.level, "") if fit is not None else ""

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        st = self.rows[index.row()]
        entry = st.entry
        col = index.column()
        fit = self.fits.get(entry.id)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.MODEL:
                return entry.name
            if col == self.PURPOSE:
                return purpose_text(entry)
            if col == self.SIZE:
                return size_text(entry.size_bytes)
            if col == self.RAM:
                return size_text(fit.needed if fit is not None and fit.needed else
                                 entry.ram_bytes)
            if col == self.FIT:
                return self.fit_text(entry)
            return self.status_text(st)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.FIT and fit is not None:
                extra = " The best model for this purpose that fits this computer." if \
                    self.is_recommended(entry) else ""
                return fit.message + extra
            if col == self.STATUS:
                return self.status_text(st, full=True)
            lines = [entry.name, purpose_text(entry)]
            if entry.description:
                lines.append(entry.description)
            lines += [f"{entry.id} — {entry.source}", f"License: {entry.license}"]
            if st.path:
                lines.append(f"File: {st.path}")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == self.STATUS and st.present:
                return QColor(30, 120, 50)
            if col == self.FIT and fit is not None:
                return FIT_COLOR.get("fits" if self.is_recommended(entry) else fit.level)
        if role == Qt.ItemDataRole.FontRole and col == self.FIT and self.is_recommended(entry):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.SIZE, self.RAM):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ModelsController(QObject):
    """Catalog listing, downloads, deletes and imports; lives as long as the app."""

    message = Signal(str, str, str)  # level, message, hint
    #: The Hub could not be reached (message, hint): the dialog offers the Settings.
    unreachable = Signal(str, str)
    changed = Signal()  # the list of models on disk changed

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.model = ModelsTableModel(self)
        #: Free bytes where models are stored (None: unknown); set by :meth:`refresh`.
        self.disk_free: int | None = None
        self.active: dict[str, _Active] = {}
        self.download_options: Any = None  # hub.DownloadOptions; tests make retries fast
        #: Asks the user to confirm a deletion; replaced in tests (a modal box would block).
        self.confirm: Callable[[str], bool] = lambda text: True

    def refresh(self) -> None:
        import outthink.catalog as catalog
        import outthink.memory as memory

        try:
            rows = catalog.list_models(self.settings)
        except OutthinkError as exc:
            self.message.emit("error", exc.message, exc.hint)
            rows = []
        for notice in catalog.registry_notices():  # a damaged registry: restored, or not
            self.message.emit("warning", notice, "")
        ram = memory.physical_memory()
        fits = {st.entry.id: memory.machine_fit(st.entry, ram=ram, settings=self.settings)
                for st in rows}
        recommended = memory.recommend((st.entry for st in rows), fits)
        self.disk_free = memory.disk_free(self.settings.models_path())
        self.model.set_rows(rows, fits, recommended)

    def folder_text(self) -> str:
        """Where models go and how much room is left there."""
        free = f" · {size_text(self.disk_free)} free" if self.disk_free is not None else ""
        return f"Models folder: {self.settings.models_path()}{free}"

    def details_text(self, model_id: str | None) -> str:
        """What the selected model is for and whether it suits this computer (rich text)."""
        st = self.status(model_id) if model_id else None
        if st is None:
            return ("Select a model to see what it is for and whether it suits this "
                    "computer.")
        entry = st.entry
        model = self.model
        parts = [f"<b>{html.escape(entry.name)}</b> — {html.escape(purpose_text(entry))}."]
        if entry.description:
            parts.append(html.escape(entry.description))
        fit = model.fits.get(entry.id)
        if fit is not None:
            parts.append(html.escape(fit.message))
        if model.is_recommended(entry):
            role = "solver" if entry.role == "policy" else "verifier"
            parts.append(f"<b>Recommended</b>: the best {role} that fits this computer.")
        if not st.present and entry.size_bytes:
            room = ""
            if self.disk_free is not None:
                short = entry.size_bytes > self.disk_free
                room = (f"; only {size_text(self.disk_free)} free — not enough" if short
                        else f"; {size_text(self.disk_free)} free")
            parts.append(f"Download: {size_text(entry.size_bytes)}{room}.")
        parts.append(f"License: {html.escape(entry.license or 'see the model card')}.")
        return " ".join(parts)

    def status(self, model_id: str) -> Any:
        row = self.model.row_of(model_id)
        return self.model.rows[row] if row >= 0 else None

    # ------------------------------------------------------------------ downloads

    def can_download(self, st: Any) -> bool:
        return (
            st is not None
            and st.entry.is_hub
            and st.state != "present"
            and st.entry.id not in self.active
        )

    def download(self, model_id: str) -> bool:
        from outthink import hub

        st = self.status(model_id)
        if not self.can_download(st):
            return False
        if self.settings.is_offline():
            self.message.emit(
                "warning",
                "Offline mode is on, so nothing is downloaded.",
                "Turn it off in Settings to download, or import a GGUF file you already have.",
            )
            return False
        cancel = CancelToken()
        worker = FunctionWorker.with_progress(
            hub.download,
            st.entry,
            settings=self.settings,
            cancel=cancel,
            options=self.download_options,
        )
        worker.signals.progress.connect(lambda p, mid=model_id: self._on_progress(mid, p))
        worker.signals.returned.connect(lambda path, mid=model_id: self._on_done(mid, path))
        worker.signals.errored.connect(lambda exc, mid=model_id: self._on_error(mid, exc))
        worker.signals.finished.connect(lambda mid=model_id: self._on_finished(mid))
        self.active[model_id] = _Active(worker, cancel)
        resumed = " (resuming)" if st.state == "partial" else ""
        self.message.emit("info", f"Downloading {st.entry.name}{resumed}…", "")
        worker.start(io_pool())
        return True

    def cancel(self, model_id: str) -> None:
        active = self.active.get(model_id)
        if active is not None:
            active.cancel.cancel()

    def _on_progress(self, model_id: str, progress: Any) -> None:
        active = self.active.get(model_id)
        if active is not None:
            active.progress = progress
        self.model.set_progress(model_id, progress)

    def _on_done(self, model_id: str, path: object) -> None:
        active = self.active.get(model_id)
        how = finished_text(active.progress if active is not None else None)
        detail = f" ({how})" if how else ""
        self.message.emit("info", f"{model_id} is installed{detail}.", f"File: {path}")

    def _on_error(self, model_id: str, exc: object) -> None:
        if isinstance(exc, Cancelled):
            self.message.emit("info", exc.message, "Press Download again to resume.")
        elif isinstance(exc, HubUnreachableError):
            self.unreachable.emit(exc.message, unreachable_hint(exc))
        elif isinstance(exc, OutthinkError):
            self.message.emit("error", exc.message, exc.hint)
        else:
            log.error("Download of %s failed", model_id, exc_info=exc)  # type: ignore[arg-type]
            self.message.emit("error", describe(exc), "")  # type: ignore[arg-type]

    def _on_finished(self, model_id: str) -> None:
        self.active.pop(model_id, None)
        self.model.set_progress(model_id, None)
        self.refresh()
        self.changed.emit()

    # ------------------------------------------------------------------ delete and import

    def delete(self, model_id: str) -> bool:
        import outthink.catalog as catalog

        st = self.status(model_id)
        if st is None or model_id in self.active:
            return False
        if not self.confirm(f"Delete {st.entry.name} from this computer?"):
            return False
        try:
            result = catalog.remove_model(model_id, self.settings)
        except OutthinkError as exc:
            self.message.emit("error", exc.message, exc.hint)
            return False
        except OSError as exc:
            self.message.emit("error", f"Could not delete {model_id}: {exc}.", "")
            return False
        self.message.emit("info", result.message, "")
        self.refresh()
        self.changed.emit()
        return True

    def import_file(self, path: str, *, role: str = "policy", copy: bool = False) -> bool:
        """Register a GGUF on disk (hashing it on the I/O pool; big files take a while)."""
        import outthink.catalog as catalog

        key = f"import:{path}"
        if key in self.active:
            return False
        last = [0.0]

        def job(progress: Callable[[object], None]) -> Any:
            def on_bytes(done: int) -> None:
                now = time.monotonic()
                if now - last[0] >= 0.1:  # a callback per MiB would flood the GUI
                    last[0] = now
                    progress(done)

            return catalog.import_model(
                path, role=role, copy=copy, settings=self.settings, on_bytes=on_bytes
            )

        worker = FunctionWorker.with_progress(job)
        size = Path(path).stat().st_size if Path(path).exists() else 0
        worker.signals.progress.connect(
            lambda done: self.message.emit(
                "info", f"Importing {Path(path).name}: {size_text(done)} of {size_text(size)}…",
                "",
            )
        )
        worker.signals.returned.connect(
            lambda entry: self.message.emit(
                "info", f"Imported {Path(path).name} as {entry.id}.",
                "It is now in the model pickers.",
            )
        )
        worker.signals.errored.connect(lambda exc: self._on_error(key, exc))
        worker.signals.finished.connect(lambda: self._on_finished(key))
        self.active[key] = _Active(worker, CancelToken())
        worker.start(io_pool())
        return True

    def shutdown(self, timeout_ms: int = 3000) -> None:
        for active in self.active.values():
            active.cancel.cancel()
        io_pool().waitForDone(timeout_ms)


class ModelsDialog(QDialog):
    #: The user asked for the Settings dialog at the named field (``"hf_endpoint"``).
    settings_requested = Signal(str)

    def __init__(self, controller: ModelsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.controller = controller
        layout = QVBoxLayout(self)
        self.banner = MessageBanner()
        layout.addWidget(self.banner)
        self.offline_note = QLabel(
            "Offline mode is on: nothing is downloaded. Installed and imported models work."
        )
        self.offline_note.setEnabled(False)
        layout.addWidget(self.offline_note)

        self.table = QTableView()
        self.table.setModel(controller.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)  # one line per model; tooltips hold the full text
        self.table.verticalHeader().hide()
        m = ModelsTableModel
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(m.MODEL, QHeaderView.ResizeMode.Stretch)
        for col in (m.PURPOSE, m.SIZE, m.RAM, m.FIT):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(m.STATUS, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(m.STATUS, theme.em(self, 18))
        layout.addWidget(self.table, 1)

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(theme.em(self, 3))
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        # Shown only while the selected model downloads; its room is kept, so nothing jumps.
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        self.progress_label = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.progress_label, 2)
        layout.addLayout(row)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.folder_label.setEnabled(False)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.folder_label)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected model (resumes a partial one).")
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setToolTip("Stop the download; the part already here is kept.")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip(
            "Delete the model's file (imported files are only forgotten, never deleted)."
        )
        self.import_button = QPushButton("Import GGUF…")
        self.import_button.setToolTip("Use a .gguf file that is already on this computer.")
        self.import_role = QComboBox()
        self.import_role.addItems(["policy", "verifier"])
        self.import_role.setToolTip("Import the file as a policy or as a verifier (judge).")
        self.import_copy = QCheckBox("copy into the models folder")
        self.import_copy.setToolTip("Copy the file (otherwise it is used where it is).")
        for w in (self.download_button, self.cancel_button, self.delete_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        for widget in (self.import_button, self.import_role, self.import_copy):
            buttons.addWidget(widget)
        layout.addLayout(buttons)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout.addLayout(bottom)
        self.resize(self.default_size())

        self.download_button.clicked.connect(lambda: self._with_selected(controller.download))
        self.cancel_button.clicked.connect(lambda: self._with_selected(controller.cancel))
        self.delete_button.clicked.connect(lambda: self._with_selected(controller.delete))
        self.import_button.clicked.connect(lambda: self.import_file())
        controller.message.connect(self._on_message)
        controller.unreachable.connect(self._on_unreachable)
        controller.model.modelReset.connect(self._restore_selection)
        # Bound methods, not lambdas: the controller outlives the dialog, and PySide drops a
        # connection to a deleted receiver only when it knows the receiver.
        controller.model.dataChanged.connect(self._on_data_changed)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update())
        controller.confirm = self._confirm
        self._selected_id: str | None = None
        controller.refresh()
        self._update()

    def default_size(self) -> QSize:
        """Room for every column and a few lines of details, from the font's size; never
        more than most of the screen."""
        size = QSize(theme.em(self, 72), theme.em(self, 36))
        screen = self.screen()
        if screen is not None:
            area = screen.availableGeometry()
            size = size.boundedTo(QSize(int(area.width() * 0.9), int(area.height() * 0.9)))
        return size

    def _on_data_changed(self, *_args: object) -> None:
        self._update()

    def done(self, result: int) -> None:
        if self.controller.confirm == self._confirm:
            self.controller.confirm = lambda text: True  # nobody to ask once the dialog is gone
        super().done(result)

    def _confirm(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Delete model", text)
        return answer == QMessageBox.StandardButton.Yes

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return str(self.controller.model.rows[rows[0].row()].entry.id)

    def select_model(self, model_id: str) -> None:
        row = self.controller.model.row_of(model_id)
        if row >= 0:
            self.table.selectRow(row)
            self.table.scrollTo(self.controller.model.index(row, 0))

    def _with_selected(self, action: Callable[[str], object]) -> None:
        model_id = self.selected_id()
        if model_id is not None:
            action(model_id)
            self._update()

    def _restore_selection(self) -> None:
        if self._selected_id is not None:
            self.select_model(self._selected_id)
        self._update()

    def import_file(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Import a GGUF model", str(Path.home()), "GGUF models (*.gguf)"
            )
        if path:
            self.controller.import_file(
                path, role=self.import_role.currentText(), copy=self.import_copy.isChecked()
            )

    def _on_message(self, level: str, message: str, hint: str) -> None:
        self.banner.show_message(level, message, hint)

    def _on_unreachable(self, message: str, hint: str) -> None:
        self.banner.show_message(
            "error", message, hint,
            action=("Open Settings…", lambda: self.settings_requested.emit("hf_endpoint")),
        )

    def _update(self) -> None:
        c = self.controller
        offline = c.settings.is_offline()
        self.offline_note.setVisible(offline)
        model_id = self.selected_id()
        if model_id is not None:
            self._selected_id = model_id
        self.details.setText(c.details_text(model_id))
        self.folder_label.setText(c.folder_text())
        st = c.status(model_id) if model_id else None
        active = c.active.get(model_id) if model_id else None
        self.download_button.setEnabled(c.can_download(st) and not offline)
        self.download_button.setText(
            "Resume download" if st is not None and st.state == "partial" else "Download"
        )
        if st is not None and st.entry.is_hub and offline:
            self.download_button.setToolTip("Offline mode is on (Settings).")
        self.cancel_button.setEnabled(active is not None)
        self.delete_button.setEnabled(
            st is not None
            and active is None
            and (st.state in ("present", "partial", "unverified", "changed")
                 or st.entry.origin == "local")
        )
        progress = active.progress if active is not None else None
        self.progress.setVisible(active is not None)
        if progress is not None and progress.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * progress.fraction))
            self.progress_label.setText(progress_text(progress))
        elif active is not None:
            self.progress.setRange(0, 0)  # busy indicator until the size is known
            self.progress_label.setText(progress_text(progress) if progress else "starting…")
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(0)
            self.progress_label.setText("")
