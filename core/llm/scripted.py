"""A backend that replays scripted completions: deterministic engine tests and demos.

It is never a substitute for the integration tests that run the real model. Tokens are
one per four characters (rounded up), which keeps token counts predictable in tests of
memory pressure and eviction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ember.core.kernel.errors import Cancelled, ModelError
from ember.core.llm.backend import ChatFormat, GenerationStats, OnPromptProgress, Prompt
from ember.core.step.schema import Constraint, encode_step

# responder(prompt text, constraint) -> the completion
Responder = Callable[[str, Constraint | None], str]


class ScriptedBackend:
    """Replays scripted completions, piece by piece (7 characters each), cut at
    ``max_tokens`` like a real model's.

    Outputs are taken in order, or from ``responder(prompt_text, constraint)`` when given.
    Every prompt and constraint it was given is kept (``prompts``, ``constraints``,
    ``grammars`` for the GBNF texts).
    """

    name = "scripted"

    def __init__(
        self,
        outputs: Sequence[str] = (),
        *,
        n_ctx: int = 4096,
        responder: Responder | None = None,
        chat_format: ChatFormat | None = None,
    ) -> None:
        self.outputs: list[str] = list(outputs)
        self.responder = responder
        self.n_ctx = n_ctx
        self.chat_format = chat_format or ChatFormat()
        self.prompts: list[str] = []
        self.prompt_parts: list[Prompt] = []
        self.constraints: list[Constraint | None] = []
        self.contrasts: list[Prompt | None] = []
        self.last_stats: GenerationStats | None = None
        self.closed = False

    @property
    def grammars(self) -> list[str | None]:
        """The GBNF grammar of each call (None when unconstrained)."""
        return [c.gbnf if c else None for c in self.constraints]

    def push(self, *outputs: str) -> None:
        """Queue more outputs."""
        self.outputs.extend(outputs)

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        """One token per 4 characters (rounded up): crude but deterministic."""
        return list(range((len(text) + 3) // 4))

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
        """Yield the next scripted output in small pieces (``contrast`` is recorded)."""
        text = prompt.text
        self.contrasts.append(contrast)
        self.prompts.append(text)
        self.prompt_parts.append(prompt)
        self.constraints.append(constraint)
        if self.responder is not None:
            out = self.responder(text, constraint)
        elif self.outputs:
            out = self.outputs.pop(0)
        else:
            raise ModelError("ScriptedBackend has no scripted output left.")
        n = 1 + sum(len(self.tokenize(p.text)) for p in prompt.parts)
        if n + 1 > self.n_ctx:
            raise ModelError(f"The prompt has {n} tokens, more than the context window.")
        self.last_stats = GenerationStats(prompt_tokens=n, evaluated_tokens=n)
        if len(self.tokenize(out)) > max_tokens:  # cut at the token limit, as a model is
            out = out[: 4 * max_tokens]
            self.last_stats.stopped_by_limit = True
        if on_prompt_progress is not None:
            on_prompt_progress(n, n)
        for i in range(0, len(out), 7):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Stopped.")
            self.last_stats.completion_tokens += 1
            yield out[i : i + 7]

    def close(self) -> None:
        """Nothing to release; remembered for tests."""
        self.closed = True


def scripted_step(function: str, thoughts: str = "thinking", **arguments: Any) -> str:
    """A step as the model writes it, for scripts: ``scripted_step("send_message",
    message="Hi")``."""
    return encode_step(thoughts, function, arguments)


def scripted_reply(text: str, thoughts: str = "thinking") -> str:
    """A ``send_message`` step."""
    return encode_step(thoughts, "send_message", {"message": text})
