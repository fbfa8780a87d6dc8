"""Parse a finished step and check it against the schemas of the functions offered.

Grammar-constrained output always passes; everything else may not: a remote server without
grammar support, a future backend, a broken grammar, a step cut at the token limit. Every
defect becomes an :class:`InvalidStep` whose ``error`` tells the agent what to fix (the
engine stores it as a Failed result and gives the agent another step); nothing raises.

Checked: one JSON object (a Markdown fence or prose around it is dropped), nesting depth
(before parsing, so deep input cannot exhaust the recursion limit), no ``NaN``/``Infinity``,
the fields, an offered function, exactly its arguments, their types (``true`` is not an
integer), integer ranges, string lengths, enums, date formats and lone surrogates (which
UTF-8, and so the database, cannot hold). Texts quoted back in errors are ASCII-escaped and
short.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import NoReturn

from ember.core.kernel.jsontypes import JSONObject, JSONValue
from ember.core.step.dialogue import to_json_step
from ember.core.step.schema import (
    ARGUMENTS,
    FUNCTION,
    THOUGHTS,
    StepSpec,
    ValueSchema,
    step_content,
)
from ember.core.step.surrogates import has_surrogate
from ember.core.storage.messages import StepContent

MAX_DEPTH = 8
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


@dataclass(frozen=True)
class Step:
    """A valid step: thoughts and one call of an offered function with valid arguments."""

    thoughts: str
    function: str
    arguments: JSONObject

    def content(self) -> StepContent:
        """The step as it is stored."""
        return step_content(self.thoughts, self.function, self.arguments)


@dataclass(frozen=True)
class InvalidStep:
    """Output that is not a valid step, and what is wrong with it (for the agent)."""

    error: str


class _Invalid(Exception):
    pass


def quote(value: object, limit: int = 40) -> str:
    """A short, ASCII-safe rendering of ``value`` for error messages."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    short = text[:limit] + ("..." if len(text) > limit else "")
    return json.dumps(short, ensure_ascii=True)


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``{``/``[`` outside strings (one linear pass)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest


def _reject_constant(name: str) -> NoReturn:
    raise _Invalid(f"{name} is not a valid JSON number")


def _load(raw: str) -> JSONValue:
    text = _FENCE.sub("", raw.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise _Invalid("Your output was not one JSON object.")
    text = text[start : end + 1]
    if nesting_depth(text) > MAX_DEPTH:
        raise _Invalid(f"Your output nests deeper than {MAX_DEPTH} levels.")
    try:
        data: JSONValue = json.loads(text, parse_constant=_reject_constant)
        return data
    except ValueError as exc:  # JSONDecodeError, or a number with too many digits
        raise _Invalid(f"Your output was not valid JSON ({str(exc)[:80]}).") from None
    except RecursionError:  # pragma: no cover - prevented by the depth check
        raise _Invalid("Your output nests too deeply.") from None


def _check_string(name: str, value: str, schema: ValueSchema) -> None:
    if has_surrogate(value):
        raise _Invalid(f"{name} contains an invalid character (a lone surrogate).")
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        raise _Invalid(f"{name} is {len(value)} characters long; at most {max_length} fit.")
    if schema.get("format") == "date" and not _DATE.fullmatch(value):
        raise _Invalid(f"{name} must be a date in YYYY-MM-DD format, not {quote(value)}.")


def check_value(name: str, value: object, schema: ValueSchema) -> None:
    """Raise _Invalid unless ``value`` matches ``schema`` (the supported subset)."""
    kind = schema.get("type")
    if kind == "string":
        if not isinstance(value, str):
            raise _Invalid(f"{name} must be a string, not {quote(value)}.")
        _check_string(name, value, schema)
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(f"{name} must be a whole number, not {quote(value)}.")
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise _Invalid(f"{name} must be between {low} and {high}, not {quote(value)}.")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _Invalid(f"{name} must be true or false, not {quote(value)}.")
    else:
        raise _Invalid(f"{name} has a type this engine cannot check.")
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        choices = ", ".join(str(v) for v in enum)
        raise _Invalid(f"{name} must be one of: {choices}; not {quote(value)}.")


def _check(data: JSONValue, spec: StepSpec) -> Step:
    if not isinstance(data, dict):
        raise _Invalid("Your output was not one JSON object.")
    extra = [k for k in data if k not in (THOUGHTS, FUNCTION, ARGUMENTS)]
    if extra:
        raise _Invalid(f"Unexpected field {quote(extra[0])} in your step.")
    thoughts = data.get(THOUGHTS, "")
    check_value(THOUGHTS, thoughts, {"type": "string", "maxLength": spec.thoughts_max})
    name = data.get(FUNCTION)
    if not isinstance(name, str):
        raise _Invalid(f'Your step has no "{FUNCTION}" name.')
    function = spec.function(name)
    if function is None:
        raise _Invalid(
            f"No function named {quote(name)} can be called now; "
            f"use one of: {', '.join(spec.names)}."
        )
    arguments = data.get(ARGUMENTS)
    if not isinstance(arguments, dict):
        raise _Invalid(f'"{ARGUMENTS}" must be an object of {name}\'s arguments.')
    props = function.properties
    unknown = [k for k in arguments if k not in props]
    if unknown:
        raise _Invalid(f"{name} takes no argument {quote(unknown[0])}.")
    missing = [k for k in props if k not in arguments]
    if missing:
        raise _Invalid(f"{name} needs the argument {missing[0]}.")
    for key, schema in props.items():
        check_value(key, arguments[key], schema)
    return Step(str(thoughts), name, arguments)  # thoughts: checked to be a string


def parse_step(raw: str, spec: StepSpec) -> Step | InvalidStep:
    """The valid step in ``raw``, or what is wrong with it (``raw`` in the dialogue
    format when ``spec`` says so)."""
    if spec.dialogue:
        raw = to_json_step(raw)
    try:
        return _check(_load(raw), spec)
    except _Invalid as exc:
        return InvalidStep(str(exc))
