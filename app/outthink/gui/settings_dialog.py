"""Settings: threads, GPU layers, context size, models folder, Hub token and mirror, offline.

Three sections: Speed (threads, GPU, context), Folders, and Downloads (the Hub's token and
mirror, offline mode); :meth:`SettingsDialog.focus_field` opens it at one field. The values
are one :class:`~outthink.config.Settings` object; the caller saves it with
:func:`~outthink.config.save_settings` (TOML in the platformdirs config folder). Whether this
copy of Outthink can use a GPU is asked on a worker thread (the first question loads the
native library), and the note under the GPU field says, in plain words, what GPU offload does
and why the field is disabled when it cannot be used. The dialog's size comes from the font,
and it grows when a note gets longer, so no explanation is cut off.
"""

from __future__ import annotations

import dataclasses
import logging

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from outthink.config import Settings, data_dir, settings_path
from outthink.gui import theme
from outthink.gui.workers import FunctionWorker, io_pool
from outthink.ranges import option

log = logging.getLogger(__name__)

#: Cached answer of the engine (None until known): it cannot change while the app runs.
_GPU_OFFLOAD: bool | None = None


#: The note under "GPU layers", by what this copy of Outthink can do.
GPU_NOTES = {
    True: "A graphics card (GPU) can run part of the model, which makes runs several times "
    "faster. Each layer placed there uses graphics memory: 999 puts the whole model on the "
    "GPU, 0 keeps it on the processor. If a model fails to load, lower the number.",
    False: "This copy of Outthink runs models on the processor (CPU) only, so there is "
    "nothing to set here. A graphics card (GPU) can make runs several times faster; the "
    "README's \"GPU builds\" section explains how to get an Outthink that uses one.",
    None: "Outthink could not check for GPU support because its model runtime (llama.cpp) "
    "failed to load. Run `outthink doctor` in a terminal to see why.",
}


def _probe_gpu() -> tuple[bool, int]:
    from outthink import engine

    return engine.supports_gpu_offload(), engine.physical_cores()


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Outthink settings")
        self.settings = settings
        layout = QVBoxLayout(self)
        speed_box = QGroupBox("Speed")
        form = QFormLayout(speed_box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)

        self.threads = QSpinBox()
        self.threads.setRange(*option("threads").bounds)
        self.threads.setSpecialValueText("automatic (physical cores)")
        self.threads.setValue(settings.threads)
        self.threads.setToolTip(
            "CPU threads llama.cpp uses. Automatic = one per physical core, which is usually "
            "fastest; fewer leaves the computer more responsive."
        )
        form.addRow("CPU threads", self.threads)

        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(*option("gpu_layers").bounds)
        self.gpu_layers.setValue(settings.gpu_layers)
        self.gpu_layers.setToolTip(
            "How much of the model runs on the graphics card: 0 = none (the processor does "
            "all the work), 999 = all of it."
        )
        self.gpu_note = QLabel("Checking whether Outthink can use a graphics card here…")
        self.gpu_note.setWordWrap(True)
        self.gpu_note.setEnabled(False)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow(self.gpu_note)  # the whole width: a few lines, never cut off

        self.context_size = QSpinBox()
        self.context_size.setRange(0, 1_048_576)
        self.context_size.setSingleStep(1024)
        self.context_size.setSpecialValueText("automatic (sized from each run)")
        self.context_size.setValue(settings.context_size)
        self.context_size.setToolTip(
            "Context (KV cache) size in tokens. Automatic sizes it from the prompt, N and the "
            "max tokens of each run, which uses the least memory."
        )
        form.addRow("Context size", self.context_size)
        layout.addWidget(speed_box)

        folders_box = QGroupBox("Folders")
        form = QFormLayout(folders_box)
        data_row = QHBoxLayout()
        self.data_dir = QLineEdit(settings.data_dir)
        self.data_dir.setPlaceholderText(str(data_dir()))
        self.data_dir.setToolTip(
            "Where Outthink keeps its data (models unless set below, downloads in progress, "
            "benchmark recommendations). Empty = the default folder shown."
        )
        self.data_dir.setMinimumWidth(theme.em(self, 22))
        browse_data = QPushButton("Browse…")
        browse_data.clicked.connect(lambda: self._browse_into(self.data_dir, "Data folder"))
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(browse_data)
        form.addRow("Data folder", data_row)

        folder_row = QHBoxLayout()
        self.models_dir = QLineEdit(settings.models_dir)
        self.models_dir.setPlaceholderText(str(data_dir() / "models"))
        self.models_dir.setToolTip(
            "Where models are downloaded and looked for. Empty = the default folder shown."
        )
        self.models_dir.setMinimumWidth(theme.em(self, 22))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(self.models_dir, 1)
        folder_row.addWidget(browse)
        form.addRow("Models folder", folder_row)
        layout.addWidget(folders_box)

        #: The section a download error sends the user to (Models window, "Open Settings…").
        self.hub_box = QGroupBox("Downloads from the Hugging Face Hub")
        form = QFormLayout(self.hub_box)
        self.hf_token = QLineEdit(settings.hf_token)
        self.hf_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.hf_token.setPlaceholderText("hf_… (only for gated or private models)")
        self.hf_token.setToolTip(
            "Hugging Face access token, for models whose terms must be accepted first. Stored "
            f"in {settings_path()}; never written to the log."
        )
        form.addRow("Hub token", self.hf_token)

        self.hf_endpoint = QLineEdit(settings.hf_endpoint)
        self.hf_endpoint.setPlaceholderText("https://huggingface.co")
        self.hf_endpoint.setToolTip(
            "A Hugging Face mirror to download from (for example when the Hub is blocked or "
            "rate-limited). Empty = huggingface.co."
        )
        form.addRow("Hub mirror", self.hf_endpoint)

        self.offline = QCheckBox("Never use the network")
        self.offline.setChecked(settings.offline)
        self.offline.setToolTip(
            "Offline mode: no request is made at all; installed and imported models keep working."
        )
        form.addRow("Offline mode", self.offline)
        layout.addWidget(self.hub_box)

        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        where = QLabel(f"Saved in {settings_path()}")
        where.setEnabled(False)
        where.setWordWrap(True)
        layout.addWidget(where)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.setMinimumWidth(theme.em(self, 30))
        self.resize(theme.em(self, 40), self.sizeHint().height())

        if _GPU_OFFLOAD is None:
            worker = FunctionWorker(_probe_gpu)
            worker.signals.returned.connect(self._on_probe)
            worker.signals.errored.connect(self._on_probe_error)
            worker.start(io_pool())
            self.gpu_layers.setEnabled(False)
        else:
            self.set_gpu_support(_GPU_OFFLOAD)

    def focus_field(self, name: str) -> None:
        """Start in the field of setting ``name`` (``"hf_endpoint"``...), its text selected:
        the dialog opens where the user was sent to fix something."""
        field = getattr(self, name, None)
        if not isinstance(field, QWidget):
            return
        field.setFocus()
        if isinstance(field, QLineEdit):
            field.selectAll()

    def _on_probe(self, result: object) -> None:
        global _GPU_OFFLOAD
        if not isinstance(result, tuple):
            return
        supported, cores = result
        _GPU_OFFLOAD = bool(supported)
        self.threads.setSpecialValueText(f"automatic ({cores} physical cores)")
        self.set_gpu_support(bool(supported))

    def _on_probe_error(self, exc: object) -> None:
        log.warning("Could not ask llama.cpp about GPU support: %s", exc)
        self.gpu_layers.setEnabled(False)
        self._set_note(GPU_NOTES[None])

    def set_gpu_support(self, supported: bool) -> None:
        self.gpu_layers.setEnabled(supported)
        self._set_note(GPU_NOTES[supported])

    def _set_note(self, text: str) -> None:
        """Show a new GPU note and make the dialog tall enough for it at its width."""
        self.gpu_note.setText(text)
        layout = self.layout()
        if layout is None:
            return
        # The heights cached for the old text: the section's own layout and its item in the
        # dialog's layout drop theirs only when the section's geometry is marked as changed.
        section = self.gpu_note.parentWidget()
        if section is not None:
            section.updateGeometry()
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() \
            else layout.totalSizeHint().height()
        if needed > self.height():
            self.resize(self.width(), needed)

    def accept(self) -> None:
        endpoint = self.hf_endpoint.text().strip()
        if endpoint and not endpoint.startswith(("http://", "https://")):
            # Caught here rather than at the first download, far from this field.
            self.hf_endpoint.setFocus()
            self.error.setText(f"The Hub mirror must be an http(s) URL, not {endpoint!r}.")
            # The theme's red for errors, readable on a light and on a dark background.
            self.error.setStyleSheet(f"color: {theme.css(theme.WRONG)};")
            self.error.show()
            return
        super().accept()

    def _browse(self) -> None:
        self._browse_into(self.models_dir, "Models folder")

    def _browse_into(self, field: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, field.text() or str(data_dir()))
        if folder:
            field.setText(folder)

    def result_settings(self) -> Settings:
        """A copy of the settings with the dialog's values (extra and last problem kept)."""
        return dataclasses.replace(
            self.settings,
            threads=self.threads.value(),
            gpu_layers=self.gpu_layers.value() if self.gpu_layers.isEnabled() else
            self.settings.gpu_layers,
            context_size=self.context_size.value(),
            data_dir=self.data_dir.text().strip(),
            models_dir=self.models_dir.text().strip(),
            hf_token=self.hf_token.text().strip(),
            hf_endpoint=self.hf_endpoint.text().strip(),
            offline=self.offline.isChecked(),
            extra=dict(self.settings.extra),
        )
