"""A server's failures in words: every HTTP error status, a prompt that did not fit the
server's window, an answer that is not a JSON object, each as one :class:`ServerError`
whose message names the server and the fix (its ``kind`` says which failure it is).
"""

from __future__ import annotations

import json
import re

from ember.core.kernel.errors import ServerError
from ember.core.kernel.jsontypes import JSONObject, JSONValue, loads
from ember.core.llm.server_url import Endpoint


def _error_detail(body: bytes) -> tuple[str, str]:
    """(message, code) from an error body in OpenAI's, FastAPI's or llama.cpp's shape."""
    try:
        data = loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return body.decode("utf-8", errors="replace").strip()[:300], ""
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        message = err.get("message") or err.get("detail") or json.dumps(err)[:300]
        return str(message), str(err.get("code") or err.get("type") or "")
    return str(err)[:300], ""


_CTX_PATTERNS = (
    re.compile(r"maximum context length is (\d+)"),
    re.compile(r"context window of (\d+)"),
    re.compile(r"context size \((\d+)"),
    re.compile(r"n_ctx[^\d]{0,12}(\d+)"),
)


def context_window_in(message: str) -> int | None:
    """The server's window size if an overflow message states it."""
    for pattern in _CTX_PATTERNS:
        m = pattern.search(message)
        if m:
            return int(m.group(1))
    return None


def is_context_overflow(message: str, code: str) -> bool:
    """Whether an error says the prompt did not fit the server's window."""
    text = f"{code} {message}".lower()
    return "context_length_exceeded" in text or (
        "context" in text and any(w in text for w in ("exceed", "too long", "maximum", "larger"))
    )


def http_error(endpoint: Endpoint, path: str, status: int, body: bytes) -> ServerError:
    """The one message for an HTTP error status from the server."""
    message, code = _error_detail(body)
    where = endpoint.url
    if status in (401, 403):
        return ServerError(
            f"The server at {where} refused the API key (HTTP {status}). Set EMBER_API_KEY "
            "or store the key with: ember server key " + endpoint.url,
            "auth",
        )
    low = f"{code} {message}".lower()
    if "model" in low and any(w in low for w in ("not found", "does not exist", "not_found")):
        return ServerError(
            f"The server at {where} does not have that model: {message}", "model_missing"
        )
    if status == 404:
        return ServerError(
            f"The server at {where} has no {path} (HTTP 404). Is this the address of an "
            "OpenAI-compatible API (like http://127.0.0.1:8080/v1)?",
            "not_found",
        )
    if is_context_overflow(message, code):
        window = context_window_in(message)
        size = f" ({window} tokens)" if window else ""
        return ServerError(
            f"The prompt did not fit the server's context window{size}. Start the server with "
            "a larger context, or give Ember the server's size with --ctx (Settings: "
            "Context size).",
            "context_overflow",
        )
    return ServerError(f"The server at {where} answered HTTP {status}: {message}", "server")


def json_body(endpoint: Endpoint, path: str, data: bytes) -> JSONObject:
    try:
        value: JSONValue = loads(data.decode("utf-8"))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ServerError(
            f"The server at {endpoint.url} sent something that is not JSON for {path}.",
            "bad_response",
        )
    return value
