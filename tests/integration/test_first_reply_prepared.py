"""The first reply prepared before the first message, with the real bundled model (the
dialogue format it uses): after Ember.prepare_first_reply the first turn reads only what the
message brings, and the prepared cache is the state a cold read of the prompt gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.core.api import Ember, EngineConfig
from ember.core.kernel import events as ev
from ember.core.llm.kvstate import KVStateCache
from ember.core.storage.store import Store

pytestmark = pytest.mark.integration

CONFIG = EngineConfig(n_ctx=4096, temperature=0.0, max_chain_steps=1)


def _last_logits(backend: Any) -> np.ndarray:
    llm = backend.llm
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm._n_vocab,)).copy()


@pytest.mark.timeout(1800)  # real-model reads on a shared, loaded box
def test_the_prepared_first_turn_reads_only_the_message(
    store: Store, bundled_model: Path, embedder: Any, tmp_path: Path
) -> None:
    from ember.core.agent.engine import NEXT_EVENT
    from ember.core.llm.llama import LlamaBackend

    ember = Ember(store, embedder=embedder, kv_cache=KVStateCache(tmp_path / "kv"))
    backend = LlamaBackend(bundled_model, n_ctx=CONFIG.n_ctx)
    ember.attach_backend(backend, CONFIG)
    assert ember.engine is not None and ember.engine.dialogue
    agent = ember.agent_for_chat(None)
    ember.login(agent.id)
    prepared = ember.prepare_first_reply(agent.id)
    assert prepared.complete and prepared.tokens_read > 30

    # What the cache holds is what a cold read gives: the next token seen alike.
    tokens = backend.prompt_tokens(ember.engine.context(agent.id).render(extra=(NEXT_EVENT,)))
    held = backend.cached_prefix(tokens)
    assert held > 30 and backend.kv_can_continue(held)
    backend.prefill(tokens)
    warm = _last_logits(backend)
    backend.reset()
    backend.prefill(tokens)
    cold = _last_logits(backend)
    assert float(np.corrcoef(warm, cold)[0, 1]) > 0.99

    backend.reset()
    ember.engine.warm._tried.discard(agent.id)  # prepared again: the shared state restored
    ember.prepare_first_reply(agent.id)
    seen: list[ev.Event] = []
    finished = ember.send(agent.id, "Hi! I'm Sam, I live in Lisbon and I keep bees.", seen.append)
    assert finished.reason == "message"
    [stats] = [e for e in seen if isinstance(e, ev.StepStats)]
    assert stats.evaluated_tokens < stats.prompt_tokens / 3, stats
    ember.close()
