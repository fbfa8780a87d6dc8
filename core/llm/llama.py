"""A GGUF model in process through llama-cpp-python: the local :class:`KVStateBackend`.

One long-lived llama.cpp context is kept, so that consecutive prompts reuse their common
token prefix from the KV cache (prompt.py keeps that prefix stable); each call records how many
prompt tokens it actually evaluated. A prompt tail longer than one batch is read batch by
batch here, before sampling starts, so that the reading reports progress and stops at
once when cancelled (llama-cpp-python's own loop does neither).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.core.kernel.errors import Cancelled, ModelError, quoted
from ember.core.llm.backend import ChatFormat, GenerationStats, OnPromptProgress, Prompt
from ember.core.llm.gguf import GGUFInfo, read_gguf_info
from ember.core.step.schema import Constraint

if TYPE_CHECKING:
    from ember.core.llm.contrast import ContrastReader

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

    def callback(level: int, text: bytes, _user: Any) -> None:
        if verbose or level == _GGML_LOG_ERROR:
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    _LOG_CALLBACK = llama_cpp.llama_log_callback(callback)  # kept alive: ctypes callback
    llama_cpp.llama_log_set(_LOG_CALLBACK, None)


def default_batch_threads() -> int:
    """Threads that read a prompt: every core on small machines, half (≈ physical cores)
    on big ones."""
    cpus = os.cpu_count() or 1
    return cpus if cpus <= 4 else cpus // 2


def default_threads() -> int:
    """Threads that write a reply: one core left to the rest of the machine, at most four.

    llama.cpp's generation threads wait for each other at every token, so one busy core
    slows them all: on 2 cores, beside one busy process, the bundled model wrote 41 tokens/s
    with one thread against 18 with two, though two did 62 against 35 on an idle machine
    (``benchmarks/threads.py``; README "Performance"). A laptop is rarely idle: the window,
    the embedder and other programs share it.
    """
    cpus = os.cpu_count() or 1
    return max(1, min(cpus - 1, 4))


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
        self.last_stats: GenerationStats | None = None
        self._grammars: dict[str, Any] = {}
        self._contrast: ContrastReader | None = None
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
                n_threads_batch=n_threads or default_batch_threads(),
                n_batch=n_batch,
                seed=seed,
                verbose=False,
            )
        except UnicodeEncodeError:  # llama.cpp takes the path as UTF-8
            raise ModelError(
                f"llama.cpp cannot open {quoted(str(self.path), 200)}: its path is not valid "
                "UTF-8. Rename the file (or its folder) and choose it again."
            ) from None
        except Exception as exc:
            raise ModelError(f"llama.cpp could not load {self.path}: {exc}") from exc
        self.n_ctx = int(self.llm.n_ctx())
        self.n_batch = int(self.llm.n_batch)
        model = self.llm._model
        self.chat_format = ChatFormat(
            template=self.info.chat_template,
            bos_token=model.token_get_text(model.token_bos()) if model.token_bos() >= 0 else "",
            eos_token=model.token_get_text(model.token_eos()) if model.token_eos() >= 0 else "",
            adds_bos=True,
        )
        if fast_grammar:
            from ember.core.llm.sampling import install

            install(self.llm)

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        """Token ids of ``text`` without BOS. Only template ``markup`` may contain control
        tokens; in data, ``<end_of_turn>`` and the like are plain text."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=markup))

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The tokens :meth:`generate` evaluates for ``prompt`` (BOS first)."""
        tokens = [int(self.llm.token_bos())]
        for part in prompt.parts:
            tokens += self.tokenize(part.text, markup=part.markup)
        return tokens

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of ``tokens`` are already in the KV cache (at most all
        but one: llama.cpp must evaluate at least one token to produce logits)."""
        cached = self.llm._input_ids[: self.llm.n_tokens]
        n = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            n += 1
        return min(n, len(tokens) - 1)

    # -- KV state (warm restart, see kvstate.py) ------------------------------------------

    def context_tokens(self) -> list[int]:
        """The tokens whose keys and values are in the KV cache now, in order."""
        return [int(t) for t in self.llm._input_ids[: self.llm.n_tokens]]

    def state_identity(self) -> dict[str, Any]:
        """What a saved KV state is only valid for: the model file (path, size, mtime, hash
        of its first MiB), the llama.cpp build and the context settings (threads excluded)."""
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
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        read = int(self._llama_cpp.llama_state_seq_set_data(self.llm._ctx.ctx, buf, len(data), 0))
        if read != len(data):
            self.reset()
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
        from llama_cpp.llama_grammar import LlamaGrammar

        grammar = self._grammars.get(gbnf)
        if grammar is None:
            grammar = LlamaGrammar.from_string(gbnf, verbose=False)
            self._grammars[gbnf] = grammar
        return grammar

    # -- generation -----------------------------------------------------------------------

    def prefill(
        self,
        tokens: Sequence[int],
        *,
        cancel: threading.Event | None = None,
        on_progress: OnPromptProgress | None = None,
    ) -> int:
        """Evaluate ``tokens`` into the KV cache (all of them, no completion), reusing what
        it holds of them. Returns how many were evaluated; raises ``Cancelled``."""
        return self._read_prompt(list(tokens), cancel, on_progress, leave_last=False)

    def _read_prompt(
        self,
        tokens: list[int],
        cancel: threading.Event | None,
        on_progress: OnPromptProgress | None,
        *,
        leave_last: bool = True,
    ) -> int:
        """Evaluate the ``tokens`` that the KV cache lacks, batch by batch, reporting
        progress and checking ``cancel`` between batches; with ``leave_last``, all but the
        last, which completion then reads. Returns how many tokens were evaluated (the last
        included).

        A cache that cannot continue from the shared prefix (a restored state asked to roll
        back its sliding-window layers) is dropped and the prompt read from the start."""
        cached = self.cached_prefix(tokens)
        if cached > 0 and not self.kv_can_continue(cached):
            cached = 0
        if not self.llm._ctx.kv_cache_seq_rm(-1, cached, -1):
            self.reset()  # this cache cannot drop a suffix: read the prompt from the start
            cached = 0
        self.llm.n_tokens = cached
        todo = len(tokens) - (1 if leave_last else 0) - cached
        if on_progress is not None and todo > 0:
            on_progress(0, todo)
        done = 0
        while done < todo:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Stopped.")
            batch = tokens[cached + done : cached + min(todo, done + self.n_batch)]
            self.llm.eval(batch)
            done += len(batch)
            if on_progress is not None:
                on_progress(done, todo)
        return len(tokens) - cached

    def generate(
        self,
        prompt: Prompt,
        *,
        constraint: Constraint | None = None,
        max_tokens: int = 512,
        temperature: float = 0.7,
        cancel: threading.Event | None = None,
        on_prompt_progress: OnPromptProgress | None = None,
        contrast: Prompt | None = None,
    ) -> Iterator[str]:
        """Stream a completion; the common prefix with the previous prompt is not re-read.
        With a ``contrast`` prompt, a constrained completion is decoded against it
        (contrast.py)."""
        tokens = self.prompt_tokens(prompt)
        if len(tokens) + 1 > self.n_ctx:
            raise ModelError(
                f"The prompt has {len(tokens)} tokens, more than the context window ({self.n_ctx})."
            )
        max_tokens = max(1, min(max_tokens, self.n_ctx - len(tokens)))
        stats = GenerationStats(prompt_tokens=len(tokens))
        self.last_stats = stats
        start = time.perf_counter()
        llm: Any = self.llm  # its ``_ember_contrast`` is read by sampling.install
        try:
            if contrast is not None and constraint is not None:  # read alongside the prompt
                llm._ember_contrast = self._contrast_reader(contrast, max_tokens)
            stats.evaluated_tokens = self._read_prompt(tokens, cancel, on_prompt_progress)
            stream = self.llm.create_completion(
                tokens,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=0.95,
                min_p=0.05,
                repeat_penalty=1.0,
                grammar=self._grammar(constraint.gbnf) if constraint else None,
                stream=True,
            )
            if isinstance(stream, dict):  # pragma: no cover - stream=True yields chunks
                raise ModelError("llama.cpp returned no stream.")
            first = True
            try:
                for chunk in stream:
                    if first:
                        stats.prompt_seconds = time.perf_counter() - start
                        first = False
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("Stopped.")
                    stats.completion_tokens += 1
                    choice = chunk["choices"][0]
                    if choice.get("finish_reason") == "length":
                        stats.stopped_by_limit = True
                    text = choice["text"]
                    if text:
                        yield text
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        finally:
            llm._ember_contrast = None
            stats.total_seconds = time.perf_counter() - start

    def _contrast_reader(self, contrast: Prompt, max_tokens: int) -> ContrastReader | None:
        """The contrast reading, started on ``contrast`` (None when it would not fit)."""
        from ember.core.llm.contrast import CONTRAST_CTX, ContrastReader

        tokens = self.prompt_tokens(contrast)
        if self._contrast is None:
            self._contrast = ContrastReader(
                self.llm, min(self.n_ctx, CONTRAST_CTX), int(self.llm.n_threads)
            )
        if not self._contrast.fits(len(tokens), max_tokens):
            return None
        self._contrast.start(tokens)
        return self._contrast

    def reset(self) -> None:
        """Forget the KV cache (the next prompt is read from scratch)."""
        self.llm.reset()  # type: ignore[no-untyped-call]  # untyped upstream
        self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)

    def close(self) -> None:
        """Free the model and its contexts."""
        if self._contrast is not None:
            self._contrast.close()
        self.llm.close()
