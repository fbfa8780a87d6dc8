"""Core-memory history: every block change is kept with its time and author, whoever made
it (the agent's tools, the user, an undo), diffs are exact, and undo restores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ember.core.kernel.errors import InvalidInput, NotFound
from ember.core.llm.config import EngineConfig
from ember.core.llm.scripted import ScriptedBackend
from ember.core.service import Ember
from ember.core.storage import blockhistory


def step(function: str, **arguments: Any) -> str:
    return json.dumps({"thoughts": "noting", "function": function, "arguments": arguments})


def open_ember(home: Path, embedder: Any, *outputs: str) -> Ember:
    backend = ScriptedBackend(list(outputs), n_ctx=8192)
    ember = Ember.open(home / "ember.db", embedder=embedder, backend_factory=lambda c: backend)
    ember.start_model(EngineConfig(step_format="functions"))  # the agent's own edits
    return ember


def test_every_change_is_kept_with_its_author(ember_home: Path, hash_embedder: Any) -> None:
    append = step("core_memory_append", label="human", content="Likes: tea", request_heartbeat=True)
    with open_ember(ember_home, hash_embedder, append, step("send_message", message="Noted.")) as e:
        agent = e.agent_for_chat()
        preset = e.memory(agent.id).blocks[1].value
        assert e.block_history(agent.id, "human") == []  # creation is not a change
        assert e.send(agent.id, "I like tea.").reason == "message"
        after_agent = e.memory(agent.id).blocks[1].value
        assert after_agent == preset + "\nLikes: tea"
        e.set_block(agent.id, "human", "Name: Ada\nLikes: tea")
        history = e.block_history(agent.id, "human")
        assert [(c.author, c.label) for c in history] == [("user", "human"), ("agent", "human")]
        assert (history[1].old_value, history[1].new_value) == (preset, after_agent)
        assert (history[0].old_value, history[0].new_value) == (
            after_agent,
            "Name: Ada\nLikes: tea",
        )
        assert history[0].created_at >= history[1].created_at
        assert e.block_history(agent.id, "persona") == []


def test_undo_restores_and_is_itself_undoable(ember_home: Path, hash_embedder: Any) -> None:
    with open_ember(ember_home, hash_embedder) as e:
        agent = e.agent_for_chat()
        original = e.memory(agent.id).blocks[0].value
        e.set_block(agent.id, "persona", "I am terse.")
        e.set_block(agent.id, "persona", "I am terse and kind.")
        first = e.block_history(agent.id, "persona")[-1]
        block = e.undo_block_change(agent.id, first.id)  # back to before the first edit
        assert block.value == original
        history = e.block_history(agent.id, "persona")
        assert [c.author for c in history] == ["undo", "user", "user"]
        assert history[0].old_value == "I am terse and kind."
        assert e.undo_block_change(agent.id, history[0].id).value == "I am terse and kind."


def test_what_is_not_a_change(ember_home: Path, hash_embedder: Any) -> None:
    with open_ember(ember_home, hash_embedder) as e:
        agent = e.agent_for_chat()
        same = e.memory(agent.id).blocks[1].value
        e.set_block(agent.id, "human", same)  # unchanged: nothing recorded
        with pytest.raises(InvalidInput):
            e.set_block(agent.id, "human", "x" * 5000)  # refused: nothing recorded
        assert e.block_history(agent.id, "human") == []
        with pytest.raises(NotFound):
            e.block_history(agent.id, "no-such-block")
        with pytest.raises(NotFound):
            e.undo_block_change(agent.id, 12345)


def test_history_belongs_to_its_agent(ember_home: Path, hash_embedder: Any) -> None:
    with open_ember(ember_home, hash_embedder) as e:
        ada = e.agent_for_chat()
        bob = e.create_agent("Bob")
        e.set_block(ada.id, "human", "Ada")
        change = e.block_history(ada.id, "human")[0]
        with pytest.raises(NotFound):
            e.undo_block_change(bob.id, change.id)  # not Bob's
        e.delete_agent(ada.id)
        rows = e.store.conn.execute("SELECT count(*) FROM block_history").fetchone()[0]
        assert rows == 0


def test_diff_rebuilds_both_sides() -> None:
    old = "Name: Ada. Likes tea and long walks."
    new = "Name: Ada Lovelace. Likes coffee and long walks!"
    ops = blockhistory.diff(old, new)
    assert "".join(t for op, t in ops if op != "+") == old
    assert "".join(t for op, t in ops if op != "-") == new
    assert ("-", "tea") in ops and ("+", "coffee") in ops
    assert ("+", " Lovelace") in ops
    change = blockhistory.BlockChange(1, 1, "human", old, new, "user", "")
    assert (change.added, change.removed) == (len(" Lovelace") + len("coffee") + 1, 4)
    assert blockhistory.diff("", "new") == [("+", "new")]
    assert blockhistory.diff("same", "same") == [("=", "same")]
