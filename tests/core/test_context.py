"""Context management: budget, memory pressure, eviction, the recursive summary, truncation."""

from __future__ import annotations

import json
import threading
from typing import Any

from ember.core import events as ev
from ember.core.engine import Engine
from ember.core.scripted_backend import ScriptedBackend
from ember.core.scripted_backend import scripted_reply as reply
from ember.core.store import Store


def _base_tokens(make_engine: Any) -> int:
    engine, _ = make_engine()
    return engine.agent("probe").context_usage().used


def test_memory_pressure_alert_then_flush_with_summary(
    store: Store, make_engine: Any, recorder: Any, hash_embedder: Any
) -> None:
    from ember.core.context import SUMMARY_CONSTRAINT

    base = _base_tokens(make_engine)
    n_ctx = base + 512 + 700  # the reserve is 512 at this size; ~700 tokens for the queue
    long = "I walked in the hills today and saw many birds. " * 4  # ~50 tokens
    summaries: list[str] = []

    def responder(prompt: str, constraint: Any) -> str:
        if constraint == SUMMARY_CONSTRAINT:
            summaries.append(prompt)
            return json.dumps({"summary": f"Anna walked in the hills ({len(summaries)})."})
        return reply("Lovely walk.")

    backend = ScriptedBackend(n_ctx=n_ctx, responder=responder)
    engine = Engine(store, backend, hash_embedder)
    rt = engine.agent("t")
    rec = recorder
    for i in range(30):
        rt.send_user_message(f"{i}: {long}", rec)
        if summaries:
            break
    notices = [n.kind for n in rec.of(ev.SystemNotice)]
    assert notices == ["flush"]  # the alert is for the agent (see below), not the user
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
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, _ = make_engine([reply("That is long!")], n_ctx=4096)
    rt = engine.agent("t")
    huge = "word " * 20000
    rec = recorder
    assert rt.send_user_message(huge, rec).reason == "message"
    first = store.context_messages(rt.agent_id)[0]
    assert len(first.content["message"]) < len(huge) / 5
    assert "truncated" in first.content["message"]
    assert first.text == huge.strip()
    assert rec.of(ev.SystemNotice)[0].kind == "truncated"


def test_context_too_small_is_a_clear_error(store: Store, make_engine: Any, recorder: Any) -> None:
    engine, _ = make_engine([reply("x")], n_ctx=900)
    rt = engine.agent("t")
    result = rt.send_user_message("hi")
    assert result.reason == "error" and "too small" in (result.error or "")
    assert store.count_messages(rt.agent_id) == 1  # the user's message is kept


def test_memory_pressure_alert_is_for_the_agent_not_the_user(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    base = _base_tokens(make_engine)
    engine, backend = make_engine([reply("ok")] * 40, n_ctx=base + 512 + 700)
    rt = engine.agent("t")
    for i in range(40):
        rt.send_user_message(f"{i}: I walked in the hills today and saw many birds.", recorder)
        if any(m.kind == "memory_pressure" for m in store.context_messages(rt.agent_id)):
            break
    alert = next(m for m in store.context_messages(rt.agent_id) if m.kind == "memory_pressure")
    assert "Save anything important" in alert.content["message"]
    assert "Save anything important" in backend.prompts[-1]  # the agent sees it
    assert not [n for n in recorder.of(ev.SystemNotice) if n.kind == "memory_pressure"]
    usage = recorder.of(ev.ContextUsage)[-1]  # front ends show a quiet meter instead
    assert usage.used > usage.warn_at


def _fill_until_flush(make_engine: Any, responder: Any) -> tuple[Any, Any]:
    """An engine whose next user message makes the context flush."""
    base = _base_tokens(make_engine)
    engine, backend = make_engine(n_ctx=base + 512 + 700)
    backend.responder = responder
    rt = engine.agent("t")
    for i in range(60):
        rt.send_user_message(f"{i}: I walked in the hills today and saw many birds.")
        usage = rt.context_usage()
        if usage.used > usage.flush_at - 40:
            return engine, rt
    raise AssertionError("the context never filled")


def test_summary_reports_progress_and_can_be_cancelled(store: Store, make_engine: Any) -> None:
    from ember.core.context import SUMMARY_CONSTRAINT

    def responder(prompt: str, constraint: Any) -> str:
        if constraint == SUMMARY_CONSTRAINT:
            return json.dumps({"summary": "Earlier, the user walked in the hills. " * 3})
        return reply("Lovely.")

    engine, rt = _fill_until_flush(make_engine, responder)
    before = (rt.agent.summary, rt.agent.summary_hidden, len(store.context_messages(rt.agent_id)))
    cancel = threading.Event()
    seen: list[ev.Event] = []

    def stop_at_summary(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.SummaryProgress) and event.stage == "writing":
            cancel.set()  # the user presses Stop while older messages are summarised

    long = "And then I walked much further, past the lake and the old mill. " * 6
    assert rt.send_user_message(long, stop_at_summary, cancel).reason == "cancelled"
    started = [e for e in seen if isinstance(e, ev.SummaryProgress)][0]
    assert started.stage == "started" and started.messages > 0 and started.piece == 1
    # Nothing was flushed and nothing lost: the new message is kept, the rest as it was.
    agent = rt.agent
    queue = store.context_messages(rt.agent_id)
    assert (agent.summary, agent.summary_hidden, len(queue) - 1) == before
    assert queue[-1].text == long.strip()
    assert not [e for e in seen if isinstance(e, ev.SystemNotice) and e.kind == "flush"]

    seen.clear()
    assert rt.send_user_message("Are you there?", seen.append).reason == "message"
    stages = [e.stage for e in seen if isinstance(e, ev.SummaryProgress)]
    assert stages[0] == "started" and "writing" in stages and stages[-1] == "done"
    purposes = {e.purpose for e in seen if isinstance(e, ev.PromptProgress)}
    assert purposes == {"summary", "step"}
    assert rt.agent.summary_hidden > before[1]
