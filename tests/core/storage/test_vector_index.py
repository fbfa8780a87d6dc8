"""Archival vector index: recall vs exact search, agent partitions, deletes, migration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.storage import db, vector_index
from ember.core.storage.migrations import MIGRATIONS
from ember.core.storage.store import Store

DIM = 384


def clustered(n: int, seed: int = 0, topics: int = 50) -> np.ndarray:
    """Unit vectors around a few topics plus a shared direction, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(DIM)
    mean = np.random.default_rng(99).standard_normal(DIM) * scale
    centroids = np.random.default_rng(98).standard_normal((topics, DIM)) * scale
    v = 0.6 * mean + centroids[rng.integers(0, topics, n)]
    v = v + rng.standard_normal((n, DIM)) * 0.8 * scale
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def exact(ids: list[int], data: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    sims = data @ q
    return [ids[i] for i in np.argsort(-sims, kind="stable")[:k]]


def test_codes_match_sqlite_vec_quantize_binary(store: Store) -> None:
    v = clustered(3)
    for row in v:
        blob = store.conn.execute("SELECT vec_quantize_binary(vec_f32(?))", (row.tobytes(),))
        assert blob.fetchone()[0] == vector_index.binary_codes(row[None, :])[0].tobytes()


def test_hamming_matches_bit_count() -> None:
    rng = np.random.default_rng(1)
    v = rng.standard_normal((70_000, DIM)).astype(np.float32)  # more than one chunk
    codes = vector_index.binary_codes(v)
    cols = vector_index._as_columns(codes)
    q = vector_index._as_columns(codes[5:6])[:, 0]
    d = vector_index.hamming(cols, q)
    expected = np.unpackbits(codes ^ codes[5], axis=1).sum(axis=1)
    assert d[5] == 0
    assert np.array_equal(d, expected)
    sel = vector_index.smallest(d, 100)
    assert len(sel) >= 100
    assert d[sel].max() <= np.sort(d)[99]


def test_recall_against_exact_search(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fewer candidates than passages, so the binary prefilter really prunes.
    monkeypatch.setattr(vector_index, "MIN_CANDIDATES", 200)
    monkeypatch.setattr(vector_index, "CANDIDATES_PER_RESULT", 20)
    a = presets.create_agent(store, "A")
    data = clustered(5000)
    ids = store.add_passages(a.id, [(f"p{i}", None, None) for i in range(len(data))], data)
    queries = clustered(30, seed=7)
    recalls = []
    for q in queries:
        got = store.search_passages_vector(a.id, q, 10)
        truth = exact(ids, data, q, 10)
        recalls.append(len(set(truth) & {i for i, _ in got}) / 10)
        # Distances are exact cosine distances and sorted.
        dists = [d for _, d in got]
        assert dists == sorted(dists)
        by_id = dict(zip(ids, range(len(ids)), strict=True))
        for pid, dist in got:
            assert dist == pytest.approx(1.0 - float(data[by_id[pid]] @ q), abs=1e-5)
    assert np.mean(recalls) >= 0.95


def test_small_agent_search_is_exact(store: Store) -> None:
    a = presets.create_agent(store, "A")
    data = clustered(300, seed=3)
    ids = store.add_passages(a.id, [(f"p{i}", None, None) for i in range(300)], data)
    q = clustered(1, seed=4)[0]
    assert [i for i, _ in store.search_passages_vector(a.id, q, 20)] == exact(ids, data, q, 20)


def test_agents_are_partitioned(store: Store) -> None:
    a = presets.create_agent(store, "A")
    b = presets.create_agent(store, "B")
    data = clustered(2000, seed=5)
    ids_a = store.add_passages(a.id, [("a", None, None)] * 1000, data[:1000])
    ids_b = store.add_passages(b.id, [("b", None, None)] * 1000, data[1000:])
    for q in data[1000:1010]:  # queries equal to B's own vectors
        got = {i for i, _ in store.search_passages_vector(a.id, q, 50)}
        assert got and got <= set(ids_a)
        got_b = store.search_passages_vector(b.id, q, 1)
        assert got_b[0][0] in ids_b and got_b[0][1] == pytest.approx(0.0, abs=1e-5)
    assert store.search_passages_vector(9999, data[0], 10) == []


def test_deletes_remove_index_rows_and_refresh_memory(store: Store) -> None:
    a = presets.create_agent(store, "A")
    b = presets.create_agent(store, "B")
    data = clustered(1500, seed=6)
    ids = store.add_passages(a.id, [("x", None, None)] * 1500, data)
    store.add_passages(b.id, [("y", None, None)], data[:1])
    q = data[10]
    assert store.search_passages_vector(a.id, q, 1)[0][0] == ids[10]  # codes now in memory
    store.delete_passage(ids[10])
    assert ids[10] not in {i for i, _ in store.search_passages_vector(a.id, q, 50)}
    # New passages appear without a reload; another connection's writes are seen too.
    [new] = store.add_passages(a.id, [("new", None, None)], q[None, :])
    assert store.search_passages_vector(a.id, q, 1)[0][0] == new
    other = Store(store.path)
    other.delete_passage(new)
    other.close()
    assert new not in {i for i, _ in store.search_passages_vector(a.id, q, 50)}

    def count(table: str, agent: int | None = None) -> int:
        if agent is None:
            return store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        sql = f"SELECT count(*) FROM {table} WHERE agent_id = ?"
        return store.conn.execute(sql, (agent,)).fetchone()[0]

    assert count("passage_embedding") == 1500 - 1 + 1
    assert count("passage_code", a.id) == 1499
    store.delete_agent(a.id)
    assert count("passage_embedding") == 1
    assert count("passage_code") == 1
    assert count("passage_vec", b.id) == 1  # the compatibility view
    assert store.search_passages_vector(a.id, q, 5) == []


def test_set_passage_embeddings_reindexes(store: Store) -> None:
    a = presets.create_agent(store, "A")
    data = clustered(1200, seed=8)
    ids = store.add_passages(a.id, [("x", None, None)] * 1200, data)
    target = -data[0]
    assert store.search_passages_vector(a.id, target, 1)[0][0] != ids[0]
    store.set_passage_embeddings([ids[0]], target[None, :])
    assert store.search_passages_vector(a.id, target, 1)[0][0] == ids[0]


def test_wrong_dimension_is_refused(store: Store) -> None:
    from ember.core.kernel.errors import InvalidInput

    a = presets.create_agent(store, "A")
    with pytest.raises(InvalidInput, match="384"):
        store.add_passages(a.id, [("x", None, None)], np.ones((1, 10), dtype=np.float32))


def test_migration_from_schema_1_keeps_search_working(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = db.connect(path, migrate=False)
    saved = list(MIGRATIONS)
    try:
        MIGRATIONS[:] = saved[:1]
        db.migrate_db(conn)
    finally:
        MIGRATIONS[:] = saved
    assert db.schema_version(conn) == 1
    data = clustered(1200, seed=9)
    conn.execute("INSERT INTO agents(name, created_at) VALUES ('A', 'now'), ('B', 'now')")
    conn.execute("BEGIN")
    for i, v in enumerate(data):
        agent = 1 if i < 1000 else 2
        cur = conn.execute(
            "INSERT INTO passages(agent_id, text, created_at) VALUES (?, ?, 'now')",
            (agent, f"old passage {i}"),
        )
        conn.execute(
            "INSERT INTO passage_vec(passage_id, agent_id, embedding) VALUES (?, ?, ?)",
            (cur.lastrowid, agent, v.tobytes()),
        )
    conn.execute("COMMIT")
    conn.close()

    store = Store(path)
    try:
        assert db.schema_version(store.conn) == len(MIGRATIONS)
        ids = list(range(1, 1001))
        for q in clustered(5, seed=10):
            got = [i for i, _ in store.search_passages_vector(1, q, 10)]
            assert got == exact(ids, data[:1000], q, 10)
        assert store.search_passages_vector(2, data[1100], 1)[0][0] == 1101
        store.delete_passage(1101)  # the new delete trigger works on migrated rows
        assert 1101 not in {i for i, _ in store.search_passages_vector(2, data[1100], 200)}
        assert store.conn.execute("SELECT count(*) FROM passage_code").fetchone()[0] == 1199
        assert store.search_passages_keyword(1, "passage 5", 3)  # FTS untouched
    finally:
        store.close()
