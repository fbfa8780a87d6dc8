"""Recall vector search (recall_vectors.py): exact below the candidate count, rewrites
followed in place, late embeddings and deletes seen, per agent."""

from __future__ import annotations

import numpy as np
import pytest

from ember.core.storage import recall_vectors, vector_index
from ember.core.storage.store import Store


def _agent(store: Store, name: str = "a") -> int:
    return store.create_agent(name, {"persona": "p", "human": "h"}).id


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _messages(store: Store, agent_id: int, n: int) -> list[int]:
    with store.transaction():
        return [store.add_message(agent_id, "user", "user_message", {}, f"m{i}") for i in range(n)]


def _exact(ids: list[int], vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    dist = 1.0 - vectors @ query
    return [ids[i] for i in np.lexsort((-np.asarray(ids), dist))[:k]]


@pytest.fixture(params=["floats kept", "floats read"])
def floats_kept(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each test twice: floats kept in memory (small agents), and read from the file."""
    if request.param == "floats read":
        monkeypatch.setattr(recall_vectors, "IN_MEMORY", 0)
    return request.param == "floats kept"


def test_small_agents_are_searched_exactly_ties_newest_first(
    store: Store, floats_kept: bool
) -> None:
    rng = np.random.default_rng(1)
    a = _agent(store)
    ids = _messages(store, a, 40)
    vectors = _unit(rng, 40)
    vectors[7] = vectors[3]  # the same text twice: a tie, the newer first
    store.set_message_embeddings([(i, a, v) for i, v in zip(ids, vectors, strict=True)])
    query = vectors[3] + 0.01 * _unit(rng, 1)[0]
    found = store.search_messages_vector(a, query, 10)
    assert [i for i, _ in found] == _exact(ids, vectors, query / np.linalg.norm(query), 10)
    assert found[0][0] == ids[7] and found[1][0] == ids[3]
    assert found[0][1] == found[1][1] and abs(found[0][1]) < 0.01


def test_rewrites_late_embeddings_and_deletes_are_seen_by_the_next_search(
    store: Store, floats_kept: bool
) -> None:
    rng = np.random.default_rng(2)
    a, b = _agent(store), _agent(store, "b")
    ids = _messages(store, a, 30)
    theirs = _messages(store, b, 5)
    vectors = _unit(rng, 36)
    store.set_message_embeddings([(i, a, vectors[n]) for n, i in enumerate(ids) if n != 10])
    store.set_message_embeddings([(i, b, vectors[30 + n]) for n, i in enumerate(theirs)])
    assert store.search_messages_vector(a, vectors[5], 1)[0][0] == ids[5]  # loaded
    store.set_message_embedding(ids[5], a, vectors[35])  # rewritten in place
    assert store.search_messages_vector(a, vectors[35], 1)[0][0] == ids[5]
    assert store.search_messages_vector(a, vectors[5], 1)[0][0] != ids[5]
    new = _messages(store, a, 1)[0]  # a new message: its floats join the kept ones
    store.set_message_embedding(new, a, vectors[34])
    assert store.search_messages_vector(a, vectors[34], 1)[0][0] == new
    store.set_message_embedding(ids[10], a, vectors[10])  # embedded late (a backfill)
    assert store.search_messages_vector(a, vectors[10], 1)[0][0] == ids[10]
    assert {i for i, _ in store.search_messages_vector(a, vectors[31], 50)} == {*ids, new}
    store.delete_messages([ids[10]])  # a turn taken back
    assert ids[10] not in {i for i, _ in store.search_messages_vector(a, vectors[10], 50)}
    assert [i for i, _ in store.search_messages_vector(b, vectors[31], 1)] == [theirs[1]]


def test_large_agents_find_what_exact_search_finds(store: Store, floats_kept: bool) -> None:
    rng = np.random.default_rng(3)
    a = _agent(store)
    n = 3000  # past the candidate count: the Hamming prefilter decides what is re-ranked
    assert n > vector_index.candidates(50)
    ids = _messages(store, a, n)
    centres = _unit(rng, 30)
    vectors = centres[rng.integers(0, 30, n)] + 0.7 * _unit(rng, n)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store.set_message_embeddings([(i, a, v) for i, v in zip(ids, vectors, strict=True)])
    recall = []
    for q in range(10):
        query = centres[q] + 0.7 * _unit(rng, 1)[0]
        query /= np.linalg.norm(query)
        found = [i for i, _ in store.search_messages_vector(a, query, 50)]
        recall.append(len(set(found) & set(_exact(ids, vectors, query, 50))) / 50)
    assert np.mean(recall) == 1.0 if floats_kept else np.mean(recall) >= 0.95


def test_a_new_connection_sees_what_another_wrote(store: Store, floats_kept: bool) -> None:
    rng = np.random.default_rng(4)
    a = _agent(store)
    ids = _messages(store, a, 3)
    vectors = _unit(rng, 4)
    store.set_message_embeddings([(i, a, v) for i, v in zip(ids, vectors[:3], strict=True)])
    assert store.search_messages_vector(a, vectors[0], 1)[0][0] == ids[0]
    with Store(store.path) as other:
        other.set_message_embedding(ids[0], a, vectors[3])
        new = _messages(other, a, 1)[0]
        other.set_message_embedding(new, a, vectors[0])
    assert store.search_messages_vector(a, vectors[0], 1)[0][0] == new
    assert store.search_messages_vector(a, vectors[3], 1)[0][0] == ids[0]
