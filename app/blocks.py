"""The inspector's core-memory tab: one editor per block (text, ``used/limit`` counter,
Save and Revert), the sizes of the other memory tiers, and each block's history.

Saves go through the task runner, queued behind a turn in progress, so nothing typed here
is lost; while the user edits, changes the agent makes are taken in as the saved value
without touching the text being edited.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ember.app.appearance import error_color
from ember.app.taskrunner import describe

if TYPE_CHECKING:
    from ember.app.taskrunner import TaskRunner
    from ember.core.api import Block, MemorySnapshot


def plural(n: int, noun: str) -> str:
    """``1 record``, ``2 records``."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


class BlockEditor(QWidget):
    """One core memory block: text, ``used/limit`` counter, Save, Revert and History."""

    historyRequested = Signal(str)  # label

    def __init__(self, block: Block, save: Callable[[str, str], None]) -> None:
        super().__init__()
        self.label = block.label
        self.limit = block.limit
        self.saved_value = block.value
        self._save = save
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 8)
        head = QHBoxLayout()
        head.addWidget(QLabel(f"<b>{html.escape(block.label)}</b>"))
        head.addStretch(1)
        self.counter = QLabel()
        self.counter.setObjectName("blockCounter")
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.counter.setMinimumWidth(self.counter.fontMetrics().horizontalAdvance("00,000/00,000"))
        head.addWidget(self.counter)
        layout.addLayout(head)
        self.edit = QPlainTextEdit(block.value)
        self.edit.setObjectName(f"block_{block.label}")
        self.edit.setMinimumHeight(90)
        self.edit.textChanged.connect(self._changed)
        layout.addWidget(self.edit)
        self.status = QLabel()
        self.status.setObjectName("blockStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.history_button = QToolButton()
        self.history_button.setText("History…")
        self.history_button.setToolTip("Every change to this block, with undo")
        self.history_button.clicked.connect(lambda: self.historyRequested.emit(self.label))
        buttons.addWidget(self.history_button)
        buttons.addStretch(1)
        self.revert_button = QToolButton()
        self.revert_button.setText("Revert")
        self.revert_button.setToolTip("Throw away the edit")
        self.revert_button.clicked.connect(self.revert)
        buttons.addWidget(self.revert_button)
        self.save_button = QToolButton()
        self.save_button.setText("Save")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)
        self._changed()

    def used(self) -> int:
        """Characters in the editor."""
        return len(self.edit.toPlainText())

    def dirty(self) -> bool:
        """Edited and not saved."""
        return self.edit.toPlainText() != self.saved_value

    def _changed(self) -> None:
        used, over = self.used(), self.used() > self.limit
        self.counter.setText(f"{used:,}/{self.limit:,}")
        self.counter.setProperty("over", over)
        self.counter.setStyleSheet(f"color: {error_color()}; font-weight: bold;" if over else "")
        self.save_button.setEnabled(self.dirty() and not over)
        self.revert_button.setEnabled(self.dirty())
        if over:
            self.status.setText(f"{used - self.limit:,} characters over the limit.")
        elif self.dirty():
            self.status.setText("Edited — not saved yet.")
        else:
            self.status.setText("")

    def save(self) -> None:
        """Save the edit (queued behind a running turn)."""
        if self.used() > self.limit:
            return
        self.save_button.setEnabled(False)
        self.status.setText("Saving…")
        self._save(self.label, self.edit.toPlainText())

    def revert(self) -> None:
        """Throw the edit away."""
        self.edit.setPlainText(self.saved_value)

    def saved(self, value: str) -> None:
        """The service saved ``value``."""
        self.saved_value = value
        if self.edit.toPlainText() != value and not self.dirty():
            self.edit.setPlainText(value)
        self._changed()
        self.status.setText("Saved. The agent sees it on its next step.")

    def not_saved(self, error: str) -> None:
        """The service refused the edit."""
        self._changed()
        self.status.setText(f"Not saved: {error}")

    def update_value(self, value: str) -> None:
        """The block changed (the agent, an undo): follow it unless the user is editing."""
        if value == self.saved_value:
            return
        editing = self.dirty()
        self.saved_value = value
        if not editing:
            self.edit.setPlainText(value)
        self._changed()
        self.status.setText(
            "The block changed while you were editing; Revert shows the saved version."
            if editing
            else "Updated."
        )


class CoreMemoryTab(QWidget):
    """Counts of every tier and an editor per core memory block."""

    historyRequested = Signal(str)  # block label
    saved = Signal()  # a block was saved (usage changed)

    def __init__(self, tasks: TaskRunner) -> None:
        super().__init__()
        self.tasks = tasks
        self.agent_id: int | None = None
        self.editors: dict[str, BlockEditor] = {}
        outer = QVBoxLayout(self)
        self.counts = QLabel()
        self.counts.setObjectName("memoryCounts")
        self.counts.setWordWrap(True)
        outer.addWidget(self.counts)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        host = QWidget()
        self._blocks = QVBoxLayout(host)
        self._blocks.addStretch(1)
        scroll.setWidget(host)
        outer.addWidget(scroll, 1)

    def set_memory(self, memory: MemorySnapshot) -> None:
        """Blocks and counts from the service."""
        new_agent = memory.agent_id != self.agent_id
        self.agent_id = memory.agent_id
        self.counts.setText(
            f"Recall: {plural(memory.recall_messages, 'record')} "
            f"({memory.in_context_messages:,} in context) · "
            f"Archival: {plural(memory.archival_passages, 'passage')} · "
            f"Documents: {memory.documents:,}"
        )
        labels = [b.label for b in memory.blocks]
        if new_agent or labels != list(self.editors):
            for editor in self.editors.values():
                editor.setParent(None)
                editor.deleteLater()
            self.editors.clear()
            for block in memory.blocks:
                editor = BlockEditor(block, self._save)
                editor.historyRequested.connect(self.historyRequested)
                self._blocks.insertWidget(self._blocks.count() - 1, editor)
                self.editors[block.label] = editor
        else:
            for block in memory.blocks:
                self.editors[block.label].update_value(block.value)

    def _save(self, label: str, value: str) -> None:
        agent_id = self.agent_id
        if agent_id is None:
            return

        def done(block: Block) -> None:
            editor = self.editors.get(label)
            if editor is not None and agent_id == self.agent_id:
                editor.saved(block.value)
            self.saved.emit()

        def failed(exc: Exception) -> None:
            editor = self.editors.get(label)
            if editor is not None and agent_id == self.agent_id:
                editor.not_saved(describe(exc))

        self.tasks.run(lambda e: e.set_block(agent_id, label, value), done, failed)
