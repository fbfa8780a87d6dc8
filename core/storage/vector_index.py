"""Archival vector search at scale: binary prefilter in memory, exact cosine re-rank.

Design. Each passage's float32 embedding lives in ``passage_embedding`` (looked up by id)
and its sign bits (one bit per dimension, ``vec_quantize_binary``'s layout) in
``passage_code``, keyed ``(agent_id, passage_id)``. A search:

1. keeps, per agent, the codes in memory as ``words × n`` uint64 columns (48 bytes per
   384-dim passage: 48 MB per million) and refreshes them cheaply: new rows are appended
   (ids only grow), any delete (counted by a trigger in ``passage_index_state``) reloads;
2. computes Hamming distances to the query's code over all of the agent's passages
   (XOR + popcount, column by column in cache-sized chunks: ≈6 ms per million here);
3. takes the ``candidates(k)`` nearest by Hamming distance and re-ranks them exactly by
   cosine distance against their float vectors; returns the best ``k``.

When the agent has no more passages than the candidate count, every passage is re-ranked:
the search is exact. Cosine distance is ``1 - cos``, the same value vec0 reported.

vec0 was measured first (see ``benchmarks/archival_search.py``): its exact float scan costs
~40 ms per 100k, its ``bit[384]`` kNN ~11 ms per 100k with k=100 (growing with k) and its
point lookups ~0.2 ms each, so a 1M-passage re-rank through vec0 could not meet 100 ms.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import numpy as np

from ember.core.storage.store_base import Vector

# Hamming candidates re-ranked exactly, per result wanted, and at least this many.
CANDIDATES_PER_RESULT = 20
MIN_CANDIDATES = 800
_CHUNK = 32768


def binary_codes(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of each row (bit i set when component i > 0), packed little-endian per
    byte: the layout of sqlite-vec's ``vec_quantize_binary``. Shape ``(n, ceil(dim/8))``."""
    return np.packbits(np.asarray(vectors) > 0, axis=1, bitorder="little")


def _as_columns(codes: np.ndarray) -> np.ndarray:
    """``(n, nbytes)`` uint8 codes → ``(words, n)`` contiguous uint64 columns."""
    n, nbytes = codes.shape
    words = max(1, -(-nbytes // 8))
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :nbytes] = codes
    return np.ascontiguousarray(padded.view(np.uint64).T)


def hamming(columns: np.ndarray, query_words: np.ndarray) -> np.ndarray:
    """Hamming distance of the query code to every column code (uint16, length n)."""
    words, n = columns.shape
    out = np.zeros(n, dtype=np.uint16)
    xor = np.empty(min(n, _CHUNK), dtype=np.uint64)
    bits = np.empty(min(n, _CHUNK), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        end = min(n, start + _CHUNK)
        m = end - start
        acc = out[start:end]
        for w in range(words):
            np.bitwise_xor(columns[w, start:end], query_words[w], out=xor[:m])
            np.bitwise_count(xor[:m], out=bits[:m])
            np.add(acc, bits[:m], out=acc)
    return out


def smallest(distances: np.ndarray, m: int) -> np.ndarray:
    """Indices of (at least, ties included up to 2m) the ``m`` smallest integer distances."""
    n = len(distances)
    if m >= n:
        return np.arange(n)
    counts = np.cumsum(np.bincount(distances))
    cutoff = int(np.searchsorted(counts, m))  # smallest d with count(dist <= d) >= m
    idx = np.flatnonzero(distances <= cutoff)
    if len(idx) > 2 * m:  # a big tie at the cutoff: keep exactly m
        idx = idx[np.argpartition(distances[idx], m)[:m]]
    return idx


def candidates(k: int) -> int:
    """How many Hamming-nearest passages are re-ranked exactly for ``k`` results."""
    return max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * k)


def prefiltered(ids: np.ndarray, columns: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The ids (of codes ``columns``) to re-rank exactly for ``k`` results: the
    ``candidates(k)`` Hamming-nearest to ``query``, or all of them when no more."""
    want = candidates(k)
    if len(ids) <= want:
        return ids
    qcols = _as_columns(binary_codes(query[None, :]))[:, 0]
    nearest: np.ndarray = ids[smallest(hamming(columns, qcols), want)]
    return nearest


def cosine_distances(matrix: np.ndarray, query: np.ndarray, what: str) -> np.ndarray:
    """``1 - cos`` of each row of ``matrix`` (the float vectors of ``what``) to ``query``."""
    if matrix.shape[1] != len(query):
        raise ValueError(f"query vector has {len(query)} dimensions, the {what} {matrix.shape[1]}")
    norms = np.linalg.norm(matrix, axis=1) * (float(np.linalg.norm(query)) or 1.0)
    norms[norms == 0] = 1.0
    result: np.ndarray = 1.0 - (matrix @ query) / norms
    return result


def read_embeddings(
    conn: sqlite3.Connection, select: str, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(ids found, float32 matrix) of ``ids``: ``select`` reads ``(id, embedding)`` rows
    whose id is in the JSON list bound to its one parameter."""
    rows = conn.execute(select, (json.dumps([int(i) for i in ids]),)).fetchall()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
    return found, matrix.reshape(len(rows), -1)


@dataclass
class _AgentCodes:
    ids: np.ndarray  # int64, ascending
    columns: np.ndarray  # (words, n) uint64
    max_id: int
    deletes: int


class PassageVectorIndex:
    """The in-memory side of archival vector search, for one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._agents: dict[int, _AgentCodes] = {}

    def _state(self, agent_id: int) -> tuple[int, int]:
        max_id = self.conn.execute(
            "SELECT coalesce(max(passage_id), 0) FROM passage_code WHERE agent_id = ?",
            (agent_id,),
        ).fetchone()[0]
        row = self.conn.execute(
            "SELECT deletes FROM passage_index_state WHERE agent_id = ?", (agent_id,)
        ).fetchone()
        return int(max_id), int(row[0]) if row else 0

    def _load(self, agent_id: int, after_id: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.conn.execute(
            "SELECT passage_id, code FROM passage_code WHERE agent_id = ? AND passage_id > ? "
            "ORDER BY passage_id",
            (agent_id, after_id),
        ).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((1, 0), dtype=np.uint64)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(r[1] for r in rows)
        codes = np.frombuffer(blob, dtype=np.uint8).reshape(len(rows), -1)
        return ids, _as_columns(codes)

    def codes(self, agent_id: int) -> _AgentCodes:
        """The agent's codes, brought up to date with the database."""
        max_id, deletes = self._state(agent_id)
        cached = self._agents.get(agent_id)
        if cached is not None and cached.deletes == deletes and cached.max_id == max_id:
            return cached
        if cached is not None and cached.deletes == deletes and max_id > cached.max_id:
            ids, cols = self._load(agent_id, cached.max_id)
            if len(cached.ids) == 0:
                cached.ids, cached.columns = ids, cols
            elif len(ids):
                cached.ids = np.concatenate([cached.ids, ids])
                cached.columns = np.concatenate([cached.columns, cols], axis=1)
            cached.max_id = max_id
            return cached
        ids, cols = self._load(agent_id, 0)
        cached = _AgentCodes(ids, cols, max_id, deletes)
        self._agents[agent_id] = cached
        return cached

    def forget(self, agent_id: int | None = None) -> None:
        """Drop the in-memory codes of one agent (or all): the next search reloads them."""
        if agent_id is None:
            self._agents.clear()
        else:
            self._agents.pop(agent_id, None)

    def embeddings(self, passage_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, float32 matrix) for these passage ids."""
        return read_embeddings(
            self.conn,
            "SELECT passage_id, embedding FROM passage_embedding "
            "WHERE passage_id IN (SELECT value FROM json_each(?))",
            passage_ids,
        )

    def search(self, agent_id: int, vector: Vector, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine distance) of the ``k`` nearest passages of the agent."""
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        agent = self.codes(agent_id)
        n = len(agent.ids)
        if n == 0:
            return []
        ids, matrix = self.embeddings(prefiltered(agent.ids, agent.columns, query, k))
        if len(ids) == 0:
            return []
        dist = cosine_distances(matrix, query, "passages")
        order = np.lexsort((ids, dist))[:k]
        return [(int(ids[i]), float(dist[i])) for i in order]
