"""The chat view: a scrolling column of bubbles (``bubble.py``), streamed replies, find,
and the input box.

Scrolling. Word-wrapped labels report a minimum height measured at their narrowest, far
above what they need at the real width, and ``QScrollArea`` sizes its widget to at least
that minimum: the column grew taller than its bubbles and the view scrolled into blank
space. The column therefore reports no minimum height, so the scroll area sizes it by its
layout's height for the viewport's width, which is exact. Bubbles sit at the bottom (a
stretch above them), and the view follows the newest bubble unless the user scrolled up.

Streaming text is buffered and painted by a timer every ``FLUSH_MS`` so a fast model
never floods the event loop with re-layouts.

The keyboard (one tab stop, arrow keys between bubbles, a focus ring) is ``chatkeys.py``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ember.app.bubble import LIVE_PLACEHOLDER, Bubble
from ember.app.chatkeys import ChatKeys
from ember.app.transcript import Detail, DisplayItem

FLUSH_MS = 40
STICK_PX = 40  # within this distance of the bottom, the view follows new content


class _Column(QWidget):
    """The bubbles' column: no minimum height of its own (see the module docstring)."""

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), 0)


class ChatView(QScrollArea):
    """A scrolling column of bubbles, with streaming into the newest reply."""

    actionRequested = Signal(str)  # "regenerate" | "edit" (from the newest turn's bubbles)
    memoryOpened = Signal(object)  # a Remembered under a reply, clicked
    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._column = _Column()
        self._column.setObjectName("chatColumn")
        self._layout = QVBoxLayout(self._column)
        self._layout.setContentsMargins(16, 16, 16, 16)
        self._layout.setSpacing(10)
        self._layout.addStretch(1)  # above the bubbles: they sit at the bottom
        self.setWidget(self._column)
        self.agent_name = "Ember"
        self.show_details = False
        self.bubbles: list[Bubble] = []
        self.current: Bubble | None = None
        self.find_query = ""
        self.find_index = -1
        self._wrappers: dict[int, QWidget] = {}
        self._pending_text = ""
        self._pending_thought = ""
        self._step_text = LIVE_PLACEHOLDER  # the current reply's text before this step
        self._stick = True
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        self.verticalScrollBar().rangeChanged.connect(self._on_range)
        self.verticalScrollBar().valueChanged.connect(self._on_scroll)
        self.keys = ChatKeys(self, self._column)  # one tab stop, arrows within
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.installEventFilter(self.keys)

    # -- building ----------------------------------------------------------------------

    def clear(self) -> None:
        """Remove every bubble."""
        self._timer.stop()
        for bubble in list(self.bubbles):
            self._remove(bubble)
        self.current = None
        self._pending_text = self._pending_thought = ""
        self.find_index = -1

    def _remove(self, bubble: Bubble) -> None:
        wrapper = self._wrappers.pop(id(bubble), None)
        if wrapper is not None:
            wrapper.setParent(None)
            wrapper.deleteLater()
        self.bubbles.remove(bubble)

    def add(self, item: DisplayItem) -> Bubble:
        """Append a bubble for ``item`` and follow it."""
        return self._insert(len(self.bubbles), item)

    def replace(
        self, old: Sequence[Bubble], items: Sequence[DisplayItem], before: Bubble | None = None
    ) -> None:
        """Show ``items`` where the bubbles ``old`` were (else before ``before``, else at
        the end): a finished turn, shown again as it was stored."""
        shown = [b for b in old if b in self.bubbles]
        anchor = shown[0] if shown else before if before in self.bubbles else None
        at = self.bubbles.index(anchor) if anchor is not None else len(self.bubbles)
        if self.current is not None and self.current in shown:
            self._timer.stop()
            self.current = None
            self._pending_text = self._pending_thought = ""
        for i, item in enumerate(items, at):
            here = self.bubbles[i] if i < len(self.bubbles) else None
            if here is not None and here in shown and here.role == item.role:
                shown.remove(here)  # the same bubble, as stored (no re-layout of the rest)
                here.show_item(item)
            else:
                self._insert(i, item)
        for bubble in shown:
            self._remove(bubble)

    def _insert(self, index: int, item: DisplayItem) -> Bubble:
        bubble = Bubble(item, self.agent_name, self.show_details)
        bubble.copyRequested.connect(self.copy)
        bubble.actionRequested.connect(self.actionRequested)
        bubble.memoryOpened.connect(self.memoryOpened)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        if item.role == "user":
            row.addStretch(1)
        row.addWidget(bubble, 6 if item.role != "notice" else 10)
        if item.role == "assistant":
            row.addStretch(1)
        wrapper = QWidget()
        wrapper.setLayout(row)
        self._layout.insertWidget(index + 1, wrapper)  # after the stretch
        self._wrappers[id(bubble)] = wrapper
        self.bubbles.insert(index, bubble)
        if self.find_query:
            bubble.highlight(self.find_query)
        self._stick = True
        return bubble

    def set_items(self, items: list[DisplayItem]) -> None:
        """Show a whole history."""
        self.clear()
        for item in items:
            self.add(item)
        self.scroll_to_bottom()

    def set_show_details(self, show: bool) -> None:
        """Show or hide the details of every reply."""
        self.show_details = show
        for bubble in self.bubbles:
            bubble.toggle.setChecked(show)

    def offer_actions(self, enabled: bool) -> None:
        """Offer Edit on the newest message of the user and Regenerate on the reply that
        followed it (only while the agent is idle)."""
        users = [i for i, b in enumerate(self.bubbles) if b.role == "user"]
        last_user = users[-1] if users and enabled else -1
        replies = [i for i, b in enumerate(self.bubbles) if b.role == "assistant"]
        last_reply = replies[-1] if replies and last_user >= 0 and replies[-1] > last_user else -1
        for i, bubble in enumerate(self.bubbles):
            bubble.set_action("edit" if i == last_user else "regenerate" if i == last_reply else "")

    def drop_last_turn(self, *, keep_message: bool = False) -> Bubble | None:
        """Remove the newest message of the user (unless ``keep_message``) and everything
        after it; returns that message's bubble when it stays."""
        users = [i for i, b in enumerate(self.bubbles) if b.role == "user"]
        first = users[-1] + keep_message if users else len(self.bubbles)
        for bubble in self.bubbles[first:]:
            self._remove(bubble)
        return self.bubbles[users[-1]] if users and keep_message else None

    def copy(self, bubble: Bubble) -> None:
        """Put a bubble's text on the clipboard."""
        QApplication.clipboard().setText(bubble.text)
        self.copied.emit(bubble.text)

    # -- streaming ---------------------------------------------------------------------

    def begin_reply(self) -> Bubble:
        """Start an empty reply bubble that streamed text will fill."""
        self.current = self.add(DisplayItem("assistant", "", "", []))
        self.current.live = True
        self.current.set_text(LIVE_PLACEHOLDER)
        self._timer.start()
        return self.current

    def set_activity(self, text: str) -> None:
        """What the agent is doing, under the reply being written."""
        if self.current is not None:
            self.current.set_activity(text)

    def begin_step(self) -> None:
        """A new step of the current reply starts: remember its text so far."""
        self.flush()
        if self.current is not None:
            self._step_text = self.current.text

    def void_step(self) -> None:
        """The step being streamed was rejected: drop what it wrote."""
        self._pending_text = self._pending_thought = ""
        if self.current is not None:
            self.current.set_text(self._step_text)
            self.current.live_thought = ""
            self.current.refresh_details()

    def stream_text(self, text: str) -> None:
        """Buffer more reply text (painted on the next flush)."""
        self._pending_text += text

    def stream_thought(self, text: str) -> None:
        """Buffer more inner thoughts (painted on the next flush)."""
        self._pending_thought += text

    def flush(self) -> None:
        """Paint buffered text into the current reply."""
        bubble = self.current
        if bubble is None:
            return
        if self._pending_text:
            base = "" if bubble.text == LIVE_PLACEHOLDER else bubble.text
            bubble.set_text(base + self._pending_text)
            self._pending_text = ""
        if self._pending_thought:
            bubble.live_thought += self._pending_thought
            self._pending_thought = ""
            bubble.refresh_details()

    def add_details(self, details: list[Detail]) -> None:
        """A finished step: its thoughts and call replace the live thought."""
        bubble = self.current or self.begin_reply()
        self.flush()
        bubble.live_thought = ""
        bubble.details.extend(details)
        bubble.refresh_details()

    def finish_reply(self, text: str | None, time: str, *, stopped: bool = False) -> None:
        """Close the current reply with its final text, or with what was streamed
        (marked stopped); a reply with nothing to show goes."""
        self.flush()
        self._timer.stop()
        bubble = self.current
        self.current = None
        if bubble is None:
            return
        bubble.live_thought = ""
        bubble.live = False
        bubble.set_activity("")
        final = (
            text if text is not None else ("" if bubble.text == LIVE_PLACEHOLDER else bubble.text)
        )
        bubble.set_text(final)
        if stopped:
            bubble.mark_stopped()
        bubble.set_time(time)
        bubble.refresh_details()
        if not final and not bubble.details and not stopped:
            self._remove(bubble)

    # -- find --------------------------------------------------------------------------

    def find_text(self, query: str) -> int:
        """Highlight every hit of ``query`` ('' clears); returns how many bubbles match."""
        self.find_query = query.strip()
        self.find_index = -1
        matching = 0
        for bubble in self.bubbles:
            matching += bool(bubble.highlight(self.find_query))
        return matching

    def matches(self) -> list[Bubble]:
        """Bubbles holding a hit of the current query, oldest first."""
        return [b for b in self.bubbles if b.hits]

    def find_next(self, backwards: bool = False) -> Bubble | None:
        """Move to the next (or previous) matching bubble, newest first, and show it."""
        hits = self.matches()
        if not hits:
            return None
        if self.find_index < 0:
            self.find_index = len(hits) - 1 if not backwards else 0
        else:
            step = -1 if not backwards else 1
            self.find_index = (self.find_index + step) % len(hits)
        target = hits[self.find_index]
        for bubble in hits:
            bubble.highlight(self.find_query, current=bubble is target)
        self._stick = False
        self.show_found()
        return target

    def show_found(self) -> None:
        """Scroll the current find hit into view (again, after the view changed size)."""
        hits = self.matches()
        if 0 <= self.find_index < len(hits):
            self.ensureWidgetVisible(hits[self.find_index], 0, 40)

    # -- scrolling ---------------------------------------------------------------------

    def scroll_to_bottom(self) -> None:
        """Show the newest bubble and follow new content again."""
        self._stick = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def follow(self, on: bool) -> None:
        """Follow new content (or stop following it, to show an older bubble)."""
        self._stick = on

    def _on_scroll(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick = value >= bar.maximum() - STICK_PX

    def _on_range(self, _min: int, maximum: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(maximum)
        self.keys.place()


class Composer(QPlainTextEdit):
    """The input box: Enter (or Ctrl+Enter) sends, Shift+Enter starts a new line.

    File drops are left to the window (they add documents), not pasted as paths.
    """

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setPlaceholderText("Message Ember…  (Enter to send, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(76)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
                return
            self.send()
            return
        super().keyPressEvent(event)

    def send(self) -> None:
        """Emit the text (if any) and clear the box."""
        text = self.toPlainText().strip()
        if text:
            self.clear()
            self.submitted.emit(text)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        if source.hasUrls():
            return False
        return super().canInsertFromMimeData(source)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.ignore()
            return
        super().dragEnterEvent(event)


class InputBar(QWidget):
    """The input box with its Send and Stop buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.composer = Composer()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.composer.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop generating (Esc)")
        self.stop_button.setEnabled(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 12)
        row.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addLayout(buttons)
