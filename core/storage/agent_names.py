"""What an agent may be called: one rule for every way a name comes in (create, rename,
import, ``--agent`` of chat, ingest and import-history, the app's dialogs).

A name is Unicode-normalised (NFC: "é" typed as one character or as "e" + a combining
accent is one agent), trimmed, at most :data:`MAX_NAME_CHARS` characters (``create``
took 5,000 that ``import`` then refused), and holds no control, format, surrogate or
line-separator characters: NUL, ESC sequences that reach a terminal, bidirectional
overrides and zero-width characters that make two names look alike are refused.
Looking a name up normalises it the same way. :func:`shown` escapes what an older
database may still hold, for printing.
"""

from __future__ import annotations

import unicodedata

from ember.core.kernel.errors import InvalidInput, quoted

MAX_NAME_CHARS = 100
# Control, format (bidi overrides, zero-width), surrogate, line and paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def normal(name: str) -> str:
    """``name`` as it is stored and looked up: NFC, without surrounding whitespace."""
    return unicodedata.normalize("NFC", name).strip()


def storable(name: str) -> bool:
    """Whether ``name`` can be stored or looked up: no lone surrogates (bytes of a command
    line argument that were not UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def agent_name(name: str) -> str:
    """``name`` checked and normalised for a new or renamed agent. Raises InvalidInput
    saying what is wrong with it."""
    name = normal(name)
    if not name:
        raise InvalidInput("An agent needs a name.")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(
            f"An agent's name may have at most {MAX_NAME_CHARS} characters; "
            f"{shown(name)} has {len(name):,}."
        )
    for ch in name:
        if unicodedata.category(ch) in _REFUSED:
            what = unicodedata.name(ch, "") or "a control character"
            raise InvalidInput(
                f"An agent's name cannot hold {what} (U+{ord(ch):04X}): {shown(name)}."
            )
    return name


def shown(name: str) -> str:
    """A name quoted for a one-line message, anything unprintable escaped."""
    return quoted(name, MAX_NAME_CHARS + 2)


def printable(name: str) -> str:
    """A name as a list, a title or a greeting shows it: :func:`shown` without the quotes
    (a name stored before the rule, holding ESC or a bidi override, is escaped, never
    printed raw)."""
    return shown(name)[1:-1]
