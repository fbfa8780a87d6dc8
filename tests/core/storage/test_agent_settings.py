"""Issue 28 item 7, an agent's own settings: checked when read like the engine's. An
imported file or an older Ember could leave ``"memory_pass_read_upto": "abc"`` (a
traceback in every memory pass) or ``"auto_recall": "off"`` (read as on by ``bool()``)."""

from __future__ import annotations

from typing import Any

import pytest

from ember.core.memory import autorecall, memorypass
from ember.core.service import Ember
from ember.core.storage import agent_settings
from ember.core.storage.agent_settings import AgentSettings
from ember.core.storage.store import Store


@pytest.mark.parametrize(
    ("saved", "words"),
    [
        ({"auto_recall": "off"}, "auto_recall ('off') is not true or false; using on instead"),
        ({"auto_recall": 0}, "auto_recall ('0') is not true or false"),
        ({"memory_pass_read_upto": "abc"}, "memory_pass_read_upto ('abc') is not a message"),
        ({"memory_pass_read_upto": -3}, "memory_pass_read_upto ('-3') is not a message"),
        ({"memory_pass_read_upto": [1]}, "memory_pass_read_upto ('[1]') is not a message"),
    ],
)
def test_a_bad_value_is_named_and_replaced_by_its_default(
    saved: dict[str, Any], words: str
) -> None:
    problems: list[str] = []
    assert agent_settings.read(saved, problems, "Bob") == AgentSettings()
    [line] = problems
    assert line.startswith("the saved setting ") and " of agent 'Bob' (" in line, line
    assert words.replace(" (", " of agent 'Bob' (", 1) in line, line


def test_good_and_missing_values_are_read_as_they_are() -> None:
    problems: list[str] = []
    saved = {"auto_recall": False, "memory_pass_read_upto": 12, "other": "x"}
    assert agent_settings.read(saved, problems) == AgentSettings(False, 12)
    assert agent_settings.read({}, problems) == AgentSettings()
    assert problems == []
    assert agent_settings.parse("not json") == agent_settings.parse("[1]") == {}


def test_the_memory_pass_and_recall_run_on_bad_settings_and_the_service_names_them(
    store: Store, hash_embedder: Any
) -> None:
    ember = Ember(store, embedder=hash_embedder)
    bob = ember.create_agent("Bob")
    store.add_message(bob.id, "user", "user_message", {}, "I play the oboe.")
    store.conn.execute(
        "UPDATE agents SET settings = ? WHERE id = ?",
        ('{"memory_pass_read_upto": "abc", "auto_recall": "off"}', bob.id),
    )
    assert autorecall.enabled(store.get_agent_by_id(bob.id).settings)  # the default
    assert memorypass.run(store, hash_embedder, bob.id).read == 1  # was int("abc")
    reopened = Ember(store, embedder=hash_embedder)
    assert reopened.settings_problems == [
        "the saved setting auto_recall of agent 'Bob' ('off') is not true or false; "
        "using on instead"
    ]  # the pass saved its own number, a valid one, over the bad one
