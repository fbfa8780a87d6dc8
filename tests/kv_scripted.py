"""A scripted backend with a KV cache, for tests of what is read ahead (tests/core, tests/app).

Tokens are one per four characters of each prompt part, as the scripted backend counts
them, but depend on the text, so prompts that share a start share tokens. Prefill and
generation read only what the cache lacks (``reads``: one entry per read, tokens
evaluated), in batches of :attr:`KVScriptedBackend.batch` tokens, checking ``cancel``
before each. A saved state can only be continued from its end, like Gemma 3's.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ember.core.kernel.errors import Cancelled
from ember.core.llm.backend import OnPromptProgress, Prompt
from ember.core.llm.kvstate import common_prefix
from ember.core.llm.scripted import ScriptedBackend


class KVScriptedBackend(ScriptedBackend):
    """A :class:`ScriptedBackend` with a KV cache (see the module docstring)."""

    batch = 8

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: list[int] = []
        self.floor = 0  # a restored state cannot continue from fewer tokens than this
        self.reads: list[tuple[str, int]] = []  # ("prefill" | "step", tokens evaluated)
        self.threads: set[str] = set()  # the threads that read into the cache
        self.on_batch: Callable[[], None] | None = None  # called before each prefill batch

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        return [1 + zlib.crc32(text[i : i + 4].encode()) % 30_000 for i in range(0, len(text), 4)]

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        return [0, *(t for p in prompt.parts for t in self.tokenize(p.text))]

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        return max(0, min(common_prefix(self.tokens, tokens), len(tokens) - 1))

    def context_tokens(self) -> list[int]:
        return list(self.tokens)

    def state_identity(self) -> dict[str, object]:
        return {"model": "kv-scripted"}

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

    def _keep(self, tokens: Sequence[int]) -> int:
        """Drop what the cache holds past ``tokens``' shared start; returns its length."""
        cached = self.cached_prefix(tokens)
        if cached > 0 and not self.kv_can_continue(cached):
            cached = 0
        self.truncate_kv(cached)
        self.threads.add(threading.current_thread().name)
        return cached

    def prefill(
        self,
        tokens: Sequence[int],
        *,
        cancel: threading.Event | None = None,
        on_progress: OnPromptProgress | None = None,
    ) -> int:
        cached = self._keep(tokens)
        todo = len(tokens) - cached
        if on_progress is not None and todo > 0:
            on_progress(0, todo)
        done = 0
        try:
            while done < todo:
                if self.on_batch is not None:
                    self.on_batch()
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Stopped.")
                batch = tokens[cached + done : cached + min(todo, done + self.batch)]
                self.tokens.extend(batch)
                done += len(batch)
                if on_progress is not None:
                    on_progress(done, todo)
        finally:
            self.reads.append(("prefill", done))
        return todo

    def generate(self, prompt: Prompt, **kwargs: Any) -> Iterator[str]:
        tokens = self.prompt_tokens(prompt)
        evaluated = len(tokens) - self._keep(tokens)
        self.reads.append(("step", evaluated))
        self.tokens = list(tokens)
        for piece in super().generate(prompt, **kwargs):
            if self.last_stats is not None:
                self.last_stats.evaluated_tokens = evaluated
            yield piece

    def evaluated(self, kind: str) -> int:
        """Tokens evaluated by reads of ``kind`` ("prefill" or "step")."""
        return sum(n for k, n in self.reads if k == kind)
