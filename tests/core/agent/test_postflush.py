"""The context after a coming flush, read while idle (postflush.py, idleflush.py): with a
scripted backend whose KV cache behaves like llama.cpp's (a prompt reuses its common prefix
with the cache; a loaded state, like Gemma 3's, can only be continued from its end), the
flushing turn reads only its new tail when the prepared state is valid, and reads its
prompt as before after anything that changes what the state holds."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.agent.summary import SUMMARY_CONSTRAINT
from ember.core.kernel import events as ev
from ember.core.kernel.errors import Cancelled
from ember.core.llm.backend import Prompt
from ember.core.llm.kvstate import KVStateCache, common_prefix
from ember.core.llm.scripted import ScriptedBackend
from ember.core.llm.scripted import scripted_reply as reply
from ember.core.storage.store import Store

TEXT = "I walked in the hills today and saw many birds."


class KVScripted(ScriptedBackend):
    """Scripted completions over a fake KV cache: tokens are 4-character pieces (as the
    scripted backend counts them), hashed so that different texts differ."""

    def __init__(self, n_ctx: int) -> None:
        super().__init__(n_ctx=n_ctx, responder=self.respond)
        self.kv: list[int] = []
        self.floor = 0  # a loaded state cannot continue from fewer tokens than this
        self.steps: list[tuple[int, list[int]]] = []  # (tokens read, prompt) of each step
        self.summaries = 0
        self.loads: list[list[int]] = []
        self.prefills: list[int] = []  # tokens each prefill read
        self.cancel_prefill = False

    def respond(self, prompt: str, constraint: Any) -> str:
        if constraint == SUMMARY_CONSTRAINT:
            self.summaries += 1
            return json.dumps({"summary": f"Anna walked in the hills ({self.summaries})."})
        return reply("Lovely walk.")

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        return [2 + zlib.crc32(text[i : i + 4].encode()) % 60000 for i in range(0, len(text), 4)]

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        return [1, *(t for part in prompt.parts for t in self.tokenize(part.text))]

    def _reusable(self, tokens: Sequence[int]) -> int:
        cached = min(common_prefix(self.kv, tokens), len(tokens) - 1)
        return cached if self.kv_can_continue(cached) else 0

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        return min(common_prefix(self.kv, tokens), len(tokens) - 1)

    def context_tokens(self) -> list[int]:
        return list(self.kv)

    def state_identity(self) -> dict[str, Any]:
        return {"model": "/scripted.gguf"}

    def save_kv_state(self) -> tuple[list[int], bytes]:
        return list(self.kv), np.asarray(self.kv, dtype="<i4").tobytes()

    def load_kv_state(self, tokens: Sequence[int], data: bytes) -> bool:
        assert np.frombuffer(data, dtype="<i4").tolist() == list(tokens)  # exact for them
        self.loads.append(list(tokens))
        self.kv, self.floor = list(tokens), len(tokens)
        return True

    def truncate_kv(self, n_tokens: int) -> None:
        self.kv = self.kv[:n_tokens]
        self.floor = min(self.floor, n_tokens) if n_tokens else 0

    def kv_can_continue(self, n_past: int) -> bool:
        return n_past <= 0 or n_past >= self.floor

    def _read(self, tokens: list[int]) -> int:
        cached = self._reusable(tokens)
        if cached == 0:
            self.floor = 0  # read from the start: an ordinary cache again
        self.kv = tokens
        return len(tokens) - cached

    def prefill(self, tokens: Sequence[int], **kwargs: Any) -> int:
        cancel: threading.Event | None = kwargs.get("cancel")
        if self.cancel_prefill or (cancel is not None and cancel.is_set()):
            raise Cancelled("Stopped.")
        self.prefills.append(self._read(list(tokens)))
        return self.prefills[-1]

    def generate(self, prompt: Prompt, **kwargs: Any) -> Iterator[str]:
        tokens = self.prompt_tokens(prompt)
        read = self._read(tokens)
        if kwargs.get("constraint") != SUMMARY_CONSTRAINT:
            self.steps.append((read, tokens))
        yield from super().generate(prompt, **kwargs)


def _engine(
    store: Store, embedder: Any, kv_cache: KVStateCache | None = None
) -> tuple[Engine, KVScripted]:
    backend = KVScripted(n_ctx=4096)
    config = EngineConfig(step_format="functions")
    return Engine(store, backend, embedder, config, kv_cache), backend  # type: ignore[arg-type]


def _to_the_brink(engine: Engine, name: str = "t") -> tuple[Any, str]:
    """An agent past the alert line, and a message that will make its next turn flush
    (while a short one will not)."""
    rt = engine.agent(name)
    for i in range(120):
        usage = rt.context_usage()
        gap = usage.flush_at - usage.used
        limit = rt.context.budget().message_limit
        if usage.used > usage.warn_at and 80 < gap < limit - 40:
            return rt, " ".join(["Birds sang all day long."] * ((gap + 20) * 4 // 25 + 1))
        rt.send_user_message(f"{i}: {TEXT}")
    raise AssertionError("never reached the flush line")


def _flush(rt: Any, message: str) -> tuple[int, list[int]]:
    """The flushing turn: (tokens its step read, its prompt's tokens)."""
    seen: list[ev.Event] = []
    backend = rt.engine.backend
    steps = len(backend.steps)
    rt.send_user_message(message, seen.append)
    assert any(isinstance(e, ev.SystemNotice) and e.kind == "flush" for e in seen)
    assert len(backend.steps) == steps + 1
    return backend.steps[-1]


def _tail(backend: KVScripted, message: str) -> int:
    """Tokens of the user's message event and what follows it, with a margin."""
    return len(backend.tokenize(message)) + 60


def test_the_flushing_turn_reads_only_its_new_tail(store: Store, hash_embedder: Any) -> None:
    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    live = backend.context_tokens()
    assert engine.prepare_flush(rt.agent_id)
    state = engine.prepared_state.state
    assert state is not None and state.agent_id == rt.agent_id
    assert backend.context_tokens() == live[: len(backend.kv)]  # the live cache is back
    assert len(backend.kv) > len(live) - 20
    assert engine.prepare_flush(rt.agent_id)  # nothing changed: nothing read again
    assert engine.prepared_state.state is state and backend.summaries == 1

    read, prompt = _flush(rt, message)
    assert backend.summaries == 1  # the prepared summary was swapped in
    assert backend.loads[-1] == list(state.tokens) == prompt[: len(state.tokens)]
    assert read == len(prompt) - len(state.tokens) <= _tail(backend, message)
    assert engine.prepared_state.state is None  # used once


def test_a_turn_that_does_not_flush_keeps_the_live_cache(store: Store, hash_embedder: Any) -> None:
    engine, backend = _engine(store, hash_embedder)
    rt, _ = _to_the_brink(engine)
    assert engine.prepare_flush(rt.agent_id)
    engine.warm_next(rt.agent_id)  # the rest of the idle work (Ember.while_idle)
    rt.send_user_message("Hi.")
    read, _ = backend.steps[-1]
    assert read <= _tail(backend, "Hi.")
    state = engine.prepared_state.state
    assert state is not None and list(state.tokens) not in backend.loads


def _falls_back(backend: KVScripted, rt: Any, message: str, summaries: int) -> None:
    """The flushing turn did not use the prepared state: it read its prompt as before."""
    loads = len(backend.loads)
    read, prompt = _flush(rt, message)
    assert len(backend.loads) == loads  # nothing loaded: the live cache read on
    fixed = rt.context.budget().fixed  # instructions, tools, core memory
    assert read >= len(prompt) - fixed - 16  # the new summary and all after it, again
    assert backend.summaries == summaries


def test_falls_back_after_another_message(store: Store, hash_embedder: Any) -> None:
    from ember.core.agent.runtime import record_user_message

    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    assert engine.prepare_flush(rt.agent_id)
    record_user_message(store, rt.agent_id, "Also, it rained.")  # typed while busy
    _falls_back(backend, rt, message, 1)


def test_falls_back_after_an_edit_of_core_memory(store: Store, hash_embedder: Any) -> None:
    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    assert engine.prepare_flush(rt.agent_id)
    store.set_block(rt.agent_id, "human", "Anna likes birds.", author="user")
    _falls_back(backend, rt, message, 1)


def test_falls_back_when_the_summary_changed(store: Store, hash_embedder: Any) -> None:
    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    assert engine.prepare_flush(rt.agent_id)
    store.update_agent(rt.agent_id, summary="Something else happened before.")
    _falls_back(backend, rt, message, 2)
    assert backend.summaries == 2  # the prepared summary no longer matched either


def test_falls_back_after_a_restart(store: Store, hash_embedder: Any) -> None:
    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    assert engine.prepare_flush(rt.agent_id)
    again = Engine(store, backend, hash_embedder, engine.config)  # type: ignore[arg-type]
    assert again.prepared_state.state is None  # kept in memory only
    _falls_back(backend, again.agent("t"), message, 2)


def test_another_agent_never_gets_it(store: Store, hash_embedder: Any) -> None:
    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    assert engine.prepare_flush(rt.agent_id)
    state = engine.prepared_state.state
    other, other_message = _to_the_brink(engine, "other")  # switched: its turns run
    assert state is not None and state.tokens not in [tuple(t) for t in backend.loads]
    assert engine.prepared_state.state is state  # still for "t"...
    _falls_back(backend, other, other_message, 2)  # ...and not used by the other's flush
    # Back to the first agent: nothing it depends on changed, so its flush uses it.
    read, prompt = _flush(rt, message)
    assert backend.loads[-1] == list(state.tokens) == prompt[: len(state.tokens)]
    assert read <= _tail(backend, message)


def test_a_document_does_not_change_it(store: Store, hash_embedder: Any, tmp_path: Path) -> None:
    """Documents go to archival memory, which the main context does not show: the state
    still matches the prompt, and is used."""
    from ember.core.documents.ingest import ingest_paths

    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    assert engine.prepare_flush(rt.agent_id)
    doc = tmp_path / "birds.txt"
    doc.write_text("Robins sing at dawn. Owls hunt at night.\n" * 20)
    assert ingest_paths(store, hash_embedder, rt.agent_id, [doc])[0].passages > 0
    state = engine.prepared_state.state
    assert state is not None
    read, prompt = _flush(rt, message)
    assert backend.loads[-1] == list(state.tokens) == prompt[: len(state.tokens)]
    assert read == len(prompt) - len(state.tokens)  # the message and what recall found


def test_a_preparation_stopped_while_reading_keeps_the_summary_and_the_live_cache(
    store: Store, hash_embedder: Any
) -> None:
    engine, backend = _engine(store, hash_embedder)
    rt, message = _to_the_brink(engine)
    live = backend.context_tokens()
    backend.cancel_prefill = True  # the user writes while the post-flush context is read
    assert engine.prepare_flush(rt.agent_id)  # the summary is ready...
    backend.cancel_prefill = False
    assert engine.prepared_state.state is None  # ...the state is not
    assert backend.context_tokens() == live[: len(backend.kv)] and len(backend.kv) > 20
    read, prompt = _flush(rt, message)
    assert backend.summaries == 1
    assert read >= len(prompt) - rt.context.budget().fixed - 16


def test_the_next_prompts_start_already_cached_is_not_read_again(
    store: Store, hash_embedder: Any
) -> None:
    """A cache put back after a preparation cannot roll back even by the one token a
    prefill re-reads: reading the next prompt's start again would have read it all."""
    engine, backend = _engine(store, hash_embedder)
    rt, _ = _to_the_brink(engine)
    engine.warm_next(rt.agent_id)
    backend.load_kv_state(*backend.save_kv_state())  # as idleflush.py puts it back
    assert engine.warm_next(rt.agent_id) == 0
    rt.send_user_message("Hi.")
    assert backend.steps[-1][0] <= _tail(backend, "Hi.")


def test_later_preparations_start_from_the_shared_prefix_state(
    store: Store, hash_embedder: Any, tmp_path: Path
) -> None:
    """After the first preparation the cache is a put-back one, which cannot roll back to
    the new summary: the next preparation (after each turn past the alert line) starts
    from the shared prefix state (instructions, tools) instead of reading it all."""
    from ember.core.agent.prefixstate import shared_prefix

    engine, backend = _engine(store, hash_embedder, KVStateCache(tmp_path / "kv", min_prefix=8))
    rt, message = _to_the_brink(engine)  # its first step saved the shared prefix state
    assert engine.prepare_flush(rt.agent_id)
    rt.send_user_message("Hi.")
    backend.prefills.clear()
    assert engine.prepare_flush(rt.agent_id)  # the state is stale: M counts "Hi." now
    state = engine.prepared_state.state
    assert state is not None
    shared = shared_prefix(backend, engine.prefix_references(rt.agent_id), list(state.tokens))
    assert len(shared) > 500
    assert backend.prefills == [len(state.tokens) - len(shared)]
    read, prompt = _flush(rt, message)
    assert read == len(prompt) - len(state.tokens)
