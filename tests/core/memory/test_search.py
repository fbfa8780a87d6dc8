"""Hybrid search: question words, the window index, weighted fusion, true totals, paging,
and the migration that adds the window index to an existing database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember.core.kernel.errors import PageOutOfRange
from ember.core.memory import search, search_index
from ember.core.storage import db, migrations
from ember.core.storage.store import Store, vector_blob

T0 = "2025-03-01T10:00:00+00:00"


def at(minutes: int) -> str:
    """A time ``minutes`` after T0 (same session for small gaps)."""
    hours, mins = divmod(minutes, 60)
    days, hours = divmod(10 + hours, 24)
    return f"2025-03-{1 + days:02d}T{hours:02d}:{mins:02d}:00+00:00"


def add(store: Store, emb: Any, agent_id: int, texts: list[str], start: int = 0) -> list[int]:
    """User/assistant messages one minute apart, embedded as the engine embeds them."""
    ids = []
    for i, text in enumerate(texts):
        role = "user" if i % 2 == 0 else "assistant"
        mid = store.add_message(
            agent_id, role, "user_message", {"message": text}, text, created_at=at(start + i)
        )
        store.set_message_embedding(mid, agent_id, emb.embed([text])[0])
        ids.append(mid)
    return ids


def agent(store: Store, name: str = "a") -> int:
    return store.create_agent(name, {"persona": "p", "human": "h"}).id


def test_keyword_query_drops_question_words_but_never_everything() -> None:
    assert search_index.keyword_query("What's my sister's name?") == '"sister" OR "name"'
    assert search_index.keyword_query("What did I do?") == '"what" OR "did" OR "i" OR "do"'
    assert search_index.keyword_query("?!") is None
    # User text is data: FTS5 syntax is quoted away.
    assert search_index.keyword_query('tea" OR NEAR(x') == '"tea" OR "near"'


def test_windows_take_neighbours_within_a_session_only() -> None:
    rows = [
        (1, "a", at(0)),
        (2, "b", at(1)),
        (3, "c", at(2)),
        (4, "d", at(3)),
        (5, "e", at(600)),  # ten hours later: a new session
        (6, "f", at(601)),
    ]
    got = search_index.windows(rows, radius=2)
    assert got[1] == "a\nb\nc"
    assert got[3] == "a\nb\nc\nd"
    assert got[4] == "b\nc\nd"
    assert got[5] == "e\nf"
    assert search_index.windows(rows, radius=1)[2] == "a\nb\nc"


def test_sync_indexes_new_messages_and_rewrites_the_windows_they_join(
    store: Store, hash_embedder: Any
) -> None:
    a = agent(store)
    ids = add(store, hash_embedder, a, ["one", "two", "three"])
    assert search_index.pending(store, a) == 3
    progress: list[tuple[int, int]] = []
    assert search_index.sync(store, hash_embedder, a, lambda d, t: progress.append((d, t))) == 3
    assert progress == [(3, 3)]
    assert search_index.pending(store, a) == 0
    assert search_index.sync(store, hash_embedder, a) == 0
    # A fourth message joins the windows of the two before it (radius 2); the first one's
    # window (one, two, three) does not change.
    [four] = add(store, hash_embedder, a, ["four"], start=3)
    assert search_index.sync(store, hash_embedder, a) == 3
    text = dict(store.conn.execute("SELECT message_id, text FROM message_window").fetchall())
    assert text[ids[0]] == "one\ntwo\nthree"
    assert text[ids[2]] == "one\ntwo\nthree\nfour"
    assert text[four] == "two\nthree\nfour"
    n_vec = store.conn.execute("SELECT count(*) FROM message_window_embedding").fetchone()[0]
    assert n_vec == 4


class FlatEmbedder:
    """Every text gets the same vector: vector rankings carry no signal, so the test of
    the keyword side is deterministic."""

    name, dim, max_tokens = "flat", 384, 256

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        return np.full((len(texts), self.dim), 1 / np.sqrt(self.dim), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_an_answer_next_to_the_question_words_is_found_through_its_window(
    store: Store,
) -> None:
    hash_embedder = FlatEmbedder()
    a = agent(store)
    filler = [f"Filler message number {i} about the weather and lunch." for i in range(30)]
    lead, answer = "Did I ever tell you about my sister?", "It's Hanna, she visits next week."
    texts = [*filler[:14], lead, "Oh? Tell me more!", answer, *filler[14:]]
    ids = add(store, hash_embedder, a, texts)
    answer_id = ids[texts.index(answer)]

    def rank_and_score(weights: search.Weights) -> tuple[int, float]:
        page = search.search(store, hash_embedder, a, "recall", "sister", 0, 40, weights)
        [hit] = [h for h in page.hits if h.id == answer_id]
        return page.hits.index(hit) + 1, hit.score

    # The embedder is flat, so only the keyword side is compared.
    with_windows = search.Weights(1.0, search.WEIGHTS.window_keyword, 0.0, 0.0, search.WEIGHTS.k)
    message_only = search.Weights(1.0, 0.0, 0.0, 0.0, search.WEIGHTS.k)
    # Its window and those of the lead's other neighbours match: the answer is among them.
    rank, score = rank_and_score(with_windows)
    assert rank <= 2 * search_index.RADIUS + 1 and score > 0
    # Message-level keywords alone never rank it (it only trails as an unscored result).
    assert rank_and_score(message_only)[1] == 0.0


def test_question_words_do_not_drown_the_content_word(store: Store, hash_embedder: Any) -> None:
    a = agent(store)
    texts = [f"What did you do on day {i}?" for i in range(20)] + ["I love jasmine tea."]
    ids = add(store, hash_embedder, a, texts)
    page = search.search(store, hash_embedder, a, "recall", "What did I say about tea?")
    assert page.hits[0].id == ids[-1]


def test_totals_count_every_match_and_every_page_is_reachable(
    store: Store, hash_embedder: Any
) -> None:
    a = agent(store)
    add(store, hash_embedder, a, [f"Cup {i} of tea today." for i in range(130)])
    page = search.search(store, hash_embedder, a, "recall", "tea")
    assert page.total == 130  # not the fused candidate count
    assert page.header() == "Showing 5 of 130 results (page 0/25)"
    last = search.search(store, hash_embedder, a, "recall", "tea", page=25)
    assert len(last.hits) == 5
    seen = {
        h.id
        for p in range(26)
        for h in search.search(store, hash_embedder, a, "recall", "tea", page=p).hits
    }
    assert len(seen) == 130
    with pytest.raises(PageOutOfRange):  # an InvalidInput: a Failed result, one CLI line
        search.search(store, hash_embedder, a, "recall", "tea", page=26)


def test_hits_keep_their_time_and_role(store: Store, hash_embedder: Any) -> None:
    a = agent(store)
    add(store, hash_embedder, a, ["I moved to Porto.", "Lovely city!"])
    hit = search.search(store, hash_embedder, a, "recall", "Porto").hits[0]
    assert (hit.text, hit.time, hit.role) == ("I moved to Porto.", at(0), "user")


def test_archival_search_fuses_keyword_and_vector_with_true_totals(
    store: Store, hash_embedder: Any
) -> None:
    a = agent(store)
    texts = [f"Note {i}: the ferry timetable changes in spring." for i in range(60)]
    texts.append("The lighthouse keeper's cat is named Biscuit.")
    store.add_passages(a, [(t, None, None) for t in texts], hash_embedder.embed(texts))
    page = search.search(store, hash_embedder, a, "archival", "What is the keeper's cat called?")
    assert page.hits[0].text == texts[-1]
    assert search.search(store, hash_embedder, a, "archival", "ferry").total == 60


def test_search_is_per_agent_and_deleting_an_agent_drops_its_index(
    store: Store, hash_embedder: Any
) -> None:
    a, b = agent(store, "a"), agent(store, "b")
    add(store, hash_embedder, a, ["secret plans for the garden"])
    add(store, hash_embedder, b, ["nothing here"], start=5)
    assert search.search(store, hash_embedder, b, "recall", "garden").hits[0].text == "nothing here"
    store.delete_agent(a)
    left = store.conn.execute(
        "SELECT (SELECT count(*) FROM message_window),"
        " (SELECT count(*) FROM message_window_embedding),"
        " (SELECT count(*) FROM message_window_state)"
    ).fetchone()
    assert tuple(left) == (1, 1, 1)  # only b's
    hits = store.conn.execute(
        "SELECT count(*) FROM message_window_fts WHERE message_window_fts MATCH 'garden'"
    ).fetchone()[0]
    assert hits == 0


def test_migration_builds_the_window_index_of_an_existing_database(
    tmp_path: Path, hash_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    names = [name for name, _ in migrations.MIGRATIONS]
    before = migrations.MIGRATIONS[: names.index("recall search windows")]  # a file from then
    monkeypatch.setattr(db, "MIGRATIONS", before)
    with Store(path) as old:
        a = agent(old)
        for i in range(100):  # as Ember wrote them then: vectors in vec0
            text = f"message {i} about kites"
            mid = old.add_message(
                a, "user", "user_message", {"message": text}, text, created_at=at(i)
            )
            old.conn.execute(
                "INSERT INTO message_vec(message_id, agent_id, embedding) VALUES (?, ?, ?)",
                (mid, a, vector_blob(hash_embedder.embed([text])[0])),
            )
        assert db.schema_version(old.conn) == len(before)
    monkeypatch.setattr(db, "MIGRATIONS", migrations.MIGRATIONS)
    with Store(path) as store:
        assert db.schema_version(store.conn) == len(migrations.MIGRATIONS)
        assert search_index.pending(store, a) == 100
        progress: list[tuple[int, int]] = []
        search_index.sync(store, hash_embedder, a, lambda d, t: progress.append((d, t)))
        assert progress == [(64, 100), (100, 100)]
        assert search.search(store, hash_embedder, a, "recall", "kites").total == 100
        near = store.search_messages_vector(a, hash_embedder.embed(["message 7 about kites"])[0], 1)
        assert [store.get_messages([i])[0].text for i, _ in near] == ["message 7 about kites"]


def test_the_service_reports_and_builds_the_index_with_progress(
    store: Store, hash_embedder: Any
) -> None:
    from ember.core.service import Ember

    ember = Ember(store, embedder=hash_embedder)
    a = agent(store)
    add(store, hash_embedder, a, [f"note {i}" for i in range(70)])
    assert ember.pending_search_index(a) == 70
    progress: list[tuple[int, int]] = []
    assert ember.update_search_index(a, lambda d, t: progress.append((d, t))) == 70
    assert progress == [(64, 70), (70, 70)]
    assert ember.pending_search_index(a) == 0
    assert ember.search(a, "recall", "note", 0, 5).total == 70
