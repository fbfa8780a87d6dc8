"""Real OpenAI-compatible servers on 127.0.0.1 for the integration tests and benchmarks.

* :func:`llama_cpp_server` -- llama.cpp's own ``llama-server``, built from the llama.cpp
  source vendored in the llama-cpp-python sdist with the wheel's portable flags
  (``packaging/llama_server.py``; ``make test`` builds it once and records it in the venv).
  This is the server the remote tests measure Ember against.
* :func:`python_llama_server` -- llama-cpp-python's own server (its ``server`` extra): only
  a short smoke test; it checks grammars in Python (0.3-1 token/s) and measures nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .remote_helpers import free_port

RECORD = Path(sys.prefix) / "ember-llama-server.json"
START_TIMEOUT = 180.0


class ServerNotBuilt(RuntimeError):
    """llama-server has not been built for this environment."""


def llama_server_binary() -> Path:
    """The llama-server recorded in this venv by ``packaging/llama_server.py install``."""
    fix = (
        "llama.cpp's llama-server is not built for this environment; build it with "
        "`make test` or `.venv/bin/python packaging/llama_server.py install`"
    )
    if not RECORD.is_file():
        raise ServerNotBuilt(f"{fix} (no {RECORD})")
    binary = Path(json.loads(RECORD.read_text())["binary"])
    if not binary.is_file():
        raise ServerNotBuilt(f"{fix} ({binary} is missing)")
    return binary


def _wait_until_up(
    proc: subprocess.Popen[bytes], probe: str, log: Path, what: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(probe, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:  # refused while starting; llama-server answers 503 while loading
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


@contextmanager
def _running(cmd: list[str], probe: str, log: Path, what: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(proc, probe, log, what, START_TIMEOUT)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def llama_cpp_server(
    model: Path,
    log: Path,
    port: int | None = None,
    n_ctx: int = 4096,
    extra: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """llama.cpp's ``llama-server`` on 127.0.0.1 with ``model`` and a context of ``n_ctx``
    (its default slots otherwise); yields its API URL and process. Stopped on exit
    (unless the test already killed it).

    ``--swa-full``: the bundled model (Gemma 3) has sliding-window layers, and without a
    full-size window cache llama-server cannot go back to where a prompt changed, so it
    re-read every prompt whole (measured: 135 of 135 tokens on an agent's second turn,
    44 with the flag). In process, llama-cpp-python keeps the full cache too."""
    from ember.core.llm.llama import default_batch_threads, default_threads

    port = port or free_port()
    threads, batch = str(default_threads()), str(default_batch_threads())  # as in process
    cmd = [str(llama_server_binary()), "--model", str(model), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--ctx-size", str(n_ctx), "--threads", threads]
    cmd += ["--threads-batch", batch, "--no-webui", "--swa-full", *extra]
    root = f"http://127.0.0.1:{port}"
    with _running(cmd, root + "/health", log, "llama-server") as proc:
        yield root + "/v1", proc


@contextmanager
def python_llama_server(
    model: Path, log: Path, port: int | None = None, n_ctx: int = 4096
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with ``model``; yields its
    API URL and process. Stopped on exit."""
    from ember.core.llm.llama import default_batch_threads, default_threads

    port = port or free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host"]
    cmd += ["127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    cmd += ["--n_threads", str(default_threads())]
    cmd += ["--n_threads_batch", str(default_batch_threads())]
    with _running(cmd, url + "/models", log, "llama_cpp.server") as proc:
        yield url, proc
