"""The bounded queue queries of recall storage: the end of the FIFO queue after the
agent's newest reply, and the messages a dialogue-format agent's queue lets go
(core/agent/dialogue_queue.py)."""

from __future__ import annotations

from typing import Any

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


def _replied(store: Store, agent_id: int, text: str, *, in_context: bool = True) -> int:
    content = {"thoughts": "", "function": "send_message", "arguments": {"message": text}}
    return store.add_message(
        agent_id, Role.ASSISTANT, Kind.STEP, content, text, in_context=in_context
    )


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


def _steps(store: Store, run: Any) -> int:
    """SQLite virtual-machine steps (in thousands) ``run`` takes."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    store.conn.set_progress_handler(tick, 1000)
    try:
        run()
    finally:
        store.conn.set_progress_handler(None, 1000)
    return steps[0]


def test_reply_texts_are_the_newest_replies_read_from_the_end(store: Store) -> None:
    a = presets.create_agent(store, "A").id
    b = presets.create_agent(store, "B").id

    def naive(limit: int) -> list[str]:
        rows = store.conn.execute(
            "SELECT text FROM messages WHERE agent_id = ? AND role = 'assistant' "
            "AND kind = 'step' AND text != '' ORDER BY id DESC LIMIT ?",
            (a, limit),
        )
        return [str(r[0]) for r in rows]

    for i in range(30):
        _said(store, a, f"m{i}")
        _replied(store, a, f"r{i}" if i % 5 else "")  # a step without words is no reply
        _replied(store, b, f"b{i}")
    store.evict_messages([m.id for m in store.context_messages(a)][::3])
    assert store.reply_texts(a, 10) == naive(10)
    assert store.reply_texts(a, 100) == naive(100)
    assert store.reply_texts(a, 5)[0] == "r29"

    def grown() -> int:
        with store.transaction():
            for i in range(3000):  # a long conversation, mostly out of context
                _said(store, a, f"m{i}", in_context=i >= 2990)
                _replied(store, a, f"again {i}", in_context=i >= 2990)
        return _steps(store, lambda: store.reply_texts(a, 10))

    few = _steps(store, lambda: store.reply_texts(a, 10))
    assert grown() <= few + 1  # not the whole conversation: it ran through 6,000 rows more
    assert _steps(store, lambda: naive(10)) > few + 5  # (what the naive query does)
