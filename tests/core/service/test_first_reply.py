"""The first reply prepared before the user's first message (Ember.prepare_first_reply):
the embedding model loaded, the agent's prompt read into the model's cache (the shared
prefix state built and saved on the way), so the first turn reads only the new message;
cancellable at once. A scripted backend with a KV cache (tests/kv_scripted.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ember.core.api import Ember, EngineConfig, Prepared, Preparing
from ember.core.kernel import events as ev
from ember.core.llm.kvstate import KVStateCache
from ember.core.storage.store import Store
from tests.conftest import HashEmbedder
from tests.kv_scripted import KVScriptedBackend

REPLY = "Ember: Hello Sam, nice to meet you.\n"
MESSAGE = "Hi! I'm Sam, I live in Lisbon and I keep bees."


class LazyEmbedder(HashEmbedder):
    """A hash embedder that, like the real one, is loaded on first use."""

    def __init__(self) -> None:
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self.loads > 0

    def load(self) -> None:
        self.loads += 1

    def embed(self, texts: Any) -> Any:
        if not self.loads:
            self.load()
        return super().embed(texts)


def _ember(tmp_path: Path, name: str) -> tuple[Ember, KVScriptedBackend, LazyEmbedder]:
    """A fresh install: a new database and cache, the default agent, the model attached
    and the session started, as ``ember chat`` and the window do before the first message."""
    embedder = LazyEmbedder()
    ember = Ember(
        Store(tmp_path / name / "ember.sqlite3"),
        embedder=embedder,
        kv_cache=KVStateCache(tmp_path / name / "kv", min_prefix=8),
    )
    backend = KVScriptedBackend([REPLY, REPLY], n_ctx=8192)
    ember.attach_backend(backend, EngineConfig(step_format="dialogue"))
    return ember, backend, embedder


def _first_turn(ember: Ember) -> ev.StepStats:
    agent = ember.agent_for_chat(None)
    seen: list[ev.Event] = []
    assert ember.send(agent.id, MESSAGE, seen.append).reason == "message"
    [stats] = [e for e in seen if isinstance(e, ev.StepStats)]
    return stats


def test_prepared_the_first_turn_reads_only_the_new_message(tmp_path: Path) -> None:
    cold, _, _ = _ember(tmp_path, "cold")
    cold.login(cold.agent_for_chat(None).id)
    unprepared = _first_turn(cold)

    ember, backend, embedder = _ember(tmp_path, "prepared")
    agent = ember.agent_for_chat(None)
    ember.login(agent.id)
    seen: list[Preparing] = []
    prepared = ember.prepare_first_reply(agent.id, on_progress=seen.append)
    assert prepared.complete and prepared.embedder_loaded and embedder.loads == 1
    assert prepared.tokens_read == backend.evaluated("prefill") > 0
    assert ember.kv_cache is not None and ember.kv_cache.usage()[0] == 1  # the shared state
    assert seen[-1] == Preparing("embedder")  # the prompt first: a message may cut it short
    prompt = [p for p in seen if p.stage == "prompt"]
    assert prompt[-1].done == prompt[-1].total > 0
    assert [p.done for p in prompt] == sorted(p.done for p in prompt)  # never back to 0 %

    stats = _first_turn(ember)
    assert stats.prompt_tokens == unprepared.prompt_tokens
    assert stats.evaluated_tokens + prepared.tokens_read == unprepared.evaluated_tokens
    assert stats.evaluated_tokens < unprepared.evaluated_tokens / 3
    assert embedder.loads == 1  # loaded once, before the message


def test_a_second_new_agent_restores_the_shared_state(tmp_path: Path) -> None:
    ember, backend, _ = _ember(tmp_path, "one")
    first = ember.agent_for_chat(None)
    ember.prepare_first_reply(first.id)
    built = backend.evaluated("prefill")
    other = ember.agent_for_chat("Iris")
    backend.reads.clear()
    again = ember.prepare_first_reply(other.id)
    assert again.complete and not again.embedder_loaded
    assert 0 < again.tokens_read < built  # only its own core memory: the rest was restored


def test_cancelled_it_stops_at_once_and_the_turn_reads_the_rest(tmp_path: Path) -> None:
    cold, _, _ = _ember(tmp_path, "cold")
    whole = _first_turn(cold).evaluated_tokens

    ember, backend, _ = _ember(tmp_path, "cancelled")
    agent = ember.agent_for_chat(None)
    cancel = threading.Event()
    batches: list[int] = []

    def user_sends() -> None:  # the user's message arrives during the second batch
        batches.append(len(batches))
        if len(batches) == 2:
            cancel.set()

    backend.on_batch = user_sends
    prepared = ember.prepare_first_reply(agent.id, cancel)
    assert not prepared.complete
    assert prepared.tokens_read == 0 and len(batches) == 2  # nothing read after the cancel
    kept = backend.evaluated("prefill")
    assert kept == backend.batch  # the batch read before the cancel stays in the cache
    backend.on_batch = None
    stats = _first_turn(ember)
    assert stats.evaluated_tokens + kept == whole  # the turn reads the rest, once


def test_cancelled_before_it_starts_it_reads_nothing(tmp_path: Path) -> None:
    ember, backend, _ = _ember(tmp_path, "early")
    cancel = threading.Event()
    cancel.set()
    prepared = ember.prepare_first_reply(ember.agent_for_chat(None).id, cancel)
    assert prepared == Prepared(False, 0, False, prepared.seconds)
    assert backend.reads == [] and not ember.embedder.loaded  # left to the turn


def test_without_a_model_only_the_embedder_is_loaded(tmp_path: Path) -> None:
    embedder = LazyEmbedder()
    ember = Ember(Store(tmp_path / "ember.sqlite3"), embedder=embedder)
    prepared = ember.prepare_first_reply(ember.agent_for_chat(None).id)
    assert (prepared.embedder_loaded, prepared.complete, embedder.loads) == (True, False, 1)
