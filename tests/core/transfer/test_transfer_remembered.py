"""An export keeps what each reply was written from; an import links it to its new rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ember.core.agent import presets
from ember.core.kernel.errors import InvalidInput
from ember.core.kernel.events import Remembered
from ember.core.storage import provenance
from ember.core.storage.store import Store
from ember.core.transfer import agent_import, export


def _agent_with_a_sourced_reply(store: Store, emb: Any) -> tuple[int, list[Remembered]]:
    a = presets.create_agent(store, "Anna")
    src = store.add_source(a.id, "/docs/x.pdf", "x.pdf", "abc", 3, status="loaded")
    [pid] = store.add_passages(
        a.id, [("Ferries leave at 14:20.", 2, 0)], emb.embed(["ferries"]), source_id=src.id
    )
    said = store.add_message(
        a.id, "user", "user_message", {"message": "I like ferries"}, "I like ferries"
    )
    asked = store.add_message(a.id, "user", "user_message", {"message": "When?"}, "When?")
    reply = store.add_message(a.id, "assistant", "step", {"function": "send_message"}, "At 14:20.")
    memories = [
        Remembered(
            "archival",
            "automatic",
            "Ferries leave at 14:20.",
            "2026-01-02T10:00:00+00:00",
            pid,
            None,
            "x.pdf",
            2,
        ),
        Remembered("recall", "search", "I like ferries", "2026-01-02T09:00:00+00:00", said, "user"),
        Remembered("core", "core", "Name: Anna", "2026-01-01T00:00:00+00:00", label="human"),
    ]
    provenance.write(store.conn, reply, memories)
    assert asked
    return a.id, memories


def test_export_import_keeps_each_replys_memories_linked_to_the_new_rows(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    agent_id, memories = _agent_with_a_sourced_reply(store, hash_embedder)
    out = tmp_path / "anna.json"
    export.export_agent(store, store.get_agent_by_id(agent_id), out)
    b = agent_import.import_agent(store, out)
    [reply] = [m for m in store.recent_messages(b.id, 10) if m.kind == "step"]
    [got] = provenance.read(store.conn, [reply.id]).values()
    [passage] = store.list_passages(b.id)
    said = next(m for m in store.recent_messages(b.id, 10) if m.text == "I like ferries")
    assert passage.id != memories[0].item_id and said.id != memories[1].item_id  # new rows
    assert got[0] == Remembered(
        "archival",
        "automatic",
        "Ferries leave at 14:20.",
        memories[0].time,
        passage.id,
        None,
        "x.pdf",
        2,
    )
    assert got[1] == Remembered(
        "recall", "search", "I like ferries", memories[1].time, said.id, "user"
    )
    assert got[2] == memories[2]
    # And again: an export of the import has the same record.
    again = tmp_path / "again.json"
    export.export_agent(store, b, again)
    rows = json.loads(again.read_text())["messages"]
    assert [r.get("remembered") for r in rows if r["kind"] == "step"] == [
        [m.to_json() for m in got]
    ]


def test_a_bad_remembered_field_is_one_line_and_changes_nothing(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    agent_id, _ = _agent_with_a_sourced_reply(store, hash_embedder)
    out = tmp_path / "anna.json"
    export.export_agent(store, store.get_agent_by_id(agent_id), out)
    doc = json.loads(out.read_text())
    step = next(m for m in doc["messages"] if m["kind"] == "step")
    step["remembered"][0]["page"] = "two"
    out.write_text(json.dumps(doc))
    agents = len(store.list_agents())
    with pytest.raises(InvalidInput, match=r"messages\[2\]\.remembered: \[0\]\.page"):
        agent_import.import_agent(store, out)
    assert len(store.list_agents()) == agents
