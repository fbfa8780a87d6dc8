"""The agent loop, driven by a scripted backend (deterministic model outputs)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ember.core.agent.engine import Engine
from ember.core.agent.tools import ToolRegistry
from ember.core.kernel import events as ev
from ember.core.llm.backend import Backend, KVStateBackend
from ember.core.llm.scripted import ScriptedBackend
from ember.core.llm.scripted import scripted_reply as reply
from ember.core.llm.scripted import scripted_step as step
from ember.core.storage.messages import HEARTBEAT_FAILED, HEARTBEAT_REQUESTED
from ember.core.storage.store import Store


def test_reply_streams_and_is_committed(store: Store, make_engine: Any, recorder: Any) -> None:
    engine, backend = make_engine([reply('Hello "Anna"!\nNice to meet you.')])
    rt = engine.agent("test")
    rec = recorder
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
        "PromptProgress",
        "StepStats",
        "ToolCall",
        "AssistantMessage",
        "TurnFinished",
    ]
    messages = store.context_messages(rt.agent_id)
    assert [(m.role, m.kind) for m in messages] == [("user", "user_message"), ("assistant", "step")]
    assert messages[1].text == msg.text
    # The grammar given to the model offers the eight functions (as quoted GBNF literals)
    # but pause_heartbeats, since timed heartbeats are off.
    names = list(ToolRegistry().tools)
    assert len(names) == 8
    offered = [n for n in names if f'\\"{n}\\", \\"arguments\\"' in backend.grammars[0]]
    assert offered == [n for n in names if n != "pause_heartbeats"]


def test_chaining_with_heartbeat_then_reply(store: Store, make_engine: Any, recorder: Any) -> None:
    engine, backend = make_engine(
        [
            step("core_memory_append", label="human", content="Name: Anna", request_heartbeat=True),
            reply("Got it, Anna."),
        ],
    )
    rt = engine.agent("t")
    rec = recorder
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


def test_prompt_prefix_is_stable_across_turns(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, backend = make_engine([reply("one"), reply("two")])
    rt = engine.agent("t")
    rt.send_user_message("first")
    rt.send_user_message("second")
    first, second = backend.prompts
    # Everything of the first prompt but the trailing "AGENT: " is a prefix of the second.
    assert second.startswith(first[: -len("AGENT: ")])


def test_failed_call_gets_heartbeat_and_recovers(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, _ = make_engine(
        [
            step("core_memory_append", label="human", content="x" * 1000, request_heartbeat=True),
            step("core_memory_append", label="human", content="y" * 1000, request_heartbeat=True),
            step("core_memory_append", label="human", content="z" * 1000, request_heartbeat=True),
            reply("Saved what fits."),
        ],
    )
    rt = engine.agent("t")
    rec = recorder
    assert rt.send_user_message("remember all this", rec).reason == "message"
    statuses = [r.status for r in rec.of(ev.ToolResult)]
    assert statuses == ["OK", "Failed", "Failed"]  # 19 + 1 + 1000 fits 2000; 1000 more does not
    failed = [r for r in rec.of(ev.ToolResult) if r.status == "Failed"]
    assert failed and "archival" in failed[0].message and failed[0].heartbeat
    beats = [m for m in store.context_messages(rt.agent_id) if m.kind == "heartbeat"]
    assert any(b.content["reason"] == HEARTBEAT_FAILED for b in beats)


def test_core_memory_replace_rules(store: Store, make_engine: Any, recorder: Any) -> None:
    engine, _ = make_engine(
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
    rec = recorder
    rt.send_user_message("go", rec)
    results = rec.of(ev.ToolResult)
    assert results[0].status == "Failed" and "old_content is empty" in results[0].message
    assert [r.status for r in results[1:]] == ["OK", "OK", "OK"]
    assert store.get_block(rt.agent_id, "human").value == "First name: Anna"


def test_archival_insert_and_search_and_paging(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    outputs = [
        step("archival_memory_insert", content=f"fact number {i} about tea", request_heartbeat=True)
        for i in range(7)
    ]
    outputs += [
        step("archival_memory_search", query="tea", page=1, request_heartbeat=True),
        step("archival_memory_search", query="tea", page=9, request_heartbeat=True),
        reply("ok"),
    ]
    engine, _ = make_engine(outputs, max_chain_steps=12)
    rt = engine.agent("t")
    rec = recorder
    rt.send_user_message("store facts", rec)
    results = rec.of(ev.ToolResult)
    assert store.count_passages(rt.agent_id) == 7
    assert results[7].message.startswith("Showing 2 of 7 results (page 1/1)")
    assert results[8].status == "Failed" and "page 9 does not exist" in results[8].message


def test_conversation_search_finds_evicted_messages(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, _ = make_engine(
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
    rec = recorder
    rt.send_user_message("where do I fly?", rec)
    search, by_date, bad = rec.of(ev.ToolResult)
    assert "Lisbon on May 3rd" in search.message
    assert by_date.message.startswith("Showing 3 of 3 results (page 0/0)")
    assert bad.status == "Failed" and "YYYY-MM-DD" in bad.message


def test_step_cap_forces_a_final_reply(store: Store, make_engine: Any, recorder: Any) -> None:
    loop = step("archival_memory_search", query="x", page=0, request_heartbeat=True)
    engine, backend = make_engine([loop, loop, reply("Sorry, I got stuck.")], max_chain_steps=3)
    rt = engine.agent("t")
    rec = recorder
    assert rt.send_user_message("hello", rec).reason == "message"
    assert "core_memory_append" in backend.grammars[0]
    assert "core_memory_append" not in backend.grammars[2]  # last step: send_message only


def test_step_cap_for_heartbeats_stops_the_chain(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    loop = step("archival_memory_search", query="x", page=0, request_heartbeat=True)
    engine, _ = make_engine([loop] * 3, max_chain_steps=3)
    rt = engine.agent("t")
    rec = recorder
    assert rt.timed_heartbeat(rec).reason == "step_cap"
    assert rec.of(ev.SystemNotice)[-1].kind == "step_cap"


def test_silent_stop_on_user_message_forces_reply(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, backend = make_engine(
        [
            step("archival_memory_insert", content="Anna likes tea", request_heartbeat=False),
            reply("I'll remember that you like tea."),
        ],
    )
    rt = engine.agent("t")
    assert rt.send_user_message("I like tea").reason == "message"
    assert "archival_memory_insert" not in backend.grammars[1]


def test_pause_heartbeats(store: Store, make_engine: Any, recorder: Any) -> None:
    engine, _ = make_engine([step("pause_heartbeats", minutes=999)], timed_heartbeat_minutes=5)
    rt = engine.agent("t")
    rec = recorder
    assert rt.timed_heartbeat(rec).reason == "no_message"
    assert "360 minutes" in rec.of(ev.ToolResult)[0].message
    assert rt.timed_heartbeat() is None  # paused: nothing runs, nothing queued


def test_cancel_keeps_user_message_and_drops_partial_step(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, _ = make_engine([reply("a long answer " * 20)])
    rt = engine.agent("t")
    cancel = threading.Event()
    rec = recorder

    def on_event(event: ev.Event) -> None:
        rec(event)
        if isinstance(event, ev.MessageDelta):
            cancel.set()

    assert rt.send_user_message("hi", on_event, cancel).reason == "cancelled"
    assert [m.kind for m in store.context_messages(rt.agent_id)] == ["user_message"]
    assert rec.of(ev.TurnFinished)[-1].reason == "cancelled"


def test_resume_after_restart_renders_the_same_context(
    store: Store, make_engine: Any, hash_embedder: Any
) -> None:
    engine, _ = make_engine([reply("hello")])
    rt = engine.agent("t")
    rt.send_user_message("hi")
    before = rt.prompt()
    store.close()
    again = Store()
    engine2 = Engine(again, ScriptedBackend(n_ctx=8192), hash_embedder, engine.config)
    assert engine2.agent("t").prompt() == before
    again.close()


def test_recorded_message_is_queued_and_embedded_on_next_turn(
    store: Store, make_engine: Any, hash_embedder: Any
) -> None:
    from ember.core.agent.engine import record_user_message

    engine, backend = make_engine([reply("Noted both.")])
    rt = engine.agent("t")
    mid = record_user_message(store, rt.agent_id, "Dentist on Friday at nine")
    assert record_user_message(store, rt.agent_id, "   ") is None
    assert store.search_messages_vector(rt.agent_id, hash_embedder.embed(["dentist"])[0], 5) == []
    rt.send_user_message("Did you get that?")
    assert "Dentist on Friday at nine" in backend.prompts[0]  # the agent saw it
    hits = store.search_messages_vector(rt.agent_id, hash_embedder.embed(["Dentist Friday"])[0], 1)
    assert hits[0][0] == mid


def test_backends_say_what_they_offer() -> None:
    scripted = ScriptedBackend()
    assert isinstance(scripted, Backend)
    assert not isinstance(scripted, KVStateBackend)  # no warm restart for it


def test_engine_without_kv_capability_saves_no_warm_state(
    store: Store, make_engine: Any, tmp_path: Any, hash_embedder: Any
) -> None:
    from ember.core.llm.kvstate import KVStateCache

    backend = ScriptedBackend([reply("hi")], n_ctx=8192)
    engine = Engine(store, backend, hash_embedder, kv_cache=KVStateCache(tmp_path / "kv"))
    engine.agent("t").send_user_message("hello")
    assert not engine.warm.enabled and engine.save_warm_state() is False
    engine.close()
    assert backend.closed


def test_off_format_step_is_a_failed_result_and_the_agent_recovers(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, _ = make_engine(
        [
            '{"thoughts": "oops", "function": "send_message", "arguments": {"message": 7}}',
            step("teleport", where="moon"),
            '{"function": "send_message", "arguments": {"message": "\\ud800"}}',
            '{"a": ' + "[" * 5_000 + "}",
            reply("Sorry, here I am."),
        ]
    )
    rt = engine.agent("t")
    assert rt.send_user_message("hi", recorder).reason == "message"
    results = [m for m in store.context_messages(rt.agent_id) if m.kind == "function_result"]
    errors = [r.content["message"] for r in results]
    assert [r.content["status"] for r in results] == ["Failed"] * 4
    assert "message must be a string" in errors[0]
    assert 'No function named "teleport"' in errors[1]
    assert "lone surrogate" in errors[2]
    assert "deeper than" in errors[3]
    assert recorder.of(ev.AssistantMessage)[0].text == "Sorry, here I am."


def test_a_bug_inside_a_tool_is_not_reported_as_bad_arguments(make_engine: Any) -> None:
    from ember.core.agent import tools

    def broken(ctx: Any, content: str) -> str:
        raise TypeError("a bug in the tool")

    patched = [
        tools.Tool(t.name, t.description, t.params, broken, t.heartbeat)
        if t.name == "archival_memory_insert"
        else t
        for t in tools.base_tools()
    ]
    engine, _ = make_engine([step("archival_memory_insert", content="x", request_heartbeat=True)])
    engine.tools = tools.ToolRegistry(patched)
    with pytest.raises(TypeError, match="a bug in the tool"):
        engine.agent("t").send_user_message("store x")


def test_tool_failures_are_ember_errors() -> None:
    from ember.core.kernel.errors import EmberError, PageOutOfRange, ToolFailure
    from ember.core.memory.search import check_page

    assert issubclass(ToolFailure, EmberError)
    with pytest.raises(PageOutOfRange, match=r"page 3 does not exist \(there are 1 pages"):
        check_page(3, 1)


def test_only_the_newest_unanswered_login_stays_in_context(store: Store, make_engine: Any) -> None:
    engine, _ = make_engine([reply("Welcome back!")])
    rt = engine.agent("t")
    for _ in range(3):  # three starts of the app without a word
        rt.login()
    logins = [m for m in store.context_messages(rt.agent_id) if m.kind == "login"]
    assert len(logins) == 1
    assert logins[0].content["last_login"] != "never"  # the newest: it knows the last one
    agent = rt.agent
    assert store.count_messages(rt.agent_id) == 3  # nothing deleted: the rest is in recall
    assert store.count_messages(rt.agent_id, in_context=True) + agent.summary_hidden == 3
    rt.send_user_message("hi")
    rt.login()  # the agent answered after the last login: this one is new
    kinds = [m.kind for m in store.context_messages(rt.agent_id)]
    assert kinds == ["login", "user_message", "step", "login"]


def test_pause_heartbeats_is_offered_only_while_timed_heartbeats_are_on(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    pause = step("pause_heartbeats", minutes=30)
    engine, backend = make_engine([pause, reply("ok")])
    rt = engine.agent("t")
    rt.send_user_message("take a break", recorder)
    assert "pause_heartbeats" not in backend.grammars[0]
    assert "pause_heartbeats" not in backend.prompts[0].split("### Examples")[0]
    failed = [m for m in store.context_messages(rt.agent_id) if m.kind == "function_result"]
    assert 'No function named "pause_heartbeats"' in failed[0].content["message"]
    engine.config.timed_heartbeat_minutes = 30  # switched on in the settings
    backend.push(pause)
    assert rt.timed_heartbeat(recorder) is not None
    assert "pause_heartbeats" in backend.grammars[-1]
    assert "- pause_heartbeats(" in backend.prompts[-1]
    assert recorder.of(ev.ToolResult)[-1].message == "Timed heartbeats paused for 30 minutes."


def test_unparseable_output_is_kept_paired_with_its_failed_result(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    garbage = 'I think {"thoughts": "hm", "function": "send_mess\nEVENT: fake \ud800'
    engine, backend = make_engine([garbage, reply("Sorry!")])
    rt = engine.agent("t")
    assert rt.send_user_message("hi", recorder).reason == "message"
    queue = store.context_messages(rt.agent_id)
    assert [(m.role, m.kind) for m in queue] == [
        ("user", "user_message"),
        ("assistant", "invalid_step"),
        ("tool", "function_result"),
        ("user", "heartbeat"),
        ("assistant", "step"),
    ]
    assert queue[1].content["raw"] == garbage.replace("\ud800", "\ufffd")  # nothing lost
    assert queue[2].content["status"] == "Failed"
    [rejected] = recorder.of(ev.StepRejected)
    assert rejected.raw == queue[1].content["raw"] and "JSON" in rejected.error
    # The agent sees what it wrote (on one line: it cannot fake events), then the failure.
    second = backend.prompts[1]
    shown = 'AGENT: I think {"thoughts": "hm", "function": "send_mess EVENT: fake \ufffd\n'
    assert shown in second
    assert second.index(shown) < second.index('EVENT: {"status": "Failed"')


def test_model_sees_argument_descriptions_and_limits(make_engine: Any) -> None:
    engine, backend = make_engine([reply("hi")], n_ctx=8192)
    engine.agent("t").send_user_message("hello")
    functions = backend.prompts[0].split("### Functions")[1].split("###")[0]
    assert "- core_memory_replace(label, old_content, new_content, request_heartbeat):" in functions
    assert "old_content: the exact text to replace (text, at most 300 characters)" in functions
    assert "label: which core memory block (persona | human)" in functions
    assert "message: the message, in your persona's voice (text, at most 1000 characters)" in (
        functions
    )


def test_reply_reserve_holds_the_longest_step_the_grammar_allows(make_engine: Any) -> None:
    """A core_memory_replace at every limit (thoughts, old and new content) used to outgrow
    the reserve and be cut into a failure; now the reserve is sized from it."""
    for n_ctx in (2048, 4096, 8192, 16384):
        engine, backend = make_engine(n_ctx=n_ctx)
        limits = engine.limits
        longest = step(
            "core_memory_replace",
            thoughts="t" * limits.thoughts,
            label="human",
            old_content="o" * limits.anchor,
            new_content="n" * limits.content,
            request_heartbeat=True,
        )
        assert len(backend.tokenize(longest)) <= engine.reserve <= n_ctx // 4
        assert limits.message >= 120
    full = make_engine(n_ctx=8192)[0].limits
    assert (full.message, full.thoughts) == (1000, 300)  # no longer 600 and cut mid-sentence


def test_replies_are_never_cut_silently(store: Store, make_engine: Any, recorder: Any) -> None:
    engine, backend = make_engine(n_ctx=8192)
    rt = engine.agent("t")
    limit = engine.limits.message
    backend.push(reply("x" * limit))  # as long as the grammar lets it be: maybe cut
    rt.send_user_message("tell me everything", recorder)
    [notice] = [n for n in recorder.of(ev.SystemNotice) if n.kind == "reply_cut"]
    assert f"limit of {limit} characters" in notice.text
    # A step that runs into the token limit is not a reply cut short: it is a Failed step
    # that tells the agent why, and the agent tries again.
    backend.push(reply("y" * (8 * engine.reserve)), reply("Short answer."))
    recorder.clear()
    assert rt.send_user_message("again", recorder).reason == "message"
    [rejected] = recorder.of(ev.StepRejected)
    assert f"cut off at {engine.reserve} tokens" in rejected.error
    assert recorder.of(ev.AssistantMessage)[0].text == "Short answer."
    assert backend.constraints[-1] is not None
