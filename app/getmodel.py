"""Get a model…: the catalogue (``core/models/catalogue.py``), with consent before any request.

The list is read from the bundled data file: showing it opens no socket. Picking a model
shows its URL, size, memory need and licence; Download asks once more, naming the URL and
the size, and only then does ``core/models/download.py`` connect. The download runs as a
background job (never on the engine lane: the agent keeps answering), reports progress through a
:class:`Relay`, and can be cancelled; the part stays, so Download again resumes. A
finished file is verified (sha256) before it gets its name; "Use this model" then
switches to it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ember.app.taskrunner import Job, Relay, background, describe
from ember.core.api import CatalogueEntry, catalogue_entries, download_entry, human_size
from ember.core.kernel.errors import Cancelled


@dataclass(frozen=True)
class _Progress:
    done: int
    total: int


@dataclass(frozen=True)
class _Finished:
    model_id: str
    error: str | None  # None: downloaded and verified
    cancelled: bool = False


def entry_text(e: CatalogueEntry) -> str:
    """One list row: what the model is and what it costs."""
    state = "downloaded" if e.downloaded else human_size(e.size_bytes)
    return f"{e.name} · {e.params} {e.quant} · {state} · needs {e.ram_gb:.1f} GB RAM\n{e.good_at}"


def consent_text(e: CatalogueEntry) -> str:
    """What the user agrees to before the first request."""
    return (
        f"Download {e.name} ({human_size(e.size_bytes)}) from\n{e.url}\n\n"
        f"It is saved to {e.path}. Licence: {e.licence}. Nothing is sent but the request."
    )


class GetModelDialog(QDialog):
    """Pick a catalogue model, download it with consent, use it."""

    useModel = Signal(str)  # catalogue id, downloaded and verified

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get a model")
        self.setObjectName("getModelDialog")
        self.setMinimumWidth(520)
        self.entries = list(catalogue_entries())
        self.cancel_event: threading.Event | None = None
        self.confirm: QMessageBox | None = None
        self.job: Job[_Finished] | None = None  # the download in progress
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        for e in self.entries:
            item = QListWidgetItem(entry_text(e))
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            self.list.addItem(item)
        self.list.currentRowChanged.connect(self._picked)
        layout.addWidget(self.list, 1)
        self.details = QLabel("Pick a model to see where it comes from.")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.download_button = QPushButton("Download…")
        self.download_button.clicked.connect(self.ask_download)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self._use)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        for button in (self.download_button, self.cancel_button, self.use_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        self._progress: Relay[_Progress] = Relay(self._on_progress, self)
        self._picked(-1)

    def selected(self) -> CatalogueEntry | None:
        """The entry picked in the list."""
        row = self.list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _picked(self, _row: int) -> None:
        e = self.selected()
        busy = self.job is not None
        self.download_button.setEnabled(e is not None and not e.downloaded and not busy)
        self.use_button.setEnabled(e is not None and e.downloaded and not busy)
        self.cancel_button.setEnabled(busy)
        if e is not None:
            self.details.setText(
                f"{e.url}\n{human_size(e.size_bytes)} · trained context "
                f"{e.context_length:,} tokens · {e.licence}"
            )

    def ask_download(self) -> None:
        """Ask before any request: the URL and the size."""
        e = self.selected()
        if e is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Download this model?",
            consent_text(e),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.accepted.connect(lambda: self.start_download(e))
        box.open()
        self.confirm = box

    def start_download(self, e: CatalogueEntry) -> None:
        """Download ``e`` as a background job (the user agreed)."""
        cancel = threading.Event()
        self.cancel_event = cancel
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.status.setText(f"Connecting to {e.url}…")

        def run() -> _Finished:
            try:
                download_entry(
                    e,
                    on_progress=lambda done, total: self._progress.post(_Progress(done, total)),
                    cancel=cancel,
                )
            except Cancelled:
                return _Finished(e.id, None, cancelled=True)
            except Exception as exc:  # shown to the user; the part is kept or removed
                return _Finished(e.id, describe(exc))
            return _Finished(e.id, None)

        self.job = background(run, self._on_finished, name="download", cancel=cancel, owner=self)
        self._picked(self.list.currentRow())

    def cancel_download(self) -> None:
        """Stop the download; the part stays so that Download again resumes."""
        if self.cancel_event is not None:
            self.cancel_event.set()

    def _on_progress(self, p: _Progress) -> None:
        if p.total:
            self.progress.setValue(int(1000 * p.done / p.total))
            self.status.setText(f"{human_size(p.done)} of {human_size(p.total)}")

    def _on_finished(self, f: _Finished) -> None:
        self.job = None
        self.cancel_event = None
        if f.cancelled:
            self.status.setText("Paused. Download again to resume where it stopped.")
        elif f.error is not None:
            self.status.setText(f.error)
        else:
            self.progress.setValue(1000)
            self.status.setText("Downloaded and verified.")
        for row, e in enumerate(self.entries):
            self.list.item(row).setText(entry_text(e))
        self._picked(self.list.currentRow())

    def _use(self) -> None:
        e = self.selected()
        if e is not None and e.downloaded:
            self.useModel.emit(e.id)
            self.accept()

    def done(self, result: int) -> None:
        """Closing the dialog cancels a download in progress (the part is kept)."""
        self.cancel_download()
        super().done(result)
