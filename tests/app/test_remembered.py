"""Under each reply, what it was written from: "Remembered: N memories", collapsed;
expanded, each memory with its time and place (a document's page); a click opens it in the
memory inspector (Recall, Archival or Core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from ember.app.inspector import ARCHIVAL, CORE, RECALL
from ember.core.storage.store import Store

from .fixtures import WAIT_MS, scripted, send_and_wait, settle, shot, step


def _memories(window: Any, emb: Any) -> int:
    """A two-page guide in archival memory (the ferries on page 2), and a fact the user
    told in an earlier session (out of the context). Returns the ferries' passage id."""
    with Store() as store:
        agent_id = window.agent_id
        docs = ["The lighthouse opens at nine.", "Ferries to Tern Island leave at 14:20 daily."]
        source = store.add_source(
            agent_id, "/tmp/guide.pdf", "guide.pdf", "0" * 64, pages=2, status="loaded"
        )
        ids = store.add_passages(
            agent_id, [(docs[0], 1, 0), (docs[1], 2, 1)], emb.embed(docs), source_id=source.id
        )
        said = "My sister Hanna takes the Tern Island ferry on Fridays."
        mid = store.add_message(
            agent_id, "user", "user_message", {"message": said}, said, in_context=False
        )
        store.set_message_embedding(mid, agent_id, emb.embed([said])[0])
        store.set_block(agent_id, "human", "First name: Dana")
    return ids[1]


def test_a_reply_shows_what_it_remembered_and_opens_it_in_the_inspector(
    qtbot: Any, make_window: Any, hash_embedder: Any, artifacts_dir: Path
) -> None:
    window = make_window(scripted(step("They leave at 14:20, Dana.")))
    passage_id = _memories(window, hash_embedder)
    send_and_wait(qtbot, window, "When do the ferries to Tern Island leave?")
    reply = window.chat.bubbles[-1]
    remembered = reply.remembered
    # Collapsed: one line with the count.
    assert remembered.isVisible() and not remembered.rows_box.isVisible()
    n = len(remembered.memories)
    assert remembered.toggle.text() == f"▸ Remembered: {n} memories" and n >= 3
    shot(window, artifacts_dir, "provenance-collapsed")
    # The user's own message has none.
    assert not window.chat.bubbles[-2].remembered.isVisible()
    # Expanded: each with its time and place.
    qtbot.mouseClick(remembered.toggle, Qt.MouseButton.LeftButton)
    assert remembered.rows_box.isVisible()
    texts = [row.text() for row in remembered.rows]
    ferry = next(
        r for r in remembered.rows if r.memory.tier == "archival" and r.memory.item_id == passage_id
    )
    assert "page 2 of guide.pdf" in ferry.text() and "Ferries to Tern Island" in ferry.text()
    assert any("You said" in t and "Hanna" in t for t in texts)
    assert any("Core memory (human)" in t and "First name: Dana" in t for t in texts)
    qtbot.wait(50)  # the layout settles
    shot(window, artifacts_dir, "provenance")
    # A click opens the passage in the inspector's Archival tab, selected.
    inspector = window.inspector
    qtbot.mouseClick(ferry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.dock.isVisible(), timeout=WAIT_MS)
    settle(qtbot, window)
    assert inspector.currentIndex() == ARCHIVAL
    archival = inspector.archival
    assert archival.list.count() == 1 and archival.list.currentRow() == 0
    assert archival.list.item(0).data(Qt.ItemDataRole.UserRole) == passage_id
    assert "guide.pdf, page 2" in archival.list.item(0).text()
    assert archival.info.text() == "The passage a reply remembered."
    shot(window, artifacts_dir, "provenance-inspector")
    # The user's message opens in Recall, the core memory line in Core (selected).
    said = next(r for r in remembered.rows if r.memory.tier == "recall")
    qtbot.mouseClick(said, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert inspector.currentIndex() == RECALL
    assert inspector.recall.list.currentItem().data(Qt.ItemDataRole.UserRole) == said.memory.item_id
    core = next(r for r in remembered.rows if r.memory.tier == "core")
    qtbot.mouseClick(core, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert inspector.currentIndex() == CORE
    assert inspector.editors["human"].edit.textCursor().selectedText() == "First name: Dana"


def test_the_record_is_shown_again_after_a_restart_and_a_deleted_passage_says_so(
    qtbot: Any, make_window: Any, hash_embedder: Any
) -> None:
    window = make_window(scripted(step("At 14:20.")))
    passage_id = _memories(window, hash_embedder)
    send_and_wait(qtbot, window, "When do the ferries to Tern Island leave?")
    before = window.chat.bubbles[-1].remembered.memories
    with Store() as store:
        store.delete_passage(passage_id)
    window.open_agent(window.agent_id)  # read again from the database
    settle(qtbot, window)
    reply = window.chat.bubbles[-1]
    assert reply.remembered.memories == before  # kept as it was, with the reply
    assert reply.remembered.window() is window and window.isActiveWindow()  # not a window
    ferry = next(
        r
        for r in reply.remembered.rows
        if r.memory.tier == "archival" and r.memory.item_id == passage_id
    )
    reply.remembered.toggle.click()
    qtbot.mouseClick(ferry, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert window.inspector.archival.list.count() == 0
    assert window.inspector.archival.info.text() == (
        "This passage is no longer in archival memory."
    )
