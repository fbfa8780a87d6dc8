"""Store round-trips on a real file: agents, blocks, messages + FTS5, passages + vec0."""

from __future__ import annotations

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.kernel.errors import AlreadyExists, InvalidInput, NotFound
from ember.core.storage.store import Store, fts_query


def unit(i: int, dim: int = 384) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def test_agent_round_trip_and_unique_names(store: Store) -> None:
    a = presets.create_agent(store, "Anna")
    assert store.get_agent("anna").id == a.id  # case-insensitive
    assert [b.label for b in store.blocks(a.id)] == ["persona", "human"]
    with pytest.raises(AlreadyExists):
        presets.create_agent(store, "ANNA")
    store.rename_agent(a.id, "Bea")
    assert store.get_agent("Bea").id == a.id
    with pytest.raises(NotFound, match="No agent named 'Anna'"):
        store.get_agent("Anna")


def test_block_limit_enforced(store: Store) -> None:
    a = presets.create_agent(store, "A")
    store.set_block(a.id, "human", "Name: Anna")
    assert store.get_block(a.id, "human").value == "Name: Anna"
    with pytest.raises(InvalidInput, match="limit is 2000"):
        store.set_block(a.id, "human", "x" * 2001)
    with pytest.raises(NotFound, match="blocks: persona, human"):
        store.get_block(a.id, "nope")


def test_messages_fts_and_vectors(store: Store) -> None:
    a = presets.create_agent(store, "A")
    m1 = store.add_message(
        a.id, "user", "user_message", {"message": "I love hiking"}, "I love hiking"
    )
    m2 = store.add_message(
        a.id, "user", "user_message", {"message": "Cats are great"}, "Cats are great"
    )
    store.set_message_embedding(m1, a.id, unit(1))
    store.set_message_embedding(m2, a.id, unit(2))
    assert [i for i, _ in store.search_messages_keyword(a.id, "hiking!", 5)] == [m1]
    assert store.search_messages_vector(a.id, unit(2), 1)[0][0] == m2
    store.evict_messages([m1])
    assert [m.id for m in store.context_messages(a.id)] == [m2]
    assert store.count_messages(a.id) == 2  # eviction never deletes


def test_passages_scoped_to_agent_and_deleted_with_agent(store: Store) -> None:
    a = presets.create_agent(store, "A")
    b = presets.create_agent(store, "B")
    [pa] = store.add_passages(a.id, [("alpha passage", None, None)], [unit(3)])
    [pb] = store.add_passages(b.id, [("beta passage", None, None)], [unit(3)])
    assert [i for i, _ in store.search_passages_vector(a.id, unit(3), 5)] == [pa]
    assert [i for i, _ in store.search_passages_keyword(b.id, "passage", 5)] == [pb]
    store.delete_agent(a.id)
    assert store.conn.execute("SELECT count(*) FROM passage_vec").fetchone()[0] == 1
    assert store.conn.execute("SELECT count(*) FROM passages_fts").fetchone()[0] == 1


def test_transaction_rolls_back_everything(store: Store) -> None:
    a = presets.create_agent(store, "A")
    with pytest.raises(RuntimeError), store.transaction():
        store.add_message(a.id, "user", "user_message", {}, "x")
        with store.transaction():
            store.add_message(a.id, "user", "user_message", {}, "y")
        raise RuntimeError("boom")
    assert store.count_messages(a.id) == 0


def test_fts_query_is_safe() -> None:
    assert fts_query('what about "NEAR( AND -x') == '"what" OR "about" OR "near" OR "and" OR "x"'
    assert fts_query("?!") is None
