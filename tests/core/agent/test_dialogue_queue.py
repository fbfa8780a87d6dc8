"""The dialogue format's queue (core/agent/dialogue_queue.py): a turn's work does not grow
with the conversation, the prompt stays byte for byte what the whole queue rendered, and
the function format (MemGPT's queue) is left as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ember.core.agent import dialogue_prompt
from ember.core.agent.dialogue_queue import KEPT
from ember.core.storage import messages
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Store

REPLY = "Ember: I remember.\n"
RECALLED = json.dumps({"memories": [{"role": "user", "content": "My dog is called Rex."}]})


def _fill(store: Store, agent_id: int, exchanges: int) -> None:
    """``exchanges`` user messages, each answered, straight into the queue."""
    with store.transaction():
        for i in range(exchanges):
            said = f"Note {i}: I walked the dog."
            store.add_message(
                agent_id, Role.USER, Kind.USER_MESSAGE, messages.user_message(said), said
            )
            reply = f"Thanks for note {i}."
            content = {"thoughts": "", "function": "send_message", "arguments": {"message": reply}}
            store.add_message(agent_id, Role.ASSISTANT, Kind.STEP, content, reply)


def _said(store: Store, agent_id: int, text: str) -> None:
    store.add_message(agent_id, Role.USER, Kind.USER_MESSAGE, messages.user_message(text), text)


def _rows_loaded(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the queue rows every queue query of ``store`` returns."""
    rows = [0]
    for name in ("context_messages", "context_tail"):
        original = getattr(store, name, None)
        if original is None:
            continue

        def counted(*args: Any, _original: Any = original) -> Any:
            result = _original(*args)
            rows[0] += len(result)
            return result

        monkeypatch.setattr(store, name, counted)
    return rows


def test_a_dialogue_turn_loads_a_few_rows_of_a_long_queue(
    store: Store, make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = make_engine([REPLY, REPLY], step_format="dialogue")
    rt = engine.agent("t")
    _fill(store, rt.agent_id, 300)
    rows = _rows_loaded(store, monkeypatch)
    rt.send_user_message("Do you remember my dog?")
    assert rows[0] <= 2 * 2  # the new message, twice (the prompt, its contrast)
    rows[0] = 0
    rt.context_usage()  # the app's meter
    rt.login()
    rt.send_user_message("And my cat?")
    assert rows[0] <= 3 * 2  # the login joins the new message


def test_a_dialogue_turn_keeps_the_queue_short_and_recall_whole(
    store: Store, make_engine: Any
) -> None:
    engine, _ = make_engine([REPLY], step_format="dialogue")
    rt = engine.agent("t")
    _fill(store, rt.agent_id, 300)
    total = store.count_messages(rt.agent_id)
    rt.send_user_message("Do you remember my dog?")
    queue = store.context_messages(rt.agent_id)
    # the newest KEPT up to the last reply, then the new message and its reply
    assert len(queue) == KEPT + 2
    assert queue[KEPT - 1].text == "Thanks for note 299."
    assert [m.kind for m in queue[KEPT:]] == [Kind.USER_MESSAGE, Kind.STEP]
    assert store.count_messages(rt.agent_id) == total + 2  # recall keeps every message
    hidden = 600 - KEPT
    agent = rt.agent
    assert agent.summary_hidden == hidden
    assert agent.summary.startswith(f"{hidden} prior messages of {hidden + KEPT + 1} are hidden")


def test_a_dialogue_session_start_keeps_the_queue_short(
    store: Store, make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idle work of a session (the flush preparation, the usage meter) reads the queue
    before the first turn."""
    engine, _ = make_engine(step_format="dialogue")
    rt = engine.agent("t")
    _fill(store, rt.agent_id, 300)
    rt.login()
    assert len(store.context_messages(rt.agent_id)) == KEPT + 1  # and the login
    rows = _rows_loaded(store, monkeypatch)
    engine.prepare_flush(rt.agent_id)
    assert rows[0] <= 2 * (KEPT + 1)


@pytest.mark.parametrize(
    "tail",
    [
        [],  # Ember replied last: no pending message
        ["Where is Porto?"],
        ["Hi.", "Are you there?"],  # two unanswered: the newest is answered
        ["login", "What day is it?"],
        ["What day is it?", "login"],
    ],
)
@pytest.mark.parametrize("exchanges", [0, 3, 60])
def test_the_dialogue_prompt_is_byte_for_byte_what_the_whole_queue_rendered(
    store: Store, make_engine: Any, tail: list[str], exchanges: int
) -> None:
    from ember.core.agent.dialogue_queue import trim

    engine, _ = make_engine(step_format="dialogue")
    rt = engine.agent("t")
    store.set_block(rt.agent_id, "human", "First name: Oskar", author="user")
    _fill(store, rt.agent_id, exchanges)
    for text in tail:
        if text == "login":
            store.add_message(rt.agent_id, Role.USER, Kind.LOGIN, messages.login(None))
        else:
            _said(store, rt.agent_id, text)
    blocks = store.blocks(rt.agent_id)
    whole = store.context_messages(rt.agent_id)
    for extra in ((), (RECALLED,)):
        expected = dialogue_prompt.render(blocks, whole, extra)
        assert rt.context.render(extra=extra).text == expected
    expected_contrast = dialogue_prompt.without_memory(blocks, whole)
    trim(store, rt.agent_id)
    assert len(store.context_messages(rt.agent_id)) <= KEPT + len(tail)
    for extra in ((), (RECALLED,)):
        assert rt.context.render(extra=extra).text == dialogue_prompt.render(blocks, whole, extra)
    assert dialogue_prompt.without_memory(blocks, rt.context.queue()) == expected_contrast


def test_the_function_format_keeps_its_queue(store: Store, make_engine: Any) -> None:
    """MemGPT's queue is the prompt there: only a flush takes from it."""
    from ember.core.llm.scripted import scripted_reply

    engine, backend = make_engine([scripted_reply("Noted.")])
    rt = engine.agent("t")
    _fill(store, rt.agent_id, 40)
    before = len(store.context_messages(rt.agent_id))
    rt.send_user_message("Do you remember my dog?")
    assert len(store.context_messages(rt.agent_id)) == before + 2
    assert "Note 0: I walked the dog." in backend.prompts[-1]


def test_a_switch_to_the_function_format_meets_the_recent_conversation(
    store: Store, make_engine: Any
) -> None:
    engine, _ = make_engine([REPLY], step_format="dialogue")
    rt = engine.agent("t")
    _fill(store, rt.agent_id, 300)
    rt.send_user_message("Do you remember my dog?")
    functions, _ = make_engine()  # the same agent, now with a chat-template model
    prompt = functions.agent("t").prompt()
    assert f"{600 - KEPT} prior messages of" in prompt  # the summary head counts the rest
    assert "conversation_search" in prompt
    assert "Note 289: I walked the dog." not in prompt
    assert "Note 290: I walked the dog." in prompt  # the newest KEPT up to the reply
    assert "Do you remember my dog?" in prompt
