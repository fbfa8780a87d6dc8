"""A core memory block's history: every change with its time and author, the diff of the
one selected (removed words struck through in red, added ones in green), and undo
(restore the block as it was before that change).

The dialog only shows what it is given; the inspector fetches the history and runs the
undo through the task runner (``Ember.block_history`` / ``Ember.undo_block_change``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ember.app.transcript import short_time

if TYPE_CHECKING:
    from ember.core.api import BlockChange

REMOVED = "background:#fde2e1; color:#8a1c14; text-decoration:line-through"
ADDED = "background:#dcf5dc; color:#14541c"


def diff_html(old: str, new: str) -> str:
    """The change from ``old`` to ``new`` as rich text."""
    from ember.core.api import diff

    parts = []
    for op, text in diff(old, new):
        body = html.escape(text).replace("\n", "<br>")
        if op == "=":
            parts.append(body)
        else:
            parts.append(f"<span style='{REMOVED if op == '-' else ADDED}'>{body}</span>")
    return "<div style='white-space: pre-wrap'>" + "".join(parts) + "</div>"


def who(author: str, agent_name: str) -> str:
    """An author as the list shows it."""
    names = {
        "agent": agent_name,
        "memory": f"{agent_name}'s memory pass",
        "user": "You",
        "undo": "You (undo)",
    }
    return names.get(author, author)


class BlockHistoryDialog(QDialog):
    """The changes of one block, newest first, with their diffs and undo."""

    undoRequested = Signal(int)  # change id

    def __init__(self, agent_name: str, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.agent_name = agent_name
        self.label = label
        self.setObjectName("blockHistory")
        self.setWindowTitle(f"History of “{label}”")
        self.resize(640, 520)
        layout = QVBoxLayout(self)
        self.info = QLabel()
        self.info.setWordWrap(True)
        layout.addWidget(self.info)
        split = QSplitter(Qt.Orientation.Vertical)
        self.list = QListWidget()
        self.list.setObjectName("historyList")
        self.list.currentRowChanged.connect(self._show)
        split.addWidget(self.list)
        self.diff = QTextBrowser()
        self.diff.setObjectName("historyDiff")
        split.addWidget(self.diff)
        split.setSizes([180, 300])
        layout.addWidget(split, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.undo_button = QPushButton("Restore the version before this change")
        self.undo_button.setToolTip(
            "The block goes back to how it was before the selected change; the restore is "
            "kept in the history too, so it can be undone."
        )
        self.undo_button.clicked.connect(self._undo)
        buttons.addButton(self.undo_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.changes: list[BlockChange] = []

    def set_changes(self, changes: list[BlockChange]) -> None:
        """Show the block's changes (newest first) and select the newest."""
        self.changes = changes
        self.list.clear()
        for c in changes:
            line = (
                f"{short_time(c.created_at)} · {who(c.author, self.agent_name)} · "
                f"+{c.added:,} −{c.removed:,} characters"
            )
            item = QListWidgetItem(line)
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            self.list.addItem(item)
        n = len(changes)
        self.info.setText(
            f"{n} change{'s' * (n != 1)} to “{self.label}”, newest first. Select one to see "
            "what it changed."
            if n
            else f"“{self.label}” has not changed since the agent was created."
        )
        self.undo_button.setEnabled(bool(changes))
        if changes:
            self.list.setCurrentRow(0)
        else:
            self.diff.clear()

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.changes):
            c = self.changes[row]
            self.diff.setHtml(diff_html(c.old_value, c.new_value))

    def current(self) -> BlockChange | None:
        """The change selected."""
        row = self.list.currentRow()
        return self.changes[row] if 0 <= row < len(self.changes) else None

    def _undo(self) -> None:
        change = self.current()
        if change is not None:
            self.undo_button.setEnabled(False)
            self.undoRequested.emit(change.id)
