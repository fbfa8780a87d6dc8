"""Drag-and-drop documents: progress, then per-file results; bad files show their error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from ember.core.scripted_backend import ScriptedBackend
from ember.core.store import Store

from .conftest import OnGui, drain, shot, waiting


def make_pdf(path: Path, pages: int = 6) -> Path:
    """A real multi-page PDF with text."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for n in range(1, pages + 1):
        pdf.add_page()
        for k in range(18):
            pdf.multi_cell(
                0,
                7,
                f"Page {n}, paragraph {k}. The lighthouse keeper of Skerry Point logs the "
                f"weather at dawn; entry {n * 100 + k} notes fog over the northern reef.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    pdf.output(str(path))
    return path


def drop(window: Any, paths: list[Path]) -> None:
    """Simulate dragging ``paths`` onto the chat and dropping them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = window.chat.viewport().mapTo(window, QPoint(50, 50))
    enter = QDragEnterEvent(
        target, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0)
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    assert window.overlay.isVisible()
    event = QDropEvent(
        QPointF(target),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier(0),
    )
    QApplication.sendEvent(window, event)
    assert not window.overlay.isVisible()


def test_drop_pdf_shows_progress_then_result(
    qtbot: Any, make_window: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    pdf = make_pdf(tmp_path / "lighthouse-log.pdf", pages=8)
    window = make_window(ScriptedBackend([]))
    progress: list[Any] = []
    shots: list[Path] = []

    def on_progress(batch: int, p: Any) -> None:
        progress.append(p)
        if not shots and p.pages_done >= 2:
            drain()
            shots.append(shot(window, artifacts_dir, "drop-progress"))

    receiver = OnGui(on_progress)
    window.worker.ingestProgress.connect(receiver.call)
    with waiting(qtbot, window.worker.ingestFinished, 60_000) as blocker:
        drop(window, [pdf])
        card = next(iter(window.ingest_panel.cards.values()))
        assert window.ingest_panel.isVisible() and card.cancel_button.isVisible()
    drain()
    results = blocker.args[1]
    assert [r["status"] for r in results] == ["loaded"]
    assert results[0]["pages"] == 8 and results[0]["passages"] > 0
    assert any(p.stage == "embedding" for p in progress)
    assert progress[-1].pages_done == 8
    assert card.finished and card.bar.value() == 1000
    assert "lighthouse-log.pdf" in card.results.text() and "8 pages" in card.results.text()
    assert card.close_button.isVisible() and not card.cancel_button.isVisible()
    shot(window, artifacts_dir, "drop-result")
    with Store() as store:
        sources = store.list_sources(window.agent_id)
        assert [(s.name, s.status, s.pages) for s in sources] == [
            ("lighthouse-log.pdf", "loaded", 8)
        ]
        assert store.count_passages(window.agent_id) == results[0]["passages"]
    card.close_button.click()
    assert not window.ingest_panel.isVisible()


def test_bad_file_shows_its_error(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    fake = tmp_path / "report.pdf"
    fake.write_text("this is not really a PDF file\n" * 10)
    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\nThe spare key is under the blue flowerpot.\n")
    window = make_window(ScriptedBackend([]))
    with waiting(qtbot, window.worker.ingestFinished, 60_000) as blocker:
        drop(window, [fake, good])
    drain()
    by_name = {Path(r["path"]).name: r for r in blocker.args[1]}
    assert by_name["report.pdf"]["status"] == "failed"
    assert by_name["report.pdf"]["message"]  # a reason, shown to the user
    assert by_name["notes.md"]["status"] == "loaded"
    card = next(iter(window.ingest_panel.cards.values()))
    text = card.results.text()
    assert "report.pdf" in text and "failed" in text
    assert by_name["report.pdf"]["message"].split("(")[0][:30] in text.replace("&quot;", '"')
    assert "1 failed" in card.title.text() and "1 loaded" in card.title.text()


def test_cancel_batch(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    files = [make_pdf(tmp_path / f"doc{i}.pdf", pages=6) for i in range(4)]
    window = make_window(ScriptedBackend([]))
    cancelled: list[bool] = []

    def on_progress(batch: int, p: Any) -> None:
        if not cancelled:
            cancelled.append(True)
            window.ingest_panel.cards[batch].cancel_button.click()

    receiver = OnGui(on_progress)
    window.worker.ingestProgress.connect(receiver.call)
    with waiting(qtbot, window.worker.ingestFinished, 60_000) as blocker:
        window.add_documents([str(f) for f in files])
    drain()
    statuses = [r["status"] for r in blocker.args[1]]
    assert "cancelled" in statuses and statuses.count("loaded") < 4
    with Store() as store:
        loaded = [s for s in store.list_sources(window.agent_id)]
        assert all(s.status == "loaded" for s in loaded)
        assert len(loaded) == statuses.count("loaded")
