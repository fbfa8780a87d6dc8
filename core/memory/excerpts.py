"""What the agent is shown of long texts: excerpts of search hits and bounded function
results.

Whatever is stored, what the agent reads is bounded (a 2 MB message once went whole into a
search result, and every later turn of its agent overflowed the window): a hit longer than
:data:`HIT_CHARS` shows its part about the query, and a function result is cut to
:data:`RESULT_CHARS` characters, then to the token room the runtime gives it (one
message's share of the queue), with a note saying so.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ember.core.kernel.jsontypes import JSONObject
from ember.core.memory.autorecall import focus

HIT_CHARS = 600
RESULT_CHARS = 12_000
# The most characters one token is taken to cover: of a long message, only this many
# characters per token of its room are read (a longer text is cut regardless).
CHARS_PER_TOKEN = 16

TokenCounter = Callable[[str], int]


def excerpt(text: str, query: str = "", max_chars: int = HIT_CHARS) -> str:
    """``text``, or when longer than ``max_chars`` its part about ``query`` (its
    beginning when there is no query), marked with "…" where it was cut."""
    if len(text) <= max_chars:
        return text
    if query.strip():
        return focus(text, query, max_chars)
    return text[: max_chars - 2] + " …"


def bound_result(
    message: str, count_tokens: TokenCounter | None = None, max_tokens: int | None = None
) -> str:
    """A function result cut to :data:`RESULT_CHARS` characters and, when a counter is
    given, to ``max_tokens`` tokens as it is written into the prompt (JSON-escaped),
    with a note saying that it was cut."""
    if len(message) <= RESULT_CHARS and (
        count_tokens is None or max_tokens is None or _tokens(message, count_tokens) <= max_tokens
    ):
        return message

    def note(kept: int) -> str:
        return f" [... cut: the result had {len(message):,} characters; {kept:,} are shown]"

    keep = min(len(message), RESULT_CHARS)
    if count_tokens is not None and max_tokens is not None:
        low, high = 0, keep  # the longest prefix that fits with its note
        while low < high:
            mid = (low + high + 1) // 2
            if _tokens(message[:mid] + note(mid), count_tokens) <= max_tokens:
                low = mid
            else:
                high = mid - 1
        keep = low
    return message[:keep] + note(keep)


def _tokens(text: str, count_tokens: TokenCounter) -> int:
    """Tokens of ``text`` as a JSON string value in the prompt."""
    return count_tokens(json.dumps(text, ensure_ascii=False)[1:-1])


def cut_texts(content: JSONObject, chars: int) -> JSONObject | None:
    """``content`` with each text in it longer than ``chars`` cut to its beginning, with a
    note of its length; None when none is that long."""
    if all(not isinstance(v, str) or len(v) <= chars for v in content.values()):
        return None
    return {
        key: f"{value[:chars]} [... cut: {len(value):,} characters]"
        if isinstance(value, str) and len(value) > chars
        else value
        for key, value in content.items()
    }
