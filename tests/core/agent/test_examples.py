"""The few-shot examples say what the runtime says: each one is replayed through the real
engine (scripted model, real database) and every event it wrote is compared."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.agent.examples import EXAMPLES, HEADER, Example, example_events, render_examples
from ember.core.llm.scripted import ScriptedBackend
from ember.core.memory.autorecall import MARKER
from ember.core.step.schema import encode_step
from ember.core.storage.store import Store

# The examples show MemGPT's function steps (the dialogue format has none).
FUNCTIONS = EngineConfig(step_format="functions")
RESULTS = re.compile(r"Showing (\d+) of (\d+) results \(page (\d+)/(\d+)\): (.*)", re.S)


def without_times(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k != "time"}


def seed_world(store: Store, engine: Engine, agent_id: int, example: Example) -> None:
    """What the example's user said before, and the documents they loaded."""
    for text in example.memory.get("recall", []):
        mid = store.add_message(agent_id, "user", "user_message", {"message": text}, text)
        engine.recall.embed(agent_id, [(mid, text)])
    for name, page, text in example.memory.get("archival", []):
        source = store.add_source(
            agent_id, f"/docs/{name}", name, "0" * 64, pages=page, status="loaded"
        )
        vectors = engine.embedder.embed([text])
        store.add_passages(agent_id, [(text, page, 0)], vectors, source_id=source.id)


def assert_same_result(runtime: str, example: str) -> None:
    """Search results: the same header and hit fields, and the example's hit among the
    runtime's hits (how many others the search ranks depends on the database). Every
    other result text: identical."""
    ours, theirs = RESULTS.fullmatch(runtime), RESULTS.fullmatch(example)
    assert (ours is None) == (theirs is None), (runtime, example)
    if ours is None or theirs is None:
        assert runtime == example
        return
    runtime_hits, example_hits = json.loads(ours.group(5)), json.loads(theirs.group(5))
    for hit in example_hits:
        same = [
            h
            for h in runtime_hits
            if h.get("message", h.get("content")) == hit.get("message", hit.get("content"))
        ]
        assert same, (runtime, example)
        assert list(same[0]) == list(hit)  # the same fields, in the same order


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_replays_through_the_engine(
    store: Store, hash_embedder: Any, example: Example
) -> None:
    outputs = [encode_step(c.thoughts, c.function, c.arguments) for c in example.calls]
    backend = ScriptedBackend(outputs, n_ctx=8192)
    engine = Engine(store, backend, hash_embedder, FUNCTIONS)
    agent = store.create_agent("Robin's agent", {"persona": "I am Ember.", "human": ""})
    seed_world(store, engine, agent.id, example)
    first = store.count_messages(agent.id)
    assert engine.agent("Robin's agent").send_user_message(example.user).reason == "message"
    written = store.recent_messages(agent.id, 100)[first:]
    expected = example_events(example)
    # Automatic recall is shown, never stored: the example's memories are in the prompt's
    # recall part, in the same fields.
    for _, note in [e for e in expected if e[0] == "recall"]:
        shown = json.loads(note)["memories"]
        tail = backend.prompts[0].split(MARKER)[-1]
        for memory in shown:
            assert memory.get("message", memory.get("content")) in tail
    expected = [e for e in expected if e[0] != "recall"]
    assert [m.role for m in written] == [role for role, _ in expected]
    for message, (_, content) in zip(written, expected, strict=True):
        if message.role == "tool":
            assert message.content["status"] == content["status"] == "OK"
            assert_same_result(message.content["message"], content["message"])
        else:
            assert without_times(message.content) == without_times(content)


def test_examples_are_shown_from_4096_tokens_and_can_be_chosen(
    store: Store, hash_embedder: Any
) -> None:
    big = Engine(store, ScriptedBackend(n_ctx=4096), hash_embedder, FUNCTIONS)
    small = Engine(store, ScriptedBackend(n_ctx=2048), hash_embedder, FUNCTIONS)
    dialogue = Engine(store, ScriptedBackend(n_ctx=8192), hash_embedder)  # the bundled model's
    assert render_examples() in big.agent("t").prompt()
    assert "### Examples" not in small.agent("t").prompt()
    assert "Robin" not in dialogue.agent("t").prompt()  # no examples in the dialogue format
    one = render_examples(["recall"])
    assert (
        one.startswith(HEADER) and "Example Star" in one and "Robin" not in one.replace(HEADER, "")
    )
    assert render_examples(count=2).count('"type": "user_message"') == 2
    assert render_examples([]) == ""


def test_example_content_is_unmistakably_made_up() -> None:
    text = render_examples()
    assert "fictional" in text.splitlines()[0]
    users = [
        json.loads(line[7:])["message"] for line in text.splitlines() if "user_message" in line
    ]
    facts = [e.memory for e in EXAMPLES]
    assert "Robin Example" in users[0] and "Example Star" in str(facts)
    assert "nurse" not in text and "Sam" not in text  # the old example user leaked


def test_every_example_line_in_the_prompt_is_in_the_runtime_format(
    store: Store, hash_embedder: Any
) -> None:
    """The examples the model sees, read back from the prompt: every step validates, every
    event has the runtime's fields, heartbeats say what the runtime says and results read
    like the runtime's results."""
    from ember.core.step.validate import Step, parse_step
    from ember.core.storage import messages

    engine = Engine(store, ScriptedBackend(n_ctx=8192), hash_embedder, FUNCTIONS)
    prompt = engine.agent("t").prompt()
    section = prompt.split("### Examples\n")[1].split("\n\n###")[0]
    spec = engine.step_spec(["persona", "human"])
    heartbeats = {messages.HEARTBEAT_REQUESTED, messages.HEARTBEAT_FAILED}
    lines = [line for line in section.splitlines() if line.startswith(("EVENT: ", "AGENT: "))]
    replies = [line for line in lines if '"function": "send_message"' in line]
    assert len(lines) >= 9 and len(replies) == len(EXAMPLES)
    for line in lines:
        body = line[7:]
        if line.startswith("AGENT: "):
            assert isinstance(parse_step(line, spec), Step), line
            continue
        event = json.loads(body)
        if event.get("type") == "system_note":  # automatic recall: each memory has a time
            assert all("time" in m for m in event["memories"]), line
            continue
        assert "time" in event, line
        if event.get("type") == "heartbeat":
            assert event["reason"] in heartbeats, line
        elif "status" in event:
            text = event["message"]
            assert RESULTS.fullmatch(text) or re.fullmatch(
                r"Appended to '\w+' \(\d+/\d+ characters\)\.", text
            ), line
            if RESULTS.fullmatch(text):
                for hit in json.loads(RESULTS.fullmatch(text).group(5)):  # type: ignore[union-attr]
                    assert "timestamp" in hit, line
        else:
            assert event.get("type") == "user_message", line
