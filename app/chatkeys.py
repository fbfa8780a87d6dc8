"""The conversation from the keyboard: one tab stop, arrow keys within it, a focus ring.

Tab reaches the chat view itself, never the bubbles' labels and buttons (each was a tab
stop, and focusing the first one scrolled the conversation to the top). Inside, one
bubble is *current*, marked by a ring drawn around it while the chat has the focus:
entering picks the newest bubble in view, so nothing scrolls; Up/Down move to the
previous/next bubble, Home/End to the first/last, Page Up/Down scroll; Ctrl+C copies the
current bubble's text; Enter shows or hides the rest of a long message, or a reply's
thoughts and tool calls. The mouse keeps selecting text and following links.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QKeyEvent, QKeySequence, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from ember.app.bubble import Bubble

RING_WIDTH = 3  # px: a focus mark one can see (was 1 px, on every bubble's label)
RING_GAP = 2  # px between the bubble and its ring


class FocusRing(QWidget):
    """A rounded ring around the current bubble, drawn in the highlight colour."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("chatFocusRing")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def surround(self, widget: QWidget) -> None:
        """Sit around ``widget`` (a descendant of this ring's parent)."""
        parent = self.parentWidget()
        if parent is None:
            return
        pad = RING_WIDTH + RING_GAP
        rect = QRect(widget.mapTo(parent, QPoint(0, 0)), widget.size())
        self.setGeometry(rect.adjusted(-pad, -pad, pad, pad))
        self.raise_()
        self.show()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight))
        pen.setWidth(RING_WIDTH)
        painter.setPen(pen)
        half = RING_WIDTH / 2
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(half, half, -half, -half), 16, 16)
        painter.end()


class ChatSurface(Protocol):
    """What the keys use of the chat view (``chat.ChatView``)."""

    bubbles: list[Bubble]

    def follow(self, on: bool) -> None: ...

    def scroll_to_bottom(self) -> None: ...

    def copy(self, bubble: Bubble) -> None: ...

    def ensureWidgetVisible(
        self, widget: QWidget, xmargin: int = ..., ymargin: int = ...
    ) -> None: ...

    def viewport(self) -> QWidget: ...

    def hasFocus(self) -> bool: ...


class ChatKeys(QObject):
    """Focus and keys of the chat view: an event filter the view installs on itself."""

    def __init__(self, view: ChatSurface, column: QWidget) -> None:
        super().__init__(column)
        self.view = view
        self.current: Bubble | None = None
        self.ring = FocusRing(column)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if watched is not cast(QObject, self.view):  # a bubble the ring was around
            if watched is self.current and kind in (QEvent.Type.Move, QEvent.Type.Resize):
                self.place()
            return False
        if kind == QEvent.Type.FocusIn:
            self.focus_in()
        elif kind == QEvent.Type.FocusOut:
            self.place()
        elif kind == QEvent.Type.Resize:
            QTimer.singleShot(0, self.place)  # once the bubbles have their new size
        elif kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            return self.key(event)  # True: handled here, not by the scroll area
        return False

    def focus_in(self) -> None:
        """The chat got the focus: mark the newest bubble in view (scrolling nothing)."""
        if self.current not in self.view.bubbles:
            self.current = self._newest_in_view()
        self.place()

    def _newest_in_view(self) -> Bubble | None:
        viewport = self.view.viewport()
        seen = QRect(QPoint(0, 0), viewport.size())
        for bubble in reversed(self.view.bubbles):
            if seen.intersects(QRect(bubble.mapTo(viewport, QPoint(0, 0)), bubble.size())):
                return bubble
        return self.view.bubbles[-1] if self.view.bubbles else None

    def place(self) -> None:
        """Put the ring around the current bubble (hidden without the focus)."""
        if self.current not in self.view.bubbles:
            self.current = None
        if self.current is not None and self.view.hasFocus():
            self.current.installEventFilter(self)  # it may grow or move (memories shown)
            self.ring.surround(self.current)
        else:
            self.ring.hide()

    def move_to(self, bubble: Bubble) -> None:
        """Make ``bubble`` current and show it."""
        self.current = bubble
        self.view.follow(False)
        self.view.ensureWidgetVisible(bubble, 0, RING_WIDTH + RING_GAP + 8)
        self.place()

    def key(self, event: QKeyEvent) -> bool:
        """Handle a key pressed in the chat; False leaves it to the scroll area."""
        bubbles = self.view.bubbles
        if not bubbles:
            return False
        if self.current not in bubbles:
            self.current = self._newest_in_view()
        at = bubbles.index(self.current) if self.current in bubbles else len(bubbles) - 1
        key = event.key()
        target = {
            Qt.Key.Key_Up: max(0, at - 1),
            Qt.Key.Key_Down: min(len(bubbles) - 1, at + 1),
            Qt.Key.Key_Home: 0,
            Qt.Key.Key_End: len(bubbles) - 1,
        }.get(Qt.Key(key))
        if target is not None:
            self.move_to(bubbles[target])
            if target == len(bubbles) - 1:
                self.view.scroll_to_bottom()  # at the newest: new content is followed again
            return True
        if event.matches(QKeySequence.StandardKey.Copy):
            self.view.copy(bubbles[at])
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            bubbles[at].activate()
            self.place()
            return True
        return False
