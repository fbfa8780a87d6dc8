"""The step format: schemas → grammar and JSON schema, streaming, validation."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from ember.core.agent.tools import ToolRegistry
from ember.core.kernel import events as ev
from ember.core.step.constraint import step_constraint
from ember.core.step.gbnf import step_grammar
from ember.core.step.schema import StepLimits, encode_step
from ember.core.step.stream import StepStreamer
from ember.core.step.validate import MAX_DEPTH, InvalidStep, Step, nesting_depth, parse_step

LABELS = ["persona", "human"]
SPEC = ToolRegistry().spec(list(ToolRegistry().tools), LABELS, StepLimits())
REPLY_ONLY = ToolRegistry().spec(["send_message"], LABELS, StepLimits())


def invalid(raw: str, spec: Any = SPEC) -> str:
    result = parse_step(raw, spec)
    assert isinstance(result, InvalidStep), result
    return result.error


def raw_step(function: str, thoughts: Any = "t", **arguments: Any) -> str:
    return json.dumps({"thoughts": thoughts, "function": function, "arguments": arguments})


# -- schemas and grammar ----------------------------------------------------------------------


def test_grammar_and_json_schema_come_from_the_same_schemas() -> None:
    gbnf = step_constraint(SPEC).gbnf
    for name in SPEC.names:
        assert f'\\"{name}\\", \\"arguments\\"' in gbnf
    assert '"\\"persona\\"" | "\\"human\\""' in gbnf  # labels limited to existing blocks
    assert "char{0,1000}" in gbnf and "char{0,300}" in gbnf  # message and thoughts bounds
    schema = step_constraint(SPEC).json_schema
    assert [v["properties"]["function"]["enum"] for v in schema["anyOf"]] == [
        [n] for n in SPEC.names
    ]
    page = schema["anyOf"][3]["properties"]["arguments"]["properties"]["page"]
    assert (page["minimum"], page["maximum"]) == (0, 999)
    only = step_constraint(REPLY_ONLY)
    assert "core_memory_append" not in only.gbnf
    assert only.json_schema["properties"]["function"]["enum"] == ["send_message"]


def test_integer_rule_allows_exactly_the_digits_of_the_maximum() -> None:
    gbnf = step_grammar(SPEC)
    assert "\nconversation-search-page ::= [0-9] | [1-9] [0-9]{1,2}\n" in gbnf


def test_canonical_steps_validate_to_themselves() -> None:
    args = {"label": "human", "content": 'Likes "tea"\nand cake', "request_heartbeat": True}
    raw = encode_step("Save it.", "core_memory_append", args)
    assert parse_step(raw, SPEC) == Step("Save it.", "core_memory_append", args)
    assert json.loads(raw) == Step("Save it.", "core_memory_append", args).content()


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "not one JSON object"),
        ("hello", "not one JSON object"),
        ('["a"]', "not one JSON object"),
        ('{"thoughts": "x", "function": "send_message"', "not one JSON object"),
        ('{"thoughts": "x", "function": ', "not one JSON object"),
        ('{"thoughts": "x"}', 'no "function"'),
        (raw_step("fly_to_moon"), 'No function named "fly_to_moon"'),
        (raw_step("send_message"), "needs the argument message"),
        (raw_step("send_message", message="hi", mood="happy"), 'no argument "mood"'),
        (raw_step("send_message", message=5), "message must be a string"),
        (raw_step("send_message", message="x" * 1001), "1001 characters long; at most 1000"),
        (raw_step("send_message", thoughts="t" * 301, message="x"), "thoughts is 301"),
        (raw_step("send_message", thoughts=["t"], message="x"), "thoughts must be a string"),
        (raw_step("conversation_search", query="q", page="1", request_heartbeat=True), "page"),
        (raw_step("conversation_search", query="q", page=True, request_heartbeat=True), "whole"),
        (raw_step("conversation_search", query="q", page=1.5, request_heartbeat=True), "whole"),
        (raw_step("conversation_search", query="q", page=-1, request_heartbeat=True), "between"),
        (raw_step("conversation_search", query="q", page=1000, request_heartbeat=True), "between"),
        (raw_step("conversation_search", query="q", page=0, request_heartbeat="yes"), "true or"),
        (
            raw_step("core_memory_append", label="pets", content="x", request_heartbeat=True),
            "one of",
        ),
        (
            raw_step(
                "conversation_search_date",
                start_date="May 1st",
                end_date="2024-05-02",
                page=0,
                request_heartbeat=True,
            ),
            "YYYY-MM-DD",
        ),
        ('{"thoughts": "t", "function": "send_message", "arguments": [], "x": 1}', "field"),
        ('{"thoughts": "t", "function": "send_message", "arguments": "hi"}', "must be an object"),
        ('{"thoughts": "t", "function": "send_message", "arguments": {"message": NaN}}', "NaN"),
        (
            '{"function": "conversation_search", "arguments": {"query": "q", "page": Infinity,'
            ' "request_heartbeat": true}}',
            "Infinity",
        ),
        (
            '{"function": "conversation_search", "arguments": {"query": "q", "page": 1e999,'
            ' "request_heartbeat": true}}',
            "whole number",
        ),
        ('{"function": "send_message", "arguments": {"message": "\\ud800"}}', "lone surrogate"),
        ('{"function": "send_message", "arguments": {"message": "a' + "9" * 5000 + '"}}', "5001"),
    ],
)
def test_off_format_output_is_an_invalid_step(raw: str, expected: str) -> None:
    assert expected in invalid(raw)


def test_function_not_offered_now_is_invalid() -> None:
    raw = raw_step("archival_memory_search", query="q", page=0, request_heartbeat=True)
    assert isinstance(parse_step(raw, SPEC), Step)
    assert "can be called now; use one of: send_message" in invalid(raw, REPLY_ONLY)


def test_deep_nesting_is_rejected_before_parsing() -> None:
    for opener in "[{":
        deep = '{"function": "send_message", "arguments": ' + opener * 100_000
        assert nesting_depth(deep) == 100_001
        assert f"deeper than {MAX_DEPTH}" in invalid(deep + "}")


def test_errors_quote_model_text_short_and_ascii_safe() -> None:
    error = invalid(raw_step("\ud800" + "x" * 500))
    error.encode("utf-8")  # no lone surrogate survives into the message
    assert len(error) < 300


def test_missing_thoughts_and_surrounding_prose_or_fences_are_repaired() -> None:
    step = '{"function": "send_message", "arguments": {"message": "Hi!"}}'
    for raw in (step, f"Sure! {step} Hope that helps.", f"```json\n{step}\n```"):
        assert parse_step(raw, SPEC) == Step("", "send_message", {"message": "Hi!"})


def test_integers_larger_than_python_parses_are_invalid_not_errors() -> None:
    raw = '{"function": "pause_heartbeats", "arguments": {"minutes": ' + "9" * 5000 + "}}"
    assert "not valid JSON" in invalid(raw)


# -- streaming --------------------------------------------------------------------------------


def stream(raw: str, sizes: list[int]) -> tuple[str, str]:
    streamer = StepStreamer()
    events: list[ev.Event] = []
    i = 0
    for size in sizes:
        events += streamer.feed(raw[i : i + size])
        i += size
    events += streamer.feed(raw[i:])
    thoughts = "".join(e.text for e in events if isinstance(e, ev.ThoughtDelta))
    message = "".join(e.text for e in events if isinstance(e, ev.MessageDelta))
    return thoughts, message


TRICKY = 'Quotes " and \\ backslashes, tabs\t, newlines\n, emoji 😀, accents é, "}, {" braces'


def test_stream_decodes_thoughts_and_message_in_any_split() -> None:
    raw = encode_step(TRICKY, "send_message", {"message": TRICKY})
    escaped = raw.replace("😀", "\\ud83d\\ude00").replace("é", "\\u00e9")
    rng = random.Random(7)
    for text in (raw, escaped):
        assert stream(text, [1] * len(text)) == (TRICKY, TRICKY)
        for _ in range(50):
            sizes = [rng.randint(1, 9) for _ in range(len(text))]
            assert stream(text, sizes) == (TRICKY, TRICKY)


def test_stream_only_streams_send_message_and_ignores_layout() -> None:
    other = encode_step("t", "archival_memory_insert", {"content": "secret", "message": "no"})
    assert stream(other, [3] * 100) == ("t", "")
    spaced = (
        '{ "function" : "send_message" ,\n "arguments" : { "message" : "Hi" }, "thoughts": "x"}'
    )
    assert stream(spaced, [2] * 100) == ("x", "Hi")
    # Arguments before the function: the message cannot be known to be a reply yet.
    early = '{"arguments": {"message": "Hi"}, "function": "send_message"}'
    assert stream(early, [5] * 100) == ("", "")


def test_stream_replaces_lone_surrogates() -> None:
    raw = '{"thoughts": "a\\ud800b\\udc00c", "function": "send_message", "arguments": {}}'
    thoughts, _ = stream(raw, [1] * len(raw))
    assert thoughts == "a\ufffdb\ufffdc"
    thoughts.encode("utf-8")


@pytest.mark.timeout(20)
def test_stream_is_linear_in_the_output() -> None:
    """A 200k-character reply fed one character at a time (the old parser rescanned the
    whole buffer on every piece: 100k characters took over a minute)."""
    text = "word " * 40_000
    raw = encode_step("t", "send_message", {"message": text})
    streamer = StepStreamer()
    got = []
    for ch in raw:
        got += streamer.feed(ch)
    assert "".join(e.text for e in got if isinstance(e, ev.MessageDelta)) == text
