"""Agent export/import and history import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.core import agent_export, agent_import, history_import, presets, transfer
from ember.core.errors import InvalidInput
from ember.core.store import Store


def test_export_import_round_trip(store: Store, hash_embedder: Any, tmp_path: Path) -> None:
    a = presets.create_agent(store, "Anna")
    store.set_block(a.id, "human", "Name: Anna\nLikes: hiking")
    m = store.add_message(a.id, "user", "user_message", {"message": "hi"}, "hi")
    store.set_message_embedding(m, a.id, hash_embedder.embed(["hi"])[0])
    m2 = store.add_message(
        a.id, "assistant", "step", {"function": "send_message"}, "hello", in_context=False
    )
    store.set_message_embedding(m2, a.id, hash_embedder.embed(["hello"])[0])
    src = store.add_source(a.id, "/docs/x.pdf", "x.pdf", "abc", 3, status="loaded")
    store.add_passages(
        a.id, [("page two text", 2, 0)], hash_embedder.embed(["page two text"]), source_id=src.id
    )
    store.update_agent(a.id, summary="earlier stuff", summary_hidden=4)
    out = tmp_path / "anna.json"
    counts = agent_export.export_agent(store, a, out)
    assert counts == {"messages": 2, "passages": 1, "sources": 1}

    b = agent_import.import_agent(store, out)  # same embedding model: no embedder needed
    assert b.name == "Anna (2)"
    assert store.get_block(b.id, "human").value == "Name: Anna\nLikes: hiking"
    assert b.summary == "earlier stuff" and b.summary_hidden == 4
    assert [x.text for x in store.context_messages(b.id)] == ["hi"]
    assert store.count_messages(b.id) == 2
    [p] = store.list_passages(b.id)
    assert (p.text, p.page, p.source_name) == ("page two text", 2, "x.pdf")
    q = hash_embedder.embed(["page two text"])[0]
    assert store.search_passages_vector(b.id, q, 1)[0][0] == p.id
    assert store.search_messages_vector(b.id, hash_embedder.embed(["hi"])[0], 1)


def test_import_reembeds_when_model_differs(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    a = presets.create_agent(store, "A")
    store.add_passages(a.id, [("tea notes", None, None)], hash_embedder.embed(["tea notes"]))
    out = tmp_path / "a.json"
    agent_export.export_agent(store, a, out)
    doc = json.loads(out.read_text())
    doc["embedding_model"] = {"name": "other-model", "dim": 384}  # same size, other model
    out.write_text(json.dumps(doc))
    calls = []

    def factory() -> Any:
        calls.append(1)
        return hash_embedder

    b = agent_import.import_agent(store, out, factory)
    assert calls
    [(_, dist)] = store.search_passages_vector(b.id, hash_embedder.embed(["tea notes"])[0], 1)
    assert dist == pytest.approx(0.0, abs=1e-5)


def test_import_rejects_other_files(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(InvalidInput, match="not an Ember agent export"):
        agent_import.import_agent(store, bad)
    bad.write_text("not json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        agent_import.import_agent(store, bad)
    assert store.list_agents() == []


def test_import_history_keeps_times_and_is_searchable(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    a = presets.create_agent(store, "A")
    path = tmp_path / "h.jsonl"
    rows = [
        {
            "role": "user",
            "content": "My sister Lena lives in Porto",
            "time": "2023-04-01T10:00:00+02:00",
        },
        {"role": "assistant", "content": "Porto is lovely!", "time": "2023-04-01T10:00:05+02:00"},
    ]
    path.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    assert history_import.import_history(store, hash_embedder, a.id, path) == 2
    assert store.context_messages(a.id) == []  # history goes to recall, not the window
    messages, total = store.messages_between(a.id, "2023-04-01", "2023-04-01", 0, 10)
    assert total == 2 and messages[0].created_at == "2023-04-01T10:00:00+02:00"
    assert store.search_messages_keyword(a.id, "Lena", 5)[0][0] == messages[0].id


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", "line 1: not valid JSON"),
        ('{"role": "bot", "content": "x", "time": "2023-01-01T00:00:00"}', "role must be"),
        ('{"role": "user", "content": "", "time": "2023-01-01T00:00:00"}', "content must be"),
        ('{"role": "user", "content": "x", "time": "yesterday"}', "not an ISO 8601 time"),
    ],
)
def test_bad_history_is_rejected_whole(
    store: Store, hash_embedder: Any, tmp_path: Path, line: str, error: str
) -> None:
    a = presets.create_agent(store, "A")
    path = tmp_path / "h.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InvalidInput, match=error):
        history_import.import_history(store, hash_embedder, a.id, path)
    assert store.count_messages(a.id) == 0


def test_vectors_survive_base64() -> None:
    v = np.arange(384, dtype=np.float32)
    decoded = transfer.decode_vector(transfer.encode_vector(v.tobytes()) or "", 384)
    assert decoded is not None and np.array_equal(decoded, v)
