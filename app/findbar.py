"""Find in the conversation (Ctrl+F): highlights every hit in the loaded chat, steps
through them (Enter / Shift+Enter), and reaches into recall memory for older messages
than the chat has loaded, listed under the bar (double-click one to see it in the
inspector's recall tab).

Older hits come from the same recall search as the inspector, kept to the messages that
contain the words typed (find means literal matches) and older than the first bubble.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ember.app.transcript import short_time
from ember.core.api import Role

if TYPE_CHECKING:
    from ember.app.chat import ChatView
    from ember.app.taskrunner import TaskRunner
    from ember.core.api import Message, RecallPage

DEBOUNCE_MS = 200


def older_hits(messages: list[Message], query: str, before: int | None) -> list[Message]:
    """Messages containing ``query`` (case-insensitive) older than message ``before``
    (the oldest loaded; None: nothing is loaded, all count), oldest first."""
    needle = query.casefold()
    hits = [m for m in messages if needle in m.text.casefold()]
    if before is not None:
        hits = [m for m in hits if m.id < before]
    return sorted(hits, key=lambda m: m.id)


class _Input(QLineEdit):
    """Enter: next match, Shift+Enter: previous, Esc: close."""

    step = Signal(bool)  # backwards
    closed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.step.emit(bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        elif event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
        else:
            super().keyPressEvent(event)


class FindBar(QFrame):
    """The find bar under the chat."""

    recallRequested = Signal(str)  # show this query in the inspector's recall tab

    def __init__(self, chat: ChatView, tasks: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("findBar")
        self.chat = chat
        self.tasks = tasks
        self.agent_id: int | None = None
        self.agent_name = ""
        self.oldest_loaded: int | None = None  # the chat holds this message and newer
        self.query = ""
        self.loaded_matches = 0
        self.older_matches: list[Message] = []
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.search)
        self._reveal = QTimer(self)  # owned: never fires after the bar is gone
        self._reveal.setSingleShot(True)
        self._reveal.setInterval(0)
        self._reveal.timeout.connect(self.chat.show_found)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        row = QHBoxLayout()
        self.input = _Input()
        self.input.setObjectName("findInput")
        self.input.setPlaceholderText("Find in the conversation…")
        self.input.setClearButtonEnabled(True)
        self.input.textChanged.connect(lambda _: self._debounce.start())
        self.input.step.connect(self.step)
        self.input.closed.connect(self.close_bar)
        row.addWidget(self.input, 1)
        self.status = QLabel()
        self.status.setObjectName("findStatus")
        row.addWidget(self.status)
        for text, tip, backwards in (("▲", "Older match", False), ("▼", "Newer match", True)):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(f"{tip} ({'Enter' if not backwards else 'Shift+Enter'})")
            button.clicked.connect(lambda _=False, b=backwards: self.step(b))
            row.addWidget(button)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Close (Esc)")
        close.clicked.connect(self.close_bar)
        row.addWidget(close)
        layout.addLayout(row)
        self.older = QListWidget()
        self.older.setObjectName("olderMatches")
        self.older.setWordWrap(True)
        self.older.itemActivated.connect(lambda _: self.recallRequested.emit(self.query))
        self.older.hide()
        layout.addWidget(self.older)
        self.hide()

    def open_bar(self) -> None:
        """Show the bar with the focus in the input."""
        self.show()
        self.input.setFocus()
        self.input.selectAll()
        if self.input.text().strip():
            self.search()

    def close_bar(self) -> None:
        """Hide the bar and clear the highlights."""
        self.hide()
        self.chat.find_text("")
        self.chat.scroll_to_bottom()

    def search(self) -> None:
        """Highlight the query in the chat and look for older hits in recall memory."""
        self._debounce.stop()
        self.query = self.input.text().strip()
        self.loaded_matches = self.chat.find_text(self.query)
        self.older_matches = []
        self.older.clear()
        self.older.hide()
        if self.query and self.loaded_matches:
            self.chat.find_next()
        self._show_status()
        agent_id, query = self.agent_id, self.query
        if agent_id is not None and query:
            self.tasks.read(lambda r: (query, r.recall(agent_id, query)), self._recall)

    def _recall(self, answer: tuple[str, RecallPage]) -> None:
        query, page = answer
        if query != self.query or page.agent_id != self.agent_id:
            return  # the user typed on
        self.older_matches = older_hits(page.messages, query, self.oldest_loaded)
        for m in self.older_matches:
            who = "You" if m.role == Role.USER else self.agent_name
            item = QListWidgetItem(f"{who} · {short_time(m.created_at)}: {m.text[:300]}")
            item.setToolTip(m.text[:2000])
            self.older.addItem(item)
        rows = min(len(self.older_matches), 4)
        self.older.setFixedHeight(rows * self.older.sizeHintForRow(0) + 6 if rows else 0)
        self.older.setVisible(bool(self.older_matches))
        self._show_status()
        self._reveal.start()  # the chat just got shorter: show the current hit again

    def step(self, backwards: bool = False) -> None:
        """Go to the next older match (``backwards``: the next newer one)."""
        if self.query != self.input.text().strip():
            self.search()
            return
        self.chat.find_next(backwards)
        self._show_status()

    def _show_status(self) -> None:
        if not self.query:
            self.status.setText("")
            return
        parts = []
        if self.loaded_matches:
            at = self.loaded_matches - self.chat.find_index  # counted from the newest
            parts.append(f"{at} of {self.loaded_matches} in this chat")
        else:
            parts.append("not in this chat")
        if self.older_matches:
            n = len(self.older_matches)
            parts.append(f"{n} older in recall memory")
        self.status.setText(" · ".join(parts))
