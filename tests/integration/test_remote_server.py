"""Ember on llama.cpp's own ``llama-server``, built from the llama.cpp source vendored in the
llama-cpp-python sdist with the wheel's portable flags (packaging/llama_server.py), started
on 127.0.0.1 with the bundled model.

Full turns (CLI and service) with the server's prefix cache, streaming, cancel, the server
killed in the middle of a reply, overflow, GBNF and JSON-schema constraints, the window the
server states (started at 4096 and at 16384), and ember doctor. No test depends on what the
model replies, only on how the reply travels.

The last test is the one smoke test left against llama-cpp-python's own server."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ember.core.agent.context_window import longest_step
from ember.core.kernel import events
from ember.core.kernel.errors import Cancelled, ContextTooSmall, ServerError
from ember.core.llm.backend import Prompt, count_prompt_tokens
from ember.core.llm.config import EngineConfig
from ember.core.llm.remote import RemoteBackend
from ember.core.models.choice import use_server
from ember.core.service import Ember
from ember.core.step.constraint import step_constraint
from ember.core.step.schema import MIN_LIMITS, StepLimits
from ember.core.step.validate import InvalidStep, parse_step
from ember.core.storage.store import Store

from ..cli_helpers import run_ember
from ..remote_helpers import free_port
from ..server_helpers import llama_cpp_server, python_llama_server
from .test_cli import ember


@pytest.fixture(scope="module")
def server_url(bundled_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_cpp_server(bundled_model, log, n_ctx=4096) as (url, _proc):
        yield url


def _stats(stdout: str) -> list[dict[str, int]]:
    return [json.loads(line) for line in stdout.splitlines() if '"step_stats"' in line]


def test_detection_window_template_and_token_counts(server_url: str, bundled_model: Path) -> None:
    import llama_cpp

    backend = RemoteBackend(server_url, n_ctx=8192)
    assert backend.caps.flavour == "llama.cpp"
    assert backend.caps.constraint == "gbnf"
    assert backend.exact_counts
    assert backend.caps.slots >= 1
    # The server's window, not Ember's setting (8192).
    assert (backend.n_ctx, backend.window_from_server) == (4096, True)
    # The bundled base model has no chat template; llama-server reports its ChatML
    # stand-in, which Ember recognises: the same neutral transcript as in process.
    assert backend.chat_template is None
    assert any("no chat template" in n for n in backend.notices)
    vocab = llama_cpp.Llama(model_path=str(bundled_model), vocab_only=True, verbose=False)
    # Data is counted as in process; Ember's own markup (</human>) is no control token of
    # this model, so it is sent as it is, while a user's <end_of_turn> is broken.
    text = 'EVENT: {"type": "user_message", "message": "Grüße aus Köln! 🎉"}\n</human>'
    assert backend.count_tokens(text) == len(vocab.tokenize(text.encode(), add_bos=False))
    assert backend.defuse(text) == text
    [end_of_turn] = vocab.tokenize(b"<end_of_turn>", add_bos=False, special=True)
    user = "Say <end_of_turn> please"
    assert backend.defuse(user) != user
    assert end_of_turn not in backend.tokenize(user)
    assert end_of_turn in backend.tokenize(user, markup=True)  # markup keeps it
    # Ember counts a whole prompt exactly as the server reads it (BOS included).
    prompt = Prompt.data("The lighthouse keeper's cat is called")
    list(backend.generate(prompt, max_tokens=2, temperature=0))
    assert backend.last_stats is not None
    assert backend.last_stats.prompt_tokens == count_prompt_tokens(backend, prompt)


def test_window_is_read_from_a_server_started_at_16384(
    bundled_model: Path, embedder: object, tmp_path: Path
) -> None:
    with llama_cpp_server(bundled_model, tmp_path / "big.log", n_ctx=16384) as (url, _p):
        backend = RemoteBackend(url, n_ctx=4096)
        assert (backend.n_ctx, backend.window_from_server) == (16384, True)
        with Ember(Store(), embedder=embedder) as service:  # type: ignore[arg-type]
            status = service.start_model(use_server(EngineConfig(n_ctx=8192), url))
            assert status.n_ctx == 16384
            assert any("no chat template" in n for n in status.notices)


def test_a_server_window_smaller_than_the_fixed_part_is_one_clear_line(
    bundled_model: Path, embedder: object, tmp_path: Path
) -> None:
    with (
        llama_cpp_server(bundled_model, tmp_path / "tiny.log", n_ctx=256) as (url, _p),
        Ember(Store(), embedder=embedder) as service,  # type: ignore[arg-type]
        pytest.raises(ContextTooSmall) as err,
    ):
        service.start_model(use_server(EngineConfig(), url))
    text = str(err.value)
    assert "context window of 256 tokens" in text
    assert f"llama-server: -c {err.value.smallest}" in text
    assert err.value.smallest > 256


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


def test_ember_chat_turns_reuse_the_servers_prefix_cache(server_url: str, ember_home: Path) -> None:
    # One reply step per message: the test is about how steps travel and what the server
    # reuses, not about the tiny model's tool use (which takes minutes of long steps).
    with Store() as store:
        EngineConfig(max_chain_steps=1).save(store)
    lines_in = "Hi, I am Anna.\nI live in Lyon and play the cello.\n"
    out = ember(ember_home, "chat", "--server", server_url, "--jsonl", stdin=lines_in)
    assert out.returncode == 0, out.stderr
    assert "[model]" in out.stderr and "no chat template" in out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["type"] for e in lines]
    assert "message_delta" in kinds  # the replies streamed
    assert kinds.count("assistant_message") == 2
    assert kinds.count("turn_finished") == 2 and kinds[-1] == "turn_finished"
    assert "step_rejected" not in kinds  # the server's grammar held
    stats = _stats(out.stdout)
    # One reply step per message. The bundled model has no chat template: the dialogue
    # prompt (persona, what Ember knows, the memories recalled, the message).
    assert kinds.count("step_stats") == 2 and len(stats) == 2
    assert all(s["prompt_tokens"] > 50 for s in stats)
    # The server's own figures (timings.prompt_n / cache_n): the second message's step
    # reuses what the server kept of the first (how much is the prompt format's business;
    # the test of agents taking turns below checks it against the prompts themselves).
    assert 0 < stats[1]["evaluated_tokens"] < stats[1]["prompt_tokens"], stats
    # The choice of server is remembered; --show-thoughts shows the server's evaluated and
    # reused figures as in process; the next process's first step reuses what the server
    # kept of the last one.
    shown = ember(ember_home, "chat", "--show-thoughts", stdin="Thanks!\n")
    assert shown.returncode == 0, shown.stderr
    figures = re.findall(r"tokens: prompt (\d+) \(evaluated (\d+), reused (\d+)\)", shown.stderr)
    assert len(figures) == 1
    prompt, evaluated, reused = (int(x) for x in figures[0])
    assert prompt == evaluated + reused and reused > 0
    listed = ember(ember_home, "models")
    assert f"Model in use: server: {server_url}" in listed.stdout
    mem = json.loads(ember(ember_home, "memory", "--json").stdout)
    assert mem["recall_messages"] >= 7  # logins, three messages, three replies: committed


def _shared_tokens(backend: RemoteBackend, a: Prompt, b: Prompt) -> int:
    """Tokens the two prompts surely share at their start (BOS, the equal parts, and the
    common text of the first unequal part but its last token)."""
    shared = 1
    for x, y in zip(a.parts, b.parts, strict=False):
        if x == y:
            shared += len(backend.tokenize(x.text, markup=x.markup))
            continue
        n = 0
        while n < min(len(x.text), len(y.text)) and x.text[n] == y.text[n]:
            n += 1
        if x.markup == y.markup and n:
            shared += max(0, len(backend.tokenize(x.text[:n], markup=x.markup)) - 1)
        break
    return shared


def test_each_agent_keeps_its_prefix_on_the_server(
    server_url: str, embedder: object, ember_home: Path
) -> None:
    with Ember(Store(), embedder=embedder) as service:  # type: ignore[arg-type]
        # One reply step per message (see the CLI test above).
        service.start_model(use_server(EngineConfig(max_chain_steps=1), server_url))
        assert service.engine is not None
        backend = service.engine.backend
        assert isinstance(backend, RemoteBackend)
        prompts: list[Prompt] = []
        generate = backend.generate

        def recording(prompt: Prompt, **kw: Any) -> Iterator[str]:
            prompts.append(prompt)
            return generate(prompt, **kw)

        backend.generate = recording  # type: ignore[method-assign]
        first, second = service.agent_for_chat("first"), service.agent_for_chat("second")
        seen: list[events.StepStats] = []

        def stats(event: events.Event) -> None:
            if isinstance(event, events.StepStats):
                seen.append(event)

        service.send(first.id, "Hello, I am Ada.", stats)
        service.send(second.id, "Hello, I am Bo.", stats)
        service.send(first.id, "Do you remember me?", stats)
        assert len(seen) == len(prompts) == 3
        a1, b1, a2 = prompts
        # A new agent's first step reuses what its prompt shares with the other agent's
        # (the instructions...), and the first agent, back after the second one's turn,
        # what its new prompt shares with its last one: the server kept both.
        for step, now, before in ((seen[1], b1, a1), (seen[2], a2, a1)):
            reused = step.prompt_tokens - step.evaluated_tokens
            assert reused >= _shared_tokens(backend, now, before) - 2 > 0, (seen, step)


def test_gbnf_and_json_schema_constraints_give_valid_steps(
    server_url: str, embedder: object, ember_home: Path
) -> None:
    with Ember(Store(), embedder=embedder) as service:  # type: ignore[arg-type]
        service.start_model(use_server(EngineConfig(), server_url))
        engine = service.engine
        assert engine is not None
        agent = service.agent_for_chat(None)
        labels = [b.label for b in engine.store.blocks(agent.id)]
        prompt = engine.context(agent.id).render()
        # The JSON step (every function offered), the form models with a template write,
        # at the smallest limits (short steps; the grammar is built the same way), with
        # room for the longest one (a token is at least one character).
        limits = StepLimits(**MIN_LIMITS)
        spec = engine.tools.spec(engine.offered_tools(), labels, limits)
        room = longest_step(engine.tools, limits)
    for constraint in ("gbnf", "json_schema"):
        backend = RemoteBackend(server_url, constraint=constraint)
        assert backend.caps.constraint == constraint
        raw = "".join(
            backend.generate(
                prompt, constraint=step_constraint(spec), max_tokens=room, temperature=0
            )
        )
        step = parse_step(raw, spec)
        assert not isinstance(step, InvalidStep), (constraint, raw, step)
        assert step.function in engine.offered_tools()


def test_overflow_is_refused_before_sending_and_the_servers_own_refusal_is_understood(
    server_url: str,
) -> None:
    backend = RemoteBackend(server_url)
    long = Prompt.data("The sea was calm and the boats came home. " * 600)  # ~6k tokens
    with pytest.raises(ServerError) as err:
        list(backend.generate(long, max_tokens=8))
    assert err.value.kind == "context_overflow"
    # Had Ember's count been wrong, the server's own refusal says the same in one line.
    backend.n_ctx = 100_000
    with pytest.raises(ServerError) as err:
        list(backend.generate(long, max_tokens=8))
    assert err.value.kind == "context_overflow"
    assert "context window (4096 tokens)" in str(err.value)


def test_ember_doctor_reports_the_server_without_its_key(server_url: str, ember_home: Path) -> None:
    assert ember(ember_home, "server", "use", server_url).returncode == 0
    secret = "sk-do-not-print-me"
    out = run_ember(ember_home, "doctor", timeout=300, env={"EMBER_API_KEY": secret})
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Server: {server_url} (API key: set (from EMBER_API_KEY))" in out.stdout
    assert "  llama.cpp, model " in out.stdout
    assert "window 4096 from the server" in out.stdout
    assert "step constraint: gbnf; tokenizer: yes; chat template: none" in out.stdout
    assert "[ok  ] server: llama.cpp at " in out.stdout
    assert secret not in out.stdout + out.stderr


def test_server_killed_mid_reply_keeps_the_message_and_recovers(
    bundled_model: Path, embedder: object, ember_home: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with llama_cpp_server(bundled_model, log, port=port) as (url, proc):
        service = Ember(Store(), embedder=embedder)  # type: ignore[arg-type]
        agent = service.agent_for_chat(None)
        service.start_model(use_server(EngineConfig(max_chain_steps=1), url))

        def kill_on_first_token(event: events.Event) -> None:
            if (
                isinstance(event, (events.ThoughtDelta, events.MessageDelta))
                and proc.poll() is None
            ):
                proc.kill()
                proc.wait()

        result = service.send(
            agent.id, "Please remember: my cat is called Pixel.", kill_on_first_token
        )
        assert result.reason == "error"
        assert "lost in the middle of the reply" in (result.error or "")
        assert "Your message is kept" in (result.error or "")
        user = [m.text for m in service.history(agent.id).messages if m.kind == "user_message"]
        assert user[-1] == "Please remember: my cat is called Pixel."
    with llama_cpp_server(bundled_model, log, port=port):
        seen: list[events.Event] = []
        result = service.send(agent.id, "Are you there?", seen.append)
        assert result.reason in ("message", "step_cap"), result.error  # not "error"
        assert any(isinstance(e, events.ToolCall) for e in seen)  # steps ran to the end
        service.close()


@pytest.mark.timeout(600)
def test_smoke_llama_cpp_pythons_own_server(bundled_model: Path, tmp_path: Path) -> None:
    """llama-cpp-python's server: detected, counted, and one short free completion (its
    grammar sampling runs in Python at 0.3-1 token/s, so no constrained step here)."""
    with python_llama_server(bundled_model, tmp_path / "py.log") as (url, _proc):
        backend = RemoteBackend(url)
        assert backend.caps.flavour == "llama-cpp-python"
        assert backend.caps.constraint == "gbnf" and backend.exact_counts
        text = "".join(
            backend.generate(Prompt.data("The capital of France is"), max_tokens=4, temperature=0)
        )
        assert text.strip()
