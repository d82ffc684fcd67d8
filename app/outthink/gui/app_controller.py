"""The main window's logic: fills the pickers, starts and stops runs, keeps the settings,
exports runs, opens the dialogs, and routes every error to one place (:meth:`report_error`).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QWidget

from outthink.config import Settings, load_settings, save_settings
from outthink.errors import ConfigError, OutthinkError, describe
from outthink.events import event_from_dict
from outthink.gui import options
from outthink.gui.appearance import THEME_KEY, ThemeSwitch, theme_mode
from outthink.gui.controls import BROWSE, fill_choices, select
from outthink.gui.history import HistoryController
from outthink.gui.lifetime import QuitGuard, restore_window, window_state
from outthink.gui.main_window import MainWindow
from outthink.gui.run_controller import RunController, RunRequest
from outthink.gui.runstate import Changes
from outthink.search.config import SearchConfig

log = logging.getLogger(__name__)

#: Keys of the GUI's state in ``Settings.extra`` (TOML-safe scalars only).
EXTRA_PREFIX = "gui."
#: The command line's default verifier: no extra model, informative scores.
DEFAULT_VERIFIER = "self-certainty"


class AppController(QObject):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self._settings_broken = False
        self._startup_error: tuple[str, str] | None = None
        if settings is None:
            try:
                settings = load_settings(strict=True)
            except OutthinkError as exc:
                settings = Settings()
                self._settings_broken = True  # keep the user's file; do not overwrite it
                self._startup_error = (exc.message, exc.hint)
        self.settings = settings
        self._verifiers: list[options.ModelChoice] = []
        self._policies: list[options.ModelChoice] = []
        self._statuses: list[Any] = []
        #: The strategy whose values the panel shows, and what the user set for the others.
        self._strategy = ""
        self._strategy_values: dict[str, dict[str, Any]] = {}
        self.runs = RunController(self)
        from outthink.gui.models_dialog import ModelsController

        self.models = ModelsController(self.settings, self)
        self.window = MainWindow(self.runs.state, options.load_examples())
        self.controls = self.window.controls
        self.history = HistoryController(
            self.window.history, self.runs, self._open_saved, self.report_error
        )
        self.appearance = ThemeSwitch(
            self.window.theme_menu, theme_mode(self.settings.extra), self.window
        )
        self.appearance.changed.connect(lambda _dark: self.window.restyle())
        self.appearance.chosen.connect(self._on_theme_chosen)
        self.window.restyle()
        self.quit_guard = QuitGuard(self.window, self.runs, self.window.benchmark.controller)
        self.window.benchmark.set_settings(self.settings)
        self._connect()
        self.controls.set_strategies(options.strategy_choices())
        self.refresh_models()
        self.restore_state()
        self.window.set_busy(False)
        if self._startup_error:
            self.report_error(*self._startup_error)

    # ------------------------------------------------------------------ wiring

    def _connect(self) -> None:
        w, c, r = self.window, self.controls, self.runs
        c.run_clicked.connect(self.start_run)
        c.stop_clicked.connect(self.stop_run)
        w.run_action.triggered.connect(self.start_run)
        w.stop_action.triggered.connect(self.stop_run)
        c.strategy_changed.connect(self.on_strategy_changed)
        c.verifier_changed.connect(self.on_verifier_changed)
        c.verifier_picked.connect(self.on_verifier_picked)
        # A finished run is ranked again at once when the user changes how it is ranked.
        c.select.activated.connect(lambda _i: self.rerank())
        c.agg.activated.connect(lambda _i: self.rerank())
        c.browse_policy.connect(self.browse_policy)
        c.policy.activated.connect(lambda _i: self.on_policy_picked())
        r.busy_changed.connect(lambda _busy: self._sync_busy())
        # One engine thread serves both tabs: no Solve run while a benchmark runs.
        w.benchmark.controller.busy_changed.connect(lambda _busy: self._sync_busy())
        r.status.connect(lambda text: w.statusBar().showMessage(text))
        for view in (w.candidates, w.answer, w.history):
            view.copied.connect(lambda text: w.statusBar().showMessage(text, 4000))
        r.updated.connect(self._on_updated)
        r.failed.connect(self.report_error)
        r.run_ended.connect(self._on_run_ended)
        w.export_json_action.triggered.connect(lambda: self.export_json())
        w.export_png_action.triggered.connect(lambda: self.export_png())
        w.open_run_action.triggered.connect(lambda: self.open_run())
        w.models_action.triggered.connect(self.open_models)
        w.settings_action.triggered.connect(self.open_settings)
        w.quit_action.triggered.connect(w.close)
        w.closing.connect(self.shutdown)
        w.modes.currentChanged.connect(self._on_mode_changed)
        # Downloads, deletes and imports change what the pickers can offer.
        self.models.changed.connect(self.refresh_models)

    def _on_mode_changed(self, index: int) -> None:
        """Opening the Benchmark tab pre-fills it with the models chosen for solving."""
        w, c = self.window, self.controls
        if w.modes.widget(index) is not w.benchmark:
            return
        policy = c.policy.currentData()
        verifier_model = None if c.verifier_model.isHidden() else c.verifier_model.currentData()
        w.benchmark.set_models(
            None if not policy or policy == BROWSE else str(policy),
            str(c.verifier.currentData() or "self-certainty"),
            str(verifier_model) if verifier_model else None,
        )

    def _on_updated(self, changes: Changes) -> None:
        w = self.window
        w.candidates.apply(changes)
        w.tree.apply(changes)
        w.answer.apply(changes)

    def _sync_busy(self) -> None:
        bench = self.window.benchmark.controller.busy
        self.window.set_busy(self.runs.busy, blocked=bench and not self.runs.busy)
        self.window.benchmark.set_engine_busy(self.runs.busy)

    def _on_run_ended(self, status: str) -> None:
        self.save_state()

    def _on_theme_chosen(self, mode: str) -> None:
        self.settings.extra[THEME_KEY] = mode
        self.save_state()

    # ------------------------------------------------------------------ errors

    def report_error(self, message: str, hint: str = "") -> None:
        """The one path by which errors reach the user: banner plus status bar, non-modal."""
        log.info("Shown to the user: %s %s", message, hint)
        self.window.banner.show_error(message, hint)
        self.window.statusBar().showMessage(message)

    # ------------------------------------------------------------------ pickers

    def refresh_models(self) -> None:
        c = self.controls
        policy = c.policy.currentData()
        files = [
            str(c.policy.itemData(i))
            for i in range(c.policy.count())
            if str(c.policy.itemData(i) or "").endswith(".gguf")
        ]
        try:
            import outthink.catalog as catalog

            statuses = catalog.list_models(self.settings)
        except OutthinkError as exc:
            self.report_error(exc.message, exc.hint)
            statuses = []
        self._statuses = statuses
        self._policies = options.policy_choices(self.settings, statuses)
        c.set_policies(self._policies, keep=policy)
        for path in files:
            c.add_policy_file(path)
        if policy is not None:
            select(c.policy, policy)
        verifier = c.verifier.currentData()
        self._verifiers = options.verifier_choices(self.settings, statuses)
        fill_choices(c.verifier, self._verifiers, keep=verifier)
        if verifier is None or c.verifier.currentData() != verifier:
            select(c.verifier, DEFAULT_VERIFIER)
        present = [
            options.ModelChoice(st.entry.id, st.entry.name, True, st.entry.description)
            for st in statuses
            if st.present
        ]
        fill_choices(c.verifier_model, present)
        self.on_verifier_changed()

    def on_verifier_changed(self) -> None:
        spec = self.controls.verifier.currentData()
        needs = any(v.spec == spec and v.needs_model for v in self._verifiers)
        self.controls.verifier_model.setVisible(needs)
        self.controls.verifier_model_label.setVisible(needs)

    def rerank(self) -> bool:
        values = self.controls.values()
        return self.runs.rerank(values["select"], values["agg"])

    def on_verifier_picked(self) -> None:
        """The user picked a verifier: the aggregation its scores suit comes with it
        (calculator: min, since one false equation sinks a solution)."""
        spec = self.controls.verifier.currentData()
        agg = next((v.aggregation for v in self._verifiers if v.spec == spec), "")
        if agg and agg != self.controls.agg.currentText():
            self.controls.set_values({"agg": agg})
            self.rerank()

    def on_policy_picked(self) -> None:
        """The user picked a policy: a reasoning model brings the token budget and thinking
        budget its thinking needs; another model drops them (see options.model_values)."""
        spec = self.controls.policy.currentData()
        choice = next((p for p in self._policies if p.spec == spec), None)
        if choice is not None:  # a file from disk: its run tells how it thinks
            self.controls.set_values(options.model_values(self.controls.values(), choice.reasoning))

    def browse_policy(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self.window, "Choose a model file", str(Path.home()), "GGUF models (*.gguf)"
            )
        if path:
            self.controls.add_policy_file(path)

    def on_strategy_changed(self, name: str) -> None:
        """The user picked a strategy: the values last used with it (its defaults the first
        time), and the fields it fixes. What the user set for the strategy they leave is kept
        for when they come back; the fields no strategy has its own default for (max tokens,
        seed, aggregation) carry over unchanged."""
        c = self.controls
        current = c.values()
        if self._strategy and self._strategy != name:
            self._strategy_values[self._strategy] = {
                k: current[k] for k in options.strategy_fields(self._strategy)
            }
        values = options.defaults_for(name)
        own = options.strategy_fields(name)
        shared = [k for k in options.EDITED_FIELDS if k not in own]
        values.update({k: current[k] for k in shared})
        values.update({k: v for k, v in self._strategy_values.get(name, {}).items() if k in own})
        c.set_values(values)
        self._strategy = name
        self._update_strategy_fields(name)

    def _update_strategy_fields(self, name: str) -> None:
        spec = next((s for s in options.strategy_choices() if s.name == name), None)
        self.controls.set_fixed(
            options.fixed_fields(name),
            bool(spec and spec.uses_width),
            spec.description if spec else "",
        )

    # ------------------------------------------------------------------ runs

    def build_request(self) -> RunRequest:
        c = self.controls
        problem = c.problem.toPlainText().strip()
        if not problem:
            raise ConfigError(
                "The problem is empty.", hint="Type or paste a problem, or pick an example."
            )
        values = c.values()
        cfg = SearchConfig(**values).validate()
        policy = c.policy.currentData()
        if not policy or policy == BROWSE:
            raise ConfigError("No policy model is chosen.", hint="Pick one under Models.")
        verifier = c.verifier.currentData()
        if not verifier:
            raise ConfigError("No verifier is chosen.", hint="Pick one under Models.")
        needs_model = not c.verifier_model.isHidden()
        verifier_model = c.verifier_model.currentData() if needs_model else None
        return RunRequest(
            problem=problem,
            policy=str(policy),
            verifier=str(verifier),
            cfg=cfg,
            # A copy: the worker reads it while the GUI keeps saving its own state into it.
            settings=copy.deepcopy(self.settings),
            verifier_model=str(verifier_model) if verifier_model else None,
            reference=c.reference_answer or None,
        )

    def start_run(self) -> bool:
        if self.runs.busy:
            return False
        if self.window.benchmark.controller.busy:
            self.report_error(
                "A benchmark is running.",
                "Stop it or wait for it in the Benchmark tab: one model runs at a time.",
            )
            return False
        try:
            req = self.build_request()
        except OutthinkError as exc:
            self.report_error(exc.message, exc.hint)
            return False
        self.window.banner.dismiss()
        if req.verifier_model:
            warning = options.verifier_model_warning(req.verifier_model, self._statuses)
            if warning:
                self.window.banner.show_message("warning", warning)
        self.save_state()
        return self.runs.start(req)

    def stop_run(self) -> None:
        self.runs.stop()

    # ------------------------------------------------------------------ persistence

    def restore_state(self) -> None:
        s = self.settings
        prefix = EXTRA_PREFIX
        extra = {k.removeprefix(prefix): v for k, v in s.extra.items() if k.startswith(prefix)}
        c = self.controls
        strategy = str(extra.get("strategy", "best-of-n"))
        if not select(c.strategy, strategy):
            select(c.strategy, "best-of-n")
        values = options.defaults_for(c.strategy_name())
        values.update({k: v for k, v in extra.items() if k in options.EDITED_FIELDS})
        c.set_values(values)
        self._strategy = c.strategy_name()
        # What the user last set for each of the other strategies (gui.strategy.NAME.FIELD).
        self._strategy_values = {}
        for key, value in extra.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "strategy" and parts[2] in options.EDITED_FIELDS:
                self._strategy_values.setdefault(parts[1], {})[parts[2]] = value
        self._update_strategy_fields(c.strategy_name())
        reference = extra.get("reference")
        c.set_reference(s.last_problem, reference if isinstance(reference, str) else "")
        c.problem.setPlainText(s.last_problem)
        policy = extra.get("policy")
        if isinstance(policy, str) and policy:
            if policy.endswith(".gguf") and Path(policy).is_file():
                c.add_policy_file(policy)
            else:
                select(c.policy, policy)
        verifier = extra.get("verifier")
        if isinstance(verifier, str):
            select(c.verifier, verifier)
        vmodel = extra.get("verifier_model")
        if isinstance(vmodel, str):
            select(c.verifier_model, vmodel)
        if "agg" not in extra:  # first start: the default verifier's own aggregation
            spec = c.verifier.currentData()
            agg = next((v.aggregation for v in self._verifiers if v.spec == spec), "")
            if agg:
                c.set_values({"agg": agg})
        cands = self.window.candidates
        cands.compact_box.setChecked(bool(extra.get("compact", False)))
        cands.sort_box.setChecked(bool(extra.get("sort", False)))
        restore_window(self.window, extra)

    def save_state(self) -> None:
        c = self.controls
        s = self.settings
        s.last_problem = c.problem.toPlainText()
        state: dict[str, Any] = dict(c.values())
        state["policy"] = str(c.policy.currentData() or "")
        state["verifier"] = str(c.verifier.currentData() or "")
        state["verifier_model"] = str(c.verifier_model.currentData() or "")
        state["compact"] = self.window.candidates.compact_box.isChecked()
        state["sort"] = self.window.candidates.sort_box.isChecked()
        state["reference"] = c.reference_answer
        state.update(window_state(self.window))
        for name, remembered in self._strategy_values.items():
            if name != state["strategy"]:
                for key, value in remembered.items():
                    state[f"strategy.{name}.{key}"] = value
        for key, value in state.items():
            s.extra[EXTRA_PREFIX + key] = value
        if self._settings_broken:
            return
        try:
            save_settings(s)
        except (OSError, TypeError, OutthinkError) as exc:
            log.warning("Could not save settings: %s", exc)
            self.window.statusBar().showMessage(f"Could not save settings: {exc}")

    # ------------------------------------------------------------------ files

    def _target(self, path: str | Path | None, title: str, name: str, kind: str) -> Path | None:
        """``path``, or one the user picks in a save dialog (None when cancelled)."""
        if path is not None:
            return Path(path)
        chosen, _ = QFileDialog.getSaveFileName(self.window, title, str(Path.home() / name), kind)
        return Path(chosen) if chosen else None

    def export_json(self, path: str | Path | None = None) -> Path | None:
        if not self.runs.events:
            self.report_error("There is no run to export yet.", "Run a search first.")
            return None
        target = self._target(path, "Export run", "outthink-run.json", "JSON (*.json)")
        if target is None:
            return None
        try:
            data = [e.to_dict() for e in self.runs.events]
            target.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        except OSError as exc:
            self.report_error(f"Could not write {target}: {exc.strerror or exc}.",
                              "Choose another folder.")
            return None
        self.window.statusBar().showMessage(f"Run saved to {target}")
        return target

    def export_png(self, path: str | Path | None = None) -> Path | None:
        target = self._target(path, "Export window", "outthink.png", "PNG (*.png)")
        if target is None:
            return None
        if not self.window.grab().save(str(target), "PNG"):
            self.report_error(f"Could not write {target}.", "Choose another folder.")
            return None
        self.window.statusBar().showMessage(f"Window saved to {target}")
        return target

    def open_run(self, path: str | Path | None = None) -> bool:
        if self.runs.busy:
            return False
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self.window, "Open a saved run", str(Path.home()), "JSON (*.json)"
            )
            if not chosen:
                return False
            path = chosen
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            events = [event_from_dict(item) for item in raw]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else describe(exc)
            self.report_error(
                f"Could not read the run in {path}: {detail}.",
                "Choose a file written by File → Export run as JSON.",
            )
            return False
        self.runs.load_events(events)
        if self.runs.state.problem:
            self.controls.problem.setPlainText(self.runs.state.problem)
        return True

    def _open_saved(self, path: Path) -> bool:
        """A run from the history: shown in the Solve tab."""
        if not self.open_run(path):
            return False
        self.window.modes.setCurrentIndex(0)
        return True

    # ------------------------------------------------------------------ dialogs

    def open_models(self) -> None:
        from outthink.gui.models_dialog import ModelsDialog

        self.models.settings = self.settings
        dialog = ModelsDialog(self.models, self.window)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        # "Open Settings…" in its banner: the Settings dialog above it, at the named field.
        dialog.settings_requested.connect(
            lambda field: self.open_settings(focus=field, parent=dialog)
        )
        dialog.open()
        self.models_dialog = dialog

    def open_settings(self, focus: str = "", parent: QWidget | None = None) -> None:
        """The Settings dialog; ``focus`` names the field to start in (``"hf_endpoint"``)."""
        from outthink.gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, parent or self.window)
        if focus:
            dialog.focus_field(focus)

        def accepted() -> None:
            self.settings = dialog.result_settings()
            self._settings_broken = False
            self.models.settings = self.settings
            self.models.refresh()  # an open Models window shows the new folder, offline mode
            try:
                save_settings(self.settings)
            except OutthinkError as exc:
                self.report_error(exc.message, exc.hint)
            except OSError as exc:
                self.report_error(f"Could not save the settings: {exc}.", "Check the folder.")
            self.window.benchmark.set_settings(self.settings)
            self.refresh_models()

        dialog.accepted.connect(accepted)
        dialog.open()
        self.settings_dialog = dialog

    # ------------------------------------------------------------------ lifetime

    def shutdown(self) -> None:
        self.window.close_guard = None  # ending anyway: nothing left to ask
        self.save_state()
        self.window.benchmark.controller.shutdown()
        self.runs.shutdown()
        self.history.wait()
        self.models.shutdown()
