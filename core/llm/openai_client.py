"""A small HTTP client for OpenAI-compatible servers, on the standard library only.

Design:

* One connection per request (``http.client``): a local server that restarted between
  two turns must not surface as a stale pooled socket, and the agent is usable again as
  soon as the server is back.
* Streaming reads Server-Sent Events line by line (``data: {...}`` up to ``[DONE]``).
* Cancel closes the stream: a watcher thread shuts the socket down when the cancel event
  is set, which wakes a read that is blocked (a server still reading a long prompt sends
  nothing for minutes). Servers stop generating when their client goes away.
* Timeouts fit slow local servers: 10 s to connect, then :class:`Timeouts` -- a long wait
  for the first token (prompt reading can take minutes on a laptop) and a gap limit
  between tokens once the reply flows. Only events that carry text (or new prompt
  progress) count as the reply flowing: a server sending an empty event every second
  once kept a reply open forever. There is no fixed cut on a whole reply; every other
  request has a total deadline (a server dripping ``/v1/models`` a byte at a time hung).
* Reads are bounded, redirects reported and not followed (``server_limits``).
* Every failure becomes one :class:`ServerError` whose message names the server and the
  fix, with a ``kind`` (unreachable, auth, not_found, model_missing, context_overflow,
  dropped, timeout, server, bad_response); an error status is put in words by
  ``server_errors``. Where the server is (its :class:`Endpoint`) is ``server_url``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

from ember.core.kernel.errors import Cancelled, ServerError
from ember.core.kernel.jsontypes import JSONLike, JSONObject
from ember.core.llm.server_errors import http_error, json_body
from ember.core.llm.server_limits import (
    MAX_BODY_BYTES,
    MAX_ERROR_BYTES,
    MAX_EVENT_BYTES,
    carries_text,
    prompt_read,
    read_bounded,
    redirected,
)
from ember.core.llm.server_url import Endpoint

CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 120.0  # plain requests: model lists, tokenization, probes (in all)
USER_AGENT = "ember-assistant"


@dataclass(frozen=True)
class Timeouts:
    """How long a streamed reply may stay silent, in seconds."""

    first_token: float = 1800.0  # from the request to the first token: prompt reading
    between_tokens: float = 300.0  # once tokens flow


class _Watchdog:
    """Shuts a socket down on cancel or when the server stays silent too long."""

    def __init__(
        self, sock: socket.socket, cancel: threading.Event | None, timeouts: Timeouts
    ) -> None:
        self.sock = sock
        self.cancel = cancel
        self.timeouts = timeouts
        self.reason: str | None = None  # "cancelled" | "timeout" once it fired
        self.first_token_seen = False
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ember-http-watchdog", daemon=True)
        self._thread.start()

    def token(self) -> None:
        """A token arrived: the silence clock restarts with the shorter limit."""
        self.first_token_seen = True
        self._last = time.monotonic()

    def progress(self) -> None:
        """The server reports progress reading the prompt: the first-token clock restarts."""
        self._last = time.monotonic()

    def _run(self) -> None:
        while not self._done.wait(0.1):
            limit = (
                self.timeouts.between_tokens if self.first_token_seen else self.timeouts.first_token
            )
            if self.cancel is not None and self.cancel.is_set():
                self._fire("cancelled")
            elif time.monotonic() - self._last > limit:
                self._fire("timeout")

    def _fire(self, reason: str) -> None:
        self.reason = reason
        self._done.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stop(self) -> None:
        """The request is over."""
        self._done.set()


class OpenAIClient:
    """Requests to one server. Thread-safe: every request has its own connection."""

    def __init__(self, endpoint: Endpoint, api_key: str | None = None) -> None:
        self.endpoint = endpoint
        self.api_key = api_key

    # -- plumbing --------------------------------------------------------------------------

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        ep = self.endpoint
        cls = http.client.HTTPSConnection if ep.scheme == "https" else http.client.HTTPConnection
        conn = cls(ep.host, ep.port, timeout=CONNECT_TIMEOUT)
        try:
            conn.connect()
        except ConnectionRefusedError:
            raise ServerError(
                f"Cannot reach the server at {ep.url} (connection refused). Is it running?",
                "unreachable",
            ) from None
        except socket.gaierror:
            raise ServerError(
                f"Cannot reach the server at {ep.url}: unknown host {ep.host}.", "unreachable"
            ) from None
        except TimeoutError:
            raise ServerError(
                f"The server at {ep.url} did not answer within {CONNECT_TIMEOUT:.0f} s.",
                "unreachable",
            ) from None
        except OSError as exc:
            raise ServerError(
                f"Cannot reach the server at {ep.url}: {exc.strerror or exc}.", "unreachable"
            ) from None
        assert conn.sock is not None
        conn.sock.settimeout(timeout)
        return conn

    def _headers(self, body: bool) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/event-stream"}
        if body:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _path(self, path: str, root: bool) -> str:
        return (self.endpoint.root if root else self.endpoint.api) + path

    def request_json(
        self,
        method: str,
        path: str,
        body: JSONLike | None = None,
        *,
        root: bool = False,
        timeout: float = REQUEST_TIMEOUT,
    ) -> JSONObject:
        """One request; the JSON object it answered. ``root`` puts ``path`` under the
        server's root instead of its API base."""
        full = self._path(path, root)
        conn = self._connect(timeout)
        assert conn.sock is not None
        # The whole request within ``timeout``: a per-read timeout never fires for a
        # server that sends a byte a second.
        deadline = _Watchdog(conn.sock, None, Timeouts(timeout, timeout))
        late = ServerError(
            f"The server at {self.endpoint.url} did not answer {full} within {timeout:.0f} s.",
            "timeout",
        )
        try:
            payload = None if body is None else json.dumps(body).encode("utf-8")
            conn.request(method, full, body=payload, headers=self._headers(body is not None))
            resp = conn.getresponse()
            limit = MAX_ERROR_BYTES if resp.status >= 400 else MAX_BODY_BYTES
            data = read_bounded(self.endpoint, full, resp, limit)
        except TimeoutError:
            raise late from None
        except (OSError, http.client.HTTPException) as exc:
            if deadline.reason == "timeout":
                raise late from None
            raise ServerError(
                f"The connection to the server at {self.endpoint.url} failed: {exc}.", "dropped"
            ) from None
        finally:
            deadline.stop()
            conn.close()
        if deadline.reason == "timeout":
            raise late
        if 300 <= resp.status < 400:
            raise redirected(self.endpoint, full, resp)
        if resp.status >= 400:
            raise http_error(self.endpoint, full, resp.status, data)
        return json_body(self.endpoint, full, data)

    def probe_json(self, path: str, *, root: bool = False) -> JSONObject | None:
        """GET ``path``; None when the server does not offer it (any error status)."""
        try:
            return self.request_json("GET", path, root=root, timeout=30.0)
        except ServerError as exc:
            if exc.kind in ("unreachable", "auth"):
                raise
            return None

    # -- streaming -------------------------------------------------------------------------

    def stream(
        self,
        path: str,
        body: JSONLike,
        *,
        cancel: threading.Event | None = None,
        timeouts: Timeouts | None = None,
    ) -> Generator[JSONObject, None, None]:
        """POST with ``stream: true``; yield each event's JSON until ``[DONE]``.

        Raises :class:`Cancelled` when ``cancel`` is set (the connection is closed, so the
        server stops), :class:`ServerError` on any failure, including a reply cut off.
        Closing the generator early closes the connection too.
        """
        full = self._path(path, False)
        timeouts = timeouts or Timeouts()
        conn = self._connect(None)
        assert conn.sock is not None
        watchdog = _Watchdog(conn.sock, cancel, timeouts)
        done = False
        read_so_far = 0
        try:
            try:
                payload = json.dumps({**body, "stream": True}).encode("utf-8")
                conn.request("POST", full, body=payload, headers=self._headers(True))
                resp = conn.getresponse()
                if 300 <= resp.status < 400:
                    raise redirected(self.endpoint, full, resp)
                if resp.status >= 400:
                    error = read_bounded(self.endpoint, full, resp, MAX_ERROR_BYTES)
                    raise http_error(self.endpoint, full, resp.status, error)
                if "json" in (resp.getheader("Content-Type") or ""):
                    # A server that ignores "stream": the whole answer as one event.
                    answer = read_bounded(self.endpoint, full, resp, MAX_BODY_BYTES)
                    whole = json_body(self.endpoint, full, answer)
                    watchdog.token()
                    yield whole
                    done = True
                    return
                while raw := resp.readline(MAX_EVENT_BYTES + 1):
                    if len(raw) > MAX_EVENT_BYTES:
                        raise ServerError(
                            f"The server at {self.endpoint.url} sent an event of more than "
                            f"{MAX_EVENT_BYTES >> 20} MB; Ember stopped reading.",
                            "bad_response",
                        )
                    line = raw.decode("utf-8", errors="replace").strip()
                    if not line.startswith("data:"):
                        continue  # blank separators, comments (pings), event names
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        done = True
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise ServerError(
                            f"The server at {self.endpoint.url} sent a malformed event.",
                            "bad_response",
                        ) from None
                    if isinstance(event, dict) and event.get("error"):
                        raise http_error(self.endpoint, full, 500, data.encode("utf-8"))
                    if isinstance(event, dict) and carries_text(event):
                        watchdog.token()
                    elif (read := prompt_read(event)) > read_so_far:
                        read_so_far = read  # progress only when more of it was read
                        watchdog.progress()
                    yield event
            except (OSError, http.client.HTTPException) as exc:
                cause: Exception = exc
            else:
                cause = ConnectionError("the stream ended without [DONE]")
            if watchdog.reason == "cancelled":
                raise Cancelled("Stopped.")
            if watchdog.reason == "timeout":
                limit = (
                    timeouts.between_tokens if watchdog.first_token_seen else timeouts.first_token
                )
                raise ServerError(
                    f"The server at {self.endpoint.url} sent nothing for {limit:.0f} s; "
                    "the reply was abandoned.",
                    "timeout",
                )
            raise ServerError(
                f"The connection to the server at {self.endpoint.url} was lost in the middle "
                f"of the reply ({cause}).",
                "dropped",
            )
        finally:
            watchdog.stop()
            if not done:
                try:
                    assert conn.sock is not None
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except (OSError, AssertionError):
                    pass
            conn.close()
