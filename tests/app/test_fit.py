"""The window fits: at its minimum size with the inspector open, Send and Stop are whole;
the inspector's tabs all show at the default width; at QT_SCALE_FACTOR=2 the window opens
inside the screen's available geometry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def open_window(
    tmp_path: Path, scale: float, shot: Path | None = None, size: str = ""
) -> dict[str, Any]:
    """Open the window in a child process on a 1400×900 screen at ``scale``."""
    screen = tmp_path / "screen.json"
    screen.write_text(
        json.dumps({"screens": [{"name": "S", "x": 0, "y": 0, "width": 1400, "height": 900}]})
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": f"offscreen:configfile={screen}",
        "QT_SCALE_FACTOR": str(scale),
    }
    args = [str(tmp_path / "gui.ini"), str(shot or ""), size]
    out = subprocess.run(
        [sys.executable, "-m", "tests.app.open_window", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    answer: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


def inside(frame: list[int], screen: list[int]) -> bool:
    x, y, w, h = frame
    sx, sy, sw, sh = screen
    return sx <= x and sy <= y and x + w <= sx + sw and y + h <= sy + sh


def test_at_scale_two_the_window_opens_inside_the_screen(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    first = open_window(tmp_path, 2, artifacts_dir / "gui-scale-2.png")
    assert first["scale"] == 2
    assert first["screen"] == [0, 0, 700, 450]  # 1400×900 pixels at scale 2
    assert inside(first["frame"], first["screen"]), first  # was 1180×780 (2360×1560 px)
    # A size saved at scale 1 on the same screen is fitted too when restored at scale 2.
    saved = open_window(tmp_path, 1, size="1300x850")
    assert saved["size"] == [1300, 850]
    again = open_window(tmp_path, 2)
    assert inside(again["frame"], again["screen"]), again
