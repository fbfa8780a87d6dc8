"""Summaries prepared while idle (idleflush.py): written once the queue crosses the alert
line, swapped in by the flush only while still valid, cancellable, recall untouched.
(The live KV cache kept across the preparation: tests/integration/test_prefix_state.py.)"""

from __future__ import annotations

import json
import threading
from typing import Any

from ember.core.agent.summary import SUMMARY_CONSTRAINT
from ember.core.kernel import events as ev
from ember.core.llm.scripted import scripted_reply as reply
from ember.core.storage.store import Store

TEXT = "I walked in the hills today and saw many birds."


class Summaries:
    """A responder that numbers the summaries it writes."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, prompt: str, constraint: Any) -> str:
        if constraint == SUMMARY_CONSTRAINT:
            self.prompts.append(prompt)
            return json.dumps({"summary": f"Anna walked in the hills ({len(self.prompts)})."})
        return reply("Lovely walk.")


def _past_alert(make_engine: Any) -> tuple[Any, Any, Summaries]:
    engine, backend = make_engine(n_ctx=2048)
    summaries = Summaries()
    backend.responder = summaries
    rt = engine.agent("t")
    for i in range(60):
        usage = rt.context_usage()
        if usage.used > usage.warn_at + 40:
            return engine, rt, summaries
        rt.send_user_message(f"{i}: {TEXT}")
    raise AssertionError("the queue never crossed the alert line")


def _until_flush(rt: Any, rec: Any) -> None:
    for i in range(60):
        rt.send_user_message(f"later {i}: {TEXT}", rec)
        if any(n.kind == "flush" for n in rec.of(ev.SystemNotice)):
            return
    raise AssertionError("no flush")


def test_the_flush_swaps_in_the_summary_prepared_while_idle(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, rt, summaries = _past_alert(make_engine)
    assert summaries.prompts == []
    before = store.count_messages(rt.agent_id)
    assert engine.prepare_flush(rt.agent_id) is True
    assert len(summaries.prompts) == 1
    prepared = engine.prepared_summaries[rt.agent_id]
    assert engine.prepare_flush(rt.agent_id) is True  # still valid: not written again
    assert len(summaries.prompts) == 1
    assert store.count_messages(rt.agent_id) == before  # preparing changes nothing stored
    queue = store.context_messages(rt.agent_id)
    assert [m.id for m in queue[: len(prepared.evicted_ids)]] == list(prepared.evicted_ids)

    _until_flush(rt, recorder)
    assert len(summaries.prompts) == 1  # the flush only swapped it in
    assert not recorder.of(ev.SummaryProgress)
    agent = rt.agent
    assert "Anna walked in the hills (1)." in agent.summary
    in_context = {m.id for m in store.context_messages(rt.agent_id)}
    assert not in_context & set(prepared.evicted_ids)
    # Evicted messages stay in recall; the queue landed below the alert line.
    notices = [m for m in store.recent_messages(rt.agent_id, 1000) if m.kind == "notice"]
    assert [m.content["kind"] for m in notices] == ["flush"]  # kept for the transcript
    total = len(in_context) + agent.summary_hidden + len(notices)
    assert store.count_messages(rt.agent_id) == total
    usage = rt.context_usage()
    assert usage.used <= usage.warn_at
    assert rt.agent_id not in engine.prepared_summaries


def test_a_prepared_summary_that_no_longer_fits_is_not_used(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, rt, summaries = _past_alert(make_engine)
    assert engine.prepare_flush(rt.agent_id)
    store.update_agent(rt.agent_id, summary="Something else happened before.")
    _until_flush(rt, recorder)
    assert len(summaries.prompts) == 2  # written again, at the flush, with progress
    assert recorder.of(ev.SummaryProgress)
    assert "Anna walked in the hills (2)." in rt.agent.summary


def test_nothing_is_prepared_below_the_alert_line(store: Store, make_engine: Any) -> None:
    engine, backend = make_engine(n_ctx=2048)
    summaries = Summaries()
    backend.responder = summaries
    rt = engine.agent("t")
    rt.send_user_message(TEXT)
    assert engine.prepare_flush(rt.agent_id) is False
    assert summaries.prompts == [] and rt.agent_id not in engine.prepared_summaries


def test_a_cancelled_preparation_leaves_the_flush_as_it_was(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, rt, _ = _past_alert(make_engine)
    cancel = threading.Event()
    cancel.set()
    assert engine.prepare_flush(rt.agent_id, cancel) is False
    assert rt.agent_id not in engine.prepared_summaries
    _until_flush(rt, recorder)
    assert recorder.of(ev.SummaryProgress)  # summarised at the flush, as before


def test_the_cli_works_while_waiting_and_cancels_when_a_line_arrives() -> None:
    from ember.cli.chat import _idle_while_waiting

    class Service:
        def __init__(self) -> None:
            self.calls: list[tuple[str, int]] = []
            self.cancelled = 0

        def prepare_first_reply(
            self, agent_id: int, cancel: threading.Event, on_progress: object
        ) -> None:
            self.work("prepare", agent_id, cancel)

        def while_idle(self, agent_id: int, cancel: threading.Event) -> None:
            self.work("idle", agent_id, cancel)

        def work(self, what: str, agent_id: int, cancel: threading.Event) -> None:
            self.calls.append((what, agent_id))
            if cancel.wait(5):  # long idle work: cut short by the next line
                self.cancelled += 1

    service = Service()
    lines = iter([(1, "hello"), (2, "again")])
    got = list(_idle_while_waiting(lines, service, 7))  # type: ignore[arg-type]
    assert got == [(1, "hello"), (2, "again")]
    # At the first prompt the first reply is prepared (cut short, nothing else follows);
    # the idle work before the next line and at EOF.
    assert service.calls == [("prepare", 7), ("idle", 7), ("idle", 7)]
    assert service.cancelled == 3
