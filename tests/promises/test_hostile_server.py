"""Issue 28 items 9 and 12: a server that never ends a reply (an empty event every second
reset the silence limit forever), drips its model list a byte at a time (no deadline),
answers JSON of another shape (every step came back empty, eight of them, exit 0), sends
50 MB, or redirects (reported as a reply cut off). Each is one clear error now, in about
the time its limit says.

A small scripted server on 127.0.0.1: each test says what it answers for each path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ember.core.kernel.errors import ServerError
from ember.core.llm.backend import Prompt
from ember.core.llm.openai_client import OpenAIClient, Timeouts
from ember.core.llm.remote import RemoteBackend
from ember.core.llm.server_url import parse_server_url

Answer = Callable[[BaseHTTPRequestHandler], None]
MODELS = {"object": "list", "data": [{"id": "m"}]}


def _json(h: BaseHTTPRequestHandler, data: Any, status: int = 200) -> None:
    body = json.dumps(data).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _events(h: BaseHTTPRequestHandler, events: Iterator[str], gap: float = 0.0) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.end_headers()
    try:
        for event in events:
            h.wfile.write(f"data: {event}\n\n".encode())
            h.wfile.flush()
            time.sleep(gap)
    except OSError:
        pass  # the client went away


@contextmanager
def server(answers: dict[str, Answer]) -> Iterator[str]:
    """A server answering each path with ``answers[path]`` (the model list by default)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            answer = answers.get(self.path)
            if answer is None and self.path == "/v1/models":
                _json(self, MODELS)
            elif answer is None:
                _json(self, {"detail": "Not Found"}, 404)
            else:
                answer(self)

        do_GET = do_POST = _answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _generate(backend: RemoteBackend, seconds: float) -> tuple[str | None, float]:
    """Run one reply in a thread: (the error it ended with, or None; how long it took).
    A reply still running after ``seconds`` fails the test instead of hanging it."""
    outcome: list[str | None] = []
    started = time.perf_counter()

    def run() -> None:
        try:
            list(backend.generate(Prompt.data("hi"), max_tokens=20))
            outcome.append(None)
        except ServerError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"the reply was still running after {seconds} s"
    return outcome[0], time.perf_counter() - started


def test_empty_events_do_not_keep_a_reply_open() -> None:
    forever = iter(lambda: "{}", None)  # an empty event, every 0.1 s, forever
    with server({"/v1/completions": lambda h: _events(h, forever, 0.1)}) as url:
        backend = RemoteBackend(url, timeouts=Timeouts(first_token=1.0, between_tokens=1.0))
        error, seconds = _generate(backend, 15)
    assert error is not None and "sent nothing for 1 s" in error
    assert seconds < 5


def test_a_model_list_dripped_a_byte_at_a_time_has_a_deadline() -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        body = json.dumps(MODELS).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        try:
            for byte in body:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(0.2)  # 8 s in all: each read is quick, the whole is not
        except OSError:
            pass

    with server({"/v1/models": drip}) as url:
        client = OpenAIClient(parse_server_url(url))
        started = time.perf_counter()
        with pytest.raises(ServerError, match=r"did not answer /v1/models within 1 s") as info:
            client.request_json("GET", "/models", timeout=1.0)
    assert info.value.kind == "timeout"
    assert time.perf_counter() - started < 4


def test_json_of_another_shape_is_one_error_naming_what_was_sent() -> None:
    shape = lambda h: _events(h, iter(['{"result": "hello"}', "[DONE]"]))  # noqa: E731
    with server({"/v1/completions": shape}) as url:
        error, _ = _generate(RemoteBackend(url), 15)
    assert error is not None
    assert "answered /completions with something that is not a completion" in error
    assert '{"result": "hello"}' in error


def test_a_50_mb_answer_is_not_read_whole() -> None:
    def huge(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        try:
            h.wfile.write(b'{"data": ["' + b"x" * (50 << 20) + b'"]}')
        except OSError:
            pass

    with (
        server({"/v1/models": huge}) as url,
        pytest.raises(ServerError, match="sent more than 16 MB for /v1/models"),
    ):
        OpenAIClient(parse_server_url(url)).request_json("GET", "/models")
    one_line = lambda h: _events(h, iter(['{"a": "' + "y" * (2 << 20) + '"}']))  # noqa: E731
    with server({"/v1/completions": one_line}) as url:
        error, _ = _generate(RemoteBackend(url), 30)
    assert error is not None and "sent an event of more than 1 MB" in error


def test_a_redirect_is_reported_as_one() -> None:
    def moved(h: BaseHTTPRequestHandler) -> None:
        h.send_response(307)
        h.send_header("Location", "http://elsewhere.example/v1/completions")
        h.send_header("Content-Length", "0")
        h.end_headers()

    with server({"/v1/completions": moved}) as url:
        error, _ = _generate(RemoteBackend(url), 15)
    assert error is not None
    assert "redirects /v1/completions to http://elsewhere.example/v1/completions" in error
    assert "lost" not in error
    with server({"/v1/models": moved}) as url, pytest.raises(ServerError, match="redirects"):
        RemoteBackend(url)


def test_a_turn_against_a_wrong_shape_ends_at_once_with_the_error(
    store: Any, hash_embedder: Any
) -> None:
    """It ran eight steps to the step cap and 'ember chat' exited 0; an error ends the turn
    (the chat then exits 1) and the user's message is kept."""
    from ember.core.llm.config import EngineConfig
    from ember.core.service import Ember

    asked: list[str] = []

    def shape(h: BaseHTTPRequestHandler) -> None:
        asked.append(h.path)
        _events(h, iter(['{"result": "hello"}', "[DONE]"]))

    with server({"/v1/completions": shape}) as url:
        ember = Ember(store, embedder=hash_embedder)
        agent = ember.agent_for_chat("A")
        ember.start_model(EngineConfig(server_url=url, n_ctx=8192))
        finished = ember.send(agent.id, "Hello there")
    assert finished.reason == "error" and finished.error is not None
    assert "not a completion" in finished.error and "\n" not in finished.error
    assert len(asked) == 1
    assert [m.text for m in store.recent_messages(agent.id) if m.kind == "user_message"] == [
        "Hello there"
    ]
