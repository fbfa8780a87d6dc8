"""The settings dialog: model file, context size, threads, temperature, timed heartbeats,
inner thoughts. It edits plain dicts; the worker saves them with the data and reloads the
model when needed. GGUF files of other local-LLM apps are found on a background thread
(``ember.core.modelscan``) and offered in the model list."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
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

BUNDLED = ""  # model_path value meaning "the bundled model"


class ModelScanner(QObject):
    """Runs the model folder scan on a plain thread and reports back on the GUI thread."""

    found = Signal(object)  # list[ModelCandidate]

    def start(self) -> None:
        """Scan in the background."""

        def run() -> None:
            try:
                from ember.core.modelscan import scan_models

                result = scan_models()
            except Exception:
                result = []
            self.found.emit(result)

        threading.Thread(target=run, name="ember-model-scan", daemon=True).start()


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class SettingsDialog(QDialog):
    """Edit engine settings (``EngineConfig`` fields) and GUI preferences."""

    def __init__(
        self,
        config: dict[str, Any],
        gui: dict[str, Any],
        parent: QWidget | None = None,
        *,
        scan: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setMinimumWidth(560)
        self._config = dict(config)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        model_row = QHBoxLayout()
        self.model = QComboBox()
        self.model.setObjectName("modelCombo")
        self.model.setMinimumContentsLength(30)
        self.model.addItem("Bundled: Gemma 3 270M (small, fast, basic)", BUNDLED)
        current = config.get("model_path") or BUNDLED
        if current:
            self.model.addItem(f"{Path(current).name} — {current}", current)
            self.model.setCurrentIndex(1)
        model_row.addWidget(self.model, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        model_row.addWidget(browse)
        form.addRow("Model", model_row)
        self.scan_status = QLabel("Looking for models of other apps (LM Studio, Ollama, …)…")
        self.scan_status.setObjectName("scanStatus")
        self.scan_status.setWordWrap(True)
        form.addRow("", self.scan_status)

        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(1024, 131072)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setValue(int(config.get("n_ctx") or 4096))
        self.n_ctx.setSuffix(" tokens")
        form.addRow("Context size", self.n_ctx)

        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(int(config.get("n_threads") or 0))
        form.addRow("CPU threads", self.threads)

        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setValue(float(config.get("temperature", 0.7)))
        form.addRow("Temperature", self.temperature)

        hb_row = QHBoxLayout()
        self.heartbeat = QCheckBox("Wake the agent when idle every")
        minutes = config.get("timed_heartbeat_minutes")
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
        self.show_thoughts.setChecked(bool(gui.get("show_thoughts", False)))
        form.addRow("Chat", self.show_thoughts)
        layout.addLayout(form)

        note = QLabel(
            "Settings are saved with your memories. A new model loads in the background; "
            "the current one keeps working until it is ready."
        )
        note.setWordWrap(True)
        note.setEnabled(False)
        layout.addWidget(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.scanner = ModelScanner(self)
        self.scanner.found.connect(self.add_found)
        if scan:
            self.scanner.start()

    def browse(self) -> None:
        """Pick a GGUF file."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model file", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.select_path(path, f"{Path(path).name} — {path}")

    def select_path(self, path: str, label: str) -> None:
        """Add (if needed) and select a model path."""
        index = self.model.findData(path)
        if index < 0:
            self.model.addItem(label, path)
            index = self.model.count() - 1
        self.model.setCurrentIndex(index)

    def add_found(self, candidates: list[Any]) -> None:
        """Offer the models found in other apps' folders."""
        for c in candidates:
            if self.model.findData(c.path) < 0:
                self.model.addItem(f"{c.name} ({c.origin}, {_size(c.size)})", c.path)
        n = len(candidates)
        self.scan_status.setText(
            f"Found {n} model{'s' * (n != 1)} from other apps; pick one above."
            if n
            else "No models of other apps (LM Studio, Ollama, GPT4All, llama.cpp, Hugging "
            "Face) were found; use Browse… to choose a .gguf file."
        )

    def values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(engine config changes, GUI preferences) as chosen."""
        path = self.model.currentData() or None
        config = {
            "model_path": path,
            "n_ctx": self.n_ctx.value(),
            "n_threads": self.threads.value() or None,
            "temperature": round(self.temperature.value(), 2),
            "timed_heartbeat_minutes": (
                self.heartbeat_minutes.value() if self.heartbeat.isChecked() else None
            ),
        }
        return config, {"show_thoughts": self.show_thoughts.isChecked()}
