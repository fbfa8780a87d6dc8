"""Property-based fuzzing of the step parser, the streamer and the tool executor (13.11).

Off-grammar output is what a remote server without grammar support, a future backend or a
broken grammar may produce. Whatever the model writes: no exception escapes the engine, a
turn ends in one of its reasons, every core memory block stays within its limit, and the
database stays consistent. (The fuzzed steps of issue 13 let UnicodeEncodeError,
AttributeError, RecursionError, ValueError, OverflowError and IntegrityError escape.)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ember.core.agent.engine import Engine
from ember.core.agent.tools import ToolRegistry
from ember.core.kernel import events as ev
from ember.core.llm.scripted import ScriptedBackend, scripted_reply
from ember.core.step.schema import StepLimits, encode_step
from ember.core.step.stream import StepStreamer
from ember.core.step.validate import InvalidStep, Step, parse_step
from ember.core.storage.store import Store

TOOLS = list(ToolRegistry().tools)
SPEC = ToolRegistry().spec(TOOLS, ["persona", "human"], StepLimits())
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Any code point, lone surrogates included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
    st.sampled_from(["persona", "human", "2024-05-01", "0000-00-00", "9999-99-99", "", " "]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.one_of(st.sampled_from(TOOLS), ANY_TEXT)
ARG_NAMES = st.sampled_from(
    [
        "message",
        "label",
        "content",
        "old_content",
        "new_content",
        "query",
        "page",
        "start_date",
        "end_date",
        "minutes",
        "request_heartbeat",
        "extra",
    ]
)


@st.composite
def step_objects(draw: st.DrawFn) -> Any:
    """Step-shaped JSON: the right fields most of the time, any values."""
    step: dict[str, Any] = {}
    if draw(st.booleans()):
        step["thoughts"] = draw(st.one_of(ANY_TEXT, JSON_VALUES))
    step["function"] = draw(st.one_of(NAMES, JSON_VALUES))
    step["arguments"] = draw(
        st.one_of(st.dictionaries(ARG_NAMES, JSON_VALUES, max_size=5), JSON_VALUES)
    )
    if draw(st.integers(0, 9)) == 0:
        step[draw(ANY_TEXT)] = draw(JSON_VALUES)
    return step


@st.composite
def raw_outputs(draw: st.DrawFn) -> str:
    """What a model might write: a step-shaped object, a canonical step cut or spliced, a
    deeply nested value, or any text at all."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        ascii_only = draw(st.booleans())  # \\uXXXX escapes, or the characters themselves
        return json.dumps(draw(step_objects()), ensure_ascii=ascii_only, allow_nan=True)
    if kind == 1:
        name = draw(st.sampled_from(TOOLS))
        text = encode_step(draw(ANY_TEXT), name, {"message": draw(ANY_TEXT), "page": 1})
        cut = draw(st.integers(0, len(text)))
        return text[:cut] + draw(ANY_TEXT) + text[cut:][: draw(st.integers(0, len(text)))]
    if kind == 2:
        depth = draw(st.integers(1, 3000))
        opener = draw(st.sampled_from(["[", "{", '{"a":']))
        return '{"function": "send_message", "arguments": ' + opener * depth + "}"
    if kind == 3:
        return draw(st.text(st.sampled_from('{}[]":,\\ntrufalse0123456789 -.eE'), max_size=80))
    return draw(ANY_TEXT)


@FUZZ
@given(raw_outputs(), st.lists(st.integers(1, 9), max_size=40))
def test_parser_and_streamer_never_raise(raw: str, splits: list[int]) -> None:
    result = parse_step(raw, SPEC)
    assert isinstance(result, Step | InvalidStep)
    if isinstance(result, InvalidStep):
        result.error.encode("utf-8")  # storable and printable
    else:  # a valid step really is one
        assert parse_step(encode_step(result.thoughts, result.function, result.arguments), SPEC)
    streamer = StepStreamer()
    at = 0
    for size in [*splits, len(raw)]:
        for event in streamer.feed(raw[at : at + size]):
            assert isinstance(event, ev.ThoughtDelta | ev.MessageDelta)
            event.text.encode("utf-8")
        at += size


class TinyEmbedder:
    name, dim, max_tokens = "tiny", 384, 256

    def embed(self, texts: Any) -> Any:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, hash(text) % self.dim] = 1.0
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@st.composite
def schema_valid_steps(draw: st.DrawFn) -> str:
    """Steps the grammar could never produce but the schema accepts: any lengths up to the
    limits, unusual characters, pages past the end, impossible dates, empty texts."""
    name = draw(st.sampled_from(TOOLS))
    spec = SPEC.function(name)
    assert spec is not None
    args: dict[str, Any] = {}
    for arg, schema in spec.properties.items():
        if "enum" in schema:
            args[arg] = draw(st.sampled_from(schema["enum"]))
        elif schema["type"] == "string" and schema.get("format") == "date":
            args[arg] = draw(st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True))
        elif schema["type"] == "string":
            alphabet = st.characters(exclude_categories=("Cs",))
            args[arg] = draw(st.text(alphabet, max_size=min(schema["maxLength"], 1200)))
        elif schema["type"] == "integer":
            args[arg] = draw(st.integers(schema["minimum"], schema["maximum"]))
        else:
            args[arg] = draw(st.booleans())
    return encode_step(draw(st.text(max_size=50)), name, args)


@FUZZ
@given(st.lists(st.one_of(raw_outputs(), schema_valid_steps()), min_size=1, max_size=10))
def test_engine_survives_any_model_output(outputs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as home:
        store = Store(Path(home) / "fuzz.sqlite3")
        try:
            script = [*outputs, scripted_reply("done")]
            backend = ScriptedBackend(script, n_ctx=8192)
            engine = Engine(store, backend, TinyEmbedder())
            engine.config.timed_heartbeat_minutes = 5  # pause_heartbeats offered too
            rt = engine.agent("fuzz")
            store.set_block(rt.agent_id, "human", "Likes tea.\nLikes tea.\n\nLives in Graz.")
            events: list[ev.Event] = []
            finished = rt.send_user_message("hello", events.append)
            assert finished.reason in ("message", "no_message", "step_cap", "error")
            if finished.reason == "error":
                assert "no scripted output" not in (finished.error or "")
            for block in store.blocks(rt.agent_id):
                assert len(block.value) <= block.limit
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            for message in store.context_messages(rt.agent_id):
                json.dumps(message.content).encode("utf-8")
        finally:
            store.close()
