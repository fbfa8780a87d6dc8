"""One big JSON document read as a stream: small top-level values whole, the items of its
big arrays one at a time (ijson's C parser underneath), so memory stays flat for any size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import ijson

from ember.core.kernel.errors import InvalidInput
from ember.core.kernel.jsontypes import JSONValue

Event = tuple[str, str, object]  # ijson's (prefix, event, value)


def _build(events: Iterator[Event], event: str, value: object) -> JSONValue:
    """The whole value that starts with (``event``, ``value``)."""
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1 if event in ("start_map", "start_array") else 0
    while depth:
        _, event, value = next(events)
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
    built: JSONValue = builder.value
    return built


def sections(fh: BinaryIO, arrays: frozenset[str]) -> Iterator[tuple[str, int, JSONValue]]:
    """``(key, -1, value)`` for each top-level value, except that the items of the arrays
    whose keys are in ``arrays`` come one by one as ``(key, index, item)``.

    Raises :class:`InvalidInput` (one line) for text that is not one JSON object."""
    events: Iterator[Event] = ijson.parse(fh, use_float=True)
    try:
        first = next(events, None)
        if first is None or first[1] != "start_map":
            raise InvalidInput("the file is not one JSON object")
        key = ""
        for prefix, event, value in events:
            if prefix == "" and event == "map_key":
                key = str(value)
            elif prefix == "" and event == "end_map":
                break
            elif key in arrays and event == "start_array":
                for index, (item_prefix, item_event, item_value) in enumerate(events):
                    if item_event == "end_array" and item_prefix == key:
                        break
                    yield key, index, _build(events, item_event, item_value)
            else:
                yield key, -1, _build(events, event, value)
        for _ in events:  # trailing text after the object is an error too
            pass
    except ijson.JSONError as exc:
        raise InvalidInput(f"not valid JSON ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:80] if lines else "bad JSON"
