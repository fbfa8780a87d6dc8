"""Warm restart with the real model: KV state saved by one backend and restored into a new
one. (The file bookkeeping is tested with a fake backend in tests/core/llm/test_kvstate.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember.core.llm.backend import Prompt
from ember.core.llm.kvstate import KVStateCache, common_prefix

TEXT = (
    "Anna keeps a small garden behind the library. Every Tuesday she waters the tomatoes, "
    "writes down how tall the sunflowers grew and tells the neighbours which herbs are "
    "ready to pick. "
)


def _greedy(backend: Any, prompt: str, n: int = 8) -> str:
    return "".join(backend.generate(Prompt.data(prompt), max_tokens=n, temperature=0.0))


def _tokens(backend: Any, prompt: str) -> list[int]:
    return list(backend.prompt_tokens(Prompt.data(prompt)))


@pytest.mark.integration
def test_restore_evaluates_only_the_tail_and_matches_cold(bundled_model: Path) -> None:
    from ember.core.llm.llama import LlamaBackend

    cache = KVStateCache()
    prompt = TEXT * 8
    follow_up = prompt + "\nQuestion: what does Anna water on Tuesdays?\nAnswer:"

    first = LlamaBackend(bundled_model, n_ctx=1024)
    _greedy(first, prompt)
    # Saved as the engine does when idle: cut back to what the next prompt will share.
    saved = cache.save(first, "agent-1", upto=_tokens(first, follow_up))
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
    tokens = _tokens(second, follow_up)
    restored = cache.restore(second, "agent-1", tokens)
    prompt_len = len(_tokens(second, prompt))
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
    from ember.core.llm.llama import LlamaBackend

    cache = KVStateCache()
    prompt = TEXT * 3
    small = LlamaBackend(bundled_model, n_ctx=512)
    _greedy(small, prompt, 2)
    saved = cache.save(small, "a")
    assert saved is not None
    expected = _greedy(small, prompt + " More.", 4)
    small.close()

    other = LlamaBackend(bundled_model, n_ctx=1024)  # another context size: not usable
    assert cache.restore(other, "a", _tokens(other, prompt)) == 0
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
    assert cache.restore(again, "a", _tokens(again, prompt)) == 0
    assert not saved.exists() and cache.last_error and "damaged" in cache.last_error
    assert _greedy(again, prompt + " More.", 4) == expected  # the backend still works
    again.close()


@pytest.mark.integration
def test_state_that_would_roll_back_a_sliding_window_is_not_used(bundled_model: Path) -> None:
    from ember.core.llm.llama import LlamaBackend

    cache = KVStateCache()
    prompt = TEXT * 17  # ~580 tokens: longer than Gemma 3's 512-token window
    first = LlamaBackend(bundled_model, n_ctx=1024)
    _greedy(first, prompt, 6)  # the cache now also holds generated tokens
    assert cache.save(first, "a") is not None  # no ``upto``: saved with the generated tail
    first.close()

    second = LlamaBackend(bundled_model, n_ctx=1024)
    diverging = prompt + " Then she went home."
    assert cache.restore(second, "a", _tokens(second, diverging)) == 0
    assert cache.last_error and "sliding-window" in cache.last_error
    assert second.cached_prefix(_tokens(second, diverging)) == 0
    assert cache.usage()[0] == 1  # the file is valid, only not usable for this prompt
    warm = _greedy(second, diverging, 4)
    assert second.last_stats is not None
    assert second.last_stats.evaluated_tokens == second.last_stats.prompt_tokens
    second.reset()
    assert _greedy(second, diverging, 4) == warm
    second.close()
