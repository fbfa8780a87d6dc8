"""Automatic recall: the best hits of both tiers that are not already in view."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ember.core.memory import autorecall, search
from ember.core.storage.store import Store


def _said(store: Store, emb: Any, agent: int, role: str, text: str, at: str) -> int:
    """A past message (out of the context, embedded) said at ``at`` (UTC, to the minute)."""
    mid = store.add_message(
        agent,
        role,
        "user_message",
        {"message": text},
        text,
        created_at=f"{at}:00+00:00",
        in_context=False,
    )
    store.set_message_embedding(mid, agent, emb.embed([text])[0])
    return mid


def _setup(store: Store, emb: Any) -> tuple[int, list[int]]:
    a = store.create_agent("a", {"persona": "I am Ember.", "human": "Name: Dana"}).id
    texts = [
        "Did I ever tell you about my sister?",
        "Oh? Tell me more!",
        "Her name is Hanna, she visits next week.",
        "The weather was foggy today.",
        "I like foggy mornings.",
    ]
    ids = [
        _said(store, emb, a, "user" if i % 2 == 0 else "assistant", text, f"2025-03-01T10:0{i}")
        for i, text in enumerate(texts)
    ]
    docs = ["The lighthouse keeper's sister Hanna keeps bees.", "Ferries leave at noon."]
    source = store.add_source(a, "/tmp/guide.pdf", "guide.pdf", "0" * 64, pages=2, status="loaded")
    store.add_passages(a, [(docs[0], 2, 0), (docs[1], 1, 1)], emb.embed(docs), source_id=source.id)
    return a, ids


def test_recall_merges_both_tiers_with_time_source_and_page(
    store: Store, hash_embedder: Any
) -> None:
    a, _ = _setup(store, hash_embedder)
    memories = autorecall.recall(store, hash_embedder, a, "What's my sister's name, Hanna?")
    tiers = {m.tier for m in memories}
    assert tiers == {"recall", "archival"} and len(memories) == autorecall.MAX_HITS
    scores = [m.score for m in memories]
    assert scores == sorted(scores, reverse=True)
    event = json.loads(autorecall.event(memories) or "")
    assert autorecall.MARKER in event["message"]
    doc = next(item for item in event["memories"] if "content" in item)
    assert (doc["source"], doc["page"]) == ("guide.pdf", 2)
    said = next(item for item in event["memories"] if item.get("message", "").startswith("Her"))
    assert said["said_before"] == "Oh? Tell me more!" and said["time"].startswith("2025-03-01")


def test_memories_already_in_view_are_not_repeated(store: Store, hash_embedder: Any) -> None:
    a, ids = _setup(store, hash_embedder)
    query = "Hanna sister name"
    shown = autorecall.recall(store, hash_embedder, a, query, limit=10)
    assert ids[2] in {m.hit.id for m in shown if m.tier == "recall"}
    hidden = autorecall.recall(
        store,
        hash_embedder,
        a,
        query,
        in_view_ids=[ids[2]],
        limit=10,
        in_view_text="The lighthouse keeper's sister Hanna keeps bees.",
    )
    assert ids[2] not in {m.hit.id for m in hidden if m.tier == "recall"}
    assert not [m for m in hidden if m.tier == "archival" and "bees" in m.hit.text]


def test_the_question_in_view_moves_no_memory(store: Store, hash_embedder: Any) -> None:
    """The user's message is stored (and indexed) before recall runs; being in view, it
    must change nothing: not take a place among the hits looked at, nor push the scores
    of the memories down against the other tier's."""
    a, _ = _setup(store, hash_embedder)
    query = "What's my sister's name, Hanna?"
    before = autorecall.recall(store, hash_embedder, a, query, limit=10)
    asked = store.add_message(a, "user", "user_message", {"message": query}, query)
    store.set_message_embedding(asked, a, hash_embedder.embed([query])[0])
    after = autorecall.recall(store, hash_embedder, a, query, in_view_ids=[asked], limit=10)
    assert [(m.hit.id, m.score) for m in after] == [(m.hit.id, m.score) for m in before]


def test_a_message_in_view_hides_no_passage_with_the_same_id(
    store: Store, hash_embedder: Any
) -> None:
    """Messages and passages are numbered apart: the question's message id (in view) is
    no passage's (merged, the question hid passage 1 of a document and its answer)."""
    a, ids = _setup(store, hash_embedder)
    query = "When do the ferries leave?"
    passage = next(
        m
        for m in autorecall.recall(store, hash_embedder, a, query, limit=10)
        if m.tier == "archival" and "Ferries" in m.hit.text
    )
    assert passage.hit.id in ids  # the same number as one of the messages
    shown = autorecall.recall(store, hash_embedder, a, query, in_view_ids=[passage.hit.id])
    assert "Ferries leave at noon." in [m.hit.text for m in shown]


def test_a_fact_said_over_two_messages_is_shown_whole(store: Store, hash_embedder: Any) -> None:
    """ "We adopted a dog last month!" … "We named him Sprocket.": the question's words find
    the first message, the answer is in the user's next one; the memory shows both (not
    Ember's reply between, and not words said long after)."""
    from ember.core.agent.dialogue_prompt import memory_line

    a = store.create_agent("a", {"persona": "", "human": ""}).id
    said = [
        ("user", "We adopted a dog last month!", "10:00"),
        ("assistant", "Oh? Tell me more!", "10:01"),
        ("user", "We named him Sprocket.", "10:02"),
        ("user", "My dog sleeps a lot.", "10:03"),
        ("user", "Rain again today.", "14:00"),
    ]
    for role, text, at in said:
        _said(store, hash_embedder, a, role, text, f"2025-01-09T{at}")
    memories = autorecall.recall(store, hash_embedder, a, "What is my dog called?", limit=9)
    went_on = {m.hit.text: m.after for m in memories}
    assert went_on["We adopted a dog last month!"] == "We named him Sprocket."
    assert went_on["Oh? Tell me more!"] is None  # Ember's words: the user's are what count
    assert went_on["My dog sleeps a lot."] is None  # four hours later: another exchange
    lines = [memory_line(m) for m in json.loads(autorecall.event(memories) or "")["memories"]]
    said = "Ember remembers what the user said: "
    assert said + "We adopted a dog last month! We named him Sprocket." in lines, lines


def test_nothing_to_recall(store: Store, hash_embedder: Any) -> None:
    a = store.create_agent("empty", {"persona": "", "human": ""}).id
    assert autorecall.recall(store, hash_embedder, a, "anything at all?") == []
    assert autorecall.recall(store, hash_embedder, a, "   ") == []
    assert autorecall.event([]) is None


def test_long_passages_are_cut_to_the_part_about_the_question() -> None:
    filler = [f"Sentence number {i} is about the harbour and the boats." for i in range(20)]
    text = " ".join([*filler[:12], "The lighthouse keeper's cat is named Biscuit.", *filler[12:]])
    cut = autorecall.focus(text, "What is the lighthouse keeper's cat called?", 200)
    assert "cat is named Biscuit." in cut and len(cut) <= 204
    assert cut.startswith("… ") and cut.endswith(" …")
    assert autorecall.focus("short", "anything") == "short"


def _answer(prompt: str, constraint: Any) -> str:
    return "Ember: ok\n"


def test_the_engine_ends_every_prompt_of_a_user_turn_with_the_recalled_memories(
    store: Store, hash_embedder: Any
) -> None:
    from ember.core.agent.engine import Engine
    from ember.core.llm.scripted import ScriptedBackend

    a, _ = _setup(store, hash_embedder)
    backend = ScriptedBackend(n_ctx=8192, responder=_answer)
    engine = Engine(store, backend, hash_embedder)
    rt = engine.agent("a")
    assert rt.agent_id == a
    before = store.count_messages(a)
    assert rt.send_user_message("What's my sister's name?").reason == "message"
    [prompt] = backend.prompts
    # The last part (the bundled model's dialogue format): the best memory, then the message.
    tail = prompt[prompt.index("\n\nEmber remembers") :]
    assert "Hanna" in tail and tail.endswith("\n\nUser: What's my sister's name?\n")
    assert prompt.count("What's my sister's name?") == 1  # shown once, as the new message
    assert store.count_messages(a) == before + 2  # the question and the reply only
    assert not any(autorecall.MARKER in json.dumps(m.content) for m in store.recent_messages(a, 9))
    # Per agent, on by default; off shows nothing.
    assert autorecall.enabled(store.get_agent_by_id(a).settings)
    store.update_agent(a, settings={autorecall.SETTING: False})
    rt.send_user_message("What's my sister's name?")
    # (the same reply again is written on from its end, step_writer.py: the question's
    # prompt is the last that ends a line)
    asked = [p for p in backend.prompts if p.endswith("\n")][-1]
    assert "\n\nEmber remembers" not in asked
    assert asked.endswith("Your name is Dana.\n\nUser: What's my sister's name?\n")


def test_recalled_memories_give_way_to_fewer_in_a_small_window(
    store: Store, hash_embedder: Any
) -> None:
    a, _ = _setup(store, hash_embedder)
    events = autorecall.for_message(store, hash_embedder, a, "What's my sister's name, Hanna?")
    shown = [len(json.loads(e)["memories"]) for e in events]
    assert shown == list(range(autorecall.MAX_HITS, 0, -1))


def test_cli_switches_automatic_recall_per_agent(tmp_path: Any) -> None:
    """`ember agents recall NAME [on|off]` shows or switches it; `agents list` shows it;
    an unknown agent is one line, exit 1, and is not created."""
    from ember.core.kernel import paths
    from tests.cli_helpers import run_ember

    home = tmp_path / "home"
    assert run_ember(home, "agents", "create", "Bob").returncode == 0
    shown = run_ember(home, "agents", "recall", "Bob")
    assert shown.stdout.strip() == "Automatic recall is on for 'Bob'."
    assert run_ember(home, "agents", "recall", "Bob", "off").returncode == 0
    assert "automatic recall off" in run_ember(home, "agents", "list").stdout
    with Store(home / paths.DB_FILENAME) as store:
        assert not autorecall.enabled(store.get_agent("Bob").settings)
    missing = run_ember(home, "agents", "recall", "Nobody", "on")
    assert missing.returncode == 1 and missing.stderr.strip() == 'ember: no agent named "Nobody"'
    assert "Nobody" not in run_ember(home, "agents", "list").stdout


def test_a_memory_holding_the_key_asked_about_comes_first(
    store: Store, hash_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vector similarity of random keys is noise: a pair near the question's key must not
    outrank the pair that holds it (ember eval kv seed 2 showed the wrong pair alone)."""
    a = store.create_agent("k", {"persona": "I am Ember.", "human": ""}).id
    held = "Key 31d5c3af-5953 has the value 7a9c90fb-ce5e."
    near = "Key 6c233480-9b61 has the value 1a34e57a-6bd4."
    at = "2025-01-01T00:00:00+00:00"
    ranked = {"archival": [search.Hit(1, near, at, 0.6), search.Hit(2, held, at, 0.5)]}
    monkeypatch.setattr(search, "best", lambda _s, _e, _a, tier, *_: ranked.get(tier, []))
    shown = autorecall.recall(store, hash_embedder, a, "Look up key 31d5c3af-5953", follow=False)
    assert [m.hit.text for m in shown] == [held, near]
    # without an identifier in the question, the scores alone decide
    plain = autorecall.recall(store, hash_embedder, a, "What is the value?", follow=False)
    assert [m.hit.text for m in plain] == [near, held]
