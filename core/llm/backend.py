"""What the engine needs from a model: backend protocols, checked at run time.

A :class:`Backend` tokenizes, streams one completion of a :class:`Prompt` under an optional
:class:`Constraint`, can be cancelled, reports what its last call cost and can be closed.
It also says what the prompt renderer needs to know about the model (:class:`ChatFormat`:
its chat template and the texts of its BOS/EOS tokens).

A backend that keeps a KV cache the engine can save and restore for warm restarts (llama.cpp
in process) is also a :class:`KVStateBackend`. Both are ``runtime_checkable`` protocols: the
engine asks ``isinstance(backend, KVStateBackend)``, never ``hasattr``.

Prompts are sequences of parts, each marked as template markup or data. Only template
markup may turn into control tokens (``<start_of_turn>``, ``<eos>``…); everything a user,
a document, an imported history or a tool wrote is data and is tokenized as plain text.

A :class:`Constraint` carries one step's shape in every form a backend may take: a GBNF
grammar (llama.cpp, llama.cpp's server), a JSON schema (servers with structured output), or
neither (a backend that cannot constrain ignores it). The engine validates every step
whatever the backend did with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ember.core.step.schema import Constraint

# (tokens evaluated so far, tokens to evaluate) while a backend reads a prompt.
OnPromptProgress = Callable[[int, int], None]


@dataclass
class GenerationStats:
    """What one completion cost."""

    prompt_tokens: int = 0
    evaluated_tokens: int = 0  # prompt tokens read (the rest came from the KV cache)
    completion_tokens: int = 0
    prompt_seconds: float = 0.0
    total_seconds: float = 0.0
    stopped_by_limit: bool = False  # generation ended at max_tokens

    @property
    def tokens_per_second(self) -> float:
        """Generation speed after the prompt was read."""
        gen = self.total_seconds - self.prompt_seconds
        return self.completion_tokens / gen if gen > 0 else 0.0


@dataclass(frozen=True)
class ChatFormat:
    """What the prompt renderer needs from the model: its chat template (None: the neutral
    transcript) and the texts of its BOS and EOS tokens, which templates refer to."""

    template: str | None = None
    bos_token: str = ""
    eos_token: str = ""
    adds_bos: bool = True  # the backend puts BOS before every prompt


@dataclass(frozen=True)
class PromptPart:
    """A run of prompt text. ``markup`` parts come from the chat template and may contain
    the model's control tokens; every other part is data, tokenized as plain text."""

    text: str
    markup: bool = False


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: its parts in order (adjacent parts never share ``markup``)."""

    parts: tuple[PromptPart, ...]

    @property
    def text(self) -> str:
        """The whole prompt as one string (for display, tests and hashing)."""
        return "".join(p.text for p in self.parts)

    @classmethod
    def of(cls, pieces: Sequence[tuple[str, bool]]) -> Prompt:
        """A prompt from ``(text, markup)`` pieces, merging neighbours of the same kind and
        dropping empty ones."""
        parts: list[PromptPart] = []
        for text, markup in pieces:
            if not text:
                continue
            if parts and parts[-1].markup == markup:
                parts[-1] = PromptPart(parts[-1].text + text, markup)
            else:
                parts.append(PromptPart(text, markup))
        return cls(tuple(parts))

    @classmethod
    def data(cls, text: str) -> Prompt:
        """A prompt that is all data (no template markup)."""
        return cls.of([(text, False)])


@runtime_checkable
class Backend(Protocol):
    """A model that completes prompts."""

    name: str
    n_ctx: int
    chat_format: ChatFormat
    last_stats: GenerationStats | None

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        """Token ids of ``text`` (no BOS). Control-token texts become control tokens only
        with ``markup=True``."""
        ...

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
        """Yield text pieces of the completion of ``prompt``. Raises ``Cancelled`` once
        ``cancel`` is set (also while the prompt is being read), ``ModelError`` if the
        prompt does not fit. Sets :attr:`last_stats`. A backend that can read a second
        prompt alongside decodes a constrained completion against ``contrast`` (the same
        prompt without what memory showed: llm/contrast.py); the others ignore it."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...


@runtime_checkable
class KVStateBackend(Backend, Protocol):
    """A backend whose KV cache can be inspected, saved and restored (warm restart)."""

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The tokens :meth:`generate` reads for ``prompt``, BOS included."""
        ...

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading ``tokens`` the KV cache already holds."""
        ...

    def context_tokens(self) -> list[int]:
        """The tokens in the KV cache now, in order."""
        ...

    def state_identity(self) -> dict[str, object]:
        """What a saved state is only valid for (model file, build, context settings)."""
        ...

    def save_kv_state(self) -> tuple[list[int], bytes]:
        """The cached tokens and the KV cache bytes."""
        ...

    def load_kv_state(self, tokens: Sequence[int], data: bytes) -> bool:
        """Put a saved state back; False (cache left empty) if it is rejected."""
        ...

    def truncate_kv(self, n_tokens: int) -> None:
        """Keep only the first ``n_tokens`` tokens in the KV cache."""
        ...

    def kv_can_continue(self, n_past: int) -> bool:
        """Whether the cache can serve a prompt whose first ``n_past`` tokens it holds."""
        ...

    def prefill(
        self,
        tokens: Sequence[int],
        *,
        cancel: threading.Event | None = None,
        on_progress: OnPromptProgress | None = None,
    ) -> int:
        """Evaluate ``tokens`` into the KV cache (all of them, no completion), reusing what
        it holds of them. Returns how many were evaluated; raises ``Cancelled``."""
        ...


def count_prompt_tokens(backend: Backend, prompt: Prompt) -> int:
    """Tokens ``backend`` reads for ``prompt``: every part tokenized on its own (data as
    plain text), plus BOS when the backend adds one."""
    bos = 1 if backend.chat_format.adds_bos else 0
    return bos + sum(len(backend.tokenize(p.text, markup=p.markup)) for p in prompt.parts)
