"""Lone surrogates: code points a model's bytes can decode to that UTF-8 cannot encode
(SQLite, JSON and the terminal all refuse them). The streamer shows them as U+FFFD; the
validator rejects a step holding one; the runtime stores a rejected step scrubbed."""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATES = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate."""
    return _SURROGATES.search(text) is not None


def scrub_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (unencodable in UTF-8) replaced by U+FFFD."""
    return _SURROGATES.sub(REPLACEMENT, text)
