"""Ingest: PDFs with damaged pages and ligatures (the result line and the index); a document
being loaded stays out of archival memory until it is done."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.documents.ingest import REMOVED_MEANWHILE, ingest_file, reap_interrupted
from ember.core.memory import search
from ember.core.storage import vector_index
from ember.core.storage.store import Store
from tests.conftest import HashEmbedder
from tests.core.documents.test_loaders import raw_pdf


def test_damaged_page_is_counted_in_the_result_line(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    agent = presets.create_agent(store, "A")
    pdf = raw_pdf(tmp_path / "report.pdf", [b"Boats o\x01en float.", b"Broken.", b"Gulls."], (1,))
    result = ingest_file(store, hash_embedder, agent.id, pdf)
    assert result.status == "loaded"
    assert result.skipped_pages == 1
    assert result.line().startswith("loaded: report.pdf (3 pages, ")
    assert ", 1 damaged page skipped, " in result.line()
    pages = sorted({p.page for p in store.list_passages(agent.id)})
    assert pages == [1, 3]
    # The ligature was normalised before indexing: the typed word finds it.
    [(pid, _)] = store.search_passages_keyword(agent.id, "offen", 5)
    assert store.get_passages([pid])[0].page == 1


class _Watcher(HashEmbedder):
    """The hash embedder, which looks at the file through a second connection (as another
    process would) while it embeds the second batch."""

    def __init__(self, path: Path, agent_id: int) -> None:
        self.path = path
        self.agent_id = agent_id
        self.calls = 0
        self.seen: dict[str, object] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            with Store(self.path) as other:
                self.seen = {
                    "count": other.count_passages(self.agent_id),
                    "listed": other.list_passages(self.agent_id),
                    "keyword": other.search_passages_keyword(self.agent_id, "herons", 5),
                    "vector": other.search_passages_vector(
                        self.agent_id, super().embed(["herons"])[0], 5
                    ),
                    "sources": [(s.status, s.passages) for s in other.list_sources(self.agent_id)],
                    # what the agent's archival_memory_search finds
                    "hybrid": search.search(
                        other, HashEmbedder(), self.agent_id, "archival", "herons"
                    ).total,
                }
        return super().embed(texts)


def test_a_document_being_loaded_is_not_searched_or_counted_until_it_is_done(
    store: Store, tmp_path: Path
) -> None:
    """Issue 28 item 5: a load's first batches were searchable and counted while it ran,
    and after a kill, before anything removed them."""
    agent = presets.create_agent(store, "A")
    doc = tmp_path / "mill.txt"
    doc.write_text("".join(f"Sentence {i}: herons by the old mill. " for i in range(200)))
    watcher = _Watcher(store.path, agent.id)
    result = ingest_file(store, watcher, agent.id, doc, batch_size=4)
    assert result.status == "loaded" and watcher.calls > 2
    assert watcher.seen == {
        "count": 0,
        "listed": [],
        "keyword": [],
        "vector": [],
        "sources": [("loading", 4)],  # what is stored so far, for ember sources
        "hybrid": 0,
    }
    assert search.search(store, HashEmbedder(), agent.id, "archival", "herons").total > 4
    assert store.count_passages(agent.id) == result.passages
    assert len(store.search_passages_keyword(agent.id, "herons", 5)) == 5
    assert len(store.search_passages_vector(agent.id, HashEmbedder().embed(["herons"])[0], 5)) == 5
    # The sign bits written at the end are those the vector search writes itself.
    rows = store.conn.execute(
        "SELECT c.code, e.embedding FROM passage_code c "
        "JOIN passage_embedding e ON e.passage_id = c.passage_id"
    ).fetchall()
    assert len(rows) == result.passages
    for code, embedding in rows:
        vector = np.frombuffer(embedding, dtype=np.float32)[None, :]
        assert code == vector_index.binary_codes(vector)[0].tobytes()


def test_a_load_that_finishes_as_the_reaper_looks_is_kept(
    store: Store, hash_embedder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reaper removes 'loading' documents whose lock is free; a load could finish (and
    free its lock) between the reaper's look and its lock, and the finished document went."""
    agent = presets.create_agent(store, "A")
    doc = tmp_path / "mill.txt"
    doc.write_text("Herons by the old mill. " * 40)
    result = ingest_file(store, hash_embedder, agent.id, doc)
    [source] = store.list_sources(agent.id)
    seen = replace(source, status="loading")  # as the reaper saw it just before the end
    monkeypatch.setattr(store, "loading_sources", lambda agent_id=None: [seen])
    assert reap_interrupted(store) == 0
    monkeypatch.undo()
    assert [s.status for s in store.list_sources(agent.id)] == ["loaded"]
    assert store.count_passages(agent.id) == result.passages


class _Remover(HashEmbedder):
    """The hash embedder, which removes the document being loaded (as an older Ember or a
    script in another process could) while it embeds the second batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            with Store(self.path) as other:
                [source] = other.conn.execute("SELECT id FROM sources").fetchall()
                other.remove_source(int(source[0]))
        return super().embed(texts)


def test_a_document_removed_while_it_loads_is_one_line_and_leaves_nothing(
    store: Store, tmp_path: Path
) -> None:
    """It said 'unexpected error: IntegrityError: FOREIGN KEY constraint failed'."""
    agent = presets.create_agent(store, "A")
    doc = tmp_path / "mill.txt"
    doc.write_text("".join(f"Sentence {i}: herons by the old mill. " for i in range(200)))
    result = ingest_file(store, _Remover(store.path), agent.id, doc, batch_size=4)
    assert (result.status, result.message) == ("failed", REMOVED_MEANWHILE)
    for table in ("sources", "passages", "passage_embedding", "passage_code"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_a_finished_document_is_found_by_a_search_that_ran_before_it(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    """The vector search keeps the agent's sign bits in memory and reads only newer ids;
    a document's are written when it is done, after notes with higher ids may have been."""
    agent = presets.create_agent(store, "A")
    query = hash_embedder.embed(["herons"])[0]
    notes = iter(range(100))

    class Noting(HashEmbedder):
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            text = f"note {next(notes)} about gulls"  # the agent writes while the load runs
            store.add_passages(agent.id, [(text, None, None)], super().embed([text]))
            assert len(store.search_passages_vector(agent.id, query, 100)) >= 1
            return super().embed(texts)

    doc = tmp_path / "mill.txt"
    doc.write_text("".join(f"Sentence {i}: herons by the old mill. " for i in range(200)))
    result = ingest_file(store, Noting(), agent.id, doc, batch_size=2)
    assert result.status == "loaded" and result.passages > 4
    hits = store.search_passages_vector(agent.id, query, result.passages)
    found = store.get_passages([i for i, _ in hits])
    assert all("herons" in p.text for p in found), [p.text for p in found]
