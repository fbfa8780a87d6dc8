"""The bounded queue queries of recall storage: the end of the FIFO queue after the
agent's newest reply, and the messages a dialogue-format agent's queue lets go
(core/agent/dialogue_queue.py)."""

from __future__ import annotations

from ember.core.agent import presets
from ember.core.storage import messages
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Store


def _said(store: Store, agent_id: int, text: str, *, in_context: bool = True) -> int:
    return store.add_message(
        agent_id,
        Role.USER,
        Kind.USER_MESSAGE,
        messages.user_message(text),
        text,
        in_context=in_context,
    )


def _replied(store: Store, agent_id: int, text: str) -> int:
    content = {"thoughts": "", "function": "send_message", "arguments": {"message": text}}
    return store.add_message(agent_id, Role.ASSISTANT, Kind.STEP, content, text)


def test_context_tail_is_what_came_after_the_newest_reply_in_the_queue(store: Store) -> None:
    a = presets.create_agent(store, "A").id
    b = presets.create_agent(store, "B").id
    assert store.context_tail(a) == []
    first = _said(store, a, "one")
    assert [m.id for m in store.context_tail(a)] == [first]  # no reply yet: all of it
    _replied(store, a, "reply one")
    assert store.context_tail(a) == []
    login = store.add_message(a, Role.USER, Kind.LOGIN, messages.login(None, None))
    two = _said(store, a, "two")
    _said(store, a, "not in context", in_context=False)
    _replied(store, b, "another agent's reply")  # other agents' replies do not count
    assert [m.id for m in store.context_tail(a)] == [login, two]
    last = _replied(store, a, "reply two")
    store.evict_messages([last])  # a reply that left the queue does not count either
    assert [m.id for m in store.context_tail(a)] == [login, two]


def test_context_ids_before_reply_spare_the_newest_and_all_after_the_reply(
    store: Store,
) -> None:
    a = presets.create_agent(store, "A").id
    assert store.context_ids_before_reply(a, 0) == []
    ids = []
    for i in range(5):
        ids.append(_said(store, a, f"m{i}"))
        ids.append(_replied(store, a, f"r{i}"))
    assert store.context_ids_before_reply(a, 0) == ids[:-1]  # all before the reply
    assert store.context_ids_before_reply(a, 3) == ids[:-4]
    after = [_said(store, a, "unanswered"), _said(store, a, "still unanswered")]
    assert store.context_ids_before_reply(a, 3) == ids[:-4]  # the tail is never counted
    store.evict_messages(ids[:2])
    assert store.context_ids_before_reply(a, 3) == ids[2:-4]
    assert store.context_ids_before_reply(a, 100) == []
    assert [m.id for m in store.context_tail(a)] == after
