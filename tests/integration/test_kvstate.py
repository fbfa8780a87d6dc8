"""Warm restart: KV state saved by one backend and restored into a new one.

The real-model tests are marked ``integration``; the bookkeeping tests (damaged files,
other identities, the byte cap) use a small fake backend and run everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ember.core.kvstate import KVStateCache, common_prefix

TEXT = (
    "Anna keeps a small garden behind the library. Every Tuesday she waters the tomatoes, "
    "writes down how tall the sunflowers grew and tells the neighbours which herbs are "
    "ready to pick. "
)


def _greedy(backend: Any, prompt: str, n: int = 8) -> str:
    return "".join(backend.generate(prompt, max_tokens=n, temperature=0.0))


@pytest.mark.integration
def test_restore_evaluates_only_the_tail_and_matches_cold(bundled_model: Path) -> None:
    from ember.core.llm import LlamaBackend

    cache = KVStateCache()
    prompt = TEXT * 8
    follow_up = prompt + "\nQuestion: what does Anna water on Tuesdays?\nAnswer:"

    first = LlamaBackend(bundled_model, n_ctx=1024)
    _greedy(first, prompt)
    # Saved as the engine does when idle: cut back to what the next prompt will share.
    saved = cache.save(first, "agent-1", upto=first.prompt_tokens(follow_up))
    assert saved is not None and saved.exists()
    files, used = cache.usage()
    assert files == 1 and used == saved.stat().st_size > 0
    first_tokens = first.context_tokens()
    # The same backend, reset, gives the cold reference for the follow-up prompt.
    first.reset()
    cold = _greedy(first, follow_up)
    assert first.last_stats is not None
    cold_evaluated = first.last_stats.evaluated_tokens
    first.close()

    second = LlamaBackend(bundled_model, n_ctx=1024)
    tokens = second.prompt_tokens(follow_up)
    restored = cache.restore(second, "agent-1", tokens)
    prompt_len = len(second.prompt_tokens(prompt))
    assert prompt_len - 2 <= restored < len(tokens)  # (the last prompt token may re-tokenize)
    assert restored == common_prefix(first_tokens, tokens)
    warm = _greedy(second, follow_up)
    assert second.last_stats is not None
    assert second.last_stats.evaluated_tokens == len(tokens) - restored
    assert second.last_stats.evaluated_tokens < 40 < cold_evaluated
    assert warm == cold
    second.close()


@pytest.mark.integration
def test_other_context_settings_and_damaged_files_are_ignored(bundled_model: Path) -> None:
    from ember.core.llm import LlamaBackend

    cache = KVStateCache()
    prompt = TEXT * 3
    small = LlamaBackend(bundled_model, n_ctx=512)
    _greedy(small, prompt, 2)
    saved = cache.save(small, "a")
    assert saved is not None
    expected = _greedy(small, prompt + " More.", 4)
    small.close()

    other = LlamaBackend(bundled_model, n_ctx=1024)  # another context size: not usable
    assert cache.restore(other, "a", other.prompt_tokens(prompt)) == 0
    assert not saved.exists()  # stale for this agent: removed
    other.close()

    again = LlamaBackend(bundled_model, n_ctx=512)
    _greedy(again, prompt, 2)
    saved = cache.save(again, "a")
    assert saved is not None
    data = bytearray(saved.read_bytes())
    data[-100] ^= 0xFF  # damage the KV payload
    saved.write_bytes(bytes(data))
    again.reset()
    assert cache.restore(again, "a", again.prompt_tokens(prompt)) == 0
    assert not saved.exists() and cache.last_error and "damaged" in cache.last_error
    assert _greedy(again, prompt + " More.", 4) == expected  # the backend still works
    again.close()


@pytest.mark.integration
def test_state_that_would_roll_back_a_sliding_window_is_not_used(bundled_model: Path) -> None:
    from ember.core.llm import LlamaBackend

    cache = KVStateCache()
    prompt = TEXT * 17  # ~580 tokens: longer than Gemma 3's 512-token window
    first = LlamaBackend(bundled_model, n_ctx=1024)
    _greedy(first, prompt, 6)  # the cache now also holds generated tokens
    assert cache.save(first, "a") is not None  # no ``upto``: saved with the generated tail
    first.close()

    second = LlamaBackend(bundled_model, n_ctx=1024)
    diverging = prompt + " Then she went home."
    assert cache.restore(second, "a", second.prompt_tokens(diverging)) == 0
    assert cache.last_error and "sliding-window" in cache.last_error
    assert second.cached_prefix(second.prompt_tokens(diverging)) == 0
    assert cache.usage()[0] == 1  # the file is valid, only not usable for this prompt
    warm = _greedy(second, diverging, 4)
    assert second.last_stats is not None
    assert second.last_stats.evaluated_tokens == second.last_stats.prompt_tokens
    second.reset()
    assert _greedy(second, diverging, 4) == warm
    second.close()


# -- bookkeeping with a fake backend --------------------------------------------------------


class FakeBackend:
    """Stands in for LlamaBackend: a token list and an opaque payload."""

    def __init__(self, tokens: Sequence[int], payload: bytes, n_ctx: int = 4096) -> None:
        self.tokens = list(tokens)
        self.payload = payload
        self.n_ctx = n_ctx
        self.loaded: tuple[list[int], bytes] | None = None
        self.accept = True

    def state_identity(self) -> dict[str, Any]:
        return {"model": "/m.gguf", "size": 1, "context": {"n_ctx": self.n_ctx}}

    def save_kv_state(self) -> tuple[list[int], bytes]:
        return self.tokens, self.payload

    def load_kv_state(self, tokens: Sequence[int], data: bytes) -> bool:
        self.loaded = (list(tokens), data)
        return self.accept

    def context_tokens(self) -> list[int]:
        return list(self.tokens)

    def truncate_kv(self, n_tokens: int) -> None:
        self.tokens = self.tokens[:n_tokens]

    def kv_can_continue(self, n_past: int) -> bool:
        return True


def test_prefix_rules(tmp_path: Path) -> None:
    cache = KVStateCache(tmp_path, min_prefix=4)
    backend = FakeBackend(list(range(100)), b"kv" * 10)
    assert cache.save(backend, "x") is not None
    assert cache.restore(backend, "x", [*range(100), 7, 8]) == 100
    assert backend.loaded == (list(range(100)), b"kv" * 10)
    assert cache.restore(backend, "x", list(range(100))) == 99  # one token re-evaluated
    assert cache.restore(backend, "x", [0, 1, 2, 9, 9]) == 0  # too short a common prefix
    assert cache.restore(backend, "y", list(range(100))) == 0  # another key
    assert cache.usage()[0] == 1  # a valid file that did not fit this prompt is kept
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    # ``upto`` cuts the cache back to what the next prompt shares before saving.
    path = cache.save(backend, "x", upto=[*range(50), 3, 3])
    assert path is not None and backend.tokens == list(range(50))
    assert cache.restore(backend, "x", [*range(60)]) == 50
    assert backend.loaded is not None and backend.loaded[0] == list(range(50))


def test_rejected_and_truncated_files_are_removed(tmp_path: Path) -> None:
    cache = KVStateCache(tmp_path)
    backend = FakeBackend(list(range(64)), b"x" * 1000)
    path = cache.save(backend, "k")
    assert path is not None
    path.write_bytes(path.read_bytes()[:50])  # truncated mid-header
    assert cache.restore(backend, "k", list(range(64))) == 0
    assert not path.exists()
    path = cache.save(backend, "k")
    assert path is not None
    path.write_bytes(b"garbage")
    assert cache.restore(backend, "k", list(range(64))) == 0 and not path.exists()
    path = cache.save(backend, "k")
    assert path is not None
    backend.accept = False  # llama.cpp refuses the bytes
    assert cache.restore(backend, "k", list(range(64))) == 0 and not path.exists()


def test_header_of_another_identity_is_ignored(tmp_path: Path) -> None:
    cache = KVStateCache(tmp_path)
    a = FakeBackend(list(range(64)), b"a" * 100, n_ctx=4096)
    b = FakeBackend(list(range(64)), b"b" * 100, n_ctx=8192)
    pa = cache.save(a, "k")
    assert pa is not None
    # A file renamed to where b's state would be (its header still names a's settings).
    pb = cache.path_for("k", b.state_identity())
    pa.rename(pb)
    assert cache.restore(b, "k", list(range(64))) == 0
    assert b.loaded is None and not pb.exists()


def test_byte_cap_evicts_least_recently_used(tmp_path: Path) -> None:
    import os
    import time

    payload = b"p" * 10_000
    cache = KVStateCache(tmp_path, max_bytes=35_000)
    backends = {k: FakeBackend(list(range(40)), payload) for k in "abcd"}
    now = time.time()
    for i, key in enumerate("abc"):
        path = cache.save(backends[key], key)
        assert path is not None
        os.utime(path, (now - 100 + i, now - 100 + i))
    assert cache.usage()[0] == 3
    # Using "a" makes it the most recent, so "b" is the one to go when "d" arrives.
    assert cache.restore(backends["a"], "a", list(range(40))) == 39
    assert cache.save(backends["d"], "d") is not None
    files, used = cache.usage()
    assert files == 3 and used <= 35_000
    remaining = {p.name.split("-")[0] for p in tmp_path.iterdir()}
    assert remaining == {KVStateCache._key_part(k) for k in "acd"}
    # A state bigger than the whole cap is not written at all.
    assert KVStateCache(tmp_path, max_bytes=5_000).save(backends["a"], "a") is None
    cache.clear()
    assert cache.usage() == (0, 0)


def test_saving_replaces_the_keys_previous_file(tmp_path: Path) -> None:
    cache = KVStateCache(tmp_path)
    old = FakeBackend(list(range(10)), b"o", n_ctx=1)
    new = FakeBackend(list(range(10)), b"n", n_ctx=2)
    p_old = cache.save(old, "k")
    p_new = cache.save(new, "k")
    assert p_old is not None and p_new is not None and p_old != p_new
    assert not p_old.exists() and p_new.exists()
    cache.forget("k")
    assert cache.usage() == (0, 0)
