"""Search at scale: the work of a query follows its matches, not the size of the history.

Measured in SQLite virtual-machine steps (a progress handler), not seconds, so the tests
are exact on a loaded machine: a query matching three rows costs the same over a short and
a ten times longer history."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ember.core.memory import search, search_index
from ember.core.storage.store import Store

STEP = 100


def steps(store: Store, run: Callable[[], Any]) -> tuple[int, Any]:
    """SQLite VM steps (in units of :data:`STEP`) ``run`` took, and what it returned."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    store.conn.set_progress_handler(tick, STEP)
    try:
        out = run()
    finally:
        store.conn.set_progress_handler(None, STEP)
    return count, out


def _text(i: int, zebras: bool, filler: str) -> str:
    return "a zebra at the zoo" if zebras and i in (1, 5, 9) else f"{filler} {i}"


def grow_messages(store: Store, agent_id: int, n: int, zebras: bool = True) -> None:
    """``n`` messages of filler, three of them about zebras (with ``zebras``)."""
    with store.transaction():
        for i in range(n):
            text = _text(i, zebras, "ordinary chat number")
            store.add_message(agent_id, "user", "user_message", {"message": text}, text)


def grow_passages(store: Store, agent_id: int, n: int, zebras: bool = True) -> None:
    texts = [_text(i, zebras, "filler page") for i in range(n)]
    store.add_passages(
        agent_id, [(t, None, i) for i, t in enumerate(texts)], np.zeros((n, 384), np.float32)
    )


def test_a_keyword_ranking_reads_its_matches_not_every_message(store: Store) -> None:
    agent_id = store.create_agent("a", {"persona": "p", "human": "h"}).id
    grow_messages(store, agent_id, 300)
    small, found = steps(
        store, lambda: search_index.keyword_ranking(store, "messages", agent_id, '"zebra"')
    )
    assert len(found) == 3
    grow_messages(store, agent_id, 2700, zebras=False)
    large, found = steps(
        store, lambda: search_index.keyword_ranking(store, "messages", agent_id, '"zebra"')
    )
    assert len(found) == 3
    assert large < 2 * small + 5, (small, large)


def test_archival_keyword_search_reads_its_matches_not_every_passage(store: Store) -> None:
    agent_id = store.create_agent("a", {"persona": "p", "human": "h"}).id
    grow_passages(store, agent_id, 300)
    small, found = steps(
        store, lambda: search_index.keyword_ranking(store, "passages", agent_id, '"zebra"')
    )
    assert len(found) == 3
    small_store, by_store = steps(
        store, lambda: store.search_passages_keyword(agent_id, "zebra", 10)
    )
    assert len(by_store) == 3
    grow_passages(store, agent_id, 2700, zebras=False)
    large, found = steps(
        store, lambda: search_index.keyword_ranking(store, "passages", agent_id, '"zebra"')
    )
    large_store, by_store = steps(
        store, lambda: store.search_passages_keyword(agent_id, "zebra", 10)
    )
    assert len(found) == 3 and len(by_store) == 3
    assert large < 2 * small + 5, (small, large)
    assert large_store < 2 * small_store + 5, (small_store, large_store)


def test_message_keyword_search_of_the_store_reads_its_matches(store: Store) -> None:
    agent_id = store.create_agent("a", {"persona": "p", "human": "h"}).id
    grow_messages(store, agent_id, 300)
    small, found = steps(store, lambda: store.search_messages_keyword(agent_id, "zebra", 10))
    assert len(found) == 3
    grow_messages(store, agent_id, 2700, zebras=False)
    large, found = steps(store, lambda: store.search_messages_keyword(agent_id, "zebra", 10))
    assert len(found) == 3
    assert large < 2 * small + 5, (small, large)


def _last_id(store: Store, agent_id: int) -> int:
    return store.recent_messages(agent_id, 1)[0].id


def test_a_messages_neighbours_are_read_without_reading_the_history(store: Store) -> None:
    agent_id = store.create_agent("a", {"persona": "p", "human": "h"}).id
    grow_messages(store, agent_id, 300, zebras=False)
    last = _last_id(store, agent_id)
    small, near = steps(store, lambda: store.searchable_near(agent_id, last, after=False, limit=2))
    assert [i for i, *_ in near] == [last - 1, last - 2]
    grow_messages(store, agent_id, 2700, zebras=False)
    store.evict_messages(range(last - 1000, last + 1000))  # both queue states on each side
    last = _last_id(store, agent_id)
    large, near = steps(store, lambda: store.searchable_near(agent_id, last, after=False, limit=2))
    assert [i for i, *_ in near] == [last - 1, last - 2]
    assert large < 2 * small + 5, (small, large)


def test_neighbours_skip_other_agents_and_empty_texts_in_either_queue_state(
    store: Store,
) -> None:
    a = store.create_agent("a", {"persona": "p", "human": "h"}).id
    b = store.create_agent("b", {"persona": "p", "human": "h"}).id
    ids = [
        store.add_message(agent, "user", "user_message", {"message": t}, t)
        for agent, t in [(a, "one"), (b, "other"), (a, ""), (a, "two"), (a, "three"), (a, "four")]
    ]
    store.evict_messages([ids[0], ids[4]])
    near = store.searchable_near(a, ids[4], after=False, limit=5)
    assert [(i, text) for i, _, text, _ in near] == [(ids[3], "two"), (ids[0], "one")]
    near = store.searchable_near(a, ids[3], after=True, limit=5, inclusive=True)
    assert [text for _, _, text, _ in near] == ["two", "three", "four"]
    assert [text for _, text, _ in store.searchable_after(a, ids[0])] == ["two", "three", "four"]
    assert store.count_searchable_after(a, ids[0]) == 3


def test_indexing_a_new_message_does_not_read_the_history(store: Store, hash_embedder: Any) -> None:
    agent_id = store.create_agent("a", {"persona": "p", "human": "h"}).id

    def one_more() -> int:
        grow_messages(store, agent_id, 1, zebras=False)
        return steps(store, lambda: search_index.sync(store, hash_embedder, agent_id))[0]

    grow_messages(store, agent_id, 300, zebras=False)
    search_index.sync(store, hash_embedder, agent_id)
    small = one_more()
    grow_messages(store, agent_id, 2700, zebras=False)
    search_index.sync(store, hash_embedder, agent_id)
    large = one_more()
    assert large < 2 * small + 5, (small, large)
    pending, n = steps(store, lambda: search_index.pending(store, agent_id))
    assert n == 0 and pending < 5


def test_the_top_of_the_fusion_is_exactly_the_whole_fusions_top() -> None:
    rng = random.Random(5)
    weights = [search.WEIGHTS, search.Weights(1.0, 0.0, 1.0, 0.5, 60.0)]
    for trial in range(300):
        pool = list(range(rng.choice([20, 400, 5000])))
        ranked = {
            "message_keyword": rng.sample(pool, rng.randint(0, len(pool))),
            "window_keyword": rng.sample(pool, rng.randint(0, len(pool))),
            "message_vector": rng.sample(pool, min(len(pool), 50)),
            "window_vector": rng.sample(pool, min(len(pool), 50)),
        }
        if trial % 3 == 0:  # long rankings that agree at the top: the early stop
            head = rng.sample(pool, 10)
            for name in ranked:
                ranked[name] = head + [i for i in ranked[name] if i not in head]
        hidden = frozenset(rng.sample(pool, rng.choice([0, 1, 5])))
        w = weights[trial % 2]
        limit = rng.choice([1, 5, 10, 25])
        without = {n: [i for i in ids if i not in hidden] for n, ids in ranked.items()}
        assert search.fuse_top(ranked, w, limit, hidden) == search.fuse(without, w)[:limit]


def test_the_first_sync_of_a_long_history_is_not_bound_by_sql_variables(
    store: Store, hash_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An imported million messages are indexed by one sync: it asked for the windows it
    rewrites with one SQL variable per message ("too many SQL variables" at 1M; SQLite
    allows 250,000 here, 32,766 in other builds)."""
    agent_id = store.create_agent("a", {"persona": "p", "human": "h"}).id
    grow_messages(store, agent_id, 300, zebras=False)
    widest = 0
    execute = store.conn.execute

    def counting(sql: str, parameters: Any = ()) -> Any:
        nonlocal widest
        widest = max(widest, len(parameters))
        return execute(sql, parameters)

    monkeypatch.setattr(store.conn, "execute", counting)
    assert search_index.sync(store, hash_embedder, agent_id) == 300
    assert widest < 10
    assert search_index.pending(store, agent_id) == 0
