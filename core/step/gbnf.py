"""GBNF grammars generated from a :class:`~.schema.StepSpec`, never written per tool.

A step must be exactly ``{"thoughts": "...", "function": "NAME", "arguments": {...}}``
with keys in that order, the arguments of NAME in their schema order, and no free
whitespace. A fixed layout is what makes the grammar cheap (few alternatives at each
position, so few candidate tokens rejected) and what lets the engine stream the thoughts
and the ``send_message`` text as they are generated.

Strings exclude raw control characters, as JSON requires, and ``\\u`` escapes (so no lone
surrogate can be written); a ``maxLength`` bounds a string so a rambling model cannot run
past the reply budget. Integers are written without sign or leading zeros, with at most as
many digits as their ``maximum``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ember.core.step.schema import ARGUMENTS, FUNCTION, THOUGHTS, StepSpec, ValueSchema

# JSON string characters: anything but quote, backslash and control characters, or an
# escape. Bounded repetition keeps strings within the step's token budget.
CHAR_RULE = r'char ::= [^"\\\x00-\x1F] | "\\" ["\\/bfnrt]'
_BASE_RULES = (
    CHAR_RULE,
    'bool ::= "true" | "false"',
    'date ::= "\\"" [0-9] [0-9] [0-9] [0-9] "-" [0-9] [0-9] "-" [0-9] [0-9] "\\""',
)
DEFAULT_INT_DIGITS = 3


def literal(text: str) -> str:
    """A GBNF literal matching ``text`` exactly."""
    return json.dumps(text)


def string_rule(max_length: int | None, min_length: int = 0, prefix: str = "") -> str:
    """GBNF for a JSON string of ``min_length``..``max_length`` characters after a fixed
    ``prefix`` (uses the ``char`` rule of :data:`CHAR_RULE`)."""
    open_quote = literal('"' + prefix)
    if max_length is None:
        return f'{open_quote} char{{{min_length},}} "\\""'
    return f'{open_quote} char{{{min_length},{max_length}}} "\\""'


def _rule_name(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-zA-Z0-9]+", "-", p).strip("-").lower() for p in parts)


def _int_rule(schema: ValueSchema) -> str:
    maximum = schema.get("maximum")
    digits = len(str(maximum)) if isinstance(maximum, int) else DEFAULT_INT_DIGITS
    if digits <= 1:
        return "[0-9]"
    return f"[0-9] | [1-9] [0-9]{{1,{digits - 1}}}"


def _value_rule(schema: ValueSchema, rules: dict[str, str], name: str) -> str:
    """The GBNF expression for one argument value, adding helper rules to ``rules``."""
    kind = schema.get("type")
    if "enum" in schema:
        return " | ".join(literal(json.dumps(v, ensure_ascii=False)) for v in schema["enum"])
    if kind == "string":
        if schema.get("format") == "date":
            return "date"
        rules[name] = string_rule(schema.get("maxLength"))
        return name
    if kind == "integer":
        rules[name] = _int_rule(schema)
        return name
    if kind == "boolean":
        return "bool"
    raise ValueError(f"unsupported schema for grammar: {schema!r}")


def _call_rule(name: str, properties: Mapping[str, ValueSchema], rules: dict[str, str]) -> str:
    """The rule body for ``"NAME", "arguments": {...}``; helper rules go in ``rules``."""
    parts = [literal(f'"{name}", "{ARGUMENTS}": {{')]
    for i, (arg, schema) in enumerate(properties.items()):
        key = ("" if i == 0 else ", ") + f'"{arg}": '
        parts.append(literal(key))
        parts.append(f"({_value_rule(schema, rules, _rule_name(name, arg))})")
    parts.append(literal("}"))
    return " ".join(parts)


def step_grammar(spec: StepSpec) -> str:
    """GBNF for one step of ``spec``: inner thoughts and exactly one offered call."""
    rules: dict[str, str] = {"thoughts": string_rule(spec.thoughts_max)}
    calls: list[str] = []
    for function in spec.functions:
        rule = _rule_name("call", function.name)
        rules[rule] = _call_rule(function.name, function.properties, rules)
        calls.append(rule)
    head = literal(f'{{"{THOUGHTS}": ')
    middle = literal(f', "{FUNCTION}": ')
    lines = [f'root ::= {head} thoughts {middle} call "}}"', "call ::= " + " | ".join(calls)]
    lines += [f"{k} ::= {v}" for k, v in rules.items()]
    return "\n".join([*lines, *_BASE_RULES]) + "\n"


def after_thoughts_grammar(spec: StepSpec) -> str:
    """GBNF for the rest of a step of ``spec`` once its thoughts are written but for their
    closing quote: the call and the closing brace (thoughts cut where they looped)."""
    full = step_grammar(spec)
    head = literal(f'{{"{THOUGHTS}": ')
    middle = literal(f', "{FUNCTION}": ')
    root = f'root ::= {head} thoughts {middle} call "}}"'
    assert root in full
    return full.replace(root, f'root ::= "\\"" {middle} call "}}"', 1)
