"""Issue 28 items 3 and 5, with real processes on a real file: agent and document ids are
never used twice; two loads of one file at once store it once; a killed load leaves no
"loading" document with searchable passages behind; deleting an agent while something is
being loaded or imported for it gives one clear line, not a raw IntegrityError or a
success.

The loads and imports run in child processes (``children.py``) with the hash embedder,
held at a chosen batch until the test creates a file (``SlowEmbedder``'s ``hold``): the
other process acts at a known point of the load, never by the clock, so a loaded machine
cannot make a test pass or fail by luck (the sleeps these tests once used did).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.documents.ingest import DELETED_MEANWHILE
from ember.core.kernel import paths
from ember.core.storage import db
from ember.core.storage.migrations import MIGRATIONS
from ember.core.storage.store import Store
from tests.cli_helpers import run_ember
from tests.promises.test_concurrency import child

SENTENCES = "".join(f"Sentence number {i} is about herons and the old mill. " for i in range(600))


def _wait_for(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    for got in proc.stdout:
        if got.strip() == line:
            return
    assert proc.stderr is not None
    raise AssertionError(f"the child ended without saying {line!r}: {proc.stderr.read()}")


def _results(out: str) -> list[str]:
    """A load's result lines, without the child's progress words."""
    return [line for line in out.splitlines() if line not in ("batch", "held", "waiting")]


def test_ids_are_never_reused(store: Store) -> None:
    a = presets.create_agent(store, "A")
    b = presets.create_agent(store, "B")
    store.delete_agent(b.id)
    assert presets.create_agent(store, "C").id == b.id + 1
    first = store.add_source(a.id, "/x.txt", "x.txt", "abc")
    store.remove_source(first.id)
    assert store.add_source(a.id, "/x.txt", "x.txt", "abc").id == first.id + 1


def test_an_old_file_keeps_its_rows_and_stops_reusing_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.sqlite3"
    conn = db.connect(path, migrate=False)
    at = [name for name, _ in MIGRATIONS].index("agent and document ids never reused")
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS[:at])
    db.migrate_db(conn)
    conn.close()
    with Store(path) as store:
        keep = presets.create_agent(store, "Keep")
        gone = presets.create_agent(store, "Gone")
        store.add_message(keep.id, "user", "user_message", {"message": "hi"}, "hi")
        source = store.add_source(keep.id, "/d.txt", "d.txt", "sha", status="loaded")
        store.add_passages(keep.id, [("text", 1, 0)], [[1.0] * 384], source_id=source.id)
        store.delete_agent(gone.id)
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    with Store(path) as store:
        assert [a.name for a in store.list_agents()] == ["Keep"]
        assert store.count_messages(keep.id) == 1 and store.count_passages(keep.id) == 1
        assert [s.id for s in store.list_sources(keep.id)] == [source.id]
        assert store.blocks(keep.id)  # children still belong to their agent
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        new = presets.create_agent(store, "New")
        assert new.id > keep.id  # the file had no record of Gone: max id + 1
        store.delete_agent(new.id)
        assert presets.create_agent(store, "Newer").id == new.id + 1


def test_vectors_a_deleted_agent_left_in_an_old_file_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28 item 3: an import's batch of vectors written after its agent was deleted
    (128 under agent id 1) outlived it, and the next agent to get id 1 owned them. Writes
    check for the message now; a file from before still holds them, and a message that
    reused one of their ids (message ids are reused) had another agent's vector."""
    path = tmp_path / "old.sqlite3"
    conn = db.connect(path, migrate=False)
    at = [name for name, _ in MIGRATIONS].index("vectors of deleted messages and passages removed")
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS[:at])
    db.migrate_db(conn)
    conn.close()
    vector = np.ones(384, dtype=np.float32).tobytes()
    with Store(path) as store:
        keep = presets.create_agent(store, "Keep")
        other = presets.create_agent(store, "Other")
        mine = store.add_message(keep.id, "user", "user_message", {}, "mine")
        theirs = store.add_message(other.id, "user", "user_message", {}, "theirs")
        note = store.add_passages(keep.id, [("note", None, None)], [[1.0] * 384])[0]
        with store.transaction():  # what the old race and an old delete left behind
            store.conn.executemany(
                "INSERT INTO message_vec(message_id, agent_id, embedding) VALUES (?, ?, ?)",
                [(mine, keep.id, vector), (theirs, keep.id, vector), (9999, keep.id, vector)],
            )
            store.conn.execute(
                "INSERT INTO message_window_vec(message_id, agent_id, embedding) "
                "VALUES (9999, ?, ?)",
                (keep.id, vector),
            )
            store.conn.execute(
                "INSERT INTO passage_embedding(passage_id, embedding) VALUES (9999, ?)", (vector,)
            )
            store.conn.execute(
                "INSERT INTO passage_code(agent_id, passage_id, code) VALUES (?, 9999, x'00')",
                (keep.id,),
            )
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    with Store(path) as store:
        vectors = store.conn.execute(
            "SELECT message_id, agent_id FROM message_code ORDER BY message_id"
        ).fetchall()
        assert [tuple(r) for r in vectors] == [(mine, keep.id)]
        assert _raw_count(store, "message_window_embedding") == 0
        assert [r[0] for r in store.conn.execute("SELECT passage_id FROM passage_embedding")] == [
            note
        ]
        assert [r[0] for r in store.conn.execute("SELECT passage_id FROM passage_code")] == [note]


def _agent_z_and_a_document(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A data folder with agent "Z", and a document for it to load: the folder, its
    database file and the document."""
    home = tmp_path / "home"
    db_file = home / paths.DB_FILENAME
    doc = tmp_path / "mill.txt"
    doc.write_text(SENTENCES)
    with Store(db_file) as store:
        presets.create_agent(store, "Z")
    return home, db_file, doc


def test_two_loads_of_one_file_at_once_store_it_once(tmp_path: Path) -> None:
    _, db_file, doc = _agent_z_and_a_document(tmp_path)
    gate = tmp_path / "go"
    first = child("ingest", str(db_file), "Z", str(doc), "0", f"2:{gate}")
    _wait_for(first, "held")  # one batch stored, the load under way
    second = child("ingest", str(db_file), "Z", str(doc), "0")
    _wait_for(second, "waiting")  # it found the first one loading, and waits for it
    gate.touch()
    outs = [p.communicate(timeout=300) for p in (first, second)]
    lines = sorted(line for out, _ in outs for line in _results(out))
    assert [line.split(":")[0] for line in lines] == ["loaded", "skipped"], outs
    assert "already loaded" in lines[1]
    with Store(db_file) as store:
        agent = store.get_agent("Z")
        [source] = store.list_sources(agent.id)
        assert store.count_passages(agent.id) == source.passages
        assert store.conn.execute("SELECT count(*) FROM passages").fetchone()[0] == (
            source.passages
        )


def _raw_count(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_killed_load_is_not_searchable_and_is_cleaned_up(tmp_path: Path) -> None:
    home, db_file, doc = _agent_z_and_a_document(tmp_path)
    loader = child("ingest", str(db_file), "Z", str(doc), "0", f"2:{tmp_path / 'never'}")
    _wait_for(loader, "held")  # the first batch is stored
    loader.send_signal(signal.SIGKILL)
    loader.communicate(timeout=30)
    with Store(db_file) as store:  # what the kill left: stored, but not memory
        agent = store.get_agent("Z")
        assert [s.status for s in store.list_sources(agent.id)] == ["loading"]
        assert _raw_count(store, "passages") == 8
        assert store.count_passages(agent.id) == 0
        assert store.search_passages_keyword(agent.id, "herons", 5) == []
        assert store.list_passages(agent.id) == []
    memory = run_ember(home, "memory", "--agent", "Z")
    assert "Archival memory: 0 passages, 0 documents" in memory.stdout, memory.stderr
    out = run_ember(home, "sources", "--agent", "Z")
    assert out.returncode == 0, out.stderr
    assert "loading" not in out.stdout and "No documents loaded" in out.stdout
    with Store(db_file) as store:
        assert _raw_count(store, "passages") == 0 and _raw_count(store, "sources") == 0
    again = child("ingest", str(db_file), "Z", str(doc), "0")
    out_again, _ = again.communicate(timeout=300)
    assert "loaded: mill.txt" in out_again


def test_ember_sources_says_a_document_is_being_loaded(tmp_path: Path) -> None:
    """Issue 28 item 5: a load in progress showed '[loading]' while its passages were
    already searched and counted; removing it meanwhile made the load fail with a raw
    IntegrityError."""
    home, db_file, doc = _agent_z_and_a_document(tmp_path)
    gate = tmp_path / "go"
    loader = child("ingest", str(db_file), "Z", str(doc), "0", f"2:{gate}")
    _wait_for(loader, "held")
    listed = run_ember(home, "sources", "--agent", "Z")
    assert (listed.returncode, listed.stderr) == (0, "")
    [line] = listed.stdout.splitlines()
    assert "\tmill.txt\t1 page\t8 passages\t" in line
    assert line.endswith("\t[loading now: not searchable until it is done]")
    memory = run_ember(home, "memory", "--agent", "Z")
    assert "Archival memory: 0 passages, 0 documents" in memory.stdout, memory.stderr
    removed = run_ember(home, "sources", "remove", "mill.txt", "--agent", "Z")
    assert removed.returncode == 1 and removed.stdout == "", removed.stdout
    assert removed.stderr.splitlines() == [
        "ember: 'mill.txt' is being loaded right now; remove it once the load is done, or "
        "stop the load."
    ]
    gate.touch()  # the load goes on: ember sources left it alone
    out, err = loader.communicate(timeout=300)
    [result] = _results(out)
    assert result.startswith("loaded: mill.txt (1 page, "), err
    listed = run_ember(home, "sources", "--agent", "Z")
    assert "loading" not in listed.stdout
    with Store(db_file) as store:
        agent = store.get_agent("Z")
        [source] = store.list_sources(agent.id)
        assert store.count_passages(agent.id) == source.passages > 8


def test_deleting_the_agent_during_its_load_says_so(tmp_path: Path) -> None:
    home, db_file, doc = _agent_z_and_a_document(tmp_path)
    gate = tmp_path / "go"
    loader = child("ingest", str(db_file), "Z", str(doc), "0", f"2:{gate}")
    _wait_for(loader, "held")  # one batch stored, the next being embedded
    assert run_ember(home, "agents", "delete", "Z").returncode == 0
    gate.touch()
    out, err = loader.communicate(timeout=120)
    assert loader.returncode == 0 and "Traceback" not in err, err
    assert _results(out) == [f"failed: mill.txt: {DELETED_MEANWHILE}"]
    with Store(db_file) as store:
        for table in ("sources", "passages", "passage_embedding", "passage_code"):
            assert _raw_count(store, table) == 0, table


def test_deleting_the_agent_during_its_history_import_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db_file = home / paths.DB_FILENAME
    history = tmp_path / "h.jsonl"
    history.write_text(
        "".join(
            json.dumps({"role": "user", "content": f"note {i}", "time": "2024-05-01T10:00:00"})
            + "\n"
            for i in range(600)
        )
    )
    gate = tmp_path / "go"
    with Store(db_file) as store:
        presets.create_agent(store, "Z")
    importer = child("import", str(db_file), "Z", str(history), "0", f"2:{gate}")
    _wait_for(importer, "held")  # saved, and one batch of vectors written
    with Store(db_file) as store:
        assert _raw_count(store, "message_embedding") > 0
    assert run_ember(home, "agents", "delete", "Z").returncode == 0
    gate.touch()
    out, err = importer.communicate(timeout=120)
    assert importer.returncode == 1, (out, err)
    assert "imported" not in out
    assert err.strip().splitlines() == [
        "The agent 'Z' was deleted during the import, and the imported messages with it."
    ]
    with Store(db_file) as store:  # no vectors left under the deleted agent's id
        assert _raw_count(store, "message_embedding") == 0
        assert _raw_count(store, "messages") == 0
