"""Issue 28 item 11: one rule for an agent's name on every path. ``create`` took 5,000
characters that ``import`` then refused; control, bidirectional-override, zero-width and
NUL characters were accepted and printed raw (ESC sequences reached the terminal); "é"
and "e" + a combining accent were two agents."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ember.core.agent import presets
from ember.core.kernel.errors import AlreadyExists, InvalidInput
from ember.core.service import Ember
from ember.core.storage.agent_names import MAX_NAME_CHARS
from ember.core.storage.store import Store
from ember.core.transfer import agent_import, export

BAD = [
    ("x" * 5000, "at most 100 characters"),
    ("Eve\x1b[31mRed", "control character (U+001B)"),
    ("Eve\x00", "control character (U+0000)"),
    ("Eve\u202egnp.exe", "RIGHT-TO-LEFT OVERRIDE (U+202E)"),
    ("E\u200bve", "ZERO WIDTH SPACE (U+200B)"),
    ("Eve\u2028Adam", "LINE SEPARATOR (U+2028)"),
    ("   ", "needs a name"),
]


@pytest.mark.parametrize(("name", "words"), BAD)
def test_create_and_rename_refuse_the_same_names(
    store: Store, hash_embedder: Any, name: str, words: str
) -> None:
    ember = Ember(store, embedder=hash_embedder)
    with pytest.raises(InvalidInput, match=re.escape(words)) as info:
        ember.create_agent(name)
    assert "\x1b" not in str(info.value) and "\x00" not in str(info.value)
    agent = ember.create_agent("Fine")
    with pytest.raises(InvalidInput):
        ember.rename_agent(agent.id, name)
    assert [a.name for a in ember.agents()] == ["Fine"]


def test_a_name_is_one_agent_however_its_accents_are_typed(
    store: Store, hash_embedder: Any
) -> None:
    ember = Ember(store, embedder=hash_embedder)
    composed = ember.create_agent("Zoé")
    with pytest.raises(AlreadyExists):
        ember.create_agent("Zoe\u0301")
    assert ember.find_agent("Zoe\u0301").id == composed.id
    assert ember.agent_for_chat("  Zoe\u0301 ").id == composed.id
    longest = ember.create_agent("y" * MAX_NAME_CHARS)
    assert len(longest.name) == MAX_NAME_CHARS


def test_import_takes_what_create_takes_and_refuses_what_it_refuses(
    store: Store, tmp_path: Path
) -> None:
    agent = presets.create_agent(store, "z" * MAX_NAME_CHARS)
    out = tmp_path / "z.json"
    export.export_agent(store, agent, out)
    again = agent_import.import_agent(store, out)  # renamed, and still within the rule
    assert again.name.endswith(" (2)") and len(again.name) == MAX_NAME_CHARS
    doc = json.loads(out.read_text())
    doc["agent"]["name"] = "Eve\u202e"
    out.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match=r"agent\.name: .*RIGHT-TO-LEFT OVERRIDE"):
        agent_import.import_agent(store, out)


def test_an_old_name_with_an_escape_is_printed_escaped(store: Store, hash_embedder: Any) -> None:
    """A database from before the rule may hold such a name: it stays usable, and every
    message escapes it."""
    from ember.core.kernel.errors import AgentInUse, NotFound
    from ember.core.storage.agent_lock import AgentLock

    store.conn.execute(
        "INSERT INTO agents(name, created_at) VALUES (?, '2024-01-01T00:00:00+00:00')",
        ("Old\x1b[2J",),
    )
    ember = Ember(store, embedder=hash_embedder)
    old = ember.find_agent("Old\x1b[2J")
    with pytest.raises(NotFound) as missing:
        ember.find_agent("Gone\x1b[2J")
    with AgentLock(store.path, old.id, old.name), pytest.raises(AgentInUse) as busy:
        AgentLock(store.path, old.id, old.name)
    for message in (str(missing.value), str(busy.value)):
        assert "\x1b" not in message and "\\x1b[2J" in message


def test_a_name_that_is_not_utf8_finds_no_agent_and_makes_none(
    store: Store, hash_embedder: Any
) -> None:
    """A command line byte that is not UTF-8 arrives as a lone surrogate: SQLite refused to
    bind it (a traceback from every --agent); it names no agent, and none is created."""
    from ember.core.kernel.errors import NotFound
    from ember.core.storage.agent_names import printable

    ember = Ember(store, embedder=hash_embedder)
    with pytest.raises(NotFound, match=re.escape("a\\udcff")):
        ember.find_agent("a\udcff")
    with pytest.raises(InvalidInput, match="U\\+DCFF"):
        ember.agent_for_chat("a\udcff")
    assert printable("Old\x1b[2J\u202e") == "Old\\x1b[2J\\u202e"
