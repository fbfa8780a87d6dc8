"""Engine behaviour, driven by a scripted backend (deterministic model outputs)."""

from __future__ import annotations

import json
import threading
from typing import Any

from ember.core import events as ev
from ember.core.engine import HEARTBEAT_FAILED, HEARTBEAT_REQUESTED, Engine, EngineConfig
from ember.core.llm import ScriptedBackend
from ember.core.store import Store
from ember.core.tools import ToolRegistry


def step(function: str, thoughts: str = "thinking", **arguments: Any) -> str:
    return json.dumps({"thoughts": thoughts, "function": function, "arguments": arguments})


def reply(text: str) -> str:
    return step("send_message", message=text)


class Recorder(list):
    def __call__(self, event: ev.Event) -> None:
        self.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self if isinstance(e, kind)]


def make(
    store: Store, embedder: Any, outputs: list[str] = (), n_ctx: int = 8192, **config: Any
) -> tuple[Engine, ScriptedBackend]:
    backend = ScriptedBackend(outputs, n_ctx=n_ctx)
    return Engine(store, backend, embedder, EngineConfig(**config)), backend


def test_reply_streams_and_is_committed(store: Store, hash_embedder: Any) -> None:
    engine, backend = make(store, hash_embedder, [reply('Hello "Anna"!\nNice to meet you.')])
    rt = engine.agent("test")
    rec = Recorder()
    result = rt.send_user_message("Hi, I am Anna", rec)
    assert result.reason == "message"
    assert "".join(e.text for e in rec.of(ev.MessageDelta)) == 'Hello "Anna"!\nNice to meet you.'
    assert "".join(e.text for e in rec.of(ev.ThoughtDelta)) == "thinking"
    [msg] = rec.of(ev.AssistantMessage)
    assert msg.text == 'Hello "Anna"!\nNice to meet you.'
    kinds = [type(e).__name__ for e in rec if not isinstance(e, ev.ThoughtDelta | ev.MessageDelta)]
    assert kinds == [
        "ContextUsage",
        "StepStarted",
        "StepStats",
        "ToolCall",
        "AssistantMessage",
        "TurnFinished",
    ]
    messages = store.context_messages(rt.agent_id)
    assert [(m.role, m.kind) for m in messages] == [("user", "user_message"), ("assistant", "step")]
    assert messages[1].text == msg.text
    # The grammar given to the model offers all eight functions (as quoted GBNF literals).
    assert len(ToolRegistry().tools) == 8
    assert all(
        f'\\"{name}\\", \\"arguments\\"' in backend.grammars[0] for name in ToolRegistry().tools
    )


def test_chaining_with_heartbeat_then_reply(store: Store, hash_embedder: Any) -> None:
    engine, backend = make(
        store,
        hash_embedder,
        [
            step("core_memory_append", label="human", content="Name: Anna", request_heartbeat=True),
            reply("Got it, Anna."),
        ],
    )
    rt = engine.agent("t")
    rec = Recorder()
    assert rt.send_user_message("I'm Anna", rec).reason == "message"
    assert store.get_block(rt.agent_id, "human").value.endswith("\nName: Anna")
    [result] = rec.of(ev.ToolResult)
    assert result.status == "OK" and result.heartbeat
    queue = store.context_messages(rt.agent_id)
    assert [m.kind for m in queue] == [
        "user_message",
        "step",
        "function_result",
        "heartbeat",
        "step",
    ]
    assert queue[3].content["reason"] == HEARTBEAT_REQUESTED
    # Prefix stability: the second prompt extends the first one's conversation unchanged
    # up to the end of the first step's queue (only core memory changed in between).
    first, second = backend.prompts
    user_line = first[first.index("### Conversation") :].rsplit("AGENT: ", 1)[0]
    assert user_line in second


def test_prompt_prefix_is_stable_across_turns(store: Store, hash_embedder: Any) -> None:
    engine, backend = make(store, hash_embedder, [reply("one"), reply("two")])
    rt = engine.agent("t")
    rt.send_user_message("first")
    rt.send_user_message("second")
    first, second = backend.prompts
    # Everything of the first prompt but the trailing "AGENT: " is a prefix of the second.
    assert second.startswith(first[: -len("AGENT: ")])


def test_failed_call_gets_heartbeat_and_recovers(store: Store, hash_embedder: Any) -> None:
    engine, _ = make(
        store,
        hash_embedder,
        [
            step("core_memory_append", label="human", content="x" * 1000, request_heartbeat=False),
            step("core_memory_append", label="human", content="y" * 1000, request_heartbeat=False),
            step("core_memory_append", label="human", content="z" * 1000, request_heartbeat=False),
            reply("Saved what fits."),
        ],
    )
    rt = engine.agent("t")
    rec = Recorder()
    assert rt.send_user_message("remember all this", rec).reason == "message"
    statuses = [r.status for r in rec.of(ev.ToolResult)]
    assert statuses == ["OK", "Failed", "Failed"]  # 19 + 1 + 1000 fits 2000; 1000 more does not
    failed = [r for r in rec.of(ev.ToolResult) if r.status == "Failed"]
    assert failed and "archival" in failed[0].message and failed[0].heartbeat
    beats = [m for m in store.context_messages(rt.agent_id) if m.kind == "heartbeat"]
    assert any(b.content["reason"] == HEARTBEAT_FAILED for b in beats)


def test_core_memory_replace_rules(store: Store, hash_embedder: Any) -> None:
    engine, _ = make(
        store,
        hash_embedder,
        [
            step(
                "core_memory_replace",
                label="human",
                old_content="",
                new_content="a",
                request_heartbeat=True,
            ),
            step(
                "core_memory_replace",
                label="human",
                old_content="unknown",
                new_content="Anna",
                request_heartbeat=True,
            ),
            step("core_memory_append", label="human", content="Likes: tea", request_heartbeat=True),
            step(
                "core_memory_replace",
                label="human",
                old_content="Likes: tea",
                new_content="",
                request_heartbeat=True,
            ),
            reply("done"),
        ],
    )
    rt = engine.agent("t")
    rec = Recorder()
    rt.send_user_message("go", rec)
    results = rec.of(ev.ToolResult)
    assert results[0].status == "Failed" and "old_content is empty" in results[0].message
    assert [r.status for r in results[1:]] == ["OK", "OK", "OK"]
    assert store.get_block(rt.agent_id, "human").value == "First name: Anna"


def test_archival_insert_and_search_and_paging(store: Store, hash_embedder: Any) -> None:
    outputs = [
        step("archival_memory_insert", content=f"fact number {i} about tea", request_heartbeat=True)
        for i in range(7)
    ]
    outputs += [
        step("archival_memory_search", query="tea", page=1, request_heartbeat=True),
        step("archival_memory_search", query="tea", page=9, request_heartbeat=True),
        reply("ok"),
    ]
    engine, _ = make(store, hash_embedder, outputs, max_chain_steps=12)
    rt = engine.agent("t")
    rec = Recorder()
    rt.send_user_message("store facts", rec)
    results = rec.of(ev.ToolResult)
    assert store.count_passages(rt.agent_id) == 7
    assert results[7].message.startswith("Showing 2 of 7 results (page 1/1)")
    assert results[8].status == "Failed" and "page 9 does not exist" in results[8].message


def test_conversation_search_finds_evicted_messages(store: Store, hash_embedder: Any) -> None:
    engine, _ = make(
        store,
        hash_embedder,
        [
            reply("noted"),
            step("conversation_search", query="Lisbon", page=0, request_heartbeat=True),
            step(
                "conversation_search_date",
                start_date="2020-01-01",
                end_date="2099-12-31",
                page=0,
                request_heartbeat=True,
            ),
            step(
                "conversation_search_date",
                start_date="2020-13-01",
                end_date="2099-12-31",
                page=0,
                request_heartbeat=True,
            ),
            reply("You fly to Lisbon."),
        ],
    )
    rt = engine.agent("t")
    rt.send_user_message("I fly to Lisbon on May 3rd")
    store.evict_messages(m.id for m in store.context_messages(rt.agent_id))
    rec = Recorder()
    rt.send_user_message("where do I fly?", rec)
    search, by_date, bad = rec.of(ev.ToolResult)
    assert "Lisbon on May 3rd" in search.message
    assert by_date.message.startswith("Showing 3 of 3 results (page 0/0)")
    assert bad.status == "Failed" and "YYYY-MM-DD" in bad.message


def test_step_cap_forces_a_final_reply(store: Store, hash_embedder: Any) -> None:
    loop = step("archival_memory_search", query="x", page=0, request_heartbeat=True)
    engine, backend = make(
        store, hash_embedder, [loop, loop, reply("Sorry, I got stuck.")], max_chain_steps=3
    )
    rt = engine.agent("t")
    rec = Recorder()
    assert rt.send_user_message("hello", rec).reason == "message"
    assert "core_memory_append" in backend.grammars[0]
    assert "core_memory_append" not in backend.grammars[2]  # last step: send_message only


def test_step_cap_for_heartbeats_stops_the_chain(store: Store, hash_embedder: Any) -> None:
    loop = step("archival_memory_search", query="x", page=0, request_heartbeat=True)
    engine, _ = make(store, hash_embedder, [loop] * 3, max_chain_steps=3)
    rt = engine.agent("t")
    rec = Recorder()
    assert rt.timed_heartbeat(rec).reason == "step_cap"
    assert rec.of(ev.SystemNotice)[-1].kind == "step_cap"


def test_silent_stop_on_user_message_forces_reply(store: Store, hash_embedder: Any) -> None:
    engine, backend = make(
        store,
        hash_embedder,
        [
            step("archival_memory_insert", content="Anna likes tea", request_heartbeat=False),
            reply("I'll remember that you like tea."),
        ],
    )
    rt = engine.agent("t")
    assert rt.send_user_message("I like tea").reason == "message"
    assert "archival_memory_insert" not in backend.grammars[1]


def test_pause_heartbeats(store: Store, hash_embedder: Any) -> None:
    engine, _ = make(store, hash_embedder, [step("pause_heartbeats", minutes=9999)])
    rt = engine.agent("t")
    rec = Recorder()
    assert rt.timed_heartbeat(rec).reason == "no_message"
    assert "360 minutes" in rec.of(ev.ToolResult)[0].message
    assert rt.timed_heartbeat() is None  # paused: nothing runs, nothing queued


def test_cancel_keeps_user_message_and_drops_partial_step(store: Store, hash_embedder: Any) -> None:
    engine, _ = make(store, hash_embedder, [reply("a long answer " * 20)])
    rt = engine.agent("t")
    cancel = threading.Event()
    rec = Recorder()

    def on_event(event: ev.Event) -> None:
        rec(event)
        if isinstance(event, ev.MessageDelta):
            cancel.set()

    assert rt.send_user_message("hi", on_event, cancel).reason == "cancelled"
    assert [m.kind for m in store.context_messages(rt.agent_id)] == ["user_message"]
    assert rec.of(ev.TurnFinished)[-1].reason == "cancelled"


def test_resume_after_restart_renders_the_same_context(store: Store, hash_embedder: Any) -> None:
    engine, _ = make(store, hash_embedder, [reply("hello")])
    rt = engine.agent("t")
    rt.send_user_message("hi")
    before = rt.prompt()
    store.close()
    again = Store()
    engine2, _ = make(again, hash_embedder)
    assert engine2.agent("t").prompt() == before
    again.close()


def _base_tokens(store: Store, embedder: Any) -> int:
    engine, _ = make(store, embedder)
    return engine.agent("probe").context_usage().used


def test_memory_pressure_alert_then_flush_with_summary(store: Store, hash_embedder: Any) -> None:
    from ember.core.queue import SUMMARY_GRAMMAR

    base = _base_tokens(store, hash_embedder)
    n_ctx = base + 512 + 700  # the reserve is 512 at this size; ~700 tokens for the queue
    long = "I walked in the hills today and saw many birds. " * 4  # ~50 tokens
    summaries: list[str] = []

    def responder(prompt: str, grammar: str | None) -> str:
        if grammar == SUMMARY_GRAMMAR:
            summaries.append(prompt)
            return json.dumps({"summary": f"Anna walked in the hills ({len(summaries)})."})
        return reply("Lovely walk.")

    backend = ScriptedBackend(n_ctx=n_ctx, responder=responder)
    engine = Engine(store, backend, hash_embedder)
    rt = engine.agent("t")
    rec = Recorder()
    for i in range(30):
        rt.send_user_message(f"{i}: {long}", rec)
        if summaries:
            break
    notices = [n.kind for n in rec.of(ev.SystemNotice)]
    assert notices == ["memory_pressure", "flush"]
    # The summary request reuses the main context's prefix (a KV-cache hit in llama.cpp).
    head = summaries[0][: summaries[0].index("### Conversation")]
    assert backend.prompts[0].startswith(head)
    agent = rt.agent
    assert agent.summary_hidden > 0
    n = len(summaries)
    assert "prior messages" in agent.summary and f"Anna walked in the hills ({n})" in agent.summary
    # Summarised in pieces when the evicted part does not fit with the request: each piece
    # folds in the summary of the one before.
    for i in range(1, n):
        assert f"Anna walked in the hills ({i})" in summaries[i]
    in_ctx = store.count_messages(rt.agent_id, in_context=True)
    assert store.count_messages(rt.agent_id) == in_ctx + agent.summary_hidden
    assert store.context_messages(rt.agent_id)[0].role != "tool"
    usage = rt.context_usage()
    assert usage.used <= usage.warn_at  # the flush freed enough not to re-alert at once
    # Recursive: a second flush folds the first summary into the next one.
    first_summary = rt.agent.summary
    for i in range(30):
        rt.send_user_message(f"again {i}: {long}", rec)
        if len(summaries) > n:
            break
    assert first_summary in summaries[n]
    assert f"Anna walked in the hills ({len(summaries)})" in rt.agent.summary


def test_oversized_message_truncated_in_context_whole_in_recall(
    store: Store, hash_embedder: Any
) -> None:
    engine, _ = make(store, hash_embedder, [reply("That is long!")], n_ctx=4096)
    rt = engine.agent("t")
    huge = "word " * 20000
    rec = Recorder()
    assert rt.send_user_message(huge, rec).reason == "message"
    first = store.context_messages(rt.agent_id)[0]
    assert len(first.content["message"]) < len(huge) / 5
    assert "truncated" in first.content["message"]
    assert first.text == huge.strip()
    assert rec.of(ev.SystemNotice)[0].kind == "truncated"


def test_context_too_small_is_a_clear_error(store: Store, hash_embedder: Any) -> None:
    engine, _ = make(store, hash_embedder, [reply("x")], n_ctx=900)
    rt = engine.agent("t")
    result = rt.send_user_message("hi")
    assert result.reason == "error" and "too small" in (result.error or "")
    assert store.count_messages(rt.agent_id) == 1  # the user's message is kept


def test_recorded_message_is_queued_and_embedded_on_next_turn(
    store: Store, hash_embedder: Any
) -> None:
    from ember.core.engine import record_user_message

    engine, backend = make(store, hash_embedder, [reply("Noted both.")])
    rt = engine.agent("t")
    mid = record_user_message(store, rt.agent_id, "Dentist on Friday at nine")
    assert record_user_message(store, rt.agent_id, "   ") is None
    assert store.search_messages_vector(rt.agent_id, hash_embedder.embed(["dentist"])[0], 5) == []
    rt.send_user_message("Did you get that?")
    assert "Dentist on Friday at nine" in backend.prompts[0]  # the agent saw it
    hits = store.search_messages_vector(rt.agent_id, hash_embedder.embed(["Dentist Friday"])[0], 1)
    assert hits[0][0] == mid
