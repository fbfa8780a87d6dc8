"""Drag-and-drop documents: progress, then per-file results; bad files show their error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.storage.store import Store

from .fixtures import drop, make_pdf, scripted, settle, shot


def ingest_and_wait(qtbot: Any, window: Any, start: Any, timeout: int = 60_000) -> list[Any]:
    """Run ``start()`` (which adds documents) and return the batch's results."""
    with qtbot.waitSignal(window.documentsLoaded, timeout=timeout) as blocker:
        start()
    settle(qtbot, window)
    return list(blocker.args[1])


def test_drop_pdf_shows_progress_then_result(
    qtbot: Any, make_window: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    pdf = make_pdf(tmp_path / "lighthouse-log.pdf", pages=8)
    window = make_window(scripted())
    progress: list[Any] = []
    shots: list[Path] = []
    panel_progress = window.ingest_panel.progress

    def on_progress(batch: int, p: Any) -> None:
        panel_progress(batch, p)
        progress.append(p)
        if not shots and p.pages_done >= 2:
            shots.append(shot(window, artifacts_dir, "drop-progress"))

    window.ingest_panel.progress = on_progress
    cards: list[Any] = []

    def start() -> None:
        drop(window, [pdf])
        cards.append(next(iter(window.ingest_panel.cards.values())))
        assert window.ingest_panel.isVisible() and cards[0].cancel_button.isVisible()

    results = ingest_and_wait(qtbot, window, start)
    card = cards[0]
    assert [r.status for r in results] == ["loaded"]
    assert results[0].pages == 8 and results[0].passages > 0
    assert any(p.stage == "embedding" for p in progress)
    assert progress[-1].pages_done == 8
    assert shots, "a screenshot was taken while the PDF loaded"
    assert card.finished and card.bar.value() == 1000
    assert "lighthouse-log.pdf" in card.results.text() and "8 pages" in card.results.text()
    assert card.close_button.isVisible() and not card.cancel_button.isVisible()
    shot(window, artifacts_dir, "drop-result")
    with Store() as store:
        sources = store.list_sources(window.agent_id)
        assert [(s.name, s.status, s.pages) for s in sources] == [
            ("lighthouse-log.pdf", "loaded", 8)
        ]
        assert store.count_passages(window.agent_id) == results[0].passages
    card.close_button.click()
    assert not window.ingest_panel.isVisible()


def test_bad_file_shows_its_error(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    fake = tmp_path / "report.pdf"
    fake.write_text("this is not really a PDF file\n" * 10)
    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\nThe spare key is under the blue flowerpot.\n")
    window = make_window(scripted())
    results = ingest_and_wait(qtbot, window, lambda: drop(window, [fake, good]))
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["report.pdf"].status == "failed"
    assert by_name["report.pdf"].message  # a reason, shown to the user
    assert by_name["notes.md"].status == "loaded"
    card = next(iter(window.ingest_panel.cards.values()))
    text = card.results.text()
    assert "report.pdf" in text and "failed" in text
    assert by_name["report.pdf"].message.split("(")[0][:30] in text.replace("&quot;", '"')
    assert "1 failed" in card.title.text() and "1 loaded" in card.title.text()


def test_cancel_batch(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    files = [make_pdf(tmp_path / f"doc{i}.pdf", pages=6) for i in range(4)]
    window = make_window(scripted())
    cancelled: list[bool] = []
    panel_progress = window.ingest_panel.progress

    def on_progress(batch: int, p: Any) -> None:
        panel_progress(batch, p)
        if not cancelled:
            cancelled.append(True)
            window.ingest_panel.cards[batch].cancel_button.click()

    window.ingest_panel.progress = on_progress
    results = ingest_and_wait(qtbot, window, lambda: window.add_documents([str(f) for f in files]))
    statuses = [r.status for r in results]
    assert "cancelled" in statuses and statuses.count("loaded") < 4
    with Store() as store:
        loaded = list(store.list_sources(window.agent_id))
        assert all(s.status == "loaded" for s in loaded)
        assert len(loaded) == statuses.count("loaded")
