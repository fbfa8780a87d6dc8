"""What Ember accepts from an OpenAI-compatible server, whatever the server does.

Servers are other programs, sometimes hostile or broken (issue 28): one answered its model
list with 50 MB, one dripped it a byte at a time, one kept a reply open with an empty event
every second, one redirected, one answered JSON of another shape. ``openai_client`` reads
through these rules:

* bodies are read to a bound: a JSON answer :data:`MAX_BODY_BYTES`, one streamed event
  :data:`MAX_EVENT_BYTES`, an error body :data:`MAX_ERROR_BYTES`;
* a redirect is reported with its target, never followed (it could send the user's
  messages to another host);
* only an event that carries text, or more of the prompt read (llama.cpp's
  ``prompt_progress``), counts as a reply making progress.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ember.core.kernel.errors import ServerError

if TYPE_CHECKING:
    from ember.core.llm.server_url import Endpoint

MAX_BODY_BYTES = 16 << 20  # a JSON answer (a long model list is well under 1 MB)
MAX_EVENT_BYTES = 1 << 20  # one streamed event
MAX_ERROR_BYTES = 64 << 10  # the body of an error status


def read_bounded(
    endpoint: Endpoint, path: str, resp: http.client.HTTPResponse, limit: int
) -> bytes:
    """The response body, refused past ``limit`` bytes (a 50 MB answer was read whole)."""
    data = resp.read(limit + 1)
    if len(data) > limit:
        raise ServerError(
            f"The server at {endpoint.url} sent more than {limit >> 20} MB for {path}; "
            "Ember stopped reading. Is this an OpenAI-compatible API?",
            "bad_response",
        )
    return data


def redirected(endpoint: Endpoint, path: str, resp: http.client.HTTPResponse) -> ServerError:
    """A redirect, reported (it was taken for a reply cut off: "connection lost")."""
    where = resp.getheader("Location") or "another address"
    return ServerError(
        f"The server at {endpoint.url} redirects {path} to {where} (HTTP {resp.status}). "
        "Ember does not follow redirects: give it the server's own address.",
        "not_found",
    )


def carries_text(event: Mapping[str, object]) -> bool:
    """Whether a streamed completion event carries a piece of the reply or its end (what
    keeps a stream alive; empty events and pings do not)."""
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return False
    choice = choices[0]
    delta = choice.get("delta")
    text = choice.get("text") or (delta.get("content") if isinstance(delta, Mapping) else None)
    return bool(text) or bool(choice.get("finish_reason"))


def prompt_read(event: object) -> int:
    """Tokens of the prompt read so far, by llama.cpp's ``prompt_progress`` (else 0)."""
    progress = event.get("prompt_progress") if isinstance(event, dict) else None
    processed = progress.get("processed") if isinstance(progress, Mapping) else None
    return processed if isinstance(processed, int) else 0
