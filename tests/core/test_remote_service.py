"""The core service on a server backend (scripted server, fast embedder): a full turn, a
server that dies mid-reply, and the agent working again once it is back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ember.core import events
from ember.core.service import Ember
from ember.core.store import Store

from ..remote_helpers import FakeOpenAIServer

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
