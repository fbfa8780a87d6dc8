"""The memory pass: what the user says about themselves reaches the ``human`` block while
they are idle (statements.py finds it, memorypass.py writes it)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ember.core.memory import memorypass, statements
from ember.core.storage.store import Store


@pytest.mark.parametrize(
    ("text", "name", "lines"),
    [
        ("Hi, I'm Noor.", "Noor", ()),
        ("Hello! My name is Idris. I'm allergic to kiwi.", "Idris", ("You're allergic to kiwi.",)),
        ("Hey, Oskar here. I work as a geologist.", "Oskar", ("You work as a geologist.",)),
        ("My cat Pip snores.", None, ("Your cat Pip snores.",)),
        (
            "It has been windy here in Porto all week.",
            None,
            ("It has been windy here in Porto all week.",),
        ),
        # Not about the user: a friend's job, a neighbour's dog.
        ("My friend Sam is a pilot.", None, ()),
        ("My neighbour's dog is called Mochi.", None, ()),
        ("My best friend's sister is a nurse.", None, ()),
        # Questions and requests, with or without a question mark.
        ("Can you suggest something quick for dinner?", None, ()),
        ("Tell me a joke about my job.", None, ()),
        ("What's my name?", None, ()),
        # Nothing about anyone; greetings alone.
        ("The weather was foggy today.", None, ()),
        ("Thanks!", None, ()),
        # "Anyway" and "here" are not names.
        ("Anyway here we go.", None, ("Anyway here we go.",)),
        (
            "I'm Ana and I bake bread for a living.",
            "Ana",
            ("You're Ana and you bake bread for a living.",),
        ),
        # A greeting is not part of what the user said about themselves.
        (
            "Hello, I am Malik and I teach chemistry.",
            "Malik",
            ("You are Malik and you teach chemistry.",),
        ),
        ("Hi there, my cat is called Juniper.", None, ("Your cat is called Juniper.",)),
        ("Hey Ember - I work nights.", None, ("You work nights.",)),
    ],
)
def test_what_the_user_says_about_themselves(
    text: str, name: str | None, lines: tuple[str, ...]
) -> None:
    found = statements.about_user(text)
    assert (found.name, found.lines) == (name, lines)


def test_first_person_becomes_second_person() -> None:
    assert statements.second_person("I was born in May and my mum calls me Bee.") == (
        "You were born in May and your mum calls you Bee."
    )
    assert statements.second_person("I've got mine; I'm sure I am.") == (
        "You've got yours; you're sure you are."
    )


def _agent(store: Store, human: str = "First name: unknown", limit: int = 2000) -> int:
    agent = store.create_agent("a", {"persona": "I am Ember.", "human": human})
    if limit != 2000:
        store.conn.execute("UPDATE blocks SET char_limit = ? WHERE agent_id = ?", (limit, agent.id))
    return agent.id


def _say(store: Store, agent_id: int, *texts: str) -> None:
    for text in texts:
        store.add_message(agent_id, "user", "user_message", {"message": text}, text)
        store.add_message(agent_id, "assistant", "step", {"function": "send_message"}, "ok")


def test_the_pass_writes_the_name_and_statements_with_its_own_author(
    store: Store, hash_embedder: Any
) -> None:
    a = _agent(store)
    _say(
        store, a, "Hi, I'm Noor. I play the oboe.", "Can you suggest a film?", "My dog Rex snores."
    )
    result = memorypass.run(store, hash_embedder, a)
    assert result.read == 3 and result.name == "Noor"
    assert result.added == ("You play the oboe.", "Your dog Rex snores.")
    assert store.get_block(a, "human").value == (
        "First name: Noor\nYou play the oboe.\nYour dog Rex snores."
    )
    [change] = store.conn.execute("SELECT author FROM block_history").fetchall()
    assert change[0] == memorypass.AUTHOR  # the app shows who wrote it, and can undo it
    # Read once: a second pass finds nothing new and changes nothing.
    assert memorypass.run(store, hash_embedder, a) == memorypass.PassResult()
    _say(store, a, "I play the oboe.", "Hello, Noor here.")
    again = memorypass.run(store, hash_embedder, a)
    assert (again.read, again.added, again.name, again.changed) == (2, (), None, False)


def test_a_full_block_sends_statements_to_archival_memory(store: Store, hash_embedder: Any) -> None:
    a = _agent(store, "First name: unknown", limit=60)
    _say(store, a, "I live in Ghent.", "I work nights at the bakery on the corner.")
    result = memorypass.run(store, hash_embedder, a)
    assert result.added == ("You live in Ghent.",) and result.archived == 1
    assert store.get_block(a, "human").value == "First name: unknown\nYou live in Ghent."
    [passage] = store.list_passages(a)
    assert passage.text == "You work nights at the bakery on the corner."


def test_a_cancelled_pass_writes_nothing(store: Store, hash_embedder: Any) -> None:
    a = _agent(store)
    _say(store, a, "I'm Noor and I play the oboe.")
    cancel = threading.Event()
    cancel.set()
    assert memorypass.run(store, hash_embedder, a, cancel) == memorypass.PassResult()
    assert store.get_block(a, "human").value == "First name: unknown"
    assert memorypass.run(store, hash_embedder, a).changed  # read later, once idle again


def test_the_name_line_is_kept_where_it_is_and_user_lines_stay(
    store: Store, hash_embedder: Any
) -> None:
    a = _agent(store, "Likes tea.\nName: Sam\nWrote by hand.")
    _say(store, a, "Actually, call me Samira.")
    memorypass.run(store, hash_embedder, a)
    assert store.get_block(a, "human").value == "Likes tea.\nFirst name: Samira\nWrote by hand."
