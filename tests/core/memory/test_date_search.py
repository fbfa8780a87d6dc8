"""Date-bounded recall search: a question that names days ranks what was said on them
first (date_search.py, search.py), in the agent's search and in automatic recall."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ember.core.agent import dialogue_prompt
from ember.core.kernel import clock
from ember.core.memory import autorecall, date_search, search
from ember.core.storage.store import Store

NOW = datetime(2025, 5, 6, 9, 0, tzinfo=timezone.utc)  # a Tuesday
# (day, user's words): the same news on four days, and other chat.
HISTORY = [
    ("2025-04-25", "For dinner I made pad thai, it turned out well."),  # a Friday
    ("2025-04-25", "The weather was rainy today."),
    ("2025-05-02", "For dinner I made paella, it turned out well."),  # last Friday
    ("2025-05-02", "I went for a long walk this morning."),
    ("2025-05-03", "For dinner I made lasagne, it turned out well."),
    ("2025-05-05", "For dinner I made shakshuka, it turned out well."),
    ("2025-05-05", "My sister Hanna is coming to stay."),
]


def _load(store: Store, emb: Any) -> int:
    agent_id = store.create_agent("a", {"persona": "p", "human": "h"}).id
    for minute, (day, text) in enumerate(HISTORY):
        for role, words in (("user", text), ("assistant", "That sounds lovely!")):
            created = f"{day}T18:{minute:02d}:{0 if role == 'user' else 30:02d}+00:00"
            mid = store.add_message(
                agent_id, role, "user_message", {"message": words}, words, created_at=created
            )
            store.set_message_embedding(mid, agent_id, emb.embed([words])[0])
    return agent_id


def test_the_day_a_question_names_ranks_its_message_first(store: Store, hash_embedder: Any) -> None:
    a = _load(store, hash_embedder)
    with clock.fixed_clock(NOW):
        for question, answer in [
            ("What did I make for dinner last Friday?", "paella"),
            ("What did I make for dinner on 25 April?", "pad thai"),
            ("What did I make for dinner yesterday?", "shakshuka"),
            ("What did I make for dinner three days ago?", "lasagne"),
        ]:
            page = search.search(store, hash_embedder, a, "recall", question)
            assert answer in page.hits[0].text, (question, [h.text for h in page.hits])
            [memory, *_] = autorecall.recall(store, hash_embedder, a, question)
            assert answer in memory.hit.text, question


def test_a_strong_match_of_another_day_is_still_found(store: Store, hash_embedder: Any) -> None:
    a = _load(store, hash_embedder)
    with clock.fixed_clock(NOW):
        page = search.search(
            store, hash_embedder, a, "recall", "Is my sister Hanna coming on Friday?"
        )
    texts = [h.text for h in page.hits]
    # Friday's messages share no word with the question: the one that does stays first.
    assert "Hanna" in texts[0], texts


def test_the_ranking_holds_every_message_of_the_days_and_only_them(
    store: Store, hash_embedder: Any
) -> None:
    a = _load(store, hash_embedder)
    with clock.fixed_clock(NOW):
        span = date_search.span_of("What did I say last weekend?")
        ranked = search.rankings(store, hash_embedder, a, "recall", "What did I say last weekend?")
    assert span is not None and span.days() == ("2025-05-03", "2025-05-04")
    by_id = {m.id: m for m in store.get_messages(ranked["date"])}
    assert len(ranked["date"]) == 2 == len(by_id)  # Saturday 3 May: the user and Ember
    assert all(m.created_at.startswith("2025-05-03") for m in by_id.values())
    # Without a date there is no such ranking, nor for a statement that names one (the
    # user's message is automatic recall's query), and archival search never has one.
    assert "date" not in search.rankings(store, hash_embedder, a, "recall", "dinner")
    with clock.fixed_clock(NOW):
        said = "I went for a walk last weekend."
        assert "date" not in search.rankings(store, hash_embedder, a, "recall", said)
    assert "date" not in search.rankings(store, hash_embedder, a, "archival", "yesterday")


def test_a_memory_recalled_for_a_question_about_time_shows_its_day(
    store: Store, hash_embedder: Any
) -> None:
    a = _load(store, hash_embedder)
    with clock.fixed_clock(NOW):
        for question, shown in [
            ("When did Hanna say she is coming?", "(Monday, 5 May 2025) My sister Hanna"),
            ("What did I make for dinner last Friday?", "(Friday, 2 May 2025) For dinner"),
        ]:
            memories = autorecall.recall(store, hash_embedder, a, question)
            note = json.loads(autorecall.event(memories, question) or "{}")
            # The bundled model's dialogue format shows a memory without its time.
            assert any(shown in dialogue_prompt.memory_line(m) for m in note["memories"])
        # A question not about time shows the words as they were said.
        memories = autorecall.recall(store, hash_embedder, a, "Who is Hanna?")
        note = json.loads(autorecall.event(memories, "Who is Hanna?") or "{}")
    assert note["memories"][0]["message"] == "My sister Hanna is coming to stay."
