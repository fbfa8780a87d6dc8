"""Ingest of PDFs with damaged pages and ligatures: the result line and the index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.agent import presets
from ember.core.documents.ingest import ingest_file
from ember.core.storage.store import Store
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
