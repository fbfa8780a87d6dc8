"""Appearance: System / Light / Dark in Settings, kept for the next start; "System"
follows the system's colour scheme while Ember runs; in dark, the bubbles and the colours
set by hand read well (WCAG contrast of at least 4.5:1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

from .fixtures import scripted, send_and_wait, settle, shot, step

READABLE = 4.5


@pytest.fixture(autouse=True)
def _platform_palette_after() -> Iterator[None]:
    """The application outlives the test: give it back its own palette."""
    yield
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setPalette(QPalette())


def background(widget: Any) -> QColor:
    """The colour the widget paints at its left edge, half-way down (a bubble's fill)."""
    image = widget.grab().toImage()
    return image.pixelColor(6, image.height() // 2)


def test_dark_appearance_reads_well_and_is_kept(
    qtbot: Any, make_window: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    from ember.app.appearance import DARK, contrast, error_color, is_dark

    window = make_window(scripted(step("Here is a [link](https://example.org) for you.")))
    send_and_wait(qtbot, window, "Hello there, can you hear me?")
    assert not is_dark()
    dialog = window.commands.open_settings()
    combo = dialog.appearance
    assert [combo.itemData(i) for i in range(combo.count())] == ["system", "light", "dark"]
    combo.setCurrentIndex(combo.findData(DARK))
    dialog.accept()
    settle(qtbot, window)
    qtbot.wait(50)
    assert is_dark()
    palette = QGuiApplication.palette()
    role = QPalette.ColorRole
    pairs = {
        "text on base": (role.Text, role.Base),
        "text on the agent's bubble": (role.Text, role.AlternateBase),
        "text on the user's bubble": (role.HighlightedText, role.Highlight),
        "window text": (role.WindowText, role.Window),
        "button text": (role.ButtonText, role.Button),
        "links": (role.Link, role.AlternateBase),
    }
    for what, (fg, bg) in pairs.items():
        assert contrast(palette.color(fg), palette.color(bg)) >= READABLE, what
    assert contrast(QColor(error_color()), palette.color(role.Base)) >= READABLE
    user, reply = window.chat.bubbles[-2], window.chat.bubbles[-1]
    assert (user.role, reply.role) == ("user", "assistant")
    # The style sheet follows: the bubbles are painted dark, their text light.
    for bubble in (user, reply):
        fill = background(bubble)
        text = bubble.body.palette().color(bubble.body.foregroundRole())
        assert fill.lightnessF() < 0.5, bubble.role
        assert contrast(text, fill) >= READABLE, (bubble.role, text.name(), fill.name())
    # The link in the reply is painted in the dark palette's link colour, not dark blue.
    image, fill = reply.body.grab().toImage(), background(reply)
    bluish = [
        image.pixelColor(x, y)
        for x in range(image.width())
        for y in range(image.height())
        if image.pixelColor(x, y).blue() > image.pixelColor(x, y).red() + 60
    ]
    assert bluish and max(contrast(c, fill) for c in bluish) >= READABLE
    shot(window, artifacts_dir, "dark")
    # Kept for the next start (before the data is even open).
    settings = str(tmp_path / "gui.ini")
    QGuiApplication.instance().setPalette(QPalette())  # type: ignore[union-attr]
    from ember.app.window import MainWindow

    again = MainWindow(window.worker, settings_path=settings)
    qtbot.addWidget(again)
    assert again.appearance.choice == DARK and is_dark()


def test_system_appearance_follows_the_colour_scheme(qtbot: Any, make_window: Any) -> None:
    from ember.app.appearance import LIGHT, SYSTEM, is_dark

    window = make_window(scripted())
    appearance = window.appearance
    assert appearance.choice == SYSTEM
    hints = QGuiApplication.styleHints()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # as the platform does
    assert is_dark()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not is_dark()
    appearance.set_choice(LIGHT)  # a fixed choice ignores the system
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not is_dark()
