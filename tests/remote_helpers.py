"""Shared helpers for the tests of servers, downloads and the no-socket rule.

* :class:`FakeOpenAIServer` -- a scripted OpenAI-compatible server on 127.0.0.1 for fast,
  deterministic unit tests of the client (errors, timeouts, JSON-schema servers). The
  real servers are started by tests/server_helpers.py.
* :class:`FileServer` -- serves files on 127.0.0.1 with ``Range`` support, a hub-like
  redirect that publishes the sha256 (``X-Linked-Etag``), and faults on demand.
* :func:`socket_guard` -- fails on any socket other than AF_UNIX (an audit hook: it sees
  every socket Python creates, whichever module asks).
* :func:`tiny_gguf` -- a valid GGUF header (no tensors) with chosen metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a GGUF header --------------------------------------------------------------------------------


def _gguf_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def tiny_gguf(path: Path, metadata: dict[str, Any] | None = None, padding: int = 0) -> Path:
    """Write a GGUF v3 file with ``metadata`` (str/int/float values), no tensors, and
    ``padding`` random bytes after the header (to give downloads some size)."""
    meta = {"general.architecture": "llama", "general.name": "Tiny Test", **(metadata or {})}
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 0, len(meta)))
    for key, value in meta.items():
        out += _gguf_string(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + _gguf_string(value)
        elif isinstance(value, float):
            out += struct.pack("<If", 6, value)
        else:
            out += struct.pack("<IQ", 10, int(value))
    out += os.urandom(padding)
    path.write_bytes(bytes(out))
    return path


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- a scripted OpenAI-compatible server ----------------------------------------------------------


class FakeOpenAIServer:
    """Answers like an OpenAI-compatible server, as scripted by its attributes.

    ``flavour``: ``"llama.cpp"`` (has /props and /tokenize), ``"schema"`` (a FastAPI
    server whose completions take ``response_format``), ``"ollama"`` (/api/version,
    /api/show, /api/ps) or ``"plain"`` (none of them).
    """

    def __init__(self, flavour: str = "plain") -> None:
        self.flavour = flavour
        self.models = ["fake-model"]
        self.n_ctx = 8192
        self.slots = 0  # llama.cpp: total_slots in /props
        self.template: str = "{{ messages }}"  # llama.cpp: chat_template in /props
        self.chatml_special = False  # llama.cpp: "<|im_start|>" is one special token
        # llama.cpp: what /tokenize reads as control tokens with parse_special
        self.control_tokens = ["<end_of_turn>", "<start_of_turn>", "</s>", "<|im_end|>", "[INST]"]
        self.ollama_parameters = ""  # ollama: /api/show "parameters" (e.g. "num_ctx 8192")
        self.ollama_trained = 131072  # ollama: the model's trained context length
        self.ollama_loaded_ctx: int | None = None  # ollama: /api/ps context_length
        self.pieces: list[str] = ['{"thoughts": "hi", ', '"function": "send_message", ']
        self.status: int | None = None  # force an error status on completions
        self.error: dict[str, Any] = {}
        self.models_status: int | None = None
        self.drop_after: int | None = None  # close after this many pieces, no [DONE]
        self.first_delay = 0.0
        self.piece_delay = 0.0
        self.usage: dict[str, int] | None = None
        self.ignore_stream = False  # answer with one JSON body, as some servers do
        self.before: list[dict[str, Any]] = []  # events sent before the pieces (progress)
        self.finish = "stop"  # finish_reason of the last piece
        self.api_key: str | None = None
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.client_gone = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def paths(self) -> list[str]:
        """The paths requested so far."""
        return [p for p, _ in self.requests]

    def completion_bodies(self) -> list[dict[str, Any]]:
        """Bodies of the completion requests so far."""
        return [b for p, b in self.requests if p.endswith("/completions")]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, data: Any) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self) -> bool:
                if (
                    server.api_key
                    and self.headers.get("Authorization") != f"Bearer {server.api_key}"
                ):
                    self._json(
                        401, {"error": {"message": "Invalid API key", "code": "invalid_api_key"}}
                    )
                    return False
                return True

            def do_GET(self) -> None:
                server.requests.append((self.path, {}))
                if not self._authorised():
                    return
                if self.path == "/v1/models":
                    if server.models_status:
                        self._json(server.models_status, {"detail": "Not Found"})
                        return
                    self._json(200, {"object": "list", "data": [{"id": m} for m in server.models]})
                elif self.path == "/props" and server.flavour == "llama.cpp":
                    props: dict[str, Any] = {
                        "default_generation_settings": {"n_ctx": server.n_ctx},
                        "chat_template": server.template,
                        "bos_token": "<bos>",
                        "eos_token": "<eos>",
                    }
                    if server.slots:
                        props["total_slots"] = server.slots
                    self._json(200, props)
                elif self.path == "/api/version" and server.flavour == "ollama":
                    self._json(200, {"version": "0.12.0"})
                elif self.path == "/api/ps" and server.flavour == "ollama":
                    loaded = []
                    if server.ollama_loaded_ctx:
                        entry = {"name": server.models[0], "model": server.models[0]}
                        loaded.append({**entry, "context_length": server.ollama_loaded_ctx})
                    self._json(200, {"models": loaded})
                elif self.path == "/openapi.json" and server.flavour == "schema":
                    ref = {"$ref": "#/components/schemas/CompletionRequest"}
                    self._json(
                        200,
                        {
                            "paths": {
                                "/v1/completions": {
                                    "post": {
                                        "requestBody": {
                                            "content": {"application/json": {"schema": ref}}
                                        }
                                    }
                                }
                            },
                            "components": {
                                "schemas": {
                                    "CompletionRequest": {
                                        "properties": {"prompt": {}, "response_format": {}}
                                    }
                                }
                            },
                        },
                    )
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append((self.path, body))
                if not self._authorised():
                    return
                if self.path == "/tokenize" and server.flavour == "llama.cpp":
                    content = body["content"]
                    # one token per word: deterministic, and unlike the client's estimate;
                    # a control token read as text is one more
                    n = len(content.split())
                    if not body.get("parse_special"):
                        n += sum(content.count(t) for t in server.control_tokens)
                    if content == "<|im_start|>" and body.get("parse_special"):
                        n = 1 if server.chatml_special else 7
                    self._json(200, {"tokens": list(range(n))})
                elif self.path == "/api/show" and server.flavour == "ollama":
                    info = {"llama.context_length": server.ollama_trained}
                    self._json(200, {"parameters": server.ollama_parameters, "model_info": info})
                elif self.path == "/v1/completions":
                    self._complete(body)
                else:
                    self._json(404, {"detail": "Not Found"})

            def _complete(self, body: dict[str, Any]) -> None:
                if server.status:
                    self._json(server.status, {"error": server.error})
                    return
                if body.get("model") not in server.models:
                    self._json(
                        404,
                        {
                            "error": {
                                "message": f"model {body.get('model')} not found",
                                "code": "model_not_found",
                            }
                        },
                    )
                    return
                if server.ignore_stream:
                    text = "".join(server.pieces)
                    self._json(200, {"choices": [{"text": text, "finish_reason": "stop"}]})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                time.sleep(server.first_delay)
                try:
                    for event in server.before:
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    last = len(server.pieces) - 1
                    for i, piece in enumerate(server.pieces):
                        if server.drop_after is not None and i >= server.drop_after:
                            return  # the server goes away mid-reply
                        finish = server.finish if i == last else None
                        chunk = {"choices": [{"text": piece, "index": 0, "finish_reason": finish}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(server.piece_delay)
                    if server.usage:
                        usage = json.dumps({"choices": [], "usage": server.usage})
                        self.wfile.write(f"data: {usage}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except OSError:
                    server.client_gone.set()

        return Handler


# -- a file server --------------------------------------------------------------------------------


class FileServer:
    """Serves ``files`` (name -> path) at ``/files/NAME`` with Range support, and at
    ``/resolve/NAME`` as a redirect carrying the file's sha256 (``X-Linked-Etag``) and size,
    as Hugging Face does. Faults: ``drop_after`` (bytes, once), ``ignore_range``,
    ``chunk_delay`` (seconds per 64 KiB), ``fake_hash``."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.drop_after: int | None = None
        self.ignore_range = False
        self.chunk_delay = 0.0
        self.fake_hash: str | None = None
        self.ranges: list[str | None] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                kind, _, name = self.path.lstrip("/").partition("/")
                path = server.files.get(name)
                if path is None:
                    self.send_error(404)
                    return
                if kind == "resolve":
                    self.send_response(302)
                    self.send_header("Location", f"/files/{name}")
                    self.send_header("X-Linked-Etag", f'"{server.fake_hash or sha256_of(path)}"')
                    self.send_header("X-Linked-Size", str(path.stat().st_size))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                rng = self.headers.get("Range")
                server.ranges.append(rng)
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.drop_after is not None:
                    cut, server.drop_after = server.drop_after, None
                    body = body[:cut]
                try:
                    for i in range(0, len(body), 65536):
                        self.wfile.write(body[i : i + 65536])
                        time.sleep(server.chunk_delay)
                except OSError:
                    pass

        return Handler


# -- the no-socket guard --------------------------------------------------------------------------

_guard_active = False
_violations: list[str] = []
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _guard_active or event != "socket.__new__":
        return
    family = args[1] if len(args) > 1 else None
    if family != socket.AF_UNIX:
        try:
            name = socket.AddressFamily(family).name
        except ValueError:
            name = str(family)
        _violations.append(f"{name} socket")


@contextmanager
def socket_guard() -> Iterator[list[str]]:
    """Record every non-AF_UNIX socket created inside; the caller asserts the list is
    empty (it is filled by an audit hook, so sockets opened anywhere in-process count)."""
    global _guard_active, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    _violations.clear()
    _guard_active = True
    try:
        yield _violations
    finally:
        _guard_active = False
