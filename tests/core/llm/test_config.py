"""Issue 28 item 7: saved settings are checked when read; a bad one falls back to its
default with one line naming it (they gave tracebacks in memory, chat and doctor)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ember.core.llm.config import EngineConfig
from ember.core.service import Ember
from ember.core.storage.store import Store


@pytest.mark.parametrize(
    ("saved", "field", "words"),
    [
        ({"temperature": True}, "temperature", "is not a number"),
        ({"temperature": float("inf")}, "temperature", "between 0 and 2"),
        ({"n_threads": 0}, "n_threads", "between 1 and 1024"),
        ({"max_chain_steps": 2.5}, "max_chain_steps", "not a whole number"),
        ({"model_path": ""}, "model_path", "not a text"),
        ({"server_url": "ftp://x"}, "server_url", "is not usable"),
        ({"server_model": ["a"]}, "server_model", "not a text"),
        ({"step_format": "json"}, "step_format", "not one of auto, functions, dialogue"),
    ],
)
def test_each_bad_value_is_named_and_replaced_by_its_default(
    saved: dict[str, Any], field: str, words: str
) -> None:
    problems: list[str] = []
    config = EngineConfig.from_saved(json.dumps({**saved, "n_ctx": 2048}), problems)
    assert getattr(config, field) == getattr(EngineConfig(), field)
    assert config.n_ctx == 2048  # the good ones are kept
    [line] = problems
    assert line.startswith(f"the saved setting {field} (") and words in line


def test_unknown_and_missing_settings_are_no_problem() -> None:
    problems: list[str] = []
    config = EngineConfig.from_saved('{"colour": "red", "temperature": 0.5}', problems)
    assert (config.temperature, problems) == (0.5, [])
    assert EngineConfig.from_saved('{"step_format": "dialogue"}').step_format == "dialogue"
    assert EngineConfig.from_saved(None, problems) == EngineConfig()
    assert problems == []


def test_the_service_opens_on_bad_settings_and_keeps_them_unwritten(
    store: Store, hash_embedder: Any
) -> None:
    store.conn.execute("INSERT INTO settings(key, value) VALUES ('engine', '{\"n_ctx\": \"abc\"}')")
    store.conn.execute("INSERT INTO settings(key, value) VALUES ('gui', 'not json')")
    ember = Ember(store, embedder=hash_embedder)
    assert ember.settings().n_ctx == 8192
    assert ember.settings_problems == [
        "the saved setting n_ctx ('abc') is not a whole number; using 8192 instead"
    ]
    assert ember.front_end_settings("gui") == {}
    assert store.get_setting_text("engine") == '{"n_ctx": "abc"}'


def test_an_agents_unreadable_settings_count_as_none(store: Store, hash_embedder: Any) -> None:
    ember = Ember(store, embedder=hash_embedder)
    agent = ember.create_agent("A")
    store.conn.execute("UPDATE agents SET settings = 'not json' WHERE id = ?", (agent.id,))
    assert ember.get_agent(agent.id).settings == {}
    assert ember.auto_recall(agent.id)  # the default
