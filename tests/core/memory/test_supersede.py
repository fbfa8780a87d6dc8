"""Newer facts supersede older ones: recall ranks what the user said last about a thing
first, shows the older as what was true before (or, in the dialogue format, leaves it out),
and keeps every message verbatim."""

from __future__ import annotations

import json
from typing import Any

from ember.core.memory import autorecall, search, search_index, supersede
from ember.core.storage.messages import Role
from ember.core.storage.store import Store
from tests.core.memory.test_autorecall import _said

# A history in which a fact changes twice, among chat and someone else's move.
HISTORY = [
    ("2025-01-06T10:00", "user", "I live in Dundee, close to the old market."),
    ("2025-01-06T10:01", "assistant", "That sounds lovely."),
    ("2025-01-07T09:00", "user", "My brother moved from Oslo to Bergen."),
    ("2025-01-07T09:01", "assistant", "Noted."),
    ("2025-01-20T18:00", "user", "I went for a long walk this morning."),
    ("2025-01-20T18:01", "assistant", "Nice!"),
    ("2025-02-03T12:00", "user", "Big news: we finally left Dundee, our new flat is in Tallinn."),
    ("2025-02-03T12:01", "assistant", "Congratulations!"),
    ("2025-02-10T08:00", "user", "I'm allergic to cats, so I avoid my aunt's house."),
    ("2025-02-10T08:01", "assistant", "Good to know."),
    ("2025-03-01T08:00", "user", "I'm not allergic to cats after all, it's peanuts."),
    ("2025-03-01T08:01", "assistant", "Oh, that changes things."),
]


def _history(store: Store, emb: Any) -> int:
    agent = store.create_agent("a", {"persona": "I am Ember.", "human": "Name: Ana"}).id
    for at, role, text in HISTORY:
        _said(store, emb, agent, role, text, at)
    return agent


def _hit(text: str, at: str, role: Role = Role.USER) -> supersede.Said:
    return supersede.Said(0, text, f"2025-{at}T10:00:00+00:00", role)


def test_a_later_statement_about_the_same_thing_supersedes_an_earlier_one() -> None:
    old = _hit("I live in Dundee, close to the old market.", "01-01")
    moved = _hit("Big news: I moved from Dundee to Tallinn!", "02-01")
    fav, fav2 = (
        _hit("My favourite dish is lasagne.", "01-01"),
        _hit("My favourite dish is ramen.", "02-01"),
    )
    assert supersede.supersedes(moved, old) and not supersede.supersedes(old, moved)
    assert supersede.supersedes(fav2, fav)  # the same frame, another value
    # Not: someone else's change, something that happened, a restatement, Ember's words.
    brother = _hit("My brother moved from Dundee to Oslo.", "03-01")
    walk = _hit("I went for a walk in Dundee.", "01-01")
    assert not supersede.supersedes(brother, old)
    assert not supersede.supersedes(moved, walk)
    assert not supersede.supersedes(
        _hit("I live in Dundee, close to the old market.", "03-01"), old
    )
    assert not supersede.is_statement(_hit("You moved to Tallinn!", "03-01", Role.ASSISTANT))


def test_questions_about_the_past_and_whom_text_is_about() -> None:
    assert supersede.asks_about_past("Which city did I live in before?")
    assert supersede.asks_about_past("What drink did I used to have?")
    assert not supersede.asks_about_past("Which city do I live in now?")
    assert supersede.subject("My brother moved to Oslo.") == "brother"
    assert supersede.subject("The doctor says my allergy is to kiwi.") == ""
    assert supersede.subject("Her name is Hanna.") is None


def test_search_ranks_the_current_statement_first(store: Store, hash_embedder: Any) -> None:
    agent = _history(store, hash_embedder)
    question = "Which city do I live in now?"
    page = search.search(store, hash_embedder, agent, "recall", question, page_size=len(HISTORY))
    assert page.hits[0].text.startswith("Big news: we finally left Dundee")
    assert page.hits[1].text.startswith("I live in Dundee")
    brother = [h.text for h in page.hits].index("My brother moved from Oslo to Bergen.")
    assert brother > 1  # a question about the user: what others did comes after
    allergy = search.search(store, hash_embedder, agent, "recall", "What am I allergic to?")
    assert allergy.hits[0].text == "I'm not allergic to cats after all, it's peanuts."
    # Asked about the past, the statement from before the change comes first.
    past = search.search(store, hash_embedder, agent, "recall", "Where did I live before?")
    assert past.hits[0].text.startswith("I live in Dundee")
    # Nothing was rewritten or deleted.
    assert [m.text for m in store.get_messages([h.id for h in page.hits])] == [
        h.text for h in page.hits
    ]
    assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(HISTORY)


def test_recall_shows_the_older_as_no_longer_true_or_leaves_it_out(
    store: Store, hash_embedder: Any
) -> None:
    agent = _history(store, hash_embedder)
    question = "Which city do I live in now?"
    memories = autorecall.recall(store, hash_embedder, agent, question)
    texts = [m.hit.text for m in memories]
    new = texts.index("Big news: we finally left Dundee, our new flat is in Tallinn.")
    old = texts.index("I live in Dundee, close to the old market.")
    assert new < old
    items = json.loads(autorecall.event(memories, question) or "")["memories"]
    assert "no_longer_true_since" not in items[new]
    assert items[old]["no_longer_true_since"].startswith("2025-02-03")
    # The dialogue format's few lines show only what is true now; asked about the past,
    # both.
    shown = autorecall.recall(store, hash_embedder, agent, question, user_statements=True)
    assert shown[0].hit.text.startswith("Big news")
    assert not [m for m in shown if m.hit.text.startswith("I live in Dundee")]
    past = autorecall.recall(
        store, hash_embedder, agent, "Where did I live before?", user_statements=True
    )
    assert past[0].hit.text == "I live in Dundee, close to the old market."
    # The newer statement comes next, as a memory of its own, never inside the first
    # (followup.py): shown "I live in Dundee. … we finally left Dundee, our new flat is in
    # Tallinn." as one line, the bundled model answered "before" with Tallinn.
    moved = "Big news: we finally left Dundee, our new flat is in Tallinn."
    assert [m.hit.text for m in past[1:2]] == [moved]
    assert not [f for m in past for f in m.followed if f.hit.text == moved]


def test_a_statement_a_newer_one_replaced_is_not_followed_to(
    store: Store, hash_embedder: Any
) -> None:
    """Follow-up recall (followup.py) does not bring back what supersede.py left out."""
    agent = _history(store, hash_embedder)
    shown = autorecall.recall(
        store, hash_embedder, agent, "Which city do I live in now?", user_statements=True
    )
    texts = [m.hit.text for m in shown] + [f.hit.text for m in shown for f in m.followed]
    assert texts[0].startswith("Big news")
    assert not [t for t in texts if t.startswith("I live in Dundee")]


def test_time_words_of_a_question_are_not_searched_for() -> None:
    assert search_index.keyword_query("Which city do I live in now?") == '"city" OR "live"'
    assert search_index.keyword_query("What was my job before?") == '"job"'


def test_a_question_about_the_user_or_a_person_of_theirs_ranks_what_is_about_them_first(
    store: Store, hash_embedder: Any
) -> None:
    """Asked "What's my job?", the user's words about no one in the first person ("Marek
    had wanted that job for years.") come after theirs about themselves; asked about their
    partner, what they said of their partner comes first (its next words name them)."""
    agent = store.create_agent("a", {"persona": "I am Ember.", "human": ""}).id
    said = [
        ("2025-01-06T10:00", "I'm a midwife, at a small place in town."),
        ("2025-01-07T09:00", "My partner just got a new job at the hospital."),
        ("2025-01-07T09:01", "Marek had wanted that job for years."),
        ("2025-01-08T09:00", "We named him Biscuit, the name suits him."),
    ]
    for at, text in said:
        _said(store, hash_embedder, agent, "user", text, at)

    def order(question: str) -> list[str]:
        return [h.text for h in search.search(store, hash_embedder, agent, "recall", question).hits]

    job = order("What's my job? The job, that job.")
    assert job.index(said[0][1]) < job.index(said[2][1])
    partner = order("What's my partner's name? The name.")
    assert partner[0] == said[1][1]
    # Whom each is about, as the ranking reads it.
    assert [supersede.subject(t) for _, t in said] == ["", "partner", None, ""]
