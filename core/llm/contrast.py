"""Context-aware decoding: a reply that leans on what memory showed the model.

A small base model asked "Do you remember my name?" with "First name: Oskar" a few lines
above answers "I don't remember." or "Yes, I do.": the words a conversation usually goes on
with, whatever memory says. Context-aware decoding (Shi et al., 2023, "Trusting Your
Evidence: Hallucinate Less with Context-aware Decoding") reads the same reply a second
time against the prompt *without* the memory (the *contrast prompt*) and samples from

    (1 + a) * logits(memory shown) - a * logits(contrast prompt)

so a token the memory made likelier gains, a token the model would say anyway loses. Only
tokens within :data:`PLAUSIBLE` of the likeliest stay in the running (the "adaptive
plausibility" cut of contrastive decoding), so the contrast never picks a token the model
itself finds implausible; the others keep their order below them, so a grammar that
allows none of the plausible ones still has its choice.

:class:`ContrastReader` is that second reading: a llama.cpp context of its own on the same
weights (no second copy of the model), plugged into the sampler chain ahead of the
grammar. Its ``apply`` mixes the two sets of logits; its ``accept`` reads the chosen token
into the contrast context, so both readings stay in step. That read runs on a thread of
its own, at the same time as the main context reads the same token (llama.cpp releases
the GIL), and ``apply`` waits for it: on two cores a reply costs about one reading, not
two. The contrast prompt is read there too, while the main context reads its prompt;
its beginning (instructions and persona) is kept between replies, so each reply reads
only the new message there. Measured with ``ember eval first`` on
the bundled model and ``benchmarks/threads.py`` (README).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ember.core.llm.sampling import OwnSampler, candidates

# The contrast prompt's context: instructions, persona and one message (a longer one is
# decoded without the contrast).
CONTRAST_CTX = 2048
STRENGTH = 0.5  # a in the formula above
PLAUSIBLE = math.log(0.1)  # kept: tokens at least a tenth as likely as the likeliest
_BELOW = 1.0e4  # how far below the plausible ones the others are moved


class ContrastReader(OwnSampler):
    """The contrast prompt's reading, as a llama.cpp sampler (see the module docstring)."""

    def __init__(self, llm: Any, n_ctx: int, n_threads: int, strength: float = STRENGTH) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.strength = strength
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = min(512, n_ctx)
        params.n_threads = params.n_threads_batch = n_threads
        self._ctx: Any = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self._batch: Any = _internals.LlamaBatch(n_tokens=params.n_batch, embd=0, n_seq_max=1)
        self.n_ctx = n_ctx
        self.n_vocab = int(llm.n_vocab())
        self.tokens: list[int] = []  # what the contrast context holds
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-contrast")
        self._pending: Future[None] | None = None
        self.failed = False  # a contrast read failed: the reply goes on without the contrast

        super().__init__()

    def fits(self, n_tokens: int, max_tokens: int) -> bool:
        """Whether a contrast prompt of ``n_tokens`` and a reply of ``max_tokens`` fit."""
        return n_tokens + max_tokens < self.n_ctx

    def start(self, tokens: Sequence[int]) -> None:
        """Start reading the contrast prompt ``tokens`` on the contrast thread (while the
        main context reads its own prompt), keeping what the context holds of them."""
        self.settle()
        self.failed = False
        self._pending = self._reader.submit(self._start, list(tokens))

    def _start(self, tokens: Sequence[int]) -> None:
        keep = 0
        for a, b in zip(self.tokens, tokens, strict=False):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(tokens) - 1)  # the last token is read again: its logits
        if not self._ctx.kv_cache_seq_rm(-1, keep, -1):
            self._ctx.kv_cache_clear()
            keep = 0
        self.tokens = list(tokens[:keep])
        self._read(tokens[keep:])

    def _read(self, tokens: Sequence[int]) -> None:
        for i in range(0, len(tokens), self._batch._n_tokens):
            chunk = list(tokens[i : i + self._batch._n_tokens])
            self._batch.set_batch(batch=chunk, n_past=len(self.tokens), logits_all=False)
            self._ctx.decode(self._batch)
            self.tokens += chunk

    def settle(self) -> None:
        """Wait for the token being read; a failed read turns the contrast off."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except Exception:  # llama.cpp's decode failed (e.g. out of room)
            self.failed = True

    def _accept(self, token: int) -> None:
        self.settle()
        if not self.failed:
            self._pending = self._reader.submit(self._read, [token])

    def _apply(self, cur_p: Any) -> None:
        self.settle()
        if self.failed:
            return
        data = candidates(cur_p)
        logits = data["logit"]
        contrast = np.ctypeslib.as_array(self._ctx.get_logits(), shape=(self.n_vocab,))
        # Mixed only where plausible (a handful of the vocabulary): the rest move below.
        plausible = np.flatnonzero(logits >= logits.max() + PLAUSIBLE)
        mixed = logits - np.float32(_BELOW)
        mixed[plausible] = (1.0 + self.strength) * logits[plausible] - self.strength * (
            contrast[data["id"][plausible]]
        )
        data["logit"] = mixed

    def close(self) -> None:
        """Free the contrast context."""
        self.settle()
        self._reader.shutdown()
        self._batch.close()
        self._ctx.close()
