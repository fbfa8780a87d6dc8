"""The read side of the service: the same answers on a connection of its own, which
never writes (the app's read lane runs it beside a turn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember.core.kernel.errors import StoreError
from ember.core.memory import search_index
from ember.core.service import Ember


def _filled(home: Path, embedder: Any) -> tuple[Ember, int]:
    ember = Ember.open(home / "ember.db", embedder=embedder, warm_restart=False)
    agent = ember.agent_for_chat(None)
    store = ember.store
    store.add_message(agent.id, "user", "user_message", {}, "I keep bees on my allotment.")
    store.add_message(agent.id, "assistant", "step", {}, "Bees! Where is it?")
    store.add_message(agent.id, "user", "user_message", {}, "In Leeds, near the river.")
    vectors = embedder.embed(["Ada keeps bees in Leeds."])
    store.add_passages(agent.id, [("Ada keeps bees in Leeds.", None, 0)], vectors)
    return ember, agent.id


def test_reader_answers_as_the_service(ember_home: Path, hash_embedder: Any) -> None:
    ember, agent_id = _filled(ember_home, hash_embedder)
    with ember, ember.open_reader() as reader:
        assert reader.memory(agent_id) == ember.memory(agent_id)
        assert reader.archival(agent_id) == ember.archival(agent_id)
        assert reader.archival(agent_id, "bees Leeds") == ember.archival(agent_id, "bees Leeds")
        assert reader.recall(agent_id) == ember.recall(agent_id)
        assert reader.recall(agent_id, start="2000-01-01", end="2999-12-31") == ember.recall(
            agent_id, start="2000-01-01", end="2999-12-31"
        )
        assert reader.sources(agent_id) == ember.sources(agent_id)
        assert reader.block_history(agent_id, "human") == ember.block_history(agent_id, "human")


def test_reader_never_writes(ember_home: Path, hash_embedder: Any) -> None:
    ember, agent_id = _filled(ember_home, hash_embedder)
    with ember, ember.open_reader() as reader:
        pending = search_index.pending(ember.store, agent_id)
        assert pending == 3
        # Recall search ranks what is indexed: the windows are not brought up to date...
        page = reader.recall(agent_id, "allotment")
        assert any("allotment" in m.text for m in page.messages)
        assert search_index.pending(ember.store, agent_id) == pending
        # ...which the service's search does.
        assert any("allotment" in m.text for m in ember.recall(agent_id, "allotment").messages)
        assert search_index.pending(ember.store, agent_id) == 0
        with pytest.raises(StoreError):
            reader.store.set_block(agent_id, "human", "Written by a reader.", author="user")
    assert ember_home.joinpath("ember.db").exists()
