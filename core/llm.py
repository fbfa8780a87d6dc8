"""Model backends: a protocol that only tokenizes and yields text pieces.

:class:`LlamaBackend` runs a GGUF file through llama-cpp-python, keeping one context alive
so that consecutive prompts reuse their common token prefix from the KV cache (DESIGN §3,
prefix stability). It records, per call, how many prompt tokens were actually evaluated.

:class:`ScriptedBackend` replays fixed outputs: it makes engine tests deterministic. It is
never a substitute for the integration tests that run the real model.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ember.core.errors import Cancelled, ModelError
from ember.core.models import GGUFInfo, read_gguf_info


@dataclass
class GenerationStats:
    """What one completion cost."""

    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    completion_tokens: int = 0
    prompt_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def reused_tokens(self) -> int:
        """Prompt tokens taken from the KV cache instead of evaluated."""
        return self.prompt_tokens - self.evaluated_tokens

    @property
    def tokens_per_second(self) -> float:
        """Generation speed after the prompt was read."""
        gen = self.total_seconds - self.prompt_seconds
        return self.completion_tokens / gen if gen > 0 else 0.0


class Backend(Protocol):
    """What the engine needs from a model."""

    name: str
    n_ctx: int
    chat_template: str | None
    last_stats: GenerationStats | None

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` in the model's own tokenizer (no BOS)."""
        ...

    def generate(
        self,
        prompt: str,
        *,
        grammar: str | None = None,
        max_tokens: int = 512,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield text pieces of the completion of ``prompt``; raise Cancelled if cancelled."""
        ...


_LOG_CALLBACK: Any = None
# ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (llama-cpp-python's own table
# predates DEBUG and is off by one).
_GGML_LOG_ERROR = 4


def _quiet_llama_logs(llama_cpp: Any) -> None:
    """Pass on only llama.cpp's errors (everything with ``EMBER_DEBUG=1``).

    llama-cpp-python's own filter uses an outdated level table, so every start printed a
    llama.cpp warning about its cache layout (with a URL) into the user's terminal.
    """
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    verbose = os.environ.get("EMBER_DEBUG") == "1"

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, _user: Any) -> None:
        if verbose or level == _GGML_LOG_ERROR:
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(callback, None)
    _LOG_CALLBACK = callback  # keep the ctypes callback alive


def default_threads() -> int:
    """Generation threads: every core on small machines, half (≈ physical cores) on big ones.

    llama-cpp-python's own default is half the logical cores: one thread on a 2-core laptop.
    """
    cpus = os.cpu_count() or 1
    return cpus if cpus <= 4 else cpus // 2


class LlamaBackend:
    """A GGUF model in one long-lived llama.cpp context.

    ``fast_grammar`` checks the grammar on the likeliest tokens first (see sampling.py);
    the constraint is the same, generation is 2-3x faster on large vocabularies.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        fast_grammar: bool = True,
    ) -> None:
        self.info: GGUFInfo = read_gguf_info(model_path)
        self.path = self.info.path
        self.name = self.info.name
        self.chat_template = self.info.chat_template
        self.last_stats: GenerationStats | None = None
        self._grammars: dict[str, Any] = {}
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError("llama-cpp-python is not installed; reinstall Ember.") from exc
        self._llama_cpp = llama_cpp
        _quiet_llama_logs(llama_cpp)
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=n_threads or default_threads(),
                n_threads_batch=n_threads or default_threads(),
                n_batch=n_batch,
                seed=seed,
                verbose=False,
            )
        except Exception as exc:
            raise ModelError(f"llama.cpp could not load {self.path}: {exc}") from exc
        self.n_ctx = int(self.llm.n_ctx())
        if fast_grammar:
            from ember.core.sampling import install

            install(self.llm)

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` (special tokens of the template parsed), without BOS."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _prompt_tokens(self, prompt: str) -> list[int]:
        return list(self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of ``tokens`` are already in the KV cache."""
        cached = self.llm._input_ids[: self.llm.n_tokens]
        n = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            n += 1
        # llama.cpp must evaluate at least one token to produce logits.
        return min(n, len(tokens) - 1)

    # -- KV state (warm restart, see kvstate.py) ------------------------------------------

    def prompt_tokens(self, prompt: str) -> list[int]:
        """The tokens :meth:`generate` evaluates for ``prompt`` (BOS included)."""
        return self._prompt_tokens(prompt)

    def context_tokens(self) -> list[int]:
        """The tokens whose keys and values are in the KV cache now, in order."""
        return [int(t) for t in self.llm._input_ids[: self.llm.n_tokens]]

    def state_identity(self) -> dict[str, Any]:
        """What a saved KV state is only valid for: the model file (path, size, mtime, hash
        of its first MiB), the llama.cpp build and the context settings (threads excluded)."""
        import hashlib

        st = self.path.stat()
        with self.path.open("rb") as fh:
            head = hashlib.sha256(fh.read(1 << 20)).hexdigest()
        params = self.llm.context_params
        settings = {
            name: getattr(params, name)
            for name, _ in type(params)._fields_
            if not name.startswith("n_threads")
            and isinstance(getattr(params, name), (bool, int, float))
        }
        return {
            "model": str(self.path.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "head_sha256": head,
            "llama_cpp": str(getattr(self._llama_cpp, "__version__", "?")),
            "context": settings,
        }

    def save_kv_state(self) -> tuple[list[int], bytes]:
        """The cached tokens and the KV cache bytes of sequence 0 (no logits: compact)."""
        ctx = self.llm._ctx.ctx
        size = int(self._llama_cpp.llama_state_seq_get_size(ctx, 0))
        buf = (ctypes.c_uint8 * size)()
        n = int(self._llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0))
        if n <= 0 or n > size:
            raise ModelError("llama.cpp could not copy the KV state.")
        return self.context_tokens(), bytes(memoryview(buf)[:n])

    def load_kv_state(self, tokens: Sequence[int], data: bytes) -> bool:
        """Put a state from :meth:`save_kv_state` back. False (cache left empty) if llama.cpp
        rejects it. The next :meth:`generate` reuses its common prefix with the new prompt."""
        if not tokens or len(tokens) >= self.n_ctx:
            return False
        self.reset()
        self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        read = int(self._llama_cpp.llama_state_seq_set_data(self.llm._ctx.ctx, buf, len(data), 0))
        if read != len(data):
            self.reset()
            self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            return False
        self.llm.input_ids[: len(tokens)] = tokens  # the full buffer; _input_ids is a view
        self.llm.n_tokens = len(tokens)
        self.llm._requires_eval = True  # no logits were restored: replay at least one token
        return True

    def truncate_kv(self, n_tokens: int) -> None:
        """Keep only the first ``n_tokens`` tokens in the KV cache."""
        n_tokens = max(0, min(n_tokens, self.llm.n_tokens))
        self.llm._ctx.kv_cache_seq_rm(-1, n_tokens, -1)
        self.llm.n_tokens = n_tokens
        self.llm._requires_eval = True

    def kv_can_continue(self, n_past: int) -> bool:
        """Whether the cache can serve a prompt whose first ``n_past`` tokens it holds.

        Sliding-window layers (Gemma 3: 512 tokens) need the window before ``n_past``; a
        restored state holds only the last window of its SWA layers, so it can only be
        continued from its end, not rolled back (llama.cpp server's rule)."""
        n_swa = int(self._llama_cpp.llama_model_n_swa(self.llm._model.model))
        if n_swa <= 0 or n_past <= 0:
            return True
        mem = self._llama_cpp.llama_get_memory(self.llm._ctx.ctx)
        pos_min = int(self._llama_cpp.llama_memory_seq_pos_min(mem, 0))
        return pos_min <= max(0, n_past - n_swa)

    def _grammar(self, gbnf: str) -> Any:
        grammar = self._grammars.get(gbnf)
        if grammar is None:
            grammar = self._llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)
            self._grammars[gbnf] = grammar
        return grammar

    # -- generation -----------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        *,
        grammar: str | None = None,
        max_tokens: int = 512,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Stream a completion; the common prefix with the previous prompt is not re-read."""
        tokens = self._prompt_tokens(prompt)
        if len(tokens) + 1 > self.n_ctx:
            raise ModelError(
                f"The prompt has {len(tokens)} tokens, more than the context window ({self.n_ctx})."
            )
        max_tokens = max(1, min(max_tokens, self.n_ctx - len(tokens)))
        stats = GenerationStats(
            prompt_tokens=len(tokens), evaluated_tokens=len(tokens) - self.cached_prefix(tokens)
        )
        self.last_stats = stats
        start = time.perf_counter()
        stream = self.llm.create_completion(
            tokens,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=0.95,
            min_p=0.05,
            repeat_penalty=1.0,
            stop=list(stop) or None,
            grammar=self._grammar(grammar) if grammar else None,
            stream=True,
        )
        first = True
        try:
            for chunk in stream:
                if first:
                    stats.prompt_seconds = time.perf_counter() - start
                    first = False
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Stopped.")
                stats.completion_tokens += 1
                text = chunk["choices"][0]["text"]
                if text:
                    yield text
        finally:
            stream.close()
            stats.total_seconds = time.perf_counter() - start

    def reset(self) -> None:
        """Forget the KV cache (the next prompt is read from scratch)."""
        self.llm.reset()
        self.llm._ctx.memory_clear(True) if hasattr(self.llm._ctx, "memory_clear") else None

    def close(self) -> None:
        """Free the model and its context."""
        close = getattr(self.llm, "close", None)
        if close:
            close()


class ScriptedBackend:
    """Replays scripted completions, piece by piece. For deterministic tests and demos.

    Outputs are taken in order, or from ``responder(prompt, grammar)`` when given.

    Tokens are whitespace-separated words plus punctuation, which keeps token counts
    predictable in tests of memory pressure and eviction.
    """

    name = "scripted"
    chat_template: str | None = None

    def __init__(
        self,
        outputs: Sequence[str] = (),
        *,
        n_ctx: int = 4096,
        responder: Callable[[str, str | None], str] | None = None,
    ) -> None:
        self.outputs: list[str] = list(outputs)
        self.responder = responder
        self.n_ctx = n_ctx
        self.prompts: list[str] = []
        self.grammars: list[str | None] = []
        self.last_stats: GenerationStats | None = None

    def push(self, *outputs: str) -> None:
        """Queue more outputs."""
        self.outputs.extend(outputs)

    def tokenize(self, text: str) -> list[int]:
        """One token per 4 characters (rounded up): crude but deterministic."""
        return list(range((len(text) + 3) // 4))

    def generate(
        self,
        prompt: str,
        *,
        grammar: str | None = None,
        max_tokens: int = 512,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the next scripted output in small pieces."""
        self.prompts.append(prompt)
        self.grammars.append(grammar)
        if self.responder is not None:
            out = self.responder(prompt, grammar)
        elif self.outputs:
            out = self.outputs.pop(0)
        else:
            raise ModelError("ScriptedBackend has no scripted output left.")
        n = len(self.tokenize(prompt))
        self.last_stats = GenerationStats(prompt_tokens=n, evaluated_tokens=n)
        for i in range(0, len(out), 7):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Stopped.")
            self.last_stats.completion_tokens += 1
            yield out[i : i + 7]
