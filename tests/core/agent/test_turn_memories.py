"""A reply's record of what its prompt held from memory: the memories followed from a
recalled one are in it too (they are shown with it)."""

from __future__ import annotations

import json
from typing import Any

from ember.core.agent.turn_memories import TurnMemories
from ember.core.memory import autorecall
from ember.core.storage.store import Store


def test_memories_followed_from_a_recalled_one_are_recorded(
    store: Store, hash_embedder: Any
) -> None:
    a = store.create_agent("a", {"persona": "I am Ember.", "human": ""}).id
    passages = [
        "Parcel KX-2291 was forwarded to parcel LM-4410.",
        "Parcel LM-4410 was delivered to the depot in Hollin.",
    ]
    store.add_passages(a, [(p, None, None) for p in passages], hash_embedder.embed(passages))
    asked = "Where did parcel KX-2291 end up?"
    memories = autorecall.recall(store, hash_embedder, a, asked, user_statements=True)
    choices = autorecall.choices(memories, asked)
    turn = TurnMemories(memories, choices, dialogue=True, query=asked)
    turn.prompted(choices[0])
    shown = json.loads(choices[0])["memories"][0]["content"]
    assert shown == " ".join(passages)
    recorded = [(r.found_by, r.text) for r in turn.gathered(store, a) if r.tier == "archival"]
    assert recorded == [("automatic", passages[0]), ("automatic", passages[1])]
