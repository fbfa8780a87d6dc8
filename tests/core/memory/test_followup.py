"""Follow-up recall: what the best recalled memory names is looked up too, within a budget."""

from __future__ import annotations

import json
from typing import Any

from ember.core.memory import autorecall, followup, search
from ember.core.storage.store import Store

# A chain of pointers, none of whose later links shares a word with the question.
CHAIN = [
    "Parcel KX-2291 was forwarded to parcel LM-4410.",
    "Parcel LM-4410 was forwarded to parcel QR-7735.",
    "Parcel QR-7735 was forwarded to parcel ZT-0952.",
    "Parcel ZT-0952 was delivered to the depot in Hollin.",
]
OTHERS = [
    "The depot opens at eight and closes at six.",
    "Parcels over twenty kilos need two people to lift.",
    "Ferries leave at noon.",
]
ASKED = "Where did parcel KX-2291 end up?"


def _agent(store: Store, emb: Any, passages: list[str], name: str = "a") -> int:
    a = store.create_agent(name, {"persona": "I am Ember.", "human": ""}).id
    store.add_passages(a, [(p, None, None) for p in passages], emb.embed(passages))
    return a


def _said(store: Store, emb: Any, agent: int, role: str, text: str) -> int:
    mid = store.add_message(agent, role, "user_message", {"message": text}, text, in_context=False)
    store.set_message_embedding(mid, agent, emb.embed([text])[0])
    return mid


def _first_shown(memories: list[autorecall.Memory], query: str) -> str:
    item = json.loads(autorecall.event(memories, query) or "")["memories"][0]
    return str(item.get("content") or item.get("message"))


def test_terms_are_identifiers_titles_and_names_the_question_lacks() -> None:
    text = (
        'Ines Arroyo lent me "The Salt Road" and said Marek Duda keeps invoice 2024-117. '
        "On Monday we met Ines in Porto. Key 9f2c-11ab has the value 77e1-0c3d."
    )
    terms = followup.terms(text, "Who keeps invoice 2024-117, and where is Porto?")
    # 2024-117 and Porto were asked; "Key" opens its sentence alone, Monday names no one,
    # "Salt Road" and the later "Ines" are parts of terms taken already.
    assert terms == ["9f2c-11ab", "77e1-0c3d", "The Salt Road", "Ines Arroyo", "Marek Duda"]


def test_a_chain_of_pointers_is_followed_to_its_end_in_the_best_memory(
    store: Store, hash_embedder: Any
) -> None:
    """The MemGPT nested-lookup case: the question names the first link only. Before
    follow-up recall the best memory showed that link alone."""
    a = _agent(store, hash_embedder, CHAIN + OTHERS)
    memories = autorecall.recall(store, hash_embedder, a, ASKED)
    assert memories[0].hit.text == CHAIN[0]
    assert [f.term for f in memories[0].followed] == ["LM-4410", "QR-7735", "ZT-0952"]
    shown = _first_shown(memories, ASKED)
    assert shown == " ".join(CHAIN)
    # A link shown inside the best memory is not shown again further down.
    texts = [m.hit.text for m in memories]
    assert not set(texts) & set(CHAIN[1:]), texts


def test_follow_ups_are_bounded(store: Store, hash_embedder: Any) -> None:
    links = [f"Parcel P{i}-{i}00 was forwarded to parcel P{i + 1}-{i + 1}00." for i in range(8)]
    a = _agent(store, hash_embedder, links + OTHERS)
    memories = autorecall.recall(store, hash_embedder, a, "Where did parcel P0-000 go?")
    followed = [f for m in memories for f in m.followed]
    assert len(followed) == followup.MAX_FOLLOWED
    assert sum(len(f.text) for f in followed) <= followup.MAX_CHARS
    # Long memories: each followed one is cut to the part about its term, within the cap.
    padding = " ".join(f"Line {w} of the manifest is blank." for w in "abcdefghijklmnop")
    long = [f"{padding} {link} {padding}" for link in links]
    b = _agent(store, hash_embedder, long, "b")
    chains = followup.follow(store, b, [("archival", _hit(store, b, long[0]), long[0])], "")
    parts = [f.text for f in chains[0]]
    assert parts and all(len(p) <= followup.EACH_CHARS for p in parts)
    assert sum(len(p) for p in parts) <= followup.MAX_CHARS


def _hit(store: Store, agent: int, text: str) -> search.Hit:
    row = store.conn.execute(
        "SELECT id FROM passages WHERE agent_id = ? AND text = ?", (agent, text)
    ).fetchone()
    return search.hits_of(store, "archival", [int(row[0])])[0]


def test_a_term_many_memories_hold_points_nowhere(store: Store, hash_embedder: Any) -> None:
    crowd = [f"Dana Kerr went to the market on day {i}." for i in range(followup.MAX_MATCHES)]
    a = _agent(store, hash_embedder, ["The parcel for Dana Kerr is in locker 12.", *crowd])
    chains = followup.follow(
        store, a, [("archival", _hit(store, a, crowd[0]), crowd[0])], "Where is my parcel?"
    )
    assert chains == [()]


def test_the_memory_stating_the_term_is_preferred(store: Store, hash_embedder: Any) -> None:
    """Of the memories holding "Hanna": the user's statement, not their question nor
    Ember's reply; and (dialogue) only the user's statements at all."""
    a = store.create_agent("a", {"persona": "", "human": ""}).id
    sister = _said(store, hash_embedder, a, "user", "My sister is called Hanna Berg.")
    _said(store, hash_embedder, a, "user", "Did I tell you what Hanna Berg studies?")
    _said(store, hash_embedder, a, "assistant", "You said Hanna Berg studies law.")
    stated = _said(
        store, hash_embedder, a, "user", "These days I hear that Hanna Berg flies planes."
    )
    shown = search.hits_of(store, "recall", [sister])[0]
    for dialogue in (False, True):
        chains = followup.follow(
            store, a, [("recall", shown, shown.text)], "Who is my sister?", user_statements=dialogue
        )
        assert [f.hit.id for f in chains[0]] == [stated]
    taken = {("recall", sister), ("recall", stated)}
    found = followup.lookup(store, a, "Hanna Berg", taken)
    assert found is not None and "studies law" in found[1].text  # Ember's reply names it first
    assert followup.lookup(store, a, "Hanna Berg", taken, user_statements=True) is None


def test_a_memory_saying_nothing_new_is_not_followed(store: Store, hash_embedder: Any) -> None:
    """A document's overlapping passages, and a thing said twice, add nothing."""
    first = "The ferry leaves at nine. The village choir is led by Yuki Sato."
    overlap = "The village choir is led by Yuki Sato. Gulls nest on the roof."
    a = _agent(store, hash_embedder, [first, overlap])
    chains = followup.follow(store, a, [("archival", _hit(store, a, first), first)], "")
    assert chains == [()]


def test_only_memories_near_the_best_score_are_followed_from(
    store: Store, hash_embedder: Any
) -> None:
    a = _agent(store, hash_embedder, CHAIN + OTHERS)
    hits = [_hit(store, a, CHAIN[0]), _hit(store, a, CHAIN[2])]
    shown: list[followup.Shown] = [("archival", h, h.text) for h in hits]
    chains = followup.follow(store, a, shown, ASKED, leading=1)
    assert chains[1] == ()
    # The weaker memory is a link of the best one's chain: it is followed to from there.
    assert CHAIN[2] in [f.hit.text for f in chains[0]]


def test_a_followed_memory_of_another_kind_says_where_it_is_from(
    store: Store, hash_embedder: Any
) -> None:
    from ember.core.agent.dialogue_prompt import memory_line

    a = store.create_agent("a", {"persona": "", "human": ""}).id
    _said(store, hash_embedder, a, "user", "I'm reading a guide by Ansel Brandt.")
    passage = "Ansel Brandt kept the Pell lighthouse for thirty years."
    source = store.add_source(a, "/tmp/guide.pdf", "guide.pdf", "0" * 64, pages=3, status="loaded")
    store.add_passages(a, [(passage, 3, 0)], hash_embedder.embed([passage]), source_id=source.id)
    query = "Whose guide am I reading?"
    memories = autorecall.recall(store, hash_embedder, a, query, user_statements=True)
    item = json.loads(autorecall.event(memories, query) or "")["memories"][0]
    assert memory_line(item) == (
        "Ember remembers what the user said: I'm reading a guide by Ansel Brandt. "
        "(guide.pdf, page 3: Ansel Brandt kept the Pell lighthouse for thirty years.)"
    )


def test_a_search_page_is_followed_the_same_way(store: Store, hash_embedder: Any) -> None:
    """The agent's own searches: their hits are followed as recall's are."""
    a = _agent(store, hash_embedder, CHAIN + OTHERS)
    page = search.search(store, hash_embedder, a, "archival", ASKED)
    assert page.hits[0].text == CHAIN[0]
    followed = followup.for_hits(store, a, "archival", page.hits, ASKED)
    assert [f.hit.text for f in followed] == CHAIN[1:]
