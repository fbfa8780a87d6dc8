"""Memory inspector: core memory edits persist (even while the agent runs), archival and
recall browsing and search, documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.scripted_backend import ScriptedBackend
from ember.core.store import Store

from .conftest import WAIT_MS, GatedBackend, drain, send_and_wait, shot, step, waiting


def open_inspector(qtbot: Any, window: Any) -> Any:
    window.act_inspector.trigger()
    qtbot.waitUntil(lambda: window.dock.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "human" in window.inspector.editors, timeout=WAIT_MS)
    return window.inspector


def test_core_memory_edit_persists(qtbot: Any, make_window: Any, artifacts_dir: Path) -> None:
    window = make_window(ScriptedBackend([]))
    inspector = open_inspector(qtbot, window)
    editor = inspector.editors["human"]
    assert not editor.save_button.isEnabled()  # nothing edited yet
    editor.edit.setPlainText("Name: Ada. Likes tea and long walks.")
    assert editor.counter.text() == f"{len(editor.edit.toPlainText())}/{editor.limit:,}"
    assert editor.save_button.isEnabled() and "not saved" in editor.status.text()
    with waiting(qtbot, window.worker.blockSaved, WAIT_MS):
        editor.save_button.click()
    drain()
    assert "Saved" in editor.status.text() and not editor.dirty()
    with Store() as store:
        assert store.get_block(window.agent_id, "human").value == (
            "Name: Ada. Likes tea and long walks."
        )
    # Over the limit: the counter warns and Save is refused.
    editor.edit.setPlainText("x" * (editor.limit + 5))
    assert not editor.save_button.isEnabled()
    assert "5 characters over the limit" in editor.status.text()
    shot(window, artifacts_dir, "inspector-core")
    editor.revert()
    assert editor.edit.toPlainText() == "Name: Ada. Likes tea and long walks."


def test_edit_while_agent_runs_is_queued_not_lost(qtbot: Any, make_window: Any) -> None:
    backend = GatedBackend([step("Nice to meet you.")])
    window = make_window(backend)
    inspector = open_inspector(qtbot, window)
    window.send("Hello")
    assert backend.generating.wait(WAIT_MS / 1000)
    editor = inspector.editors["persona"]
    editor.edit.setPlainText("I am Ember, and I always answer briefly.")
    editor.save_button.click()  # the worker is busy generating: the request waits its turn
    assert "Saving" in editor.status.text()
    with waiting(qtbot, window.worker.blockSaved, WAIT_MS):
        backend.gate.set()
    drain()
    assert "Saved" in editor.status.text()
    with Store() as store:
        value = store.get_block(window.agent_id, "persona").value
        assert value == "I am Ember, and I always answer briefly."
        assert any(m.text == "Nice to meet you." for m in store.recent_messages(window.agent_id))


def test_archival_and_recall_browsing(
    qtbot: Any, make_window: Any, artifacts_dir: Path, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QMessageBox

    insert = (
        '{"thoughts": "Worth remembering.", "function": "archival_memory_insert", '
        '"arguments": {"content": "Ada keeps bees on her allotment in Leeds.", '
        '"request_heartbeat": true}}'
    )
    window = make_window(ScriptedBackend([insert, step("I'll remember your bees.")]))
    send_and_wait(qtbot, window, "I keep bees on my allotment in Leeds.")
    inspector = open_inspector(qtbot, window)

    inspector.setCurrentIndex(1)  # archival: lists passages
    qtbot.waitUntil(lambda: inspector.archival_list.count() == 1, timeout=WAIT_MS)
    assert "bees" in inspector.archival_list.item(0).text()
    inspector.archival_query.setText("beekeeping hobby")
    with waiting(qtbot, window.worker.archivalLoaded, WAIT_MS):
        inspector.search_archival()
    drain()
    assert "bees" in inspector.archival_list.item(0).text()
    shot(window, artifacts_dir, "inspector-archival")

    inspector.setCurrentIndex(2)  # recall: search by text, then by date
    inspector.recall_query.setText("allotment")
    with waiting(qtbot, window.worker.recallLoaded, WAIT_MS):
        inspector.search_recall()
    drain()
    texts = [inspector.recall_list.item(i).text() for i in range(inspector.recall_list.count())]
    assert any("I keep bees on my allotment" in t for t in texts)
    with waiting(qtbot, window.worker.recallLoaded, WAIT_MS):
        inspector.recall_by_date()  # last 7 days up to today
    drain()
    assert inspector.recall_list.count() >= 2
    inspector.recall_from.setDate(inspector.recall_from.date().addYears(-3))
    inspector.recall_to.setDate(inspector.recall_to.date().addYears(-2))
    with waiting(qtbot, window.worker.recallLoaded, WAIT_MS):
        inspector.recall_by_date()
    drain()
    assert inspector.recall_list.count() == 0

    inspector.setCurrentIndex(1)  # delete the passage (confirmed)
    qtbot.waitUntil(lambda: inspector.archival_list.count() == 1, timeout=WAIT_MS)
    inspector.archival_list.setCurrentRow(0)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    inspector.delete_passage()
    qtbot.waitUntil(lambda: inspector.archival_list.count() == 0, timeout=WAIT_MS)
    with Store() as store:
        assert store.count_passages(window.agent_id) == 0


def test_documents_tab_lists_and_removes(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QMessageBox

    note = tmp_path / "recipes.md"
    note.write_text("# Recipes\n\nBake the bread at 220 degrees for 35 minutes.\n")
    window = make_window(ScriptedBackend([]))
    with waiting(qtbot, window.worker.ingestFinished, 60_000):
        window.add_documents([str(note)])
    drain()
    inspector = open_inspector(qtbot, window)
    inspector.setCurrentIndex(3)
    qtbot.waitUntil(lambda: inspector.docs_list.count() == 1, timeout=WAIT_MS)
    assert "recipes.md" in inspector.docs_list.item(0).text()
    inspector.docs_list.setCurrentRow(0)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with waiting(qtbot, window.worker.sourcesLoaded, WAIT_MS):
        inspector.remove_source()
    drain()
    assert inspector.docs_list.count() == 0
    with Store() as store:
        assert store.list_sources(window.agent_id) == []
