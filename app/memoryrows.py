"""Under a reply: the memories it was written from (its provenance, kept with it by the
engine), as a line "Remembered: N memories", collapsed. Expanded, one row per memory: when
it was said or stored, where it is kept ("page 2 of guide.pdf", "You said", "Core memory
(human)") and its text; clicking a row opens the memory in the inspector (window.py).

Pure widgets: the memories come with the reply's display item (transcript.py); opening
one reads through the task runner (inspector.py, browsers.py).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

from ember.app.transcript import short_time

if TYPE_CHECKING:
    from ember.core.api import Remembered

TEXT_CHARS = 400  # of a memory's text (as the prompt showed it), in its row
TIP_CHARS = 1000
FOUND = {
    "automatic": "Found by automatic recall before the reply was written.",
    "search": "Found by the agent's own search while it wrote the reply.",
    "core": "In core memory, which the agent always sees.",
}


def where(memory: Remembered, agent_name: str) -> str:
    """Where a memory is kept, as its row says it."""
    if memory.tier == "recall":
        return "You said" if memory.role == "user" else f"{agent_name} said"
    if memory.tier == "core":
        return f"Core memory ({memory.label})" if memory.label else "Core memory"
    return memory.place()  # "page 2 of guide.pdf"


def count_text(n: int) -> str:
    """``Remembered: 3 memories``."""
    return f"Remembered: {n} memor{'y' if n == 1 else 'ies'}"


class MemoryRow(QLabel):
    """One memory: its time and place, then its text; a click opens it."""

    clicked = Signal(object)  # the Remembered

    def __init__(self, memory: Remembered, agent_name: str) -> None:
        super().__init__()
        self.memory = memory
        self.setObjectName("rememberedRow")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        text = " ".join(memory.text.split())
        if len(text) > TEXT_CHARS:
            text = text[: TEXT_CHARS - 1] + "…"
        head = " · ".join(x for x in (short_time(memory.time), where(memory, agent_name)) if x)
        self.setText(f"<b>{html.escape(head)}</b> — {html.escape(text)}")
        self.setToolTip(
            f"{FOUND.get(memory.found_by, '')} Click to open it in the memory inspector.\n\n"
            + memory.text[:TIP_CHARS]
        )

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.memory)
        super().mouseReleaseEvent(event)


class RememberedList(QWidget):
    """ "Remembered: N memories" under a reply, collapsed; the rows when expanded. Hidden
    when the reply has none."""

    opened = Signal(object)  # a Remembered, clicked

    def __init__(self, agent_name: str) -> None:
        super().__init__()
        self.agent_name = agent_name
        self.setObjectName("remembered")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.toggle = QToolButton()
        self.toggle.setObjectName("rememberedToggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.toggle.setToolTip("The memories that were in view when this reply was written")
        self.toggle.toggled.connect(self._on_toggle)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.rows_box = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_box)
        self.rows_layout.setContentsMargins(16, 0, 0, 0)
        self.rows_layout.setSpacing(4)
        layout.addWidget(self.rows_box)
        self.rows: list[MemoryRow] = []
        self.memories: tuple[Remembered, ...] = ()
        self.set_memories(())

    def set_memories(self, memories: Sequence[Remembered]) -> None:
        """Show these memories (collapsed again when they changed)."""
        memories = tuple(memories)
        if memories != self.memories:
            self.toggle.setChecked(False)
        self.memories = memories
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        for memory in memories:
            row = MemoryRow(memory, self.agent_name)
            row.clicked.connect(self.opened)
            self.rows_layout.addWidget(row)
            self.rows.append(row)
        self.setVisible(bool(memories))
        self._on_toggle(self.toggle.isChecked())

    def _on_toggle(self, expanded: bool) -> None:
        self.rows_box.setVisible(expanded and bool(self.rows))
        arrow = "▾" if expanded else "▸"
        self.toggle.setText(f"{arrow} {count_text(len(self.memories))}")


def select_text(edit: QPlainTextEdit, text: str) -> bool:
    """Select the first occurrence of ``text`` in ``edit`` and show it (a core memory
    line opened from a reply); False when it is no longer there."""
    edit.moveCursor(QTextCursor.MoveOperation.Start)
    found = edit.find(text)
    if found:
        edit.ensureCursorVisible()
    return bool(found)
