"""Agent export/import and history import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.kernel.errors import InvalidInput
from ember.core.storage.store import Store
from ember.core.transfer import agent_import, export, files, history_import
from tests.core.dbutil import Dump, dump


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
    counts = export.export_agent(store, a, out)
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
    export.export_agent(store, a, out)
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
    decoded = files.decode_vector(files.encode_vector(v.tobytes()) or "", 384)
    assert decoded is not None and np.array_equal(decoded, v)


# -- bad input: one line naming the place, nothing written ---------------------------------


def _dump(store: Store) -> Dump:
    return dump(store.path)


def _export(store: Store, hash_embedder: Any, tmp_path: Path) -> dict[str, Any]:
    a = presets.create_agent(store, "Anna")
    m = store.add_message(a.id, "user", "user_message", {"message": "hi"}, "hi")
    store.set_message_embedding(m, a.id, hash_embedder.embed(["hi"])[0])
    src = store.add_source(a.id, "/d/x.pdf", "x.pdf", "abc", 3, status="loaded")
    store.add_passages(
        a.id, [("page text", 2, 0)], hash_embedder.embed(["page text"]), source_id=src.id
    )
    out = tmp_path / "anna.json"
    export.export_agent(store, a, out)
    return dict(json.loads(out.read_text()))


BAD_EXPORTS: list[tuple[str, Any, str]] = [
    # (what, change to the valid export, expected words in the message)
    ("only the format", lambda d: {"format": "ember-agent"}, "'version' is missing"),
    ("version text", lambda d: d.update(version="abc"), "version: must be a whole number"),
    ("newer version", lambda d: d.update(version=99), "newer than this Ember"),
    ("limit text", lambda d: d["blocks"][0].update(limit="x"), "blocks[0].limit: must be"),
    ("limit negative", lambda d: d["blocks"][0].update(limit=-5), "blocks[0].limit: must be 1"),
    ("over its limit", lambda d: d["blocks"][0].update(value="x" * 5000, limit=10), "limit is 10"),
    ("role evil", lambda d: d["messages"][0].update(role="evil"), "messages[0].role: must be one"),
    (
        "no created_at",
        lambda d: d["messages"][0].pop("created_at") and None,
        "'created_at' is missing",
    ),
    ("bad time", lambda d: d["agent"].update(created_at="not a time"), "agent.created_at"),
    ("year 0", lambda d: d["messages"][0].update(created_at="0001-01-01T00:00:00"), "outside"),
    ("content string", lambda d: d["messages"][0].update(content="hi"), "content: must be an obj"),
    ("bad base64", lambda d: d["messages"][0].update(embedding="!!!"), "embedding: must be 384"),
    ("short vector", lambda d: d["passages"][0].update(embedding="AAAA"), "embedding: must be 384"),
    ("messages not a list", lambda d: d.update(messages=5), "messages: must be a list"),
    ("passage item", lambda d: d["passages"].append(7), "passages[1]: must be an object"),
    ("dangling source", lambda d: d["passages"][0].update(source_id=99), "names no document"),
    ("duplicate label", lambda d: d["blocks"].append(dict(d["blocks"][0])), "appears twice"),
    ("status", lambda d: d["sources"][0].update(status="done"), "sources[0].status"),
    ("in_context", lambda d: d["messages"][0].update(in_context="yes"), "true or false"),
    ("empty name", lambda d: d["agent"].update(name="  "), "agent.name: must not be empty"),
    ("not an export", lambda d: {"hello": 1}, "not an Ember agent export"),
    ("a list", lambda d: [1, 2], "not one JSON object"),
]


@pytest.mark.parametrize(("what", "change", "words"), BAD_EXPORTS, ids=[b[0] for b in BAD_EXPORTS])
def test_bad_export_structure_is_one_line_and_changes_nothing(
    store: Store, hash_embedder: Any, tmp_path: Path, what: str, change: Any, words: str
) -> None:
    doc = _export(store, hash_embedder, tmp_path)
    changed = change(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(changed if changed is not None else doc))
    before = _dump(store)
    with pytest.raises(InvalidInput) as info:
        agent_import.import_agent(store, bad, lambda: hash_embedder)
    message = str(info.value)
    assert words in message and "\n" not in message, message
    assert _dump(store) == before


def test_truncated_and_empty_exports(store: Store, hash_embedder: Any, tmp_path: Path) -> None:
    _export(store, hash_embedder, tmp_path)
    text = (tmp_path / "anna.json").read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(InvalidInput, match="not valid JSON"):
        agent_import.import_agent(store, cut)
    cut.write_text("")
    with pytest.raises(InvalidInput, match="is empty"):
        agent_import.import_agent(store, cut)
    assert [a.name for a in store.list_agents()] == ["Anna"]


def test_export_is_private_whatever_the_umask(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    import os
    import stat

    a = presets.create_agent(store, "A")
    target = tmp_path / "a.json"
    target.write_text("old")
    os.chmod(target, 0o666)
    old = os.umask(0)
    try:
        export.export_agent(store, a, target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["agent"]["name"] == "A"
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]  # none left behind


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('{"role": "user", "content": "\\ud800", "time": "2023-01-01T00:00:00"}', "surrogate"),
        ('{"role": "user", "content": "x", "time": "0001-01-01T00:00:00"}', "outside the range"),
        ('{"role": "user", "content": "x", "time": "9999-12-31T23:59:59-12:00"}', "outside"),
        ('{"role": "user", "content": "x", "time": 5}', "time must be an ISO 8601 string"),
        ("[1]", "expected a JSON object"),
    ],
)
def test_bad_history_content_and_times(
    store: Store, hash_embedder: Any, tmp_path: Path, line: str, error: str
) -> None:
    a = presets.create_agent(store, "A")
    path = tmp_path / "h.jsonl"
    good = '{"role": "user", "content": "fine", "time": "2023-01-01T00:00:00"}'
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(InvalidInput, match="line 2") as info:
        history_import.import_history(store, hash_embedder, a.id, path)
    assert error in str(info.value) and "\n" not in str(info.value)
    assert store.count_messages(a.id) == 0


def test_history_bytes_that_are_not_utf8(store: Store, hash_embedder: Any, tmp_path: Path) -> None:
    a = presets.create_agent(store, "A")
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'{"role": "user", "content": "caf\xe9", "time": "2023-01-01T00:00:00"}\n')
    with pytest.raises(InvalidInput, match="line 1: not UTF-8"):
        history_import.import_history(store, hash_embedder, a.id, path)
    assert store.count_messages(a.id) == 0


def test_import_history_twice_adds_nothing_the_second_time(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    """Issue 28 item 4: a second run (or a re-run after a kill) doubled the history."""
    a = presets.create_agent(store, "A")
    path = tmp_path / "h.jsonl"
    rows = [
        {"role": "user", "content": "I live in Porto", "time": "2023-04-01T10:00:00+02:00"},
        {"role": "assistant", "content": "Lovely!", "time": "2023-04-01T10:00:05+02:00"},
        {"role": "user", "content": "I live in Porto", "time": "2023-04-01T10:00:00+02:00"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert history_import.import_history(store, hash_embedder, a.id, path) == 2
    assert history_import.import_history(store, hash_embedder, a.id, path) == 0
    assert store.count_messages(a.id) == 2
    # A longer file later: only what is new comes in.
    rows.append({"role": "user", "content": "Now Lisbon", "time": "2023-05-01T09:00:00Z"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert history_import.import_history(store, hash_embedder, a.id, path) == 1
    assert store.count_messages(a.id) == 3


def test_a_rerun_embeds_what_an_interrupted_import_left(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    a = presets.create_agent(store, "A")
    path = tmp_path / "h.jsonl"
    path.write_text(
        "".join(
            json.dumps({"role": "user", "content": f"note {i}", "time": "2023-04-01T10:00:00Z"})
            + "\n"
            for i in range(5)
        )
    )
    assert history_import.import_history(store, None, a.id, path) == 5  # as if killed
    assert store.count_messages_missing_embedding(a.id) == 5
    assert history_import.import_history(store, hash_embedder, a.id, path) == 0
    assert store.count_messages_missing_embedding(a.id) == 0


def test_an_export_keeps_only_the_file_names_of_documents(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    """Issue 28 item 13: exports carried the absolute paths of the user's files."""
    a = presets.create_agent(store, "A")
    private = "/home/someone/Private/Health/letter.pdf"
    store.add_source(a.id, private, "letter.pdf", "abc", 1, status="loaded")
    out = tmp_path / "a.json"
    export.export_agent(store, a, out)
    text = out.read_text()
    assert "/home/someone" not in text and "Private" not in text
    assert [s["path"] for s in json.loads(text)["sources"]] == ["letter.pdf"]
    b = agent_import.import_agent(store, out)
    assert [(s.name, s.path) for s in store.list_sources(b.id)] == [("letter.pdf", "letter.pdf")]


def test_finding_an_imported_message_again_is_an_index_search(store: Store) -> None:
    """By agent and time alone, a history whose messages share one time made the check
    quadratic (30,000 took 161 s here; 4.4 s through this index)."""
    from ember.core.storage.recall import FIND_MESSAGE

    plan = store.conn.execute(
        f"EXPLAIN QUERY PLAN {FIND_MESSAGE}", (1, "2024-05-01", "x", "x", "user", "x")
    ).fetchall()
    assert "USING INDEX messages_agent_time_text" in " ".join(str(r[3]) for r in plan)
    a = presets.create_agent(store, "A")
    mid = store.add_message(a.id, "user", "user_message", {}, "hello", created_at="2024-05-01")
    assert store.find_message(a.id, "user", "2024-05-01", "hello") == mid
    assert store.find_message(a.id, "assistant", "2024-05-01", "hello") is None


def test_an_export_leaves_out_a_document_still_loading(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    """A document being loaded (or whose load died) is not part of archival memory yet: an
    export during the load carried half of it, which the import then made searchable."""
    a = presets.create_agent(store, "A")
    done = store.add_source(a.id, "/d/done.txt", "done.txt", "abc", 1, status="loaded")
    half = store.add_source(a.id, "/d/half.txt", "half.txt", "def", 1)  # loading
    for source, text in ((done, "herons"), (half, "gulls")):
        vectors = hash_embedder.embed([text])
        store.add_passages(a.id, [(text, 1, 0)], vectors, source_id=source.id)
    store.add_passages(a.id, [("a note", None, None)], hash_embedder.embed(["a note"]))
    out = tmp_path / "a.json"
    counts = export.export_agent(store, a, out)
    assert (counts["sources"], counts["passages"]) == (1, 2)
    doc = json.loads(out.read_text())
    assert [s["name"] for s in doc["sources"]] == ["done.txt"]
    assert sorted(p["text"] for p in doc["passages"]) == ["a note", "herons"]
    b = agent_import.import_agent(store, out)
    assert store.count_passages(b.id) == 2
