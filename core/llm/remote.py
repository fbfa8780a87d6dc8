"""A model on an OpenAI-compatible server, as an engine :class:`~ember.core.llm.backend.Backend`.

:class:`RemoteBackend` sends the prompt the engine rendered to ``/v1/completions`` as one
text (so the prefix-stability rule still pays off: llama.cpp's server keeps its prompt
cache with ``cache_prompt``, llama-cpp-python's reuses the common prefix by itself) and
streams the reply back as text pieces.

* **Data stays data.** Servers tokenize a text prompt with control tokens parsed, so a
  user's ``<end_of_turn>`` would become one. Every data part of the prompt is sent with
  control-token look-alikes (``<...>``, ``<|...|>``, ``[INST]``) broken by a word joiner
  (U+2060) after the opening bracket (:func:`defuse`); template markup is sent as is. A
  server that can say which texts its model reads as control tokens (llama.cpp's
  ``/tokenize`` with and without ``parse_special``, asked once per look-alike) gets only
  those broken: Ember's own ``</human>`` then reaches the model as in process.
* **Constraint**, detected once (server_caps.py): the :class:`Constraint`'s GBNF grammar
  where the server takes one; its JSON schema where it takes that; otherwise plain output
  cut to one JSON object (step/repair.py). The engine validates every step either way.
* **Tokens**: counted by the server's tokenizer when it has one (cached per part). A
  server without one gets an estimate, stated here: one token per
  :data:`ESTIMATE_BYTES_PER_TOKEN` UTF-8 bytes, plus :data:`ESTIMATE_MARGIN`. Measured
  with Gemma 3's tokenizer on Ember's own texts: 4.3 bytes per token on the system prompt,
  3.0 on the few-shot examples, 2.5 on a JSON event (the queue is made of those), so the
  estimate over-counts everywhere, by ~15% on events; every reply's reported
  ``prompt_tokens`` tightens the ratio if the server ever needed more. ``max_tokens`` is
  always clamped so prompt + reply fit the window.
* **Window**: the server's own size when it states it (llama.cpp's ``/props``, vLLM's
  ``max_model_len``, Ollama's ``num_ctx``); Ember's context setting only when it states
  none (capped by the model's trained length where that is known).
* **Prefix reuse**: ``cache_prompt``, and the server picks the slot. llama.cpp's server
  puts a request in the slot whose cache shares the longest prefix with it, saves idle
  slots to its RAM prompt cache and reloads them from there. Measured (README): after
  another agent's turn, an agent's next step re-read 263 of 2,197 tokens that way, and a
  new agent's first step 3 of 1,937 (the instructions are shared); asking for one slot
  per agent (``id_slot``) made every switch re-read the whole prompt on the server's
  default unified cache, because a slot asked for by id is never reloaded from the RAM
  cache. So no ``id_slot`` is sent. What the server evaluated and reused comes back in
  its ``timings`` (``prompt_n``, ``cache_n``) and is what the step's figures show.
* **Prompt progress** comes from llama.cpp's server (``return_progress``); other servers
  report none while they read. What each streamed event says is read by
  ``completion_events``.
* **Cancel** closes the stream (the server stops generating); a cancel while the server
  is still silent closes the connection at once (openai_client.py's watchdog).
* **Errors** are :class:`ServerError` (a ``ModelError``); during a turn the engine shows
  the message and the user's message stays recorded (it was committed before the model
  was called).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping

from ember.core.kernel.errors import Cancelled, ContextTooSmall, ServerError, quoted
from ember.core.kernel.jsontypes import JSONValue
from ember.core.llm.backend import (
    Backend,
    ChatFormat,
    GenerationStats,
    OnPromptProgress,
    Prompt,
    count_prompt_tokens,
)
from ember.core.llm.completion_events import event_text, note_counts, report_progress
from ember.core.llm.config import EngineConfig
from ember.core.llm.openai_client import OpenAIClient, Timeouts
from ember.core.llm.server_caps import (
    ConstraintChoice,
    ServerCapabilities,
    constraint_fields,
    detect,
)
from ember.core.llm.server_url import parse_server_url
from ember.core.step.repair import ObjectCutter
from ember.core.step.schema import Constraint

ESTIMATE_BYTES_PER_TOKEN = 2.5
ESTIMATE_MARGIN = 1.15
_TOKEN_CACHE = 2048  # texts whose server tokens are kept (a prompt has one part per event)
WORD_JOINER = "\u2060"
# An opening bracket that starts a control-token look-alike: <eos>, </s>, <|im_end|>,
# <end_of_turn>, [INST], [/INST].
_LOOKALIKE = re.compile(r"<(?=\|?/?[A-Za-z_][^<>\s]{0,48}>)|\[(?=/?INST\])")
_LOOKALIKE_WHOLE = re.compile(r"<\|?/?[A-Za-z_][^<>\s]{0,48}>|\[/?INST\]")


def defuse(text: str) -> str:
    """``text`` with a word joiner after the bracket of every control-token look-alike, so
    that no server tokenizer turns data into a control token."""
    return _LOOKALIKE.sub(lambda m: m.group(0) + WORD_JOINER, text)


class RemoteBackend:
    """The engine's :class:`~ember.core.llm.backend.Backend` over an OpenAI-compatible server."""

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
        if self.caps.n_ctx:
            self.n_ctx = self.caps.n_ctx
        else:
            self.n_ctx = min(n_ctx, self.caps.n_ctx_cap) if self.caps.n_ctx_cap else n_ctx
        self.window_from_server = bool(self.caps.n_ctx)
        self.notices = self.caps.notices
        # The server adds BOS itself (llama.cpp's and llama-cpp-python's do; for any other
        # server counting one more token than it reads is the safe side).
        self.chat_format = ChatFormat(
            template=self.caps.chat_template,
            bos_token=self.caps.bos_token,
            eos_token=self.caps.eos_token,
            adds_bos=True,
        )
        self.last_stats: GenerationStats | None = None
        self.bytes_per_token = ESTIMATE_BYTES_PER_TOKEN
        self._tokens: OrderedDict[tuple[str, bool], list[int]] = OrderedDict()
        self._control: dict[str, bool] = {}  # look-alike -> the model reads it as control
        self._lock = threading.Lock()

    @property
    def chat_template(self) -> str | None:
        """The model's chat template as the server stated it (None: the neutral
        transcript)."""
        return self.chat_format.template

    # -- data as sent -----------------------------------------------------------------------

    def _is_control(self, lookalike: str) -> bool:
        """Whether the server's model reads ``lookalike`` as a control token (asked once)."""
        with self._lock:
            known = self._control.get(lookalike)
        if known is None:
            special = self._server_tokens(lookalike, True)
            known = special != self._server_tokens(lookalike, False)
            with self._lock:
                self._control[lookalike] = known
        return known

    def defuse(self, text: str) -> str:
        """Data ``text`` as sent: the look-alikes that would be control tokens broken (all
        of them on a server that cannot say which ones would)."""
        tok = self.caps.tokenizer
        if tok is None or tok.style != "llama.cpp":
            return defuse(text)
        return _LOOKALIKE_WHOLE.sub(
            lambda m: defuse(m.group(0)) if self._is_control(m.group(0)) else m.group(0), text
        )

    def wire_text(self, prompt: Prompt) -> str:
        """The prompt as sent: markup as is, data defused."""
        return "".join(p.text if p.markup else self.defuse(p.text) for p in prompt.parts)

    # -- tokens -----------------------------------------------------------------------------

    @property
    def exact_counts(self) -> bool:
        """Whether token counts come from the server's tokenizer (else an estimate)."""
        return self.caps.tokenizer is not None

    def estimate_tokens(self, text: str) -> int:
        """The stated conservative estimate (see the module docstring)."""
        n = len(text.encode("utf-8"))
        return math.ceil(n / self.bytes_per_token * ESTIMATE_MARGIN) if n else 0

    def _server_tokens(self, text: str, markup: bool) -> list[int]:
        tok = self.caps.tokenizer
        assert tok is not None
        body: dict[str, object]
        if tok.style == "llama.cpp":
            body = {"content": text, "add_special": False, "parse_special": markup}
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
        return [_token_id(t) for t in tokens]

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        """Token ids of ``text`` as it is sent (data defused), from the server's tokenizer
        (cached per text).

        A server without a tokenizer has no ids to give: the list then holds ``-1``
        placeholders, as many as the estimate, because the engine only ever counts them.
        """
        sent = text if markup else self.defuse(text)
        if self.caps.tokenizer is None:
            return [-1] * self.estimate_tokens(sent)
        key = (sent, markup)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None:
                self._tokens.move_to_end(key)
                return list(cached)
        tokens = self._server_tokens(sent, markup)
        with self._lock:
            self._tokens[key] = tokens
            while len(self._tokens) > _TOKEN_CACHE:
                self._tokens.popitem(last=False)
        return list(tokens)

    def count_tokens(self, text: str) -> int:
        """Tokens of data ``text``: the server's count, or the estimate."""
        return len(self.tokenize(text))

    # -- generation -------------------------------------------------------------------------

    def _body(
        self, text: str, fields: dict[str, object], max_tokens: int, temperature: float
    ) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self.caps.model,
            "prompt": text,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": 0.95,
            **fields,
        }
        if self.caps.cache_prompt:
            body["cache_prompt"] = True
        if self.caps.prompt_progress:
            body["return_progress"] = True
        if self.caps.flavour == "llama.cpp":
            # The server's own counts with every piece, not only the last: a step cut short
            # (a stopped reply, a finished JSON object) still reports evaluated/reused.
            body["timings_per_token"] = True
        if self.caps.flavour in ("vllm", "openai-compatible"):
            body["stream_options"] = {"include_usage": True}
        return body

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
        """Stream the completion of ``prompt`` under the constraint the server supports
        (a server reads one prompt: ``contrast`` is not used)."""
        prompt_tokens = count_prompt_tokens(self, prompt)
        room = self.n_ctx - prompt_tokens
        if room < 1:
            raise ServerError(
                f"The prompt has about {prompt_tokens} tokens, more than the context window "
                f"({self.n_ctx}).",
                "context_overflow",
            )
        text = self.wire_text(prompt)
        fields = constraint_fields(self.caps, constraint)
        body = self._body(text, fields, max(1, min(max_tokens, room)), temperature)
        stats = GenerationStats(prompt_tokens=prompt_tokens, evaluated_tokens=prompt_tokens)
        self.last_stats = stats
        # A GBNF grammar yields the exact layout, and free text was asked for without a
        # constraint; anything else (a JSON schema, or a constraint the server could not
        # take) is cut to one JSON object in the step layout.
        cutter = ObjectCutter() if constraint is not None and "grammar" not in fields else None
        start = time.perf_counter()
        events = self.client.stream("/completions", body, cancel=cancel, timeouts=self.timeouts)
        first: object = None  # what the server sent first, to name it if it is no completion
        shaped = False  # whether any event was a completion's (had "choices")
        try:
            for event in events:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Stopped.")
                first = event if first is None else first
                shaped = shaped or isinstance(event.get("choices"), list)
                self._note_usage(event, stats, text)
                if on_prompt_progress is not None:
                    report_progress(event, on_prompt_progress)
                piece, finish = event_text(event)
                if finish == "length":
                    stats.stopped_by_limit = True
                if not piece:
                    continue
                if not stats.completion_tokens:
                    stats.prompt_seconds = time.perf_counter() - start
                stats.completion_tokens += 1
                if cutter is None:
                    yield piece
                    continue
                out = cutter.feed(piece)
                if out:
                    yield out
                if cutter.complete:
                    stats.stopped_by_limit = False
                    break
            if not shaped:  # JSON of another shape: every step came back empty, to the cap
                raise ServerError(
                    f"The server at {self.endpoint.url} answered /completions with something "
                    f"that is not a completion: {quoted(json.dumps(first), 120)}. Is this an "
                    "OpenAI-compatible API?",
                    "bad_response",
                )
        except ServerError as exc:
            raise ServerError(
                f"{exc} Your message is kept; send again when the server is back.", exc.kind
            ) from exc
        finally:
            events.close()
            stats.total_seconds = time.perf_counter() - start

    def _note_usage(self, event: Mapping[str, object], stats: GenerationStats, sent: str) -> None:
        """Take the server's own counts (usage, llama.cpp timings) when it sends them."""
        stated = note_counts(event, stats)
        if stated is not None and self.caps.tokenizer is None and sent:
            # Never under-count again: the estimate's ratio only ever tightens.
            seen = len(sent.encode("utf-8")) / max(1, stated)
            self.bytes_per_token = min(self.bytes_per_token, seen)

    def models(self) -> list[str]:
        """The models the server offers (as detected)."""
        return list(self.caps.models)

    def close(self) -> None:
        """Nothing is held open between requests."""


def _token_id(token: JSONValue) -> int:
    """A token id as a tokenizer sent it: a number, or ``{"id": .., "piece": ..}``."""
    value = token["id"] if isinstance(token, dict) else token
    if isinstance(value, (int, float, str)):
        return int(value)
    raise TypeError(f"not a token id: {value!r}")


def window_too_small(backend: Backend, exc: ContextTooSmall) -> ContextTooSmall:
    """``exc`` in words for a server whose own window is too small (Ember's ``--ctx``
    cannot change it); any other backend's ``exc`` as it is."""
    if not isinstance(backend, RemoteBackend) or not backend.window_from_server:
        return exc
    return ContextTooSmall(
        f"The server at {backend.endpoint.url} runs {quoted(backend.caps.model)} with a context "
        f"window of {backend.n_ctx} tokens, smaller than Ember's instructions, tools, core memory "
        f"and one reply ({exc.needed} tokens). Restart the server with a larger context "
        f"(at least {exc.smallest} tokens; llama-server: -c {exc.smallest}).",
        needed=exc.needed,
        smallest=exc.smallest,
    )


def server_backend(config: EngineConfig) -> RemoteBackend:
    """The backend for a configured server (``config.server_url``), key from
    ``EMBER_API_KEY`` or the OS keychain."""
    from ember.core.llm.apikey import api_key_for

    if not config.server_url:
        raise ServerError("No server is configured.", "not_found")
    return RemoteBackend(
        config.server_url,
        model=config.server_model,
        api_key=api_key_for(config.server_url),
        n_ctx=config.n_ctx,
    )
