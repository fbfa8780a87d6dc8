"""The settings dialog: model file, context size, threads, temperature, timed heartbeats,
inner thoughts. It edits an ``EngineConfig`` and the GUI preferences; the window saves
them with the data (reloading the model when needed). GGUF files of other local-LLM apps
are found by a background job (``ember.core.models.scan``) and offered in the model
list; the label of a model picked from that list is kept with the preferences, so the
list shows it the same way next time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.app.folders import LastFolder
    from ember.core.api import EngineConfig, ModelCandidate

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ember.app.appearance import CHOICES, SYSTEM
from ember.app.serverbox import ServerBox
from ember.app.taskrunner import Job, background

BUNDLED = ""  # model_path value meaning "the bundled model"


class ModelScanner(QObject):
    """Runs the model folder scan as a background job and reports on the GUI thread."""

    found = Signal(object)  # list[ModelCandidate]

    def start(self) -> None:
        """Scan in the background."""

        def run() -> list[ModelCandidate]:
            try:
                from ember.core.api import scan_models

                return scan_models()
            except Exception:
                return []

        background(run, self.found.emit, name="model-scan", owner=self)


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class SettingsDialog(QDialog):
    """Edit engine settings (an ``EngineConfig``) and GUI preferences."""

    def __init__(
        self,
        config: EngineConfig,
        prefs: dict[str, Any],
        parent: QWidget | None = None,
        *,
        scan: bool = True,
        appearance: str = SYSTEM,
        folders: LastFolder | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setMinimumWidth(560)
        self.config = config
        self.folders = folders
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        model_row = QHBoxLayout()
        self.model = QComboBox()
        self.model.setObjectName("modelCombo")
        self.model.setMinimumContentsLength(36)
        # Long labels must not widen the dialog: the list itself shows them whole.
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model.addItem("Bundled: Gemma 3 270M (small, fast, basic)", BUNDLED)
        current = config.model_path or BUNDLED
        if current:
            labels = prefs.get("model_labels")  # saved by the GUI; anything else is ignored
            label = labels.get(current) if isinstance(labels, dict) else None
            self.add_model(current, label if isinstance(label, str) else Path(current).name)
            self.model.setCurrentIndex(1)
        model_row.addWidget(self.model, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        model_row.addWidget(browse)
        self.get_model = QPushButton("Get a model…")  # the catalogue (the window opens it)
        model_row.addWidget(self.get_model)
        form.addRow("Model", model_row)
        self.scan_status = QLabel("Looking for models of other apps (LM Studio, Ollama, …)…")
        self.scan_status.setObjectName("scanStatus")
        self.scan_status.setWordWrap(True)
        form.addRow("", self.scan_status)
        self.server = ServerBox(form, config.server_url, config.server_model, self)

        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(1024, 131072)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setValue(config.n_ctx)
        self.n_ctx.setSuffix(" tokens")
        form.addRow("Context size", self.n_ctx)
        self.ctx_status = QLabel("")  # a size that does not fit in memory, said at OK
        self.ctx_status.setObjectName("ctxStatus")
        self.ctx_status.setWordWrap(True)
        self.ctx_status.hide()
        form.addRow("", self.ctx_status)

        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(config.n_threads or 0)
        form.addRow("CPU threads", self.threads)

        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setValue(config.temperature)
        form.addRow("Temperature", self.temperature)

        hb_row = QHBoxLayout()
        self.heartbeat = QCheckBox("Wake the agent when idle every")
        minutes = config.timed_heartbeat_minutes
        self.heartbeat.setChecked(bool(minutes))
        hb_row.addWidget(self.heartbeat)
        self.heartbeat_minutes = QSpinBox()
        self.heartbeat_minutes.setRange(1, 1440)
        self.heartbeat_minutes.setSuffix(" min")
        self.heartbeat_minutes.setValue(int(minutes or 60))
        self.heartbeat_minutes.setEnabled(bool(minutes))
        self.heartbeat.toggled.connect(self.heartbeat_minutes.setEnabled)
        hb_row.addWidget(self.heartbeat_minutes)
        hb_row.addStretch(1)
        form.addRow("Timed heartbeats", hb_row)

        self.show_thoughts = QCheckBox("Show the agent's inner thoughts and tool calls")
        self.show_thoughts.setChecked(prefs.get("show_thoughts") is True)
        form.addRow("Chat", self.show_thoughts)
        self.appearance = QComboBox()
        self.appearance.setObjectName("appearanceCombo")
        for key, label in CHOICES.items():
            self.appearance.addItem(label, key)
        self.appearance.setCurrentIndex(max(0, self.appearance.findData(appearance)))
        form.addRow("Appearance", self.appearance)
        layout.addLayout(form)

        note = QLabel(
            "Settings are saved with your memories. A new model loads in the background; "
            "the current one keeps working until it is ready."
        )
        note.setObjectName("settingsNote")  # secondary text, not a disabled one
        note.setWordWrap(True)
        layout.addWidget(note)
        self.note = note
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.checking: Job[str | None] | None = None  # the context size check after OK
        self._checks = 0  # a check's answer counts only if no other started since, nor Cancel
        self.scanner = ModelScanner(self)
        self.scanner.found.connect(self.add_found)
        if scan:
            self.scanner.start()

    def browse(self) -> None:
        """Pick a GGUF file."""
        start = self.folders.get() if self.folders is not None else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model file", start, "GGUF models (*.gguf);;All files (*)"
        )
        if path and self.folders is not None:
            self.folders.remember(path)
        if path:
            self.select_path(path, Path(path).name)

    def add_model(self, path: str, label: str) -> int:
        """Offer a model file (its full path in the tooltip); returns its index."""
        index = self.model.findData(path)
        if index < 0:
            self.model.addItem(label, path)
            index = self.model.count() - 1
        else:
            self.model.setItemText(index, label)
        self.model.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        return index

    def select_path(self, path: str, label: str) -> None:
        """Add (if needed) and select a model path."""
        self.model.setCurrentIndex(self.add_model(path, label))

    def add_found(self, candidates: list[ModelCandidate]) -> None:
        """Offer the models found in other apps' folders."""
        for c in candidates:
            self.add_model(c.path, f"{c.name} ({c.origin}, {_size(c.size)})")
        n = len(candidates)
        self.scan_status.setText(
            f"Found {n} model{'s' * (n != 1)} from other apps; pick one above."
            if n
            else "No models of other apps (LM Studio, Ollama, GPT4All, llama.cpp, Hugging "
            "Face) were found; use Browse… to choose a .gguf file."
        )

    def accept(self) -> None:
        """Close with the values, unless the server URL is not one or the context size
        does not fit in memory with the chosen model (checked before any load, by a
        background job: it reads the model file's header, which the GUI thread never
        waits on; OK is off meanwhile)."""
        from ember.core.api import context_problem

        problem = self.server.check()
        if problem:
            self.server.status.setText(problem)
            return
        if self.checking is not None:
            return
        config = self.values()[0]
        self.ok_button.setEnabled(False)
        self._checks += 1
        n = self._checks
        self.checking = background(
            lambda: context_problem(config),
            lambda too_big: self._checked(n, config, too_big),
            lambda _exc: self._checked(n, config, None),  # the load says what is wrong
            name="context-check",
            owner=self,
        )

    def reject(self) -> None:
        """Cancel, also while the context size is being checked (its answer is dropped)."""
        self._checks += 1
        self.checking = None
        self.ok_button.setEnabled(True)
        super().reject()

    def _checked(self, n: int, config: EngineConfig, too_big: str | None) -> None:
        if n != self._checks:
            return
        self.checking = None
        self.ok_button.setEnabled(True)
        if too_big:
            self.ctx_status.setText(too_big)
            self.ctx_status.show()
        elif self.values()[0] != config:  # changed while it was checked: check again
            self.accept()
        else:
            self.ctx_status.hide()
            super().accept()

    def values(self) -> tuple[EngineConfig, dict[str, Any]]:
        """(engine settings, GUI preference changes) as chosen: a server when its URL is
        set, else the model file (exactly one model choice, see core/models/choice.py)."""
        from ember.core.api import use_file, use_server

        path = self.model.currentData() or None
        config = replace(
            self.config,
            model_path=None,
            server_url=None,
            server_model=None,
            n_ctx=self.n_ctx.value(),
            n_threads=self.threads.value() or None,
            temperature=round(self.temperature.value(), 2),
            timed_heartbeat_minutes=(
                self.heartbeat_minutes.value() if self.heartbeat.isChecked() else None
            ),
        )
        if self.server.server_url():
            config = use_server(config, self.server.server_url(), self.server.server_model())
        elif path:
            config = use_file(config, path)
        prefs: dict[str, Any] = {
            "show_thoughts": self.show_thoughts.isChecked(),
            "appearance": self.appearance.currentData(),  # the window keeps it (gui.ini)
        }
        if config.model_path:
            prefs["model_labels"] = {config.model_path: self.model.currentText()}
        return config, prefs
