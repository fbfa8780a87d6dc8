"""The memory inspector: core memory (editable, with live counters and history),
archival memory (browse, search, delete), recall memory (search by text or date) and
loaded documents, for the agent shown in the chat.

It asks the core through the task runner and presents the typed answers: what it shows
comes from the read lane, so it answers while the agent writes a reply; edits go to the
engine lane and queue behind any turn in progress, so nothing typed here is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from ember.app.blocks import CoreMemoryTab
from ember.app.browsers import ArchivalTab, DocumentsTab, RecallTab
from ember.app.history import BlockHistoryDialog
from ember.app.memoryrows import select_text

if TYPE_CHECKING:
    from ember.app.taskrunner import TaskRunner
    from ember.core.api import Block, MemorySnapshot, Remembered

CORE, ARCHIVAL, RECALL, DOCUMENTS = range(4)


class Inspector(QTabWidget):
    """Tabs for the four memory tiers of the current agent."""

    memoryChanged = Signal()  # the user changed memory (the context usage may change)

    def __init__(self, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspector")
        self.tasks = tasks
        self.agent_id: int | None = None
        self.agent_name = ""
        self.core = CoreMemoryTab(tasks)
        self.archival = ArchivalTab(tasks)
        self.recall = RecallTab(tasks)
        self.documents = DocumentsTab(tasks)
        # Short labels, so the four tabs show whole in the dock at its default and minimum
        # widths (the full names are the tooltips); a larger font elides, never hides one.
        for tab, label, tip in (
            (self.core, "Core", "Core memory: what the agent always sees"),
            (self.archival, "Archival", "Archival memory: passages and documents' text"),
            (self.recall, "Recall", "Recall memory: the whole conversation"),
            (self.documents, "Docs", "Documents loaded into archival memory"),
        ):
            self.setTabToolTip(self.addTab(tab, label), tip)
        self.setUsesScrollButtons(False)
        self.setElideMode(Qt.TextElideMode.ElideRight)
        self.core.saved.connect(self.memoryChanged)
        self.core.historyRequested.connect(self.show_history)
        for tab in (self.archival, self.recall, self.documents):
            tab.changed.connect(self.load_memory)
            tab.changed.connect(self.memoryChanged)
        self.currentChanged.connect(self._tab_changed)
        self.history_dialog: BlockHistoryDialog | None = None

    @property
    def editors(self) -> dict[str, object]:
        """The block editors by label."""
        return dict(self.core.editors)

    def set_agent(self, agent_id: int, name: str) -> None:
        """Show another agent (or the same one renamed)."""
        new = agent_id != self.agent_id
        self.agent_id, self.agent_name = agent_id, name
        for tab in (self.archival, self.recall, self.documents):
            tab.agent_id, tab.agent_name = agent_id, name
            if new:
                tab.list.clear()
        if new:
            self.load_memory()
            self._tab_changed(self.currentIndex())

    def load_memory(self) -> None:
        """Ask for the blocks and the tiers' sizes."""
        agent_id = self.agent_id
        if agent_id is not None:
            self.tasks.read(lambda r: r.memory(agent_id), self.set_memory)

    def set_memory(self, memory: MemorySnapshot) -> None:
        """Blocks and counts from the service (for the agent shown only)."""
        if memory.agent_id == self.agent_id:
            self.core.set_memory(memory)

    def _tab_changed(self, index: int) -> None:
        if self.agent_id is None or not self.isVisible():
            return
        if index == ARCHIVAL:
            self.archival.search()
        elif index == RECALL:
            self.recall.search()
        elif index == DOCUMENTS:
            self.documents.load()

    def show_memory(self, memory: Remembered) -> None:
        """Open a memory a reply was written from: its message in Recall, its passage in
        Archival, its line in Core (selected)."""
        if memory.tier == "recall":
            self.setCurrentIndex(RECALL)
            self.recall.show_item(memory.item_id)
        elif memory.tier == "archival":
            self.setCurrentIndex(ARCHIVAL)
            self.archival.show_item(memory.item_id)
        else:
            self.setCurrentIndex(CORE)
            editor = self.core.editors.get(memory.label or "")
            if editor is not None and select_text(editor.edit, memory.text):
                editor.edit.setFocus()

    def refresh(self) -> None:
        """Reload the counts and the visible tab (after a turn or an ingest)."""
        self.load_memory()
        self._tab_changed(self.currentIndex())

    def show_history(self, label: str) -> BlockHistoryDialog | None:
        """Open the history of one block (changes, diffs, undo)."""
        agent_id = self.agent_id
        if agent_id is None:
            return None
        dialog = BlockHistoryDialog(self.agent_name, label, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.history_dialog = dialog

        def load() -> None:
            self.tasks.read(lambda r: r.block_history(agent_id, label), dialog.set_changes)

        def undone(_block: Block) -> None:
            load()
            self.load_memory()
            self.memoryChanged.emit()

        dialog.undoRequested.connect(
            lambda change_id: self.tasks.run(
                lambda e: e.undo_block_change(agent_id, change_id), undone
            )
        )
        load()
        dialog.open()
        return dialog
