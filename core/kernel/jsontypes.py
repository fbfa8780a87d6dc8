"""The shapes of JSON data, named once: what ``json.loads`` returns, what a message's
content, an agent's settings or a server's answer hold before they are checked.

A value read from outside (a file, a server, the database) is a :data:`JSONValue` until
code narrows it with ``isinstance``; a value handed to ``json.dumps`` may be any
:data:`JSONLike` mapping (a TypedDict of a message's content is one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

JSONScalar = str | int | float | bool | None
JSONValue = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject = dict[str, JSONValue]
JSONArray = list[JSONValue]
# What may be written as a JSON object: TypedDicts and plain dicts alike (read-only).
JSONLike = Mapping[str, object]


def as_object(value: object) -> JSONObject:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_text(value: object, default: str = "") -> str:
    """``value`` if it is a string, else ``default``."""
    return value if isinstance(value, str) else default


def loads(text: str | bytes) -> JSONValue:
    """``json.loads`` with the type of what it returns."""
    value: JSONValue = json.loads(text)
    return value
