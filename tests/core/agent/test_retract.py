"""Taking back the end of a conversation reads only that end, not the history before it."""

from __future__ import annotations

from typing import Any

import pytest

from ember.core.agent import presets
from ember.core.agent.retract import delete_from
from ember.core.storage import messages
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Store


def test_delete_from_reads_only_what_it_deletes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id = presets.create_agent(store, "A").id
    ids = []
    for i in range(400):
        said = f"message {i}"
        ids.append(
            store.add_message(
                agent_id, Role.USER, Kind.USER_MESSAGE, messages.user_message(said), said
            )
        )
        content = {"thoughts": "", "function": "send_message", "arguments": {"message": f"r{i}"}}
        ids.append(store.add_message(agent_id, Role.ASSISTANT, Kind.STEP, content, f"r{i}"))
    store.add_message(agent_id, Role.USER, Kind.LOGIN, messages.login(None))
    read = [0]
    original = store.recent_messages

    def counted(*args: Any, **kwargs: Any) -> Any:
        rows = original(*args, **kwargs)
        read[0] += len(rows)
        return rows

    monkeypatch.setattr(store, "recent_messages", counted)
    assert delete_from(store, agent_id, ids[-2]) == ["r399"]
    assert read[0] == 3  # the message, its reply and the login (which stays)
    left = [m.id for m in original(agent_id, 1000)]
    assert ids[-2] not in left and ids[-1] not in left and ids[-3] in left
    assert [m.kind for m in original(agent_id, 1)] == [Kind.LOGIN]
