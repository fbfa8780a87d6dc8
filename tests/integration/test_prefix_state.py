"""The shared prefix state with the real model: the first new agent builds it, a later new
agent (in a new engine, as after a restart) restores it and reads only its own tokens, the
model then seeing the next token as after a cold read; and a restored state is never rolled
back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.agent.engine import Engine, EngineConfig
from ember.core.agent.prefixstate import prefix_key, shared_prefix
from ember.core.kernel import events as ev
from ember.core.llm.backend import Prompt
from ember.core.llm.kvstate import KVStateCache
from ember.core.storage.store import Store

pytestmark = pytest.mark.integration

# The function format, whose long instructions are the shared prefix (the dialogue format's
# is one paragraph); examples on at 4096.
CONFIG = EngineConfig(n_ctx=4096, temperature=0.0, max_chain_steps=1, step_format="functions")


def _last_logits(backend: Any) -> np.ndarray:
    """The logits of the next token after what the backend's cache holds."""
    llm = backend.llm
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm._n_vocab,)).copy()


def _first_step(engine: Engine, name: str) -> ev.StepStats:
    agent = presets.create_agent(engine.store, name)
    rt = engine.agent(agent.name)
    rt.login()
    seen: list[ev.Event] = []
    rt.send_user_message(f"Hello, I am {name}'s owner.", seen.append)
    stats = [e for e in seen if isinstance(e, ev.StepStats)]
    assert stats, seen
    return stats[0]


@pytest.mark.timeout(1800)  # two real-model turns on a shared, loaded box
def test_new_agent_reads_only_its_own_tokens(
    store: Store, bundled_model: Path, embedder: Any, tmp_path: Path
) -> None:
    from ember.core.llm.llama import LlamaBackend

    cache = KVStateCache(tmp_path / "kv")
    first = Engine(store, LlamaBackend(bundled_model, n_ctx=4096), embedder, CONFIG, cache)
    built = _first_step(first, "Ada")
    # The first agent ever builds the shared state: everything is read, and counted (a step
    # whose looping thoughts were cut reads a token or two more in its second call).
    assert built.prompt_tokens <= built.evaluated_tokens <= built.prompt_tokens + 8
    assert cache.usage()[0] == 1
    first.backend.close()

    backend = LlamaBackend(bundled_model, n_ctx=4096)  # a new start
    second = Engine(store, backend, embedder, CONFIG, cache)
    stats = _first_step(second, "Bea")
    assert stats.evaluated_tokens < stats.prompt_tokens / 4, stats

    # The restored shared state is the state those tokens give: the model's view of the
    # next token matches a cold read of the whole prompt. (Compared on the logits: llama.cpp
    # is not bit-for-bit deterministic across batch splits here, and right after the
    # prompt's last newline several first tokens are near ties, so greedy texts may part.)
    bea = store.get_agent("Bea")
    tokens = backend.prompt_tokens(second.context(bea.id).render())
    prefix = shared_prefix(backend, second.prefix_references(bea.id), tokens)
    backend.reset()
    assert cache.restore(backend, prefix_key(prefix), tokens) == len(prefix)
    assert backend.prefill(tokens) == len(tokens) - len(prefix)
    warm = _last_logits(backend)
    backend.reset()
    assert backend.prefill(tokens) == len(tokens)
    cold = _last_logits(backend)
    assert float(np.corrcoef(warm, cold)[0, 1]) > 0.99
    assert int(cold.argmax()) in np.argsort(warm)[-5:]
    backend.close()


def test_restored_state_is_not_rolled_back(bundled_model: Path, tmp_path: Path) -> None:
    """A restored state holds only the last 512 positions of the sliding-window layers: a
    prompt that leaves it before its end is read from the start, not continued from a
    cache that lacks the window before the divergence."""
    from ember.core.llm.llama import LlamaBackend

    text = "Anna waters the tomatoes every Tuesday and writes down how tall they grew. " * 60
    backend = LlamaBackend(bundled_model, n_ctx=2048)
    saved = backend.prompt_tokens(Prompt.data(text))
    assert len(saved) > 700
    backend.prefill(saved)
    tokens, payload = backend.save_kv_state()
    other = Prompt.data(text[: len(text) * 2 // 3] + " Then she went home to read.")
    backend.reset()
    assert backend.load_kv_state(tokens, payload)
    n = len(backend.prompt_tokens(other))
    assert backend.cached_prefix(backend.prompt_tokens(other)) > n // 2  # a tempting reuse
    warm = "".join(backend.generate(other, max_tokens=8, temperature=0.0))
    assert backend.last_stats is not None and backend.last_stats.evaluated_tokens == n
    backend.reset()
    assert "".join(backend.generate(other, max_tokens=8, temperature=0.0)) == warm
    backend.close()
