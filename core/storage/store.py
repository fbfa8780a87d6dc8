"""The one SQLite file: agents, core memory, recall messages, archival passages, sources.

Design: a thin typed layer over SQL, one class that everyone uses, assembled from one
module per concept:

- ``store_base``: the connection, transactions, query helpers, file facts and settings;
- ``agents``: agents and their core memory blocks;
- ``recall``: messages (the FIFO queue and recall memory) with FTS5 and vectors;
- ``archival``: passages and the documents they came from, with FTS5 and vectors.

Full-text rows are kept in sync by triggers; vector rows are deleted by the same triggers.
Search *fusion* (keyword + vector) lives in ``memory/search.py``; the store only runs the queries.

One Store (one connection) belongs to one thread at a time: the engine worker. Several
processes may open the same file at once (WAL; every write is a ``BEGIN IMMEDIATE``
transaction, so writers take turns); see ``db`` for what happens at open.
"""

from __future__ import annotations

from ember.core.storage.agents import DEFAULT_BLOCK_LIMIT, Agent, AgentStore, Block
from ember.core.storage.archival import ArchivalStore, Passage, Source
from ember.core.storage.recall import Message, RecallStore
from ember.core.storage.store_base import fts_query, vector_blob

__all__ = [
    "DEFAULT_BLOCK_LIMIT",
    "Agent",
    "Block",
    "Message",
    "Passage",
    "Source",
    "Store",
    "fts_query",
    "vector_blob",
]


class Store(AgentStore, RecallStore, ArchivalStore):
    """Typed access to the Ember database file (see the module docstring)."""

    def __enter__(self) -> Store:
        return self
