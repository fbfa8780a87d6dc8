"""Summaries prepared while idle, with the real model: preparing one keeps the live KV
cache (the next normal step reads only its own tail), and the flush swaps it in; the
context after the flush, read while idle too, spares the flushing step all but its tail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import clock
from ember.core.kernel import events as ev
from ember.core.storage.store import Store

pytestmark = pytest.mark.integration


@pytest.mark.timeout(1800)  # three real-model turns and two summaries; a loaded box is slow
def test_preparing_keeps_the_live_cache_and_the_flush_swaps_it_in(
    store: Store, bundled_model: Path, embedder: Any
) -> None:
    from ember.core.llm.llama import LlamaBackend

    backend = LlamaBackend(bundled_model, n_ctx=2048)
    # The function format, whose prompt holds the queue that a flush summarises.
    config = EngineConfig(temperature=0.0, max_chain_steps=1, step_format="functions")
    engine = Engine(store, backend, embedder, config)
    rt = engine.agent("idle")
    t = clock.human_time(clock.now())
    i = 0
    while (usage := rt.context_usage()).used < usage.warn_at + 10:  # just past the alert
        fact = f"Note {i}: my sister Lena plays the cello on Tuesdays."
        content = {"type": "user_message", "message": fact, "time": t}
        store.add_message(rt.agent_id, "user", "user_message", content, fact)
        i += 1
    engine.recall.backfill(rt.agent_id)
    tokens = backend.prompt_tokens(rt.context.render())
    backend.prefill(tokens)  # the context is live, as in a session

    assert engine.prepare_flush(rt.agent_id)
    prepared = engine.prepared_summaries[rt.agent_id]
    assert prepared.summary.startswith("Earlier, ")
    # The summary call rolled the cache back; it was put back: no re-read of the queue.
    seen: list[ev.Event] = []
    rt.send_user_message("Who plays the cello?", seen.append)
    first = next(e for e in seen if isinstance(e, ev.StepStats))
    assert not any(isinstance(e, ev.SystemNotice) and e.kind == "flush" for e in seen)
    # Only the new events are read (the context before them is all cached), not the
    # queue after the summary's cut.
    assert first.evaluated_tokens <= first.prompt_tokens - len(tokens) + 10, first

    # Fill to the flush line: the flush swaps the prepared summary in (no summary call).
    while (usage := rt.context_usage()).used < usage.flush_at - 10:
        content = {"type": "user_message", "message": "More about Lena.", "time": t}
        store.add_message(rt.agent_id, "user", "user_message", content, "More about Lena.")
    engine.recall.backfill(rt.agent_id)
    assert engine.prepare_flush(rt.agent_id)
    ready = engine.prepared_summaries[rt.agent_id]
    state = engine.prepared_state.state
    assert state is not None and state.agent_id == rt.agent_id
    seen = []
    rt.send_user_message("Tell me about my sister, please, in a few words.", seen.append)
    assert any(isinstance(e, ev.SystemNotice) and e.kind == "flush" for e in seen)
    assert not any(isinstance(e, ev.SummaryProgress) for e in seen)
    assert ready.summary in rt.agent.summary
    # The step after the flush continued the prepared state: it read only its tail.
    flushed = next(e for e in seen if isinstance(e, ev.StepStats))
    assert flushed.evaluated_tokens <= flushed.prompt_tokens - len(state.tokens) + 1, flushed
    assert engine.prepared_state.state is None
    backend.close()
