"""Documents: the overlay shown while files are dragged over the window, the progress
panel with one card per batch (files, pages, chunks, cancel, per-file results), and the
controller that starts a batch on the worker's ingest thread and routes its news."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QObject, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ember.app.appearance import error_color

if TYPE_CHECKING:
    from ember.app.worker import EngineWorker
    from ember.core.api import IngestProgress, IngestResult

STATUS_MARK = {"loaded": "✓", "skipped": "•", "failed": "✗", "cancelled": "–"}


def local_paths(mime: QMimeData) -> list[str]:
    """Local file and folder paths carried by a drag."""
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


def progress_fraction(p: IngestProgress) -> float:
    """Overall batch progress 0..1."""
    files = max(1, p.files_total)
    if p.stage == "done":
        within = 1.0
    elif p.pages_total:
        # chunks_total grows while the file is read, so pages are the honest measure.
        within = 0.95 * p.pages_done / p.pages_total
    else:
        within = 0.0
    return max(0.0, min(1.0, (p.file_index + min(within, 1.0)) / files))


def progress_text(p: IngestProgress) -> str:
    """One line: which file, pages and chunks."""
    files = max(1, p.files_total)
    parts = [f"File {min(p.file_index + 1, files)} of {files}: {Path(p.path).name}"]
    if p.pages_total:
        parts.append(f"page {p.pages_done}/{p.pages_total}")
    if p.chunks_done:
        parts.append(f"{p.chunks_done} chunks embedded")
    if p.stage:
        parts.append(p.stage)
    return " · ".join(parts)


class DropOverlay(QLabel):
    """A translucent hint covering the window while files are dragged over it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropOverlay")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def show_for(self, agent_name: str) -> None:
        """Cover the parent with the hint."""
        self.setText(
            f"<h2>Drop to add to {html.escape(agent_name)}'s memory</h2>"
            "<p>PDF, text and Markdown files, or whole folders</p>"
        )
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.raise_()
        self.show()


class BatchCard(QFrame):
    """Progress and results of one dropped batch."""

    cancelRequested = Signal(int)
    dismissed = Signal(int)

    def __init__(self, batch: int, paths: list[str], agent_id: int | None = None) -> None:
        super().__init__()
        self.batch = batch
        self.agent_id = agent_id  # whose memory the documents go into
        self.setObjectName("batchCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        top = QHBoxLayout()
        names = ", ".join(Path(p).name for p in paths[:3]) + ("…" if len(paths) > 3 else "")
        self.title = QLabel(f"<b>Adding documents</b> — {html.escape(names)}")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        top.addWidget(self.title, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        top.addWidget(self.cancel_button)
        self.close_button = QPushButton("Dismiss")
        self.close_button.clicked.connect(lambda: self.dismissed.emit(self.batch))
        self.close_button.hide()
        top.addWidget(self.close_button)
        layout.addLayout(top)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        layout.addWidget(self.bar)
        self.status = QLabel("Starting…")
        self.status.setObjectName("batchStatus")
        layout.addWidget(self.status)
        self.results = QLabel()
        self.results.setObjectName("batchResults")
        self.results.setWordWrap(True)
        self.results.setTextFormat(Qt.TextFormat.RichText)
        self.results.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.results.hide()
        layout.addWidget(self.results)
        self.finished = False
        self.result_rows: list[IngestResult] = []

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.status.setText("Cancelling…")
        self.cancelRequested.emit(self.batch)

    def set_progress(self, p: IngestProgress) -> None:
        """Show an IngestProgress."""
        if self.finished:
            return
        self.bar.setValue(int(1000 * progress_fraction(p)))
        if self.cancel_button.isEnabled():
            self.status.setText(progress_text(p))

    def set_results(self, results: list[IngestResult]) -> None:
        """Show the per-file outcome; the card stays until dismissed."""
        self.finished = True
        self.result_rows = results
        self.bar.setValue(1000)
        self.cancel_button.hide()
        self.close_button.show()
        counts: dict[str, int] = {}
        lines = []
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
            if r.status == "loaded":
                detail = f"{r.pages} pages, {r.passages} passages, {r.seconds:.1f} s"
            else:
                detail = html.escape(r.message or r.status)
            color = error_color() if r.status == "failed" else "inherit"
            lines.append(
                f"<div style='color:{color}'>{STATUS_MARK.get(r.status, '?')} "
                f"<b>{html.escape(r.name)}</b> — {r.status}: {detail}</div>"
            )
        summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing to add"
        self.title.setText(f"<b>Documents</b> — {html.escape(summary)}")
        self.status.hide()
        self.bar.hide()
        self.results.setText("".join(lines))
        self.results.show()


class IngestPanel(QWidget):
    """Stack of batch cards above the input box, for the agent shown (another agent's
    batches go on loading, their cards out of view until it is shown again); hidden
    when it has none."""

    cancelled = Signal(int)  # batch

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ingestPanel")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(12, 4, 12, 4)
        self.cards: dict[int, BatchCard] = {}
        self.agent_id: int | None = None
        self.hide()

    def add_batch(self, batch: int, paths: list[str], agent_id: int | None = None) -> BatchCard:
        """A card for a new batch (of the agent shown)."""
        card = BatchCard(batch, paths, agent_id if agent_id is not None else self.agent_id)
        card.cancelRequested.connect(self.cancelled)
        card.dismissed.connect(self.dismiss)
        self.cards[batch] = card
        self._layout.addWidget(card)
        self.show_agent(self.agent_id if agent_id is None else agent_id)
        return card

    def show_agent(self, agent_id: int | None) -> None:
        """Show the cards of this agent's batches only."""
        self.agent_id = agent_id
        for card in self.cards.values():
            card.setVisible(card.agent_id == agent_id)
        self.setVisible(any(c.agent_id == agent_id for c in self.cards.values()))

    def progress(self, batch: int, p: IngestProgress) -> None:
        """Route progress to its card."""
        card = self.cards.get(batch)
        if card is not None:
            card.set_progress(p)

    def finish(self, batch: int, results: list[IngestResult]) -> None:
        """Route results to its card."""
        card = self.cards.get(batch)
        if card is not None:
            card.set_results(results)

    def dismiss(self, batch: int) -> None:
        """Remove a finished card."""
        card = self.cards.pop(batch, None)
        if card is not None:
            card.setParent(None)
            card.deleteLater()
        self.show_agent(self.agent_id)


class Documents(QObject):
    """Adds dropped or picked documents to an agent's archival memory."""

    loaded = Signal(int, object)  # batch, list[IngestResult] (after the panel showed them)

    def __init__(self, worker: EngineWorker, panel: IngestPanel, overlay: DropOverlay) -> None:
        super().__init__(panel)
        self.worker = worker
        self.panel = panel
        self.overlay = overlay
        panel.cancelled.connect(self.cancel)

    def add(self, agent_id: int, paths: list[str]) -> int:
        """Start loading files/folders; returns the batch number (-1 if nothing started)."""
        job = self.worker.ingest(agent_id, paths, self.panel.progress, self._finished)
        if job is None:
            return -1
        self.panel.add_batch(job.batch, paths, agent_id)  # before any progress is delivered
        return job.batch

    def cancel(self, batch: int) -> None:
        """Stop a batch at its next chunk boundary."""
        job = self.worker.jobs.get(batch)
        if job is not None:
            job.cancel()

    def _finished(self, batch: int, results: list[IngestResult]) -> None:
        self.panel.finish(batch, results)
        self.loaded.emit(batch, results)

    def drag_enter(self, event: QDragEnterEvent, agent_name: str) -> None:
        """Files dragged over the window: accept them and show the hint."""
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.overlay.show_for(agent_name)
        else:
            event.ignore()

    def drag_move(self, event: QDragMoveEvent) -> None:
        """Keep accepting local files."""
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def drop(self, event: QDropEvent) -> list[str]:
        """The files dropped (the hint goes away either way)."""
        self.overlay.hide()
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
        return paths
