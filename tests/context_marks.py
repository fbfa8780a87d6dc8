"""Issue 11's marks for context management, measured on a chat: the scripted tests in
tests/core/agent/test_context.py and the real-model check in benchmarks/small_window.py both
drive an engine through :func:`chat` and judge the result with :meth:`Marks.problems`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ember.core.agent.engine import Engine
from ember.core.kernel import events as ev

SHARE_LOW, SHARE_HIGH = 0.40, 0.60


@dataclass(frozen=True)
class Flush:
    """One flush: the share of the queue's tokens that left the context, whether the
    context landed below the alert line, the alerts given during the fill before it, and
    the queue's tokens just before it."""

    share: float
    landed_below_alert: bool
    alerts_in_fill: int
    queue_tokens: int


@dataclass
class Marks:
    """What a chat did to the context. (Several flushes for one message are no fault: a
    turn of many tool steps can fill a small window more than once.)"""

    flushes: list[Flush] = field(default_factory=list)
    most_flushes_per_message: int = 0
    overruns: list[tuple[int, int]] = field(default_factory=list)  # (used, budget)
    replies: int = 0
    steps: int = 0

    def problems(self) -> list[str]:
        """Each mark the chat missed, in words (empty when all hold)."""
        out = []
        for n, f in enumerate(self.flushes, 1):
            if not SHARE_LOW <= f.share <= SHARE_HIGH:
                out.append(f"flush {n} evicted {f.share:.1%} of the queue's tokens")
            if not f.landed_below_alert:
                out.append(f"flush {n} landed above the alert line")
            if f.alerts_in_fill > 1:
                out.append(f"{f.alerts_in_fill} alerts before flush {n}")
        out += [f"a step used {u} of a {b}-token budget" for u, b in self.overruns]
        return out


def chat(
    engine: Engine,
    messages: Sequence[str],
    auto_recall: bool = False,
    on_message: Callable[[int, list[ev.Event]], None] | None = None,
) -> Marks:
    """Send ``messages`` to a new agent "t" (automatic recall on or off) and measure every
    flush where it happens, whichever step of a turn it comes in."""
    store = engine.store
    rt = engine.agent("t")
    agent_id = rt.agent_id
    store.update_agent(agent_id, settings={"auto_recall": auto_recall})
    ctx = rt.context
    marks = Marks()
    flush = ctx.flush
    alerts_before = 0
    landing: list[tuple[float, int, int]] = []  # a flush whose landing is not seen yet

    def alerts() -> int:
        sql = "SELECT count(*) FROM messages WHERE agent_id = ? AND kind = 'memory_pressure'"
        return int(store.conn.execute(sql, (agent_id,)).fetchone()[0])

    def measured_flush(*args: Any, **kwargs: Any) -> bool:
        nonlocal alerts_before
        if landing:  # a flush that flushes again (a stale prepared summary): measured once
            return flush(*args, **kwargs)
        queue = store.context_messages(agent_id)
        # What leaves: the oldest messages, the summary they are folded in with, and a
        # stale memory-pressure alert; the new summary is not counted.
        queued = ctx.queue_tokens(queue, rt.agent.summary)
        landing.append((0.0, 0, 0))
        try:
            done = flush(*args, **kwargs)
        finally:
            landing.clear()
        if done:
            ids = {m.id for m in queue}
            kept = [m for m in store.context_messages(agent_id) if m.id in ids]
            share = 1 - ctx.queue_tokens(kept) / queued
            landing.append((share, queued, alerts() - alerts_before))
            alerts_before = alerts()
        return done

    ctx.flush = measured_flush  # type: ignore[method-assign]
    try:
        for number, text in enumerate(messages):
            seen: list[ev.Event] = []

            def record(event: ev.Event, seen: list[ev.Event] = seen) -> None:
                seen.append(event)
                if isinstance(event, ev.ContextUsage):
                    marks.steps += 1
                    if event.used > event.budget:
                        marks.overruns.append((event.used, event.budget))
                    if landing:  # the first step after a flush
                        share, queued, fill_alerts = landing.pop()
                        below = event.used <= event.warn_at
                        marks.flushes.append(Flush(share, below, fill_alerts, queued))

            if rt.send_user_message(text, record).reason == "message":
                marks.replies += 1
            flushed = sum(1 for e in seen if isinstance(e, ev.SystemNotice) and e.kind == "flush")
            marks.most_flushes_per_message = max(marks.most_flushes_per_message, flushed)
            if on_message is not None:
                on_message(number, seen)
    finally:
        del ctx.flush
    return marks
