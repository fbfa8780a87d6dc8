"""The core service on a server backend (scripted server, fast embedder): a full turn, a
server that dies mid-reply, and the agent working again once it is back."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest

from ember.core.kernel import events
from ember.core.kernel.errors import ModelError, ServerError
from ember.core.models import catalogue
from ember.core.models.choice import ModelChoice, use_catalogue, use_server
from ember.core.service import Ember
from ember.core.storage.store import Store
from tests.remote_helpers import FakeOpenAIServer, FileServer, sha256_of, tiny_gguf

STEP = '{"thoughts": "greet", "function": "send_message", "arguments": {"message": "Hello Ana!"}}'


def test_turns_through_a_server_and_recovery_after_it_drops(
    ember_home: Path, hash_embedder: object
) -> None:
    with FakeOpenAIServer("llama.cpp") as server:
        server.pieces = [STEP[i : i + 9] for i in range(0, len(STEP), 9)]
        with Ember(Store(), embedder=hash_embedder) as ember:  # type: ignore[arg-type]
            agent = ember.agent_for_chat(None)
            config = replace(ember.settings(), server_url=server.url)
            status = ember.start_model(config)
            assert status.path == server.url and "fake-model" in status.name
            seen: list[events.Event] = []
            result = ember.send(agent.id, "Hi, I am Ana.", seen.append)
            assert result.reason == "message"
            deltas = "".join(e.text for e in seen if isinstance(e, events.MessageDelta))
            assert deltas == "Hello Ana!"  # streamed piece by piece through the engine
            body = server.completion_bodies()[-1]
            assert body["grammar"].startswith("root ::=")  # the engine's step grammar
            assert "Hi, I am Ana." in body["prompt"]

            server.drop_after = 3
            seen.clear()
            result = ember.send(agent.id, "Remember that I like tea.", seen.append)
            assert result.reason == "error"
            assert "lost in the middle of the reply" in (result.error or "")
            kept = [m for m in ember.history(agent.id).messages if m.kind == "user_message"]
            assert "Remember that I like tea." in kept[-1].text  # the message was kept

            server.drop_after = None
            assert ember.send(agent.id, "Are you back?", seen.append).reason == "message"
            # The server saw the kept message again in the next prompt.
            assert "Remember that I like tea." in server.completion_bodies()[-1]["prompt"]
        # The choice was saved: a new service starts on the same server.
        with Ember(Store(), embedder=hash_embedder) as again:  # type: ignore[arg-type]
            assert again.settings().server_url == server.url


def test_the_service_offers_what_a_settings_page_needs_to_switch_models(
    ember_home: Path, hash_embedder: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    model = tiny_gguf(src / "m.gguf", {"llama.context_length": 2048}, padding=256 * 1024)
    with FileServer({"m.gguf": model}) as files, FakeOpenAIServer("llama.cpp") as server:
        entry = dataclasses.replace(
            catalogue.entries()[0],
            id="tiny-test",
            url=f"{files.base}/resolve/m.gguf",
            filename="tiny-test.gguf",
            size_bytes=model.stat().st_size,
            sha256=None,  # the file server publishes it, as the hub does
        )
        monkeypatch.setattr(catalogue, "entries", lambda: (entry,))
        with Ember(Store(), embedder=hash_embedder) as ember:  # type: ignore[arg-type]
            assert ember.model_choice().kind == "bundled"
            # A server's Test button: its models for a picker, and what it can do.
            caps = ember.test_server(server.url)
            assert caps.models == ("fake-model",) and caps.constraint == "gbnf"
            with pytest.raises(ServerError):
                ember.test_server(server.url, "no-such-model")
            # A dropped file: checked, and offered with its facts.
            check = ember.check_model_file(model)
            assert (check.name, check.context_length) == ("Tiny Test", 2048)
            assert check.n_ctx == ember.settings().n_ctx and check.ram_needed > 0
            junk = tmp_path / "notes.gguf"
            junk.write_text("not a model")
            with pytest.raises(ModelError):
                ember.check_model_file(junk)
            # The catalogue: listed without a request, downloaded on demand with progress.
            assert ember.catalogue() == (entry,) and files.ranges == []
            seen: list[tuple[int, int]] = []
            path = ember.download_model("tiny-test", lambda d, t: seen.append((d, t)))
            assert path == entry.path and sha256_of(path) == sha256_of(model)
            assert seen[-1] == (model.stat().st_size, model.stat().st_size)
            # Switching to the server is a settings change that survives a restart.
            ember.start_model(use_server(ember.settings(), server.url))
            assert ember.model_choice().kind == "server"
        with Ember(Store(), embedder=hash_embedder) as again:  # type: ignore[arg-type]
            assert again.model_choice() == ModelChoice("server", server.url, "")
            assert use_catalogue(again.settings(), entry).model_path == str(entry.path)
