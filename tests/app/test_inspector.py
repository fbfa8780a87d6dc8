"""Memory inspector: core memory edits persist (even while the agent runs), archival and
recall browsing and search, documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.storage.store import Store

from .fixtures import WAIT_MS, call, gated_backend, scripted, send_and_wait, settle, shot, step


def open_inspector(qtbot: Any, window: Any) -> Any:
    window.act_inspector.trigger()
    qtbot.waitUntil(lambda: window.dock.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "human" in window.inspector.editors, timeout=WAIT_MS)
    settle(qtbot, window)
    return window.inspector


def test_core_memory_edit_persists(qtbot: Any, make_window: Any, artifacts_dir: Path) -> None:
    window = make_window(scripted())
    inspector = open_inspector(qtbot, window)
    editor = inspector.editors["human"]
    assert not editor.save_button.isEnabled()  # nothing edited yet
    editor.edit.setPlainText("Name: Ada. Likes tea and long walks.")
    assert editor.counter.text() == f"{len(editor.edit.toPlainText())}/{editor.limit:,}"
    assert editor.save_button.isEnabled() and "not saved" in editor.status.text()
    editor.save_button.click()
    settle(qtbot, window)
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
    backend = gated_backend([step("Nice to meet you.")])
    window = make_window(backend)
    inspector = open_inspector(qtbot, window)
    window.send("Hello")
    assert backend.generating.wait(WAIT_MS / 1000)
    editor = inspector.editors["persona"]
    editor.edit.setPlainText("I am Ember, and I always answer briefly.")
    editor.save_button.click()  # the engine is busy generating: the save waits its turn
    assert "Saving" in editor.status.text()
    backend.gate.set()
    qtbot.waitUntil(lambda: "Saved" in editor.status.text(), timeout=WAIT_MS)
    settle(qtbot, window)
    with Store() as store:
        value = store.get_block(window.agent_id, "persona").value
        assert value == "I am Ember, and I always answer briefly."
        assert any(m.text == "Nice to meet you." for m in store.recent_messages(window.agent_id))


def test_refused_edit_says_why(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted())
    inspector = open_inspector(qtbot, window)
    editor = inspector.editors["human"]
    editor.limit = 10_000  # the editor believes more fits than the block allows
    editor.edit.setPlainText("y" * 3000)
    editor.save_button.click()
    settle(qtbot, window)
    assert editor.status.text().startswith("Not saved: Block 'human' would hold 3000")
    assert window.errors == []  # shown in place, not as a dialog


def test_archival_and_recall_browsing(
    qtbot: Any, make_window: Any, artifacts_dir: Path, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ember.app.inspector import ARCHIVAL, RECALL

    insert = call(
        "archival_memory_insert", "Worth remembering.", content="Ada keeps bees in Leeds."
    )
    window = make_window(scripted(insert, step("I'll remember your bees.")))
    send_and_wait(qtbot, window, "I keep bees on my allotment in Leeds.")
    inspector = open_inspector(qtbot, window)
    archival, recall = inspector.archival, inspector.recall

    inspector.setCurrentIndex(ARCHIVAL)  # lists passages
    qtbot.waitUntil(lambda: archival.list.count() == 1, timeout=WAIT_MS)
    assert "bees" in archival.list.item(0).text()
    archival.query.setText("bees Leeds")
    archival.search()
    settle(qtbot, window)
    assert "bees" in archival.list.item(0).text()
    shot(window, artifacts_dir, "inspector-archival")

    inspector.setCurrentIndex(RECALL)  # newest, then search by text, then by date
    settle(qtbot, window)
    texts = [recall.list.item(i).text() for i in range(recall.list.count())]
    assert texts[0].startswith("Ember · ") and "I'll remember your bees." in texts[0]
    assert texts[1].startswith("You · ")
    # The login, the step, its result and the heartbeat are events, not messages.
    assert recall.info.text().startswith("2 of 2 messages, newest first.")
    assert "also holds 4 events" in recall.info.text()
    recall.query.setText("allotment")
    recall.search()
    settle(qtbot, window)
    texts = [recall.list.item(i).text() for i in range(recall.list.count())]
    assert any("I keep bees on my allotment" in t for t in texts)
    recall.by_date()  # last 7 days up to today
    settle(qtbot, window)
    assert recall.list.count() >= 2
    recall.start.setDate(recall.start.date().addYears(-3))
    recall.end.setDate(recall.end.date().addYears(-2))
    recall.by_date()
    settle(qtbot, window)
    assert recall.list.count() == 0

    inspector.setCurrentIndex(ARCHIVAL)  # delete the passage (confirmed)
    qtbot.waitUntil(lambda: archival.list.count() == 1, timeout=WAIT_MS)
    archival.list.setCurrentRow(0)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    archival.delete_passage()
    qtbot.waitUntil(lambda: archival.list.count() == 0, timeout=WAIT_MS)
    with Store() as store:
        assert store.count_passages(window.agent_id) == 0


def test_documents_tab_lists_and_removes(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ember.app.inspector import DOCUMENTS

    note = tmp_path / "recipes.md"
    note.write_text("# Recipes\n\nBake the bread at 220 degrees for 35 minutes.\n")
    window = make_window(scripted())
    window.add_documents([str(note)])
    qtbot.waitUntil(lambda: not window.worker.jobs, timeout=60_000)
    inspector = open_inspector(qtbot, window)
    docs = inspector.documents
    inspector.setCurrentIndex(DOCUMENTS)
    qtbot.waitUntil(lambda: docs.list.count() == 1, timeout=WAIT_MS)
    assert "recipes.md" in docs.list.item(0).text()
    docs.list.setCurrentRow(0)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    docs.remove_source()
    qtbot.waitUntil(lambda: docs.list.count() == 0, timeout=WAIT_MS)
    with Store() as store:
        assert store.list_sources(window.agent_id) == []


def test_inspector_answers_while_a_reply_is_written(qtbot: Any, make_window: Any) -> None:
    """Issue 22: the inspector's reads never wait behind a turn. With the model stuck in
    the middle of a reply, the Recall and Archival tabs show their content within 1 s."""
    from ember.app.inspector import ARCHIVAL, RECALL

    insert = call(
        "archival_memory_insert", "Worth remembering.", content="Ada keeps bees in Leeds."
    )
    backend = gated_backend([insert, step("I'll remember your bees."), step("Honey, then.")])
    window = make_window(backend)
    backend.gate.set()  # the first turn runs through: memory to show
    send_and_wait(qtbot, window, "I keep bees on my allotment in Leeds.")

    backend.gate.clear()  # the next reply stops halfway until the gate opens
    backend.generating.clear()
    window.send("What should I do with the honey?")
    assert backend.generating.wait(WAIT_MS / 1000)
    inspector = window.inspector
    window.act_inspector.trigger()
    qtbot.waitUntil(lambda: window.dock.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "human" in inspector.editors, timeout=1000)

    inspector.setCurrentIndex(RECALL)
    recall = inspector.recall
    qtbot.waitUntil(lambda: recall.info.text().startswith("3 of 3 messages"), timeout=1000)
    texts = [recall.list.item(i).text() for i in range(recall.list.count())]
    assert "What should I do with the honey?" in texts[0]  # the turn's message, committed
    assert any("I'll remember your bees." in t for t in texts)
    inspector.setCurrentIndex(ARCHIVAL)
    archival = inspector.archival
    qtbot.waitUntil(lambda: archival.list.count() == 1, timeout=1000)
    assert "bees" in archival.list.item(0).text()
    archival.query.setText("bees Leeds")
    archival.search()
    qtbot.waitUntil(lambda: archival.info.text().startswith("1 of"), timeout=1000)

    assert not backend.gate.is_set() and window.conversation.busy  # the turn still runs
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        backend.gate.set()
    settle(qtbot, window)
