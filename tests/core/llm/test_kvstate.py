"""Warm-restart file bookkeeping (damaged files, other identities, the byte cap), with a
fake backend. (Save and restore with the real model: tests/integration/test_kvstate.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.core.llm.kvstate import KVStateCache, common_prefix

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
