"""The chat view: message bubbles (Markdown), streamed replies, collapsible details.

A reply bubble shows the message; under it a small toggle reveals what the agent did on
the way (inner thoughts, function calls and results). One switch shows or hides the
details of every bubble. Streaming text is buffered and painted by a timer every
``FLUSH_MS`` so a fast model never floods the event loop with re-layouts.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ember.app.transcript import Detail, DisplayItem, short_time

FLUSH_MS = 40


def details_html(details: list[Detail], live_thought: str = "") -> str:
    """Rich text for a reply's details."""
    rows = []
    for d in details:
        text = html.escape(d.text).replace("\n", "<br>")
        if d.kind == "thought":
            rows.append(f"<p style='margin:2px 0'><b>Thought</b> <i>{text}</i></p>")
        elif d.kind == "call":
            rows.append(f"<p style='margin:2px 0'><b>Call</b> <code>{text}</code></p>")
        else:
            mark = "↳" if d.ok else "⚠"
            rows.append(f"<p style='margin:2px 0 2px 16px'>{mark} {text}</p>")
    if live_thought:
        rows.append(
            f"<p style='margin:2px 0'><b>Thinking…</b> <i>{html.escape(live_thought)}</i></p>"
        )
    return "".join(rows)


class Bubble(QFrame):
    """One message: header (who · when), Markdown body, optional collapsible details."""

    def __init__(self, item: DisplayItem, agent_name: str, show_details: bool) -> None:
        super().__init__()
        self.role = item.role
        self.setObjectName(f"bubble_{item.role}")
        self.setProperty("role", item.role)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        who = {"user": "You", "assistant": agent_name, "notice": "Notice"}[item.role]
        self.header = QLabel()
        self.header.setObjectName("bubbleHeader")
        self._who = who
        self.set_time(item.time)
        layout.addWidget(self.header)
        self.body = QLabel()
        self.body.setObjectName("bubbleBody")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.MarkdownText)
        self.body.setOpenExternalLinks(True)
        self.body.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextBrowserInteraction
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.body)
        self.text = ""
        self.set_text(item.text)
        self.details: list[Detail] = list(item.details)
        self.live_thought = ""
        self.toggle = QToolButton()
        self.toggle.setObjectName("detailsToggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._on_toggle)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.detail_label = QLabel()
        self.detail_label.setObjectName("bubbleDetails")
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextFormat(Qt.TextFormat.RichText)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail_label)
        self.toggle.setChecked(show_details)
        self.refresh_details()

    def set_time(self, iso: str) -> None:
        """Show when the message was written."""
        when = short_time(iso)
        self.header.setText(f"<b>{html.escape(self._who)}</b>" + (f" · {when}" if when else ""))

    def set_text(self, text: str) -> None:
        """Replace the Markdown body."""
        self.text = text
        self.body.setText(text)
        self.body.setVisible(bool(text))

    def _on_toggle(self, checked: bool) -> None:
        self.detail_label.setVisible(checked and self.has_details())
        self._label_toggle()

    def has_details(self) -> bool:
        """Whether there is anything behind the toggle."""
        return bool(self.details or self.live_thought)

    def _label_toggle(self) -> None:
        steps = sum(1 for d in self.details if d.kind == "call")
        label = "thoughts" + (f" and {steps} tool call{'s' * (steps != 1)}" if steps else "")
        arrow = "▾" if self.toggle.isChecked() else "▸"
        self.toggle.setText(f"{arrow} {label}")

    def refresh_details(self) -> None:
        """Re-render the details (after new thoughts or calls)."""
        has = self.has_details() and self.role == "assistant"
        self.toggle.setVisible(has)
        self.detail_label.setText(details_html(self.details, self.live_thought))
        self.detail_label.setVisible(has and self.toggle.isChecked())
        self._label_toggle()


class ChatView(QScrollArea):
    """A scrolling column of bubbles, with streaming into the newest reply."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._column = QWidget()
        self._column.setObjectName("chatColumn")
        self._layout = QVBoxLayout(self._column)
        self._layout.setContentsMargins(16, 16, 16, 16)
        self._layout.setSpacing(10)
        self._layout.addStretch(1)
        self.setWidget(self._column)
        self.agent_name = "Ember"
        self.show_details = False
        self.bubbles: list[Bubble] = []
        self.current: Bubble | None = None
        self._pending_text = ""
        self._pending_thought = ""
        self._stick = True
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        self.verticalScrollBar().rangeChanged.connect(self._on_range)
        self.verticalScrollBar().valueChanged.connect(self._on_scroll)

    # -- building ----------------------------------------------------------------------

    def clear(self) -> None:
        """Remove every bubble."""
        self._timer.stop()
        for bubble in self.bubbles:
            bubble.setParent(None)
            bubble.deleteLater()
        self.bubbles.clear()
        self.current = None
        self._pending_text = self._pending_thought = ""

    def add(self, item: DisplayItem) -> Bubble:
        """Append a bubble for ``item``."""
        bubble = Bubble(item, self.agent_name, self.show_details)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        if item.role == "user":
            row.addStretch(1)
        row.addWidget(bubble, 6 if item.role != "notice" else 10)
        if item.role == "assistant":
            row.addStretch(1)
        wrapper = QWidget()
        wrapper.setLayout(row)
        self._layout.insertWidget(self._layout.count() - 1, wrapper)
        bubble.wrapper = wrapper  # type: ignore[attr-defined]
        self.bubbles.append(bubble)
        self._stick = True
        return bubble

    def set_items(self, items: list[DisplayItem]) -> None:
        """Show a whole history."""
        self.clear()
        for item in items:
            self.add(item)

    def set_show_details(self, show: bool) -> None:
        """Show or hide the details of every reply."""
        self.show_details = show
        for bubble in self.bubbles:
            bubble.toggle.setChecked(show)

    # -- streaming ---------------------------------------------------------------------

    def begin_reply(self) -> Bubble:
        """Start an empty reply bubble that streamed text will fill."""
        self.current = self.add(DisplayItem("assistant", "", "", []))
        self.current.set_text("…")
        self._timer.start()
        return self.current

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
            base = "" if bubble.text == "…" else bubble.text
            bubble.set_text(base + self._pending_text)
            self._pending_text = ""
        if self._pending_thought:
            bubble.live_thought += self._pending_thought
            self._pending_thought = ""
            bubble.refresh_details()

    def add_details(self, details: list[Detail]) -> None:
        """A finished step: its thoughts and call replace the live thought."""
        if self.current is None:
            self.begin_reply()
        assert self.current is not None
        self.flush()
        self.current.live_thought = ""
        self.current.details.extend(details)
        self.current.refresh_details()

    def finish_reply(self, text: str | None, time: str, note: str = "") -> None:
        """Close the current reply with its final text (or a note when there was none)."""
        self.flush()
        self._timer.stop()
        bubble = self.current
        self.current = None
        if bubble is None:
            return
        bubble.live_thought = ""
        final = text if text is not None else ("" if bubble.text == "…" else bubble.text)
        if not final and note:
            final = f"_{note}_"
        bubble.set_text(final)
        bubble.set_time(time)
        bubble.refresh_details()
        if not final and not bubble.details:
            bubble.wrapper.setParent(None)  # type: ignore[attr-defined]
            self.bubbles.remove(bubble)

    # -- scrolling ---------------------------------------------------------------------

    def _on_scroll(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick = value >= bar.maximum() - 40

    def _on_range(self, _min: int, maximum: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(maximum)


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

    def canInsertFromMimeData(self, source) -> bool:  # type: ignore[no-untyped-def]
        if source.hasUrls():
            return False
        return super().canInsertFromMimeData(source)

    def dragEnterEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.mimeData().hasUrls():
            event.ignore()
            return
        super().dragEnterEvent(event)
