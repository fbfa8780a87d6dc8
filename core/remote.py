"""A model on an OpenAI-compatible server, as an engine backend.

:class:`RemoteBackend` sends the prompt the engine rendered, unchanged, to
``/v1/completions`` (so the prefix-stability rule still pays off: llama.cpp's server
keeps its prompt cache with ``cache_prompt``, llama-cpp-python's reuses the common
prefix by itself) and streams the reply back as text pieces.

* **Constraint**, detected once (server_caps.py): the engine's GBNF grammar where the
  server takes one; a JSON schema where it takes that; otherwise plain output cut to
  one JSON object (steprepair.py) for the engine to validate.
* **Tokens**: counted by the server's tokenizer when it has one (cached per text). A
  server without one gets an estimate, stated here: one token per
  :data:`ESTIMATE_BYTES_PER_TOKEN` UTF-8 bytes, plus :data:`ESTIMATE_MARGIN`. Measured
  with Gemma 3's tokenizer on Ember's own texts: 4.3 bytes per token on the system prompt,
  3.0 on the few-shot examples, 2.5 on a JSON event (the queue is made of those), so the
  estimate over-counts everywhere, by ~15% on events; every reply's reported
  ``prompt_tokens`` tightens the ratio if the server ever needed more. ``max_tokens`` is
  always clamped so prompt + reply fit the window.
* **Window**: the server's own size when it states it, never more than Ember's context
  setting (``--ctx``); otherwise Ember's setting.
* **Errors** are :class:`ServerError`; during a turn the engine shows the message and the
  user's message stays recorded (it was committed before the model was called).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ember.core.config import EngineConfig
from ember.core.errors import ServerError
from ember.core.llm import GenerationStats
from ember.core.openai_client import OpenAIClient, Timeouts, parse_server_url
from ember.core.server_caps import (
    ConstraintChoice,
    ServerCapabilities,
    constraint_fields,
    detect,
)
from ember.core.steprepair import ObjectCutter

ESTIMATE_BYTES_PER_TOKEN = 2.5
ESTIMATE_MARGIN = 1.15
_COUNT_CACHE = 512


class RemoteBackend:
    """The engine's backend protocol over an OpenAI-compatible server."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        n_ctx: int = 4096,
        constraint: ConstraintChoice = "auto",
        timeouts: Timeouts | None = None,
    ) -> None:
        self.endpoint = parse_server_url(url)
        self.client = OpenAIClient(self.endpoint, api_key)
        self.caps: ServerCapabilities = detect(self.client, model, constraint)
        self.timeouts = timeouts or Timeouts()
        self.path = self.endpoint.url  # what status lines show as "where the model is"
        model_name = self.caps.model.rstrip("/").rsplit("/", 1)[-1]  # ids may be file paths
        self.name = (
            f"{model_name} ({self.caps.flavour} at {self.endpoint.host}:{self.endpoint.port})"
        )
        self.n_ctx = min(self.caps.n_ctx, n_ctx) if self.caps.n_ctx else n_ctx
        self.chat_template = self.caps.chat_template
        self.last_stats: GenerationStats | None = None
        self.bytes_per_token = ESTIMATE_BYTES_PER_TOKEN
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    # -- tokens -----------------------------------------------------------------------------

    @property
    def exact_counts(self) -> bool:
        """Whether token counts come from the server's tokenizer (else an estimate)."""
        return self.caps.tokenizer is not None

    def estimate_tokens(self, text: str) -> int:
        """The stated conservative estimate (see the module docstring)."""
        n = len(text.encode("utf-8"))
        return math.ceil(n / self.bytes_per_token * ESTIMATE_MARGIN) if n else 0

    def _server_tokens(self, text: str) -> list[int]:
        tok = self.caps.tokenizer
        assert tok is not None
        body: dict[str, Any]
        if tok.style == "llama.cpp":
            body = {"content": text, "add_special": False, "parse_special": True}
        elif tok.style == "vllm":
            body = {"model": self.caps.model, "prompt": text, "add_special_tokens": False}
        else:
            body = {"input": text, "model": self.caps.model}
        data = self.client.request_json("POST", tok.path, body, root=tok.root)
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list):
            raise ServerError(
                f"The server at {self.endpoint.url} sent no tokens from {tok.path}.",
                "bad_response",
            )
        # Some servers return pieces with the ids ({"id": .., "piece": ..}).
        return [int(t["id"]) if isinstance(t, Mapping) else int(t) for t in tokens]

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text``: the server's count (cached), or the estimate."""
        if self.caps.tokenizer is None:
            return self.estimate_tokens(text)
        with self._lock:
            n = self._counts.get(text)
            if n is not None:
                self._counts.move_to_end(text)
                return n
        n = len(self._server_tokens(text))
        with self._lock:
            self._counts[text] = n
            while len(self._counts) > _COUNT_CACHE:
                self._counts.popitem(last=False)
        return n

    def tokenize(self, text: str) -> list[int]:
        """Token ids from the server's tokenizer.

        A server without one has no ids to give: the list then holds ``-1`` placeholders,
        as many as the estimate, because the engine only ever counts them.
        """
        if self.caps.tokenizer is None:
            return [-1] * self.estimate_tokens(text)
        return self._server_tokens(text)

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        *,
        grammar: str | None = None,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Stream the completion of ``prompt`` under the constraint the server supports."""
        prompt_tokens = self.count_tokens(prompt) + 1  # + BOS
        room = self.n_ctx - prompt_tokens
        if room < 1:
            raise ServerError(
                f"The prompt has about {prompt_tokens} tokens, more than the context window "
                f"({self.n_ctx}).",
                "context_overflow",
            )
        fields = constraint_fields(self.caps, grammar, json_schema)
        body: dict[str, Any] = {
            "model": self.caps.model,
            "prompt": prompt,
            "max_tokens": max(1, min(max_tokens, room)),
            "temperature": temperature,
            "top_p": 0.95,
            **fields,
        }
        if stop:
            body["stop"] = list(stop)
        if self.caps.cache_prompt:
            body["cache_prompt"] = True
        if self.caps.flavour in ("vllm", "openai-compatible"):
            body["stream_options"] = {"include_usage": True}
        stats = GenerationStats(prompt_tokens=prompt_tokens, evaluated_tokens=prompt_tokens)
        self.last_stats = stats
        # A GBNF grammar yields the exact layout, and free text was asked for without one;
        # anything else (a JSON schema, or a constraint the server could not take) is cut
        # to one JSON object in the step layout.
        asked = grammar is not None or json_schema is not None
        cutter = ObjectCutter() if asked and "grammar" not in fields else None
        start = time.perf_counter()
        events = self.client.stream("/completions", body, cancel=cancel, timeouts=self.timeouts)
        try:
            for event in events:
                self._note_usage(event, stats, prompt)
                text = _event_text(event)
                if not text:
                    continue
                if not stats.completion_tokens:
                    stats.prompt_seconds = time.perf_counter() - start
                stats.completion_tokens += 1
                if cutter is None:
                    yield text
                    continue
                out = cutter.feed(text)
                if out:
                    yield out
                if cutter.complete:
                    break
        except ServerError as exc:
            raise ServerError(
                f"{exc} Your message is kept; send again when the server is back.", exc.kind
            ) from exc
        finally:
            events.close()
            stats.total_seconds = time.perf_counter() - start

    def _note_usage(self, event: Mapping[str, Any], stats: GenerationStats, prompt: str) -> None:
        """Take the server's own counts (usage, llama.cpp timings) when it sends them."""
        usage = event.get("usage")
        if isinstance(usage, Mapping) and isinstance(usage.get("prompt_tokens"), int):
            stats.prompt_tokens = int(usage["prompt_tokens"])
            stats.evaluated_tokens = stats.prompt_tokens
            if self.caps.tokenizer is None and prompt:
                # Never under-count again: the estimate's ratio only ever tightens.
                seen = len(prompt.encode("utf-8")) / max(1, stats.prompt_tokens)
                self.bytes_per_token = min(self.bytes_per_token, seen)
        timings = event.get("timings")
        if isinstance(timings, Mapping) and isinstance(timings.get("prompt_n"), int):
            cached = timings.get("cache_n")
            stats.evaluated_tokens = int(timings["prompt_n"])
            if isinstance(cached, int):
                stats.prompt_tokens = int(timings["prompt_n"]) + cached

    def models(self) -> list[str]:
        """The models the server offers (as detected)."""
        return list(self.caps.models)

    def reset(self) -> None:
        """Nothing to forget locally: the server owns its cache."""

    def close(self) -> None:
        """Nothing is held open between requests."""


def _event_text(event: Mapping[str, Any]) -> str:
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""
    choice = choices[0]
    if not isinstance(choice, Mapping):
        return ""
    text = choice.get("text")
    if text is None and isinstance(choice.get("delta"), Mapping):
        text = choice["delta"].get("content")
    return text if isinstance(text, str) else ""


def server_backend(config: EngineConfig) -> RemoteBackend:
    """The backend for a configured server (``config.server_url``), key from
    ``EMBER_API_KEY`` or the OS keychain."""
    from ember.core.apikey import api_key_for

    if not config.server_url:
        raise ServerError("No server is configured.", "not_found")
    return RemoteBackend(
        config.server_url,
        model=config.server_model,
        api_key=api_key_for(config.server_url),
        n_ctx=config.n_ctx,
    )
