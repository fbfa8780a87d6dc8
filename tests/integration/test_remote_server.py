"""Ember on a real OpenAI-compatible server: llama-cpp-python's own server, started on
127.0.0.1 with the bundled model. Full turns (CLI and service), streaming, cancel, and
the server killed in the middle of a reply."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.core import events
from ember.core.backend import Prompt
from ember.core.config import EngineConfig
from ember.core.errors import Cancelled
from ember.core.modelchoice import use_server
from ember.core.remote import RemoteBackend
from ember.core.service import Ember
from ember.core.store import Store

from ..remote_helpers import free_port, llama_server
from .test_cli import ember


@pytest.fixture(scope="module")
def server_url(bundled_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_server(bundled_model, log) as (url, _proc):
        yield url


def test_detection_and_token_counts_match_the_models_tokenizer(
    server_url: str, bundled_model: Path
) -> None:
    import llama_cpp

    backend = RemoteBackend(server_url)
    assert backend.caps.flavour == "llama-cpp-python"
    assert backend.caps.constraint == "gbnf"
    assert backend.exact_counts
    vocab = llama_cpp.Llama(model_path=str(bundled_model), vocab_only=True, verbose=False)
    text = 'EVENT: {"type": "user_message", "message": "Grüße aus Köln! 🎉"}'
    local = len(vocab.tokenize(text.encode(), add_bos=False, special=True))
    assert backend.count_tokens(text) in (local, local + 1)  # the server adds BOS


def test_streaming_then_cancel_closes_the_stream_and_the_server_serves_on(
    server_url: str,
) -> None:
    backend = RemoteBackend(server_url)
    cancel = threading.Event()
    pieces: list[str] = []
    times: list[float] = []
    with pytest.raises(Cancelled):
        for piece in backend.generate(
            Prompt.data("Once upon a time"), max_tokens=400, cancel=cancel
        ):
            pieces.append(piece)
            times.append(time.monotonic())
            if len(pieces) == 4:
                cancel.set()
                cancelled_at = time.monotonic()
    assert len(pieces) == 4  # nothing more was read after the cancel
    assert times[-1] > times[0]  # the pieces arrived one by one, not in one block
    assert time.monotonic() - cancelled_at < 5
    # The cancelled request no longer holds the server: a new one is answered.
    text = "".join(
        backend.generate(Prompt.data("The capital of France is"), max_tokens=5, temperature=0)
    )
    assert text.strip()


def test_ember_chat_server_full_turn_and_the_choice_is_remembered(
    server_url: str, ember_home: Path
) -> None:
    out = ember(ember_home, "chat", "--server", server_url, "--jsonl", stdin="Hi, I am Anna.\n")
    assert out.returncode == 0, out.stderr
    kinds = [json.loads(line)["type"] for line in out.stdout.splitlines()]
    assert "message_delta" in kinds  # the reply streamed
    assert kinds.count("assistant_message") == 1
    assert kinds[-1] == "turn_finished"
    stats = [json.loads(line) for line in out.stdout.splitlines() if '"step_stats"' in line]
    # The bundled model has no chat template: the dialogue prompt (persona, what Ember
    # knows, the message), all of it read by the server on a first turn.
    assert stats and all(s["prompt_tokens"] > 50 for s in stats)
    assert kinds.count("step_stats") == 1  # one reply step, no function steps
    listed = ember(ember_home, "models")
    assert f"Model in use: server: {server_url}" in listed.stdout
    mem = json.loads(ember(ember_home, "memory", "--json").stdout)
    assert mem["recall_messages"] >= 3  # login, the message, the reply: all committed


@pytest.mark.timeout(1500)  # up to four real steps at ~1 s a token (GBNF in Python)
def test_server_killed_mid_reply_keeps_the_message_and_recovers(
    bundled_model: Path, embedder: object, ember_home: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with llama_server(bundled_model, log, port=port) as (url, proc):
        ember = Ember(Store(), embedder=embedder)  # type: ignore[arg-type]
        agent = ember.agent_for_chat(None)
        # Two steps at most per turn: llama-cpp-python's server samples GBNF over the whole
        # vocabulary (~1 s a token here), and the recovery is what is tested, not the reply.
        ember.start_model(use_server(EngineConfig(max_chain_steps=2), url))

        def kill_on_first_token(event: events.Event) -> None:
            if (
                isinstance(event, (events.ThoughtDelta, events.MessageDelta))
                and proc.poll() is None
            ):
                proc.kill()
                proc.wait()

        result = ember.send(
            agent.id, "Please remember: my cat is called Pixel.", kill_on_first_token
        )
        assert result.reason == "error"
        assert "lost in the middle of the reply" in (result.error or "")
        assert "Your message is kept" in (result.error or "")
        user = [m.text for m in ember.history(agent.id).messages if m.kind == "user_message"]
        assert user[-1] == "Please remember: my cat is called Pixel."
    with llama_server(bundled_model, log, port=port):
        seen: list[events.Event] = []
        result = ember.send(agent.id, "Are you there?", seen.append)
        assert result.reason in ("message", "step_cap"), result.error  # not "error"
        assert any(isinstance(e, events.ToolCall) for e in seen)  # steps ran to the end
        ember.close()
