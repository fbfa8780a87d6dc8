"""What a server states about itself, against a scripted server on 127.0.0.1: its window
(never Ember's setting when it states one), its chat template (llama.cpp's ChatML stand-in
is no template), and its slots (it picks one itself).

The real llama-server (started at 4096 and 16384) is in
tests/integration/test_remote_server.py."""

from __future__ import annotations

import pytest

from ember.core.kernel.errors import ContextTooSmall
from ember.core.llm.backend import Prompt
from ember.core.llm.remote import RemoteBackend, window_too_small
from ember.core.llm.server_caps import LLAMA_CPP_FALLBACK_TEMPLATE
from tests.remote_helpers import FakeOpenAIServer


@pytest.mark.parametrize("server_ctx", [4096, 16384])
def test_llama_cpp_window_is_the_servers_whatever_the_setting(server_ctx: int) -> None:
    with FakeOpenAIServer("llama.cpp") as server:
        server.n_ctx = server_ctx
        for setting in (2048, 8192, 32768):
            backend = RemoteBackend(server.url, n_ctx=setting)
            assert (backend.n_ctx, backend.window_from_server) == (server_ctx, True)


def test_a_server_that_states_no_window_runs_at_the_setting() -> None:
    with FakeOpenAIServer("plain") as server:
        backend = RemoteBackend(server.url, n_ctx=6000)
        assert (backend.n_ctx, backend.window_from_server) == (6000, False)


def test_ollama_window_is_num_ctx_else_the_loaded_models_never_the_trained_length() -> None:
    with FakeOpenAIServer("ollama") as server:
        backend = RemoteBackend(server.url, n_ctx=8192)
        assert backend.caps.flavour == "ollama"
        # Nothing stated but the trained length (131072): Ember's setting, capped by it.
        assert (backend.n_ctx, backend.window_from_server) == (8192, False)
        server.ollama_trained = 4096
        assert RemoteBackend(server.url, n_ctx=8192).n_ctx == 4096
        server.ollama_loaded_ctx = 16384  # /api/ps: the window the loaded model runs with
        assert RemoteBackend(server.url, n_ctx=8192).n_ctx == 16384
        server.ollama_parameters = "stop <end>\nnum_ctx 12288\ntemperature 0"
        backend = RemoteBackend(server.url, n_ctx=8192)
        assert (backend.n_ctx, backend.window_from_server) == (12288, True)


def test_llama_cpp_chatml_stand_in_is_no_template_unless_the_model_speaks_chatml() -> None:
    with FakeOpenAIServer("llama.cpp") as server:
        server.template = LLAMA_CPP_FALLBACK_TEMPLATE
        backend = RemoteBackend(server.url)
        assert backend.chat_template is None  # Ember's neutral transcript, as in process
        assert backend.caps.template_missing
        [notice] = backend.notices
        assert "has no chat template" in notice and "fake-model" in notice
        server.chatml_special = True  # <|im_start|> is a special token: ChatML is its own
        backend = RemoteBackend(server.url)
        assert backend.chat_template == LLAMA_CPP_FALLBACK_TEMPLATE
        assert backend.notices == ()


def test_a_server_that_does_not_say_its_template_gets_a_notice_too() -> None:
    with FakeOpenAIServer("plain") as server:
        [notice] = RemoteBackend(server.url).notices
        assert "does not say which chat template" in notice


def test_the_server_picks_the_slot() -> None:
    """No ``id_slot``: on llama-server's default (unified KV, idle slots kept in its RAM
    prompt cache), a slot asked for by id is never reloaded from that cache, so every
    agent switch re-read the whole prompt (README, "Remote servers")."""
    with FakeOpenAIServer("llama.cpp") as server:
        server.slots, server.pieces = 4, ["ok"]
        backend = RemoteBackend(server.url)
        assert backend.caps.slots == 4
        list(backend.generate(Prompt.data("hi"), max_tokens=2))
        [body] = server.completion_bodies()
        assert body["cache_prompt"] is True and "id_slot" not in body


def test_a_window_too_small_says_to_restart_the_server_with_a_larger_one() -> None:
    with FakeOpenAIServer("llama.cpp") as server:
        server.n_ctx = 1024
        backend = RemoteBackend(server.url)
        found = window_too_small(backend, ContextTooSmall("x", needed=2100, smallest=2600))
        text = str(found)
        assert f"{server.url}" in text and "1024 tokens" in text and "2100" in text
        assert "llama-server: -c 2600" in text
        assert found.smallest == 2600
    with FakeOpenAIServer("plain") as server:  # the window is Ember's setting: unchanged
        exc = ContextTooSmall("Use at least 2600 tokens (--ctx or Settings).")
        assert window_too_small(RemoteBackend(server.url), exc) is exc
