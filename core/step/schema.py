"""The functions a step may call, the step's JSON schema and its canonical text.

A :class:`StepSpec` is what one step may be: the functions offered (each with the JSON
schema of its arguments, properties in the order they are written, all required) and the
length limit of the thoughts. Everything else is derived from it: the GBNF grammar
(:mod:`.gbnf`), the JSON schema for servers that take one (:meth:`StepSpec.json_schema`),
and validation (:mod:`.validate`), so the three can never disagree.

Supported argument schemas (all the tools need): ``string`` (optionally ``enum``,
``format: date``, ``maxLength``), ``integer`` (``minimum``/``maximum``), ``boolean``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Final, TypedDict

from ember.core.kernel.jsontypes import JSONLike, JSONScalar, JSONValue
from ember.core.storage.messages import StepContent

# The top-level fields of a step, in the order they are written.
THOUGHTS: Final = "thoughts"
FUNCTION: Final = "function"
ARGUMENTS: Final = "arguments"
FIELDS = (THOUGHTS, FUNCTION, ARGUMENTS)
# What a JSON step starts with in the dialogue format (see .dialogue).
STEP_PREFIX = "AGENT: "
# What a reply starts with in the dialogue format, and the function it calls.
REPLY_PREFIX = "Ember: "
REPLY_FUNCTION = "send_message"


@dataclass(frozen=True)
class Constraint:
    """The shape one completion must have, as a GBNF grammar and as a JSON schema."""

    gbnf: str
    json_schema: JSONLike = field(default_factory=dict)


@dataclass(frozen=True)
class StepLimits:
    """Length limits (characters) of the strings in a step. ``anchor`` bounds text that
    only has to locate something (core_memory_replace's old_content)."""

    thoughts: int = 300
    message: int = 1000
    content: int = 1000
    anchor: int = 300
    query: int = 200

    def scaled(self, factor: float) -> StepLimits:
        """These limits times ``factor`` (never below :data:`MIN_LIMITS`)."""
        return StepLimits(
            **{
                f.name: max(MIN_LIMITS[f.name], int(getattr(self, f.name) * factor))
                for f in fields(self)
            }
        )


# The least each string may hold, however small the window.
MIN_LIMITS = {"thoughts": 40, "message": 120, "content": 120, "anchor": 40, "query": 30}


class ValueSchema(TypedDict, total=False):
    """The JSON schema of one argument, in the subset steps use."""

    type: str
    description: str
    enum: list[str]
    maxLength: int
    format: str
    minimum: int
    maximum: int


class ParametersSchema(TypedDict):
    """The JSON schema of a function's arguments: an object of named values."""

    type: str
    properties: dict[str, ValueSchema]
    required: list[str]


@dataclass(frozen=True)
class FunctionSpec:
    """One function a step may call: its name and the JSON schema of its arguments."""

    name: str
    parameters: ParametersSchema

    @property
    def properties(self) -> Mapping[str, ValueSchema]:
        """Argument schemas by name, in the order they are written."""
        return self.parameters.get("properties", {})


@dataclass(frozen=True)
class StepSpec:
    """What one step may be: the functions offered and the thoughts' length limit.
    ``dialogue``: the step is written in the dialogue format (:mod:`.dialogue`)."""

    functions: tuple[FunctionSpec, ...]
    thoughts_max: int
    dialogue: bool = False
    # Characters a dialogue reply may not open with (a reply said before is written again
    # with another opening: step_writer.py).
    reply_not_first: str = ""

    def __post_init__(self) -> None:
        if not self.functions:
            raise ValueError("a step needs at least one function")

    @property
    def names(self) -> list[str]:
        """The names of the functions offered, in order."""
        return [f.name for f in self.functions]

    def function(self, name: str) -> FunctionSpec | None:
        """The function called ``name``, if it is offered."""
        return next((f for f in self.functions if f.name == name), None)

    def longest(self) -> int:
        """Characters of the longest step this spec allows (every string at its limit)."""
        if self.dialogue and self.names == [REPLY_FUNCTION]:  # a reply line only
            message = self.functions[0].properties["message"]
            return len(REPLY_PREFIX) + int(message.get("maxLength", 1000)) + 1
        prefix = len(STEP_PREFIX) if self.dialogue else 0
        return prefix + max(
            len(encode_step("x" * self.thoughts_max, f.name, _longest_arguments(f)))
            for f in self.functions
        )

    def json_schema(self) -> dict[str, object]:
        """The JSON schema of one step (for servers with structured output)."""
        variants = [
            {
                "type": "object",
                "properties": {
                    THOUGHTS: {"type": "string", "maxLength": self.thoughts_max},
                    FUNCTION: {"type": "string", "enum": [f.name]},
                    ARGUMENTS: {**f.parameters, "additionalProperties": False},
                },
                "required": list(FIELDS),
                "additionalProperties": False,
            }
            for f in self.functions
        ]
        return variants[0] if len(variants) == 1 else {"anyOf": variants}


def _longest_value(schema: ValueSchema) -> JSONScalar:
    if "enum" in schema:
        return max(schema["enum"], key=lambda v: len(json.dumps(v, ensure_ascii=False)))
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date":
            return "0000-00-00"
        if "maxLength" not in schema:
            raise ValueError(f"a string without maxLength has no longest value: {schema!r}")
        return "x" * int(schema["maxLength"])
    if kind == "integer":
        return int(schema.get("maximum", 999))
    if kind == "boolean":
        return False
    raise ValueError(f"unsupported schema: {schema!r}")


def _longest_arguments(function: FunctionSpec) -> dict[str, JSONValue]:
    return {name: _longest_value(schema) for name, schema in function.properties.items()}


def object_schema(properties: Mapping[str, ValueSchema]) -> ParametersSchema:
    """An arguments schema: every property required, in the order given."""
    return {"type": "object", "properties": dict(properties), "required": list(properties)}


def step_content(thoughts: str, function: str, arguments: Mapping[str, JSONValue]) -> StepContent:
    """A step as it is stored (the message content of the agent's turn)."""
    return {THOUGHTS: thoughts, FUNCTION: function, ARGUMENTS: dict(arguments)}


def encode_step(thoughts: str, function: str, arguments: Mapping[str, JSONValue]) -> str:
    """A step's canonical text: exactly what the grammar makes the model write."""
    return json.dumps(step_content(thoughts, function, arguments), ensure_ascii=False)
