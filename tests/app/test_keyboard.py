"""The conversation from the keyboard: Tab reaches it once (not every bubble), without
scrolling it to the top; arrow keys move between bubbles; the current one wears a focus
ring several pixels wide; Ctrl+C copies it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QWidget

from .fixtures import drain, scripted, send_and_wait, shot, step


def tab_stops(window: Any) -> list[QWidget]:
    """The widgets Tab visits, in order, once round the window."""
    stops: list[QWidget] = []
    start = widget = window.agent_list.list
    while True:
        widget = widget.nextInFocusChain()
        if widget is start:
            return stops
        policy = widget.focusPolicy()
        if (
            widget.isVisible()
            and widget.isEnabled()
            and policy & Qt.FocusPolicy.TabFocus == Qt.FocusPolicy.TabFocus
        ):
            stops.append(widget)


def test_the_conversation_is_one_tab_stop_with_arrows_inside(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    replies = [step(f"Reply number {n}, with a few words to wrap.") for n in range(8)]
    window = make_window(scripted(*replies), size=(900, 560))
    for n in range(8):
        send_and_wait(qtbot, window, f"Message number {n}")
    chat = window.chat
    stops = tab_stops(window)
    assert chat in stops
    inside = [w for w in stops if w is not chat and chat.isAncestorOf(w)]
    assert not inside, [w.objectName() or type(w).__name__ for w in inside]  # was every bubble
    bar = chat.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    window.activateWindow()
    before = stops[stops.index(chat) - 1]  # the agent panel's last button
    before.setFocus()
    qtbot.waitUntil(before.hasFocus)
    qtbot.keyClick(before, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is chat
    assert bar.value() == bar.maximum()  # was: jumped to the top
    newest = chat.bubbles[-1]
    assert chat.keys.current is newest
    ring = chat.keys.ring
    assert ring.isVisible() and ring.geometry().contains(
        newest.geometry().translated(newest.mapTo(ring.parentWidget(), QPoint(0, 0)) - newest.pos())
    )
    # The ring is a thick line of the highlight colour left of the bubble.
    image = chat.viewport().grab().toImage()
    highlight = chat.palette().color(QPalette.ColorRole.Highlight)
    middle = newest.mapTo(chat.viewport(), QPoint(0, newest.height() // 2))
    marked = [
        x
        for x in range(max(0, middle.x() - 10), middle.x())
        if image.pixelColor(x, middle.y()) == highlight
    ]
    assert len(marked) >= 2, marked  # not a 1-px dotted line
    shot(window, artifacts_dir, "keyboard-focus")
    qtbot.keyClick(chat, Qt.Key.Key_Up)
    assert chat.keys.current is chat.bubbles[-2]
    qtbot.keyClick(chat, Qt.Key.Key_Home)
    assert chat.keys.current is chat.bubbles[0]
    drain()
    first = chat.bubbles[0]
    top = first.mapTo(chat.viewport(), QPoint(0, 0))
    assert top.y() >= 0 and top.y() + first.height() <= chat.viewport().height()  # shown
    qtbot.keyClick(chat, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == chat.bubbles[0].text
    qtbot.keyClick(chat, Qt.Key.Key_End)
    drain()
    assert chat.keys.current is chat.bubbles[-1] and bar.value() == bar.maximum()
    reply = chat.bubbles[-1]
    assert not reply.detail_label.isVisible()
    qtbot.keyClick(chat, Qt.Key.Key_Return)  # a reply's thoughts, from the keyboard
    assert reply.detail_label.isVisible()
    qtbot.keyClick(chat, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.composer
    assert not ring.isVisible()
