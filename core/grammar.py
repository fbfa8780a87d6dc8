"""GBNF grammar generated from the tool registry's JSON schemas.

Every model step must be exactly one JSON object::

    {"thoughts": "...", "function": "NAME", "arguments": {...}}

with keys in that order, the arguments of NAME in their schema order, and no free
whitespace. A fixed layout is what makes the grammar cheap (few alternatives at each
position, so few candidate tokens rejected) and what lets the engine stream the thoughts
and the ``send_message`` text as they are generated.

Supported schema features (all the tools need): ``string`` (optionally ``enum``,
``format: date``, ``maxLength``), ``integer`` (optionally ``minimum >= 0``), ``boolean``.
Strings exclude raw control characters, as JSON requires; a ``maxLength`` bounds a string
so a rambling model cannot run past the reply budget.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

# JSON string characters: anything but quote, backslash and control characters, or an
# escape. Bounded repetition keeps strings within the step's token budget.
_BASE_RULES = r"""
char ::= [^"\\\x00-\x1F] | "\\" ["\\/bfnrt]
bool ::= "true" | "false"
uint ::= [0-9] | [1-9] [0-9] | [1-9] [0-9] [0-9]
date ::= "\"" [0-9] [0-9] [0-9] [0-9] "-" [0-9] [0-9] "-" [0-9] [0-9] "\""
"""


def _literal(text: str) -> str:
    """A GBNF literal matching ``text`` exactly."""
    return json.dumps(text)


def _rule_name(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-zA-Z0-9]+", "-", p).strip("-").lower() for p in parts)


def _string_rule(max_length: int | None) -> str:
    if max_length is None:
        return '"\\"" char* "\\""'
    return f'"\\"" char{{0,{max_length}}} "\\""'


def _value_rule(schema: Mapping[str, Any], rules: dict[str, str], name: str) -> str:
    """The GBNF expression for one argument value, adding helper rules to ``rules``."""
    kind = schema.get("type")
    if "enum" in schema:
        return " | ".join(_literal(json.dumps(v, ensure_ascii=False)) for v in schema["enum"])
    if kind == "string":
        if schema.get("format") == "date":
            return "date"
        rules[name] = _string_rule(schema.get("maxLength"))
        return name
    if kind == "integer":
        return "uint"
    if kind == "boolean":
        return "bool"
    raise ValueError(f"unsupported schema for grammar: {schema!r}")


def tool_call_rule(name: str, parameters: Mapping[str, Any], rules: dict[str, str]) -> str:
    """The GBNF rule body for ``"NAME", "arguments": {...}``; helper rules go in ``rules``."""
    props: Mapping[str, Any] = parameters.get("properties", {})
    parts = [_literal(f'"{name}", "arguments": {{')]
    for i, (arg, schema) in enumerate(props.items()):
        key = ("" if i == 0 else ", ") + f'"{arg}": '
        value = _value_rule(schema, rules, _rule_name(name, arg))
        parts.append(_literal(key))
        parts.append(f"({value})")
    parts.append(_literal("}"))
    return " ".join(parts)


def build_grammar(
    tools: Iterable[tuple[str, Mapping[str, Any]]], *, thoughts_max_length: int = 300
) -> str:
    """GBNF for one step: inner thoughts and exactly one call of one of ``tools``.

    ``tools`` yields ``(name, parameters_json_schema)`` pairs; arguments appear in the
    schema's property order, all of them required.
    """
    rules: dict[str, str] = {"thoughts": _string_rule(thoughts_max_length)}
    calls: list[str] = []
    for name, parameters in tools:
        rule = _rule_name("call", name)
        rules[rule] = tool_call_rule(name, parameters, rules)
        calls.append(rule)
    if not calls:
        raise ValueError("a grammar needs at least one tool")
    lines = [
        'root ::= "{\\"thoughts\\": " thoughts ", \\"function\\": " call "}"',
        "call ::= " + " | ".join(calls),
    ]
    lines += [f"{k} ::= {v}" for k, v in rules.items()]
    return "\n".join(lines) + "\n" + _BASE_RULES.strip() + "\n"
