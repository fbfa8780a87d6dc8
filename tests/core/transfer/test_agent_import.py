"""An imported agent's own settings (issue 28 item 7: settings are checked when read, and
what is read must mean the same here as where it was written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.agent import presets
from ember.core.memory import memorypass
from ember.core.storage.agent_settings import READ_UPTO
from ember.core.storage.store import Store
from ember.core.transfer import agent_import
from ember.core.transfer import export as agent_export


def test_the_memory_pass_mark_is_moved_to_the_imported_messages(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    """The mark is a message id of the exporting database: 9,000 there left the memory pass
    of an import into a younger database reading nothing the user said for 9,000 messages."""
    source = Store(tmp_path / "source.sqlite3")
    bob = presets.create_agent(source, "Bob")
    for text in ("I play the oboe.", "Hello!"):
        source.add_message(bob.id, "user", "user_message", {"message": text}, text)
    source.update_agent(bob.id, settings={"auto_recall": False, READ_UPTO: 9000})
    file = tmp_path / "bob.json"
    agent_export.export_agent(source, source.get_agent_by_id(bob.id), file)
    source.close()

    imported = agent_import.import_agent(store, file, lambda: hash_embedder)
    newest = store.conn.execute(
        "SELECT max(id) FROM messages WHERE agent_id = ?", (imported.id,)
    ).fetchone()[0]
    assert imported.settings == {"auto_recall": False, READ_UPTO: newest}
    # What was read there counts as read here; what the user says next is read.
    assert memorypass.run(store, hash_embedder, imported.id).read == 0
    store.add_message(imported.id, "user", "user_message", {}, "My dog Rex snores.")
    assert memorypass.run(store, hash_embedder, imported.id).added == ("Your dog Rex snores.",)


def test_an_agent_the_pass_never_read_is_read_whole_after_import(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    source = Store(tmp_path / "source.sqlite3")
    bob = presets.create_agent(source, "Bob")
    source.add_message(bob.id, "user", "user_message", {}, "I play the oboe.")
    file = tmp_path / "bob.json"
    agent_export.export_agent(source, source.get_agent_by_id(bob.id), file)
    source.close()
    imported = agent_import.import_agent(store, file, lambda: hash_embedder)
    assert READ_UPTO not in imported.settings
    assert memorypass.run(store, hash_embedder, imported.id).added == ("You play the oboe.",)
