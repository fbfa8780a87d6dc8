"""Recall vector search at scale: archival's design (``vector_index.py``) for the
embeddings of messages and of their search windows.

Each embedding's float32 bytes live in ``message_embedding`` / ``message_window_embedding``
(looked up by message id) and its sign bits in ``message_code`` / ``message_window_code``,
keyed ``(agent_id, message_id)``, with a ``seq`` that grows on every write. A search keeps
the agent's codes in memory, computes Hamming distances to the query's code over all of
them, re-ranks the ``vector_index.candidates(k)`` nearest exactly by cosine distance and
returns the best ``k``; with no more embeddings than that, every one is re-ranked and the
search is exact.

Unlike passages, recall vectors are rewritten in place: each new message rewrites the
windows of the messages before it. So the in-memory copy follows ``seq``: rows written
since it was loaded replace their old codes or are added; only a delete (counted per
table and agent in ``recall_vector_state`` by a trigger: a turn taken back, an agent
deleted) makes it load again. vec0's exact scan, which this replaces, cost ~25 ms per
10k embeddings and table here, 0.5 s per 100k.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ember.core.storage.store_base import Vector
from ember.core.storage.vector_index import (
    _as_columns,
    binary_codes,
    cosine_distances,
    prefiltered,
    read_embeddings,
)

MESSAGES = "message"
WINDOWS = "message_window"


# An agent with at most this many embeddings in a table keeps their floats in memory too
# (≤ 24 MB at 384 dimensions): its searches are exact and read no rows. Re-ranking from
# the file read ~1,000 candidate rows a search, 15-35 ms at 10k messages on a busy machine.
IN_MEMORY = 16_384


@dataclass
class _Codes:
    ids: np.ndarray  # int64, ascending
    columns: np.ndarray  # (words, n) uint64
    seq: int
    deletes: int
    floats: np.ndarray | None = None  # (n, dim) float32, row i of ids[i], when kept


def write(conn: sqlite3.Connection, table: str, rows: Sequence[tuple[int, int, Vector]]) -> None:
    """Store (or replace) ``(message_id, agent_id, vector)`` embeddings in ``table``
    (:data:`MESSAGES` or :data:`WINDOWS`); call inside a transaction."""
    if not rows:
        return
    matrix = np.asarray([np.asarray(v, dtype=np.float32).reshape(-1) for _, _, v in rows])
    codes = binary_codes(matrix)
    conn.executemany(
        f"INSERT OR REPLACE INTO {table}_embedding(message_id, embedding) VALUES (?, ?)",
        [(mid, matrix[i].tobytes()) for i, (mid, _, _) in enumerate(rows)],
    )
    conn.executemany(
        f"INSERT INTO {table}_code(agent_id, message_id, seq, code) VALUES (?, ?, "
        f"(SELECT coalesce(max(seq), 0) + 1 FROM {table}_code WHERE agent_id = ?), ?) "
        "ON CONFLICT(agent_id, message_id) DO UPDATE SET seq = excluded.seq, "
        "code = excluded.code",
        [(aid, mid, aid, codes[i].tobytes()) for i, (mid, aid, _) in enumerate(rows)],
    )


class RecallVectorIndex:
    """The in-memory side of one recall vector table, for one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn = conn
        self.table = table
        self._agents: dict[int, _Codes] = {}

    def _state(self, agent_id: int) -> tuple[int, int]:
        seq = self.conn.execute(
            f"SELECT coalesce(max(seq), 0) FROM {self.table}_code WHERE agent_id = ?",
            (agent_id,),
        ).fetchone()[0]
        row = self.conn.execute(
            "SELECT deletes FROM recall_vector_state WHERE tbl = ? AND agent_id = ?",
            (self.table, agent_id),
        ).fetchone()
        return int(seq), int(row[0]) if row else 0

    def _load(self, agent_id: int, after_seq: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, ``(n, bytes)`` codes) written after ``after_seq``, in id order, each id
        once with its latest code."""
        since = " AND seq > ?" if after_seq else ""  # all: in key order, nothing to sort
        rows = self.conn.execute(
            f"SELECT message_id, code FROM {self.table}_code WHERE agent_id = ?{since} "
            "ORDER BY message_id",
            (agent_id, after_seq) if after_seq else (agent_id,),
        ).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.uint8)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        codes = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8)
        return ids, codes.reshape(len(rows), -1)

    def codes(self, agent_id: int) -> _Codes:
        """The agent's codes, brought up to date with the database."""
        seq, deletes = self._state(agent_id)
        cached = self._agents.get(agent_id)
        if cached is not None and cached.deletes == deletes and cached.seq == seq:
            return cached
        if cached is not None and cached.deletes == deletes and len(cached.ids):
            ids, codes = self._load(agent_id, cached.seq)
            if len(ids) == 0 or -(-codes.shape[1] // 8) == cached.columns.shape[0]:
                self._merge(cached, ids, codes, self.embeddings)
                cached.seq = seq
                return cached
        ids, codes = self._load(agent_id, 0)
        cached = _Codes(ids, _as_columns(codes) if len(ids) else codes.T, seq, deletes)
        self._agents[agent_id] = cached
        return cached

    @staticmethod
    def _merge(
        cached: _Codes,
        ids: np.ndarray,
        codes: np.ndarray,
        embeddings: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    ) -> None:
        """Rewritten codes (and kept floats) replace theirs in place; new ones join, in id
        order (kept floats are dropped then, and loaded again by the next search)."""
        if len(ids) == 0:
            return
        cols = _as_columns(codes)
        pos = np.searchsorted(cached.ids, ids)
        inside = pos < len(cached.ids)
        known = np.zeros(len(ids), dtype=bool)
        known[inside] = cached.ids[pos[inside]] == ids[inside]
        cached.columns[:, pos[known]] = cols[:, known]
        floats = cached.floats
        if floats is not None:
            found, matrix = embeddings(ids)
            order = np.argsort(found)
            found, matrix = found[order], matrix[order]
            cached.floats = None
            if np.array_equal(found, ids) and matrix.shape[1] == floats.shape[1]:
                floats[pos[known]] = matrix[known]
                cached.floats = np.concatenate([floats, matrix[~known]])
        if known.all():
            return
        new_ids = ids[~known]
        all_ids = np.concatenate([cached.ids, new_ids])
        all_cols = np.concatenate([cached.columns, cols[:, ~known]], axis=1)
        if new_ids[0] < cached.ids[-1]:  # an old message embedded late (a backfill)
            order = np.argsort(all_ids, kind="stable")
            all_ids, all_cols = all_ids[order], np.ascontiguousarray(all_cols[:, order])
            cached.floats = None
        cached.ids, cached.columns = all_ids, all_cols

    def _kept(self, agent: _Codes) -> np.ndarray | None:
        """The agent's floats in memory (loaded now if missing), or None when it has more
        than :data:`IN_MEMORY` embeddings or some code has no float row."""
        if len(agent.ids) > IN_MEMORY:
            agent.floats = None
        elif agent.floats is None or len(agent.floats) != len(agent.ids):
            found, matrix = self.embeddings(agent.ids)
            order = np.argsort(found)
            agent.floats = matrix[order] if np.array_equal(found[order], agent.ids) else None
        return agent.floats

    def forget(self) -> None:
        """Drop the in-memory codes: the next search reloads them."""
        self._agents.clear()

    def embeddings(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, float32 matrix) for these message ids."""
        return read_embeddings(
            self.conn,
            f"SELECT message_id, embedding FROM {self.table}_embedding "
            "WHERE message_id IN (SELECT value FROM json_each(?))",
            ids,
        )

    def search(self, agent_id: int, vector: Vector, k: int) -> list[tuple[int, float]]:
        """(message id, cosine distance) of the agent's ``k`` nearest embeddings, nearest
        first (ties: the newest first)."""
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        agent = self.codes(agent_id)
        if len(agent.ids) == 0:
            return []
        kept = self._kept(agent)
        if kept is not None:
            ids, matrix = agent.ids, kept
        else:
            ids, matrix = self.embeddings(prefiltered(agent.ids, agent.columns, query, k))
        if len(ids) == 0:
            return []
        dist = cosine_distances(matrix, query, "messages")
        # Equal distances (the same text said twice): the newer message first. vec0, which
        # this replaces, left their order to its scan; newest first matched it most often
        # (94 of 120 of ember eval's rankings, by id 60) and keeps recall@5 on its
        # conversation task.
        order = np.lexsort((-ids, dist))[:k]
        return [(int(ids[i]), float(dist[i])) for i in order]
