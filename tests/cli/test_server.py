"""The command line of the server path, against a scripted server or none at all."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli_helpers import run_ember
from tests.remote_helpers import FakeOpenAIServer, free_port


def ember(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_ember(home, *args, stdin=stdin, env={"EMBER_API_KEY": ""})


def test_chat_with_a_server_that_is_down_is_one_line_and_exit_1(ember_home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    out = ember(ember_home, "chat", "--server", url, stdin="hello\n")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"ember: Cannot reach the server at {url} (connection refused). Is it running?"
    ]


def test_bad_server_url_is_one_line(ember_home: Path) -> None:
    out = ember(ember_home, "chat", "--server", "localhost:8080", stdin="hello\n")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        'ember: "localhost:8080" is not a server URL; use one like http://127.0.0.1:8080/v1'
    ]


def test_server_test_and_use(ember_home: Path) -> None:
    with FakeOpenAIServer("llama.cpp") as server:
        out = ember(ember_home, "server", "test", server.url)
        assert out.returncode == 0, out.stderr
        assert "Server: llama.cpp at " + server.url in out.stdout
        assert "Step constraint: GBNF grammar" in out.stdout
        assert "Token counts: the server's tokenizer" in out.stdout
        assert "Context window: 8192" in out.stdout
        out = ember(ember_home, "server", "use", server.url)
        assert out.returncode == 0, out.stderr
        assert f"From now on: server: {server.url} (fake-model)" in out.stdout
    listed = ember(ember_home, "models")
    assert f"Model in use: server: {server.url} (fake-model)" in listed.stdout
    back = ember(ember_home, "models", "use", "bundled")
    assert "From now on: bundled" in back.stdout
