"""One chat bubble: a header (who · when, and small actions: copy; regenerate or edit on
the newest turn), the Markdown body, the live activity line, and collapsible details
(inner thoughts, function calls and their results).

A long message (more than ``COLLAPSE_LINES`` lines or ``COLLAPSE_CHARS`` characters) shows
its first ``COLLAPSED_LINES`` lines with "Show all" under them; a reply being written is
never collapsed, and a find hit opens the message it is in.

Find-in-conversation highlights hits by rendering the Markdown into a text document,
marking the matches there, and showing that document's HTML until the search ends.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout

from ember.app.memoryrows import RememberedList
from ember.app.transcript import STOPPED, Detail, DisplayItem, short_time

HIGHLIGHT = "#ffd54f"
CURRENT_HIGHLIGHT = "#ff9800"
LIVE_PLACEHOLDER = "…"
COLLAPSE_LINES = 14  # a message longer than this (lines, or characters) is collapsed
COLLAPSE_CHARS = 1400
COLLAPSED_LINES = 8  # lines shown of a collapsed message


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


def highlighted_html(
    markdown: str, query: str, current: bool, font: QFont | None = None
) -> tuple[str, int]:
    """The Markdown as HTML with every case-insensitive hit of ``query`` marked, and the
    number of hits. ``font``: the label's, so the text keeps its size."""
    doc = QTextDocument()
    if font is not None:
        doc.setDefaultFont(font)
    doc.setMarkdown(markdown)
    fmt = QTextCharFormat()
    fmt.setBackground(QColor(CURRENT_HIGHLIGHT if current else HIGHLIGHT))
    fmt.setForeground(QColor("#000000"))
    hits = 0
    cursor = doc.find(query, 0)
    while not cursor.isNull():
        cursor.mergeCharFormat(fmt)
        hits += 1
        cursor = doc.find(query, cursor.selectionEnd())
    return doc.toHtml(), hits


class Bubble(QFrame):
    """One message of the chat."""

    copyRequested = Signal(object)  # this bubble
    actionRequested = Signal(str)  # "regenerate" | "edit"
    memoryOpened = Signal(object)  # a Remembered of this reply, clicked

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
        self._who = {"user": "You", "assistant": agent_name, "notice": "Notice"}[item.role]
        self.header = QLabel()
        self.header.setObjectName("bubbleHeader")
        self.time = item.time
        self.stopped = item.stopped
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.setSpacing(2)
        head.addWidget(self.header, 1)
        layout.addLayout(head)
        self.body = QLabel()
        self.body.setObjectName("bubbleBody")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.MarkdownText)
        self.body.setOpenExternalLinks(True)
        # The mouse selects and follows links; the keyboard works on the whole chat view
        # (chatkeys.py): no bubble part is a tab stop.
        self.body.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.body.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.body.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.body)
        self.live = False  # a reply being written (never collapsed)
        self.collapsed = True  # a long message shows its first lines (until "Show all")
        self.show_all = QToolButton()
        self.show_all.setObjectName("showAll")
        self.show_all.setAutoRaise(True)
        self.show_all.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.show_all.clicked.connect(lambda: self.set_collapsed(not self.collapsed))
        self.show_all.hide()
        layout.addWidget(self.show_all, 0, Qt.AlignmentFlag.AlignLeft)
        self.activity = QLabel()
        self.activity.setObjectName("bubbleActivity")
        self.activity.setWordWrap(True)
        self.activity.hide()
        layout.addWidget(self.activity)
        self.text = ""
        self.query = ""
        self.hits = 0  # hits of ``query`` in the body
        self.details: list[Detail] = list(item.details)
        self.live_thought = ""
        self._build_actions(head)
        self.toggle = QToolButton()
        self.toggle.setObjectName("detailsToggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._on_toggle)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.detail_label = QLabel()
        self.detail_label.setObjectName("bubbleDetails")
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextFormat(Qt.TextFormat.RichText)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail_label)
        self.remembered = RememberedList(agent_name)  # what the reply was written from
        layout.addWidget(self.remembered)  # before it is shown: never a window of its own
        self.remembered.set_memories(item.remembered)
        self.remembered.opened.connect(self.memoryOpened)
        self.detail_label.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        for button in (self.toggle, self.action_button, self.copy_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.set_header()
        self.set_text(item.text)
        self.toggle.setChecked(show_details)
        self.refresh_details()

    def _build_actions(self, head: QHBoxLayout) -> None:
        self.action_button = QToolButton()  # Regenerate / Edit, on the newest turn only
        self.action_button.setObjectName("bubbleAction")
        self.action_button.setAutoRaise(True)
        self.action_button.clicked.connect(
            lambda: self.actionRequested.emit(str(self.action_button.property("action")))
        )
        self.action_button.hide()
        head.addWidget(self.action_button)
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("copyButton")
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this message")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(lambda: self.copyRequested.emit(self))
        head.addWidget(self.copy_button)

    def changeEvent(self, event: QEvent) -> None:
        # Light/dark switch: Markdown links take the palette's link colour when the text
        # is set, so the body is set again.
        if event.type() == QEvent.Type.PaletteChange:
            self.body.clear()  # the same text set again would be a no-op
            self._render_body()
        super().changeEvent(event)

    # -- content -----------------------------------------------------------------------

    def set_header(self) -> None:
        """Who, when, and whether the reply was stopped."""
        when = short_time(self.time)
        parts = [f"<b>{html.escape(self._who)}</b>"] + ([when] if when else [])
        if self.stopped:
            parts.append("<i>stopped</i>")
        self.header.setText(" · ".join(parts))

    def set_time(self, iso: str) -> None:
        """Show when the message was written."""
        self.time = iso
        self.set_header()

    def show_item(self, item: DisplayItem) -> None:
        """Show ``item`` (of this bubble's role) instead: a live bubble, as stored."""
        self.live = False
        self.time, self.stopped = item.time, item.stopped
        self.details, self.live_thought = list(item.details), ""
        self.activity.setText("")
        self.activity.hide()
        self.set_header()
        self.set_text(item.text)
        self.refresh_details()
        self.remembered.set_memories(item.remembered)

    def set_text(self, text: str) -> None:
        """Replace the Markdown body."""
        self.text = text
        self._render_body()

    def _render_body(self, current: bool = False) -> int:
        shown = self.text
        if self.stopped and not shown:
            shown = f"*{STOPPED}*"
        hits = 0
        if self.query and shown:
            rich, hits = highlighted_html(shown, self.query, current, self.body.font())
            if hits:
                self.body.setTextFormat(Qt.TextFormat.RichText)
                self.body.setText(rich)
        if not hits:
            self.body.setTextFormat(Qt.TextFormat.MarkdownText)
            self.body.setText(shown)
        self.hits = hits
        # While the agent works, the activity line says so instead of a bare "…".
        waiting = shown == LIVE_PLACEHOLDER and bool(self.activity.text())
        self.body.setVisible(bool(shown) and not waiting)
        self.copy_button.setVisible(bool(self.text) and self.text != LIVE_PLACEHOLDER)
        if hits:
            self.collapsed = False  # a find hit is never hidden
        self._fold()
        return hits

    def collapsible(self) -> bool:
        """A long message, finished: shown folded until "Show all"."""
        lines = self.text.count("\n") + 1
        long = lines > COLLAPSE_LINES or len(self.text) > COLLAPSE_CHARS
        return long and not self.live and self.body.isVisibleTo(self)

    def set_collapsed(self, collapsed: bool) -> None:
        """Fold a long message to its first lines, or show it all."""
        self.collapsed = collapsed
        self._fold()

    def _fold(self) -> None:
        folded = self.collapsed and self.collapsible()
        lines = self.body.fontMetrics().lineSpacing() * COLLAPSED_LINES
        self.body.setMaximumHeight(lines if folded else 16_777_215)
        self.show_all.setVisible(self.collapsible())
        self.show_all.setText("▸ Show all" if folded else "▾ Show less")
        self.show_all.setToolTip(
            "Show the whole message (Enter)" if folded else "Fold it to its first lines"
        )

    def highlight(self, query: str, current: bool = False) -> int:
        """Mark the hits of ``query`` ('' clears); returns how many there are."""
        self.query = query
        return self._render_body(current)

    def mark_stopped(self) -> None:
        """The user stopped this reply: keep what was streamed, say it was stopped."""
        self.stopped = True
        self.set_header()
        self._render_body()

    def set_activity(self, text: str) -> None:
        """The live line under a reply being written ('' hides it)."""
        if text == self.activity.text() and self.activity.isVisible() == bool(text):
            return  # every streamed token reports the same activity
        self.activity.setText(text)
        self.activity.setVisible(bool(text))
        if self.text == LIVE_PLACEHOLDER:
            self._render_body()

    def set_action(self, action: str) -> None:
        """Offer "regenerate" or "edit" on this bubble ('' removes the offer)."""
        labels = {"regenerate": ("Regenerate", "Write this reply again (Ctrl+R)")}
        labels["edit"] = ("Edit", "Edit and resend this message (Ctrl+E)")
        self.action_button.setProperty("action", action)
        if action in labels:
            text, tip = labels[action]
            self.action_button.setText(text)
            self.action_button.setToolTip(tip)
        self.action_button.setVisible(action in labels)

    def activate(self) -> None:
        """Enter on the current bubble (keyboard): show all of a long message (or fold
        it again), else show or hide its details."""
        if self.collapsible():
            self.set_collapsed(not self.collapsed)
        elif self.toggle.isVisible():
            self.toggle.toggle()

    # -- details -----------------------------------------------------------------------

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
