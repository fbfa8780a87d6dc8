"""The real bundled GGUF model: a verified, complete file, and a small window that flushes
with a real summary. (Full turns through ``ember chat`` are in test_cli.py.)"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import clock
from ember.core.kernel import events as ev
from ember.core.llm.backend import Prompt
from ember.core.llm.gguf import read_gguf_info
from ember.core.llm.llama import LlamaBackend
from ember.core.step.constraint import step_constraint
from ember.core.storage.store import Store

pytestmark = pytest.mark.integration


def test_bundled_model_is_verified_and_complete(bundled_model: Path) -> None:
    info = read_gguf_info(bundled_model)
    assert info.architecture == "gemma3"
    assert info.expected_size == info.file_size  # every tensor accounted for
    assert info.chat_template is None  # a base model: the neutral transcript is used


def test_small_window_flushes_with_a_real_summary(
    store: Store, bundled_model: Path, embedder: Any
) -> None:
    backend = LlamaBackend(bundled_model, n_ctx=2048)
    # The function format, whose prompt holds the queue (the dialogue format's does not:
    # it never fills, and this loop would not end).
    config = EngineConfig(n_ctx=2048, temperature=0.3, step_format="functions")
    engine = Engine(store, backend, embedder, config)
    rt = engine.agent("small")
    # A past conversation already fills most of the window.
    facts = [
        "I grew up in Porto.",
        "My sister is called Lena.",
        "I play the cello.",
        "My cat is named Pixel.",
        "I work as a nurse.",
        "I am saving for a trip to Japan.",
    ]
    t = clock.human_time(clock.now())
    while (usage := rt.context_usage()).used < usage.flush_at - 40:
        fact = facts[store.count_messages(rt.agent_id) // 2 % len(facts)]
        store.add_message(
            rt.agent_id,
            "user",
            "user_message",
            {"type": "user_message", "message": fact, "time": t},
            fact,
        )
        store.add_message(
            rt.agent_id,
            "assistant",
            "step",
            {
                "thoughts": "Noted.",
                "function": "send_message",
                "arguments": {"message": "Thanks for telling me!"},
            },
            "Thanks for telling me!",
        )
    before = store.count_messages(rt.agent_id)
    seen: list[ev.Event] = []
    result = rt.send_user_message(
        "Tell me something nice about my week, please. I had a long one: night shifts at the "
        "hospital, cello practice every evening, and Lena visiting from Porto on Sunday.",
        seen.append,
    )
    notices = [e for e in seen if isinstance(e, ev.SystemNotice)]
    assert result.reason == "message"
    assert "flush" in [n.kind for n in notices]
    agent = rt.agent
    assert agent.summary_hidden > 0
    summary = agent.summary.split("Summary of them: ", 1)[1]
    assert summary.startswith("Earlier, ") and len(summary) > len("Earlier, ") + 10
    assert store.count_messages(rt.agent_id) >= before + 2  # nothing deleted, new ones added
    # Out of context: what the flush hid, and the notices kept for the transcript.
    kept = [m for m in store.recent_messages(rt.agent_id, 1000) if m.kind == "notice"]
    assert [m.content["kind"] for m in kept] == ["flush"]
    hidden = store.count_messages(rt.agent_id, in_context=False) - len(kept)
    assert hidden == agent.summary_hidden
    after_flush = next(e for e in seen if isinstance(e, ev.ContextUsage))
    assert after_flush.used <= after_flush.warn_at  # the flush landed below the alert line
    assert rt.context_usage().used <= rt.context_usage().flush_at


def test_fast_grammar_sampler_is_exact(bundled_model: Path) -> None:
    """Greedy output is identical to llama-cpp-python's own grammar sampler, and sampled
    output always validates."""
    from ember.core.agent.tools import ToolRegistry
    from ember.core.step.schema import StepLimits
    from ember.core.step.validate import Step, parse_step

    spec = ToolRegistry().spec(list(ToolRegistry().tools), ["persona", "human"], StepLimits())
    step = step_constraint(spec)
    prompt = Prompt.data(
        "Reply to the user with one JSON step.\n"
        'EVENT: {"type": "user_message", "message": "Hi! I\'m Sam, a nurse with a cat."}\n'
        "AGENT: "
    )
    stock = LlamaBackend(bundled_model, n_ctx=1024, fast_grammar=False)
    fast = LlamaBackend(bundled_model, n_ctx=1024)
    a = "".join(stock.generate(prompt, constraint=step, max_tokens=200, temperature=0.0))
    b = "".join(fast.generate(prompt, constraint=step, max_tokens=200, temperature=0.0))
    assert a == b
    assert isinstance(parse_step(b, spec), Step)
    # the dialogue format's reply line (greedy: the likeliest token is checked alone first)
    say = tuple(f for f in spec.functions if f.name == "send_message")
    reply = step_constraint(dataclasses.replace(spec, functions=say, dialogue=True))
    chat = Prompt.data("User: Hi! I'm Sam, a nurse with a cat. What's my job?\n")
    a = "".join(stock.generate(chat, constraint=reply, max_tokens=40, temperature=0.0))
    b = "".join(fast.generate(chat, constraint=reply, max_tokens=40, temperature=0.0))
    assert a == b and a.startswith("Ember: ")
    for _ in range(3):
        out = "".join(fast.generate(prompt, constraint=step, max_tokens=300, temperature=1.0))
        assert isinstance(parse_step(out, spec), Step)  # every sampled step validates
    sampler = fast.llm._ember_grammar_sampler
    assert sampler.calls > 0 and sampler.fallbacks < sampler.calls


@pytest.mark.parametrize("labels", [["persona", "human"], ["persona", "human", "projects"]])
def test_generated_grammars_parse_in_llama_cpp(bundled_model: Path, labels: list[str]) -> None:
    """llama.cpp parses grammars when a sampler is made (LlamaGrammar.from_string does not
    check them), so check there, with a broken grammar as the control."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from ember.core.agent.summary import SUMMARY_CONSTRAINT
    from ember.core.agent.tools import ToolRegistry
    from ember.core.llm.sampling import TopKGrammarSampler
    from ember.core.step.schema import StepLimits

    vocab = LlamaBackend(bundled_model, n_ctx=256).llm._model.vocab
    tools = ToolRegistry()
    specs = [tools.spec(list(tools.tools), labels, StepLimits())]
    specs.append(tools.spec(["send_message"], labels, StepLimits()))
    for constraint in (
        *(step_constraint(spec) for spec in specs),
        *(step_constraint(dataclasses.replace(spec, dialogue=True)) for spec in specs),
        SUMMARY_CONSTRAINT,
    ):
        TopKGrammarSampler(vocab, constraint.gbnf)
        # The JSON schema form is one llama.cpp's own converter (and its server) accepts.
        TopKGrammarSampler(vocab, json_schema_to_gbnf(json.dumps(constraint.json_schema)))
    with pytest.raises(ValueError, match="could not parse"):
        TopKGrammarSampler(vocab, 'root ::= "a" undefined-rule')


def test_a_reply_never_opens_with_a_copied_header(bundled_model: Path) -> None:
    """Shown memories start with "(time, user said)"; the bundled model copied that header
    into its replies. The dialogue grammar lets no reply open with a bracket: here the
    prompt all but dictates one (the previous reply did), and the reply still starts with
    words."""
    import dataclasses as dc

    from ember.core.agent.tools import ToolRegistry
    from ember.core.step.schema import StepLimits

    tools = ToolRegistry()
    spec = dc.replace(tools.spec(["send_message"], ["human"], StepLimits()), dialogue=True)
    said = "- (2025-01-09 10:00:00 AM +0000, user said) I drink green tea every morning."
    prompt = Prompt.data(
        f"Memories that may be relevant:\n{said}\nUser: What do I drink?\n"
        f"Ember: {said[2:]}\n"
        f"Memories that may be relevant:\n{said}\nUser: What do I drink in the morning?\n"
    )
    backend = LlamaBackend(bundled_model, n_ctx=512)
    out = "".join(backend.generate(prompt, constraint=step_constraint(spec), max_tokens=40))
    assert out.startswith("Ember: ") and out[len("Ember: ")] not in " ([<", out


def test_a_repeated_reply_goes_on_with_a_word(bundled_model: Path) -> None:
    """The go-on grammar (a reply that said an earlier one word for word, written on)
    parses in llama.cpp and makes the model add words, not only punctuation."""
    import re

    from ember.core.step.dialogue import go_on_grammar
    from ember.core.step.schema import Constraint

    backend = LlamaBackend(bundled_model, n_ctx=512)
    prompt = Prompt.data("First name: Leila\n\nUser: Do you remember my name?\nEmber: Leila")
    out = "".join(backend.generate(prompt, constraint=Constraint(go_on_grammar(60)), max_tokens=30))
    assert out.endswith("\n") and "\n" not in out[:-1], out
    assert re.search(r"[A-Za-z]", out), out


def test_a_2_mb_message_costs_its_turn_little_beside_the_model(
    store: Store, bundled_model: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28 item 1 on the real model and embedder: the turn of a 2 MB message spent
    49.7 s outside the model (the message tokenized whole to count it, embedded and
    made a keyword query whole, split into sentences for each memory shown); the next
    turns work, and a search that finds it shows a bounded part."""
    import time

    from ember.core.agent.tools import ToolContext
    from ember.core.step.validate import Step

    backend = LlamaBackend(bundled_model, n_ctx=4096)
    engine = Engine(store, backend, embedder, EngineConfig(n_ctx=4096))
    rt = engine.agent("big")
    assert rt.send_user_message("Hi, I am Ana.").reason == "message"  # all loaded
    in_model = [0.0]
    generate = backend.generate

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            yield from generate(*args, **kwargs)
        finally:
            in_model[0] += time.perf_counter() - started

    monkeypatch.setattr(backend, "generate", timed)
    big = "My zebra is called Stripes. " + "Lorem ipsum dolor sit amet. " * 75_000
    seen: list[ev.Event] = []
    started = time.perf_counter()
    result = rt.send_user_message(big, seen.append)
    beside_the_model = time.perf_counter() - started - in_model[0]
    assert result.reason == "message", result.error
    assert beside_the_model < 15, beside_the_model  # 49.7 s before; about 6 s now
    [notice] = [e for e in seen if isinstance(e, ev.SystemNotice) and e.kind == "truncated"]
    assert "(2,100,027 characters)" in notice.text
    for text in ("What is my zebra called?", "Thanks!"):
        assert rt.send_user_message(text).reason == "message"
    budget = rt.context.budget()
    ctx = ToolContext(store, embedder, rt.agent_id, rt.context.count_text, budget.message_limit)
    call = Step("", "conversation_search", {"query": "zebra Stripes", "page": 0})
    found = engine.tools.call(ctx, call)
    assert found.status == "OK" and "Stripes" in found.message
    assert rt.context.count_text(found.message) <= budget.message_limit
