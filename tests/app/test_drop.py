"""Files dragged onto the window from a file manager, with real drag events delivered to
the window's QWindow as the platform delivers them (Qt then picks the widget under the
cursor): the hint shows, and the drop loads the documents, wherever on the window they
are dropped (the message box refuses file drops and leaves them to the window)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from ember.core.storage.store import Store

from .fixtures import WAIT_MS, scripted, settle

COPY = Qt.DropAction.CopyAction
LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier(0)


def files(*paths: Path) -> QMimeData:
    """What a file manager puts in a drag: file URLs."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drag_over(window: Any, widget: Any, mime: QMimeData) -> tuple[QDragEnterEvent, QPoint]:
    """Enter and move over the middle of ``widget``; returns the enter event and the point."""
    at = widget.mapTo(window, widget.rect().center())
    target = window.windowHandle()
    enter = QDragEnterEvent(at, COPY, mime, LEFT, NONE)
    QApplication.sendEvent(target, enter)
    if enter.isAccepted():
        QApplication.sendEvent(target, QDragMoveEvent(at, COPY, mime, LEFT, NONE))
    return enter, at


def test_dropped_files_are_loaded_wherever_they_land(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe spare key is under the blue flowerpot.\n")
    log = tmp_path / "log.txt"
    log.write_text("Fog over the northern reef at dawn.\n")
    window = make_window(scripted())
    target = window.windowHandle()
    loaded: list[list[Any]] = []
    window.documentsLoaded.connect(lambda _batch, results: loaded.append(list(results)))
    for widget, path in ((window.composer, notes), (window.chat.viewport(), log)):
        mime = files(path)
        enter, at = drag_over(window, widget, mime)
        assert enter.isAccepted(), widget.objectName()
        assert window.overlay.isVisible()
        drop = QDropEvent(QPointF(at), COPY, mime, LEFT, NONE)
        with qtbot.waitSignal(window.documentsLoaded, timeout=WAIT_MS):
            QApplication.sendEvent(target, drop)
            assert drop.isAccepted() and not window.overlay.isVisible()
            assert window.ingest_panel.isVisible()  # the load started at once
        assert window.composer.toPlainText() == ""  # not pasted as a path
    settle(qtbot, window)
    assert [[(Path(r.path).name, r.status) for r in batch] for batch in loaded] == [
        [("notes.md", "loaded")],
        [("log.txt", "loaded")],
    ]
    with Store() as store:
        names = sorted(s.name for s in store.list_sources(window.agent_id))
    assert names == ["log.txt", "notes.md"]


def test_a_drag_that_leaves_or_carries_no_files_changes_nothing(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n")
    window = make_window(scripted())
    target = window.windowHandle()
    enter, _ = drag_over(window, window.chat.viewport(), files(notes))
    assert enter.isAccepted() and window.overlay.isVisible()
    QApplication.sendEvent(target, QDragLeaveEvent())
    assert not window.overlay.isVisible()
    text = QMimeData()
    text.setText("just some words")
    enter, _ = drag_over(window, window.chat.viewport(), text)
    assert not enter.isAccepted() and not window.overlay.isVisible()
    settle(qtbot, window)
    assert not window.ingest_panel.cards
