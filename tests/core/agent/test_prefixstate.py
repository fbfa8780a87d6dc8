"""The shared prefix state's orchestration (WarmStart + prefixstate) with a fake backend
whose saved states, like Gemma 3's, can only be continued from their end. (With the real
model: tests/integration/test_prefix_state.py.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ember.core.agent.prefixstate import PREFIX_MARGIN, prefix_key, shared_prefix
from ember.core.agent.warmstart import WarmStart
from ember.core.kernel.errors import Cancelled
from ember.core.llm.backend import ChatFormat, KVStateBackend, OnPromptProgress, Prompt
from ember.core.llm.kvstate import KVStateCache, common_prefix

SYSTEM = "You are Ember. Functions: send_message, core_memory_append. Examples: ... Core: "


def _refs(agent_id: int) -> tuple[Prompt, Prompt]:
    return Prompt.data(SYSTEM + "a"), Prompt.data(SYSTEM + "Zq 7")


class FakeKVBackend:
    """One character, one token (BOS 1). A loaded state can only be continued from its end."""

    name = "fake"
    n_ctx = 4096
    chat_format = ChatFormat()
    last_stats = None

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def generate(self, prompt: Prompt, **kwargs: Any) -> Iterator[str]:
        raise AssertionError("WarmStart never generates")

    def close(self) -> None:
        pass

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.floor = 0  # the cache cannot continue from fewer tokens than this
        self.prefilled: list[list[int]] = []
        self.cancel_at: int | None = None

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        return [1, *(ord(c) for c in prompt.text)]

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        return min(common_prefix(self.tokens, tokens), len(tokens) - 1)

    def context_tokens(self) -> list[int]:
        return list(self.tokens)

    def state_identity(self) -> dict[str, Any]:
        return {"model": "/fake.gguf"}

    def save_kv_state(self) -> tuple[list[int], bytes]:
        return list(self.tokens), bytes(len(self.tokens))

    def load_kv_state(self, tokens: Sequence[int], data: bytes) -> bool:
        self.tokens, self.floor = list(tokens), len(tokens)
        return True

    def truncate_kv(self, n_tokens: int) -> None:
        self.tokens = self.tokens[:n_tokens]
        self.floor = min(self.floor, n_tokens) if n_tokens else 0

    def kv_can_continue(self, n_past: int) -> bool:
        return n_past <= 0 or n_past >= self.floor

    def prefill(
        self,
        tokens: Sequence[int],
        *,
        cancel: threading.Event | None = None,
        on_progress: OnPromptProgress | None = None,
    ) -> int:
        if self.cancel_at is not None:
            self.tokens = list(tokens[: self.cancel_at])
            raise Cancelled("Stopped.")
        cached = common_prefix(self.tokens, tokens)
        self.prefilled.append(list(tokens))
        self.tokens = list(tokens)
        if on_progress is not None:  # one batch, as llama.cpp reports it
            on_progress(0, len(tokens) - cached)
            on_progress(len(tokens) - cached, len(tokens) - cached)
        return len(tokens) - cached


def _warm(tmp_path: Path, backend: FakeKVBackend) -> WarmStart:
    cache = KVStateCache(tmp_path / "kv", min_prefix=8)
    assert isinstance(backend, KVStateBackend)
    return WarmStart(backend, cache, tmp_path / "ember.db", _refs)


def _prompt(core: str, talk: str = "EVENT: hello\nAGENT: ") -> Prompt:
    return Prompt.data(f"{SYSTEM}{core}\n### Conversation\n{talk}")


def test_the_first_agent_builds_it_and_later_agents_restore_it(tmp_path: Path) -> None:
    backend = FakeKVBackend()
    warm = _warm(tmp_path, backend)
    prompt = _prompt("persona: kind")
    tokens = backend.prompt_tokens(prompt)
    expected = shared_prefix(backend, _refs(1), tokens)
    assert len(expected) == 1 + len(SYSTEM) - PREFIX_MARGIN
    assert warm.before_step(1, prompt) == len(expected)
    assert backend.prefilled == [expected]  # exactly the shared part, on an empty cache
    assert warm.cache is not None and warm.cache.usage()[0] == 1

    # After a restart, another agent without a state of its own: restored, nothing read.
    again = FakeKVBackend()
    warm2 = _warm(tmp_path, again)
    other = _prompt("persona: curious")
    assert warm2.before_step(2, other) == 0
    assert again.prefilled == [] and again.tokens == expected
    assert again.kv_can_continue(again.cached_prefix(again.prompt_tokens(other)))


def test_building_it_reports_progress_against_the_whole_prompt(tmp_path: Path) -> None:
    """The prefix is the first part of the step's reading: its progress counts the whole
    prompt, so the step's read of the rest goes on from there, never back to 0 % (the
    window showed 100 %, then 'Reading the conversation… 0 %' again)."""
    backend = FakeKVBackend()
    warm = _warm(tmp_path, backend)
    prompt = _prompt("persona: kind")
    seen: list[tuple[int, int]] = []
    built = warm.before_step(1, prompt, on_progress=lambda d, t: seen.append((d, t)))
    whole = len(backend.prompt_tokens(prompt)) - 1  # the completion reads the last one
    assert seen == [(0, whole), (built, whole)] and built < whole


def test_an_agents_own_state_comes_first(tmp_path: Path) -> None:
    backend = FakeKVBackend()
    warm = _warm(tmp_path, backend)
    prompt = _prompt("persona: kind")
    warm.before_step(1, prompt)
    backend.tokens = backend.prompt_tokens(prompt)  # the step read the rest
    assert warm.save(_prompt("persona: kind", "EVENT: hello\nAGENT: hi\n"))
    fresh = FakeKVBackend()
    warm2 = _warm(tmp_path, fresh)
    later = _prompt("persona: kind", "EVENT: hello\nAGENT: hi\nEVENT: x")
    assert warm2.before_step(1, later) == 0
    assert fresh.prefilled == []  # its own state, longer than the shared part, is restored
    assert fresh.tokens == fresh.prompt_tokens(prompt)


def test_a_prompt_that_does_not_start_with_it_is_left_alone(tmp_path: Path) -> None:
    backend = FakeKVBackend()
    warm = _warm(tmp_path, backend)
    assert warm.before_step(1, Prompt.data("Something else entirely. " * 4)) == 0
    assert backend.prefilled == [] and warm.cache is not None and warm.cache.usage()[0] == 0


def test_a_live_cache_that_serves_the_prompt_is_kept(tmp_path: Path) -> None:
    backend = FakeKVBackend()
    warm = _warm(tmp_path, backend)
    backend.tokens = backend.prompt_tokens(_prompt("persona: kind", "EVENT: a long talk\n"))
    assert warm.before_step(1, _prompt("persona: other")) == 0
    assert backend.prefilled == []  # the other agent's live context holds the shared part
    # ...but not a restored one, which cannot roll back to it: the shared state is built.
    backend.floor = len(backend.tokens)
    assert warm.before_step(2, _prompt("persona: other")) > 0
    assert len(backend.prefilled) == 1


def test_cancelled_while_building_tries_again(tmp_path: Path) -> None:
    backend = FakeKVBackend()
    warm = _warm(tmp_path, backend)
    backend.cancel_at = 10
    with pytest.raises(Cancelled):
        warm.before_step(1, _prompt("persona: kind"))
    assert warm.cache is not None and warm.cache.usage()[0] == 0  # nothing half-built saved
    backend.cancel_at = None
    assert warm.before_step(1, _prompt("persona: kind")) > 0
    assert warm.cache.usage()[0] == 1


def test_the_key_is_the_tokens() -> None:
    assert prefix_key([1, 2, 3]) == prefix_key([1, 2, 3]) != prefix_key([1, 2, 4])


class ScriptedKVBackend(FakeKVBackend):
    """The fake KV cache, answering every prompt with one dialogue reply; records how many
    prompt tokens each completion had to read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[int] = []

    def generate(self, prompt: Prompt, **kwargs: Any) -> Iterator[str]:
        tokens = self.prompt_tokens(prompt)
        self.read.append(len(tokens) - self.cached_prefix(tokens))
        self.tokens = tokens
        yield f"Ember: Reply {len(self.read)}.\n"


def test_the_next_prompt_is_read_while_the_user_is_idle(store: Any, hash_embedder: Any) -> None:
    """In the dialogue format the memory pass may change what sits before the new message
    (the human block): the idle work reads that into the cache, and the next turn reads
    only the memory recalled for the new message and the message."""
    from ember.core.agent.engine import Engine
    from ember.core.memory import memorypass

    backend = ScriptedKVBackend()
    engine = Engine(store, backend, hash_embedder)  # type: ignore[arg-type]
    assert engine.dialogue
    rt = engine.agent("t")
    rt.send_user_message("Hi, I'm Noor and I play the oboe.")
    memorypass.run(store, hash_embedder, rt.agent_id)  # the human block changes
    read = engine.warm_next(rt.agent_id)
    assert read > len("Hi, I'm Noor and I play the oboe.")  # the line and the new block
    question = "What do I play?"
    rt.send_user_message(question)
    text = "".join(chr(t) for t in backend.tokens[1:])
    new_part = text[text.index("\n\nEmber remembers what the user said: Hi, I'm Noor") :]
    assert new_part.endswith("\n\nUser: " + question + "\n")
    assert backend.read[-1] <= len(new_part) + PREFIX_MARGIN + 2
    assert engine.warm_next(rt.agent_id) > 0 and engine.warm_next(rt.agent_id) == 0
