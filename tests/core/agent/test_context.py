"""Context management: budget, memory pressure, eviction, the recursive summary, truncation."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import events as ev
from ember.core.kernel.errors import ContextTooSmall
from ember.core.llm.scripted import ScriptedBackend
from ember.core.llm.scripted import scripted_reply as reply
from ember.core.memory import autorecall
from ember.core.storage.store import Store
from tests.context_marks import chat

# Context management with MemGPT's function steps (tool results, heartbeats, alerts the agent
# acts on); the dialogue format's room is measured in test_dialogue_room below.
FUNCTIONS = EngineConfig(step_format="functions")
LONG = "I walked in the hills today and saw many birds. " * 4  # ~50 scripted tokens
FORTY_WORDS = (
    "Today I finally repaired the old bicycle in the shed, then rode it along the river "
    "to the market, bought apples and bread, met my neighbour Clara and talked about her "
    "garden, the weather and the concert next Friday evening in town."
)


def _summary_responder(summaries: list[str]) -> Any:
    from ember.core.agent.summary import SUMMARY_CONSTRAINT

    def responder(prompt: str, constraint: Any) -> str:
        if constraint == SUMMARY_CONSTRAINT:
            summaries.append(prompt)
            return json.dumps({"summary": f"Anna walked in the hills ({len(summaries)})."})
        return reply("Lovely walk.")

    return responder


def test_memory_pressure_alert_then_flush_with_summary(
    store: Store, make_engine: Any, recorder: Any, hash_embedder: Any
) -> None:
    summaries: list[str] = []
    backend = ScriptedBackend(n_ctx=2048, responder=_summary_responder(summaries))
    engine = Engine(store, backend, hash_embedder, FUNCTIONS)
    long = LONG
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
    notices = [m for m in store.recent_messages(rt.agent_id, 1000) if m.kind == "notice"]
    assert [m.content["kind"] for m in notices] == ["flush"]  # kept for the transcript
    assert store.count_messages(rt.agent_id) == in_ctx + agent.summary_hidden + len(notices)
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


def test_an_alert_that_would_overflow_is_a_flush(store: Store, hash_embedder: Any) -> None:
    """Past the alert line with no room left for the alert itself, the context flushes at
    once: an alert stored and retired in the same step would reach no one."""
    from ember.core.agent.context import PRESSURE_ALERT
    from ember.core.storage import messages as msgs

    backend = ScriptedBackend(n_ctx=2048, responder=_summary_responder([]))
    engine = Engine(store, backend, hash_embedder, FUNCTIONS)
    rt = engine.agent("t")
    ctx = rt.context
    event = json.dumps(msgs.system_alert(PRESSURE_ALERT))
    alert = ctx.count(ctx.render(queue=[], summary="", extra=(event,))) - ctx.budget().fixed
    budget = ctx.budget()
    i = 0
    while ctx.count(ctx.render()) <= budget.flush_at - alert // 2:
        said = f"{i} {'word ' * 20}"
        store.add_message(rt.agent_id, "user", "user_message", msgs.user_message(said), said)
        i += 1
    if ctx.count(ctx.render()) > budget.flush_at:
        store.evict_messages([store.context_messages(rt.agent_id)[-1].id])
    used = ctx.count(ctx.render())
    assert budget.warn_at < used <= budget.flush_at < used + alert
    seen: list[ev.Event] = []
    ctx.prepare(seen.append)
    assert [e.kind for e in seen if isinstance(e, ev.SystemNotice)] == ["flush"]
    kinds = [m.kind for m in store.recent_messages(rt.agent_id, 100)]
    assert "memory_pressure" not in kinds


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


def test_window_too_small_is_rejected_when_the_model_is_attached(
    store: Store, make_engine: Any
) -> None:
    with pytest.raises(ContextTooSmall, match=r"too small.*Use at least (\d+) tokens") as err:
        make_engine(n_ctx=900)
    smallest = int(re.findall(r"at least (\d+) tokens", str(err.value))[0])
    engine, _ = make_engine([reply("Hello!")], n_ctx=smallest)  # the size named works
    result = engine.agent("t").send_user_message("hi")
    assert result.reason == "message", result.error
    with pytest.raises(ContextTooSmall):
        make_engine(n_ctx=smallest - 256)


def test_core_memory_too_big_for_the_window_names_the_size_that_works(
    store: Store, make_engine: Any
) -> None:
    engine, _ = make_engine([reply("x")], n_ctx=2048)
    rt = engine.agent("t")
    store.add_block(rt.agent_id, "notes", "n" * 2000, limit=2000)
    result = rt.send_user_message("hi")
    assert result.reason == "error"
    smallest = engine.smallest_window(store.blocks(rt.agent_id))
    assert f"at least {smallest} tokens" in (result.error or "") and smallest > 2048
    kinds = [m.kind for m in store.recent_messages(rt.agent_id)]
    assert kinds == ["user_message", "notice"]  # the user's message is kept, and the error


def test_memory_pressure_alert_is_for_the_agent_not_the_user(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, backend = make_engine([reply("ok")] * 40, n_ctx=2048)
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
    engine, backend = make_engine(n_ctx=2048)
    backend.responder = responder
    rt = engine.agent("t")
    for i in range(60):
        rt.send_user_message(f"{i}: I walked in the hills today and saw many birds.")
        usage = rt.context_usage()
        if usage.used > usage.flush_at - 40:
            return engine, rt
    raise AssertionError("the context never filled")


def test_summary_reports_progress_and_can_be_cancelled(store: Store, make_engine: Any) -> None:
    from ember.core.agent.summary import SUMMARY_CONSTRAINT

    def responder(prompt: str, constraint: Any) -> str:
        if constraint == SUMMARY_CONSTRAINT:
            return json.dumps({"summary": "Earlier, the user walked in the hills. " * 3})
        return reply("Lovely.")

    _, rt = _fill_until_flush(make_engine, responder)
    before = (rt.agent.summary, rt.agent.summary_hidden, len(store.context_messages(rt.agent_id)))
    cancel = threading.Event()
    seen: list[ev.Event] = []

    def stop_at_summary(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.SummaryProgress) and event.stage == "writing":
            cancel.set()  # the user presses Stop while older messages are summarised

    long = "And then I walked much further, past the lake and the old mill. " * 6
    assert rt.send_user_message(long, stop_at_summary, cancel).reason == "cancelled"
    started = next(e for e in seen if isinstance(e, ev.SummaryProgress))
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


def test_thresholds_hold_at_a_small_window(store: Store, hash_embedder: Any) -> None:
    """Issue 11's check, scripted: 40 messages of ~40 words in a 2048-token window end with
    one alert per fill at most, and every flush evicts 40-60% of the queue's tokens and
    lands below the alert line."""
    summaries: list[str] = []
    backend = ScriptedBackend(n_ctx=2048, responder=_summary_responder(summaries))
    engine = Engine(store, backend, hash_embedder, FUNCTIONS)
    marks = chat(engine, [f"Message {i}. {FORTY_WORDS}" for i in range(40)])
    assert marks.replies == 40 and len(marks.flushes) >= 3
    assert marks.problems() == [] and marks.most_flushes_per_message == 1, marks
    assert [f.alerts_in_fill for f in marks.flushes[1:]] == [1] * (len(marks.flushes) - 1)


@pytest.mark.parametrize("n_ctx", [2048, 3072])
def test_recalled_memories_have_a_room_of_their_own(
    store: Store, hash_embedder: Any, n_ctx: int
) -> None:
    """With automatic recall on, its memories take a room of their own: the same marks as
    without (40-60% evicted per flush, below the alert line, one alert per fill at most,
    the reply reserve never used). A 2048-token window has no room for them (its queue
    budget is too small to share); a 3072-token one shows them."""
    summaries: list[str] = []
    backend = ScriptedBackend(n_ctx=n_ctx, responder=_summary_responder(summaries))
    engine = Engine(store, backend, hash_embedder, FUNCTIONS)
    marks = chat(engine, [f"Message {i}. {FORTY_WORDS}" for i in range(40)], auto_recall=True)
    assert marks.replies == 40 and len(marks.flushes) >= 3
    assert marks.problems() == [] and marks.most_flushes_per_message == 1, marks
    room = engine.agent("t").context.budget().room
    shown = any(autorecall.MARKER in p for p in backend.prompts)
    assert (room > 0, shown) == ((True, True) if n_ctx > 2048 else (False, False))


# A template with heavy markup around every turn (as chat templates have): counting
# messages without it underestimates what a flush frees.
HEAVY_TEMPLATE = (
    "{% for m in messages %}<|begin_of_turn|>role={{ m['role'] }} (a long role header)\n"
    "{{ m['content'] }}<|end_of_turn|> (and a long footer)\n{% endfor %}"
    "{% if add_generation_prompt %}<|begin_of_turn|>role=assistant (a long role header)\n"
    "{% endif %}"
)


def test_flush_counts_the_rendered_turns(store: Store, hash_embedder: Any) -> None:
    from ember.core.llm.backend import ChatFormat

    summaries: list[str] = []
    backend = ScriptedBackend(
        n_ctx=2048,
        responder=_summary_responder(summaries),
        chat_format=ChatFormat(HEAVY_TEMPLATE),
    )
    engine = Engine(store, backend, hash_embedder, FUNCTIONS)
    assert engine.renderer.uses_chat_template
    marks = chat(engine, [f"ok {i}" for i in range(60)])
    assert marks.flushes and marks.problems() == [], marks


def test_attaching_a_too_small_window_changes_nothing(store: Store, hash_embedder: Any) -> None:
    from dataclasses import replace

    from ember.core.service import Ember

    ember = Ember(store, embedder=hash_embedder)
    good = ScriptedBackend([reply("Still here.")], n_ctx=8192)
    ember.attach_backend(good, replace(ember.settings(), n_ctx=8192))
    agent = ember.agent_for_chat(None)
    small = ScriptedBackend(n_ctx=300)
    with pytest.raises(ContextTooSmall, match="Use at least"):
        ember.attach_backend(small, replace(ember.settings(), n_ctx=300))
    assert small.closed and not good.closed
    assert ember.settings().n_ctx == 8192
    assert ember.send(agent.id, "hello?").reason == "message"  # the old model still runs


def test_default_window_is_the_measured_one_and_saved_settings_stay(store: Store) -> None:
    from ember.core.llm.config import SETTINGS_KEY, EngineConfig

    assert EngineConfig.load(store).n_ctx == 8192  # a new database: the measured default
    # A database whose settings were saved before (every chat and GUI start saves them),
    # with a key this version no longer has: it keeps its window.
    store.set_setting(SETTINGS_KEY, {"n_ctx": 4096, "reply_reserve": 768, "temperature": 0.5})
    config = EngineConfig.load(store)
    assert (config.n_ctx, config.temperature) == (4096, 0.5)


def test_an_unreadable_summary_never_nests_the_head(store: Store, hash_embedder: Any) -> None:
    """A model that answers the summary request with something else (here: a reply) keeps
    the previous summary, bounded; the head never wraps the old head (it grew without
    bound and made the window 'too small' after a few flushes)."""
    backend = ScriptedBackend(n_ctx=2048, responder=lambda prompt, c: reply("Lovely."))
    engine = Engine(store, backend, hash_embedder, FUNCTIONS)
    rt = engine.agent("t")
    for i in range(40):
        assert rt.send_user_message(f"Message {i}. {FORTY_WORDS}").reason == "message"
    agent = rt.agent
    assert agent.summary_hidden > 0
    assert agent.summary.count("prior messages of") == 1
    assert len(agent.summary) < 400


def test_dialogue_room(store: Store, hash_embedder: Any) -> None:
    """The bundled model's format at the default window: an empty chat leaves most of the
    context to the conversation (issue 21: it used 35% of it), and 25 short exchanges,
    with what the memory pass notes about the user, stay below the memory-pressure line."""
    from ember.core.agent.dialogue_queue import KEPT
    from ember.core.llm.config import EngineConfig as Config
    from ember.core.memory import memorypass

    backend = ScriptedBackend(responder=lambda p, c: "Ember: Sounds good!\n", n_ctx=8192)
    engine = Engine(store, backend, hash_embedder, Config())
    assert engine.dialogue and engine.backend.n_ctx == Config().n_ctx == 8192
    rt = engine.agent("t")
    empty = rt.context_usage()
    assert empty.used <= 0.2 * empty.flush_at
    for i in range(25):
        rt.send_user_message(f"I went to the market on day {i} and bought some fresh bread.")
        memorypass.run(store, hash_embedder, rt.agent_id)
    usage = rt.context_usage()
    assert usage.used < usage.warn_at
    kinds = [m.kind for m in store.context_messages(rt.agent_id)]
    assert "memory_pressure" not in kinds
    # The queue keeps its newest messages (dialogue_queue.py), recall all 25.
    assert kinds.count("user_message") == KEPT // 2 + 1
    said = [m for m in store.recent_messages(rt.agent_id, 1000) if m.kind == "user_message"]
    assert len(said) == 25
    assert len(store.get_block(rt.agent_id, "human").value.splitlines()) == 26
