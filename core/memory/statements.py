"""What the user says about themselves, found in their own words.

The memory pass (memorypass.py) keeps these in the ``human`` core memory block when the
model cannot do it itself. Measured on ``ember eval first``: the bundled 270M base model,
asked for notes about the user with few-shot examples, wrote the examples' names into
every note and nothing usable; a sentence the user wrote about themselves, kept in their
own words, is never wrong about them. So a message is split into sentences and a sentence
is kept when it is a statement (not a question or a request), speaks of the user (first
person, or "here in <place>"), and is not about someone outside the user's household (a
friend's job is not the user's). It is written in the second person, as Ember would say it
back ("My cat Pip snores." → "Your cat Pip snores."), so that a reply can use it as it is.

The user's name is found apart ("I'm Ana", "My name is Ana", "Ana here") and goes into
the block's ``First name:`` line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# First person, or where the user is ("here in Porto").
_ABOUT_ME = re.compile(
    r"\b(?i:i|i'm|i've|i'd|i'll|my|me|mine|myself|we|we're|we've|our|us)\b"
    r"|\b(?i:here (?:in|at)) [A-Z]"
)
# Someone outside the household: what is said about them is not about the user.
_SOMEONE_ELSE = re.compile(
    r"\b(?:my|our) (?:\w+ )?(?:friend|friends|neighbou?r|neighbou?rs|colleague|colleagues|"
    r"co-?worker|co-?workers|boss|cousin|cousins|classmate|roommate|flatmate|"
    r"acquaintance)(?:'s)?\b",
    re.IGNORECASE,
)
# A question or a request to Ember, even without a question mark.
_ASKING = re.compile(
    r"^(?:can|could|would|will|do|does|did|what|when|where|who|whom|whose|why|how|"
    r"should|shall|is|are|any|please|tell|suggest|help|remind|let's)\b",
    re.IGNORECASE,
)
_SMALL_TALK = re.compile(
    r"^(?:hi|hello|hey|sorry|thanks|thank you|ok|okay|yes|no|bye|good (?:morning|night))\b"
    r"[\s,!.]*$",
    re.IGNORECASE,
)
# A greeting that opens a statement ("Hello, I teach chemistry."): not part of the fact.
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening))(?: there| ember)?[\s,!.:;-]+"
    r"(?=\w)",
    re.IGNORECASE,
)
_NAME_PATTERNS = (
    re.compile(r"\b(?i:I'm|I am|my name is|my name's|call me)\s+([A-Z][\w'-]+)"),
    re.compile(r"^(?:(?i:hi|hello|hey)[,!]?\s+)?([A-Z][\w'-]+) (?i:here)(?:[,.!]|$)"),
)
# Words after "I'm" that are not names.
_NOT_NAMES = frozenset(
    [
        "a",
        "an",
        "the",
        "so",
        "not",
        "just",
        "also",
        "still",
        "really",
        "very",
        "sorry",
        "glad",
        "happy",
        "tired",
        "fine",
        "good",
        "okay",
        "ok",
        "here",
        "back",
        "home",
        "allergic",
        "from",
        "in",
        "at",
        "on",
        "going",
        "trying",
        "thinking",
        "reading",
        "learning",
        "working",
        "looking",
        "feeling",
        "anyway",
        "everyone",
        "nobody",
        "me",
        "it",
        "this",
        "that",
    ]
)
# First person to second person; the longer forms first. (Case kept for "My" → "Your".)
_SWAPS = (
    (re.compile(r"\bI am\b"), "you are"),
    (re.compile(r"\bI was\b"), "you were"),
    (re.compile(r"\bI'm\b"), "you're"),
    (re.compile(r"\bI've\b"), "you've"),
    (re.compile(r"\bI'd\b"), "you'd"),
    (re.compile(r"\bI'll\b"), "you'll"),
    (re.compile(r"\bI\b"), "you"),
    (re.compile(r"\bmyself\b", re.IGNORECASE), "yourself"),
    (re.compile(r"\bmine\b", re.IGNORECASE), "yours"),
    (re.compile(r"\bmy\b"), "your"),
    (re.compile(r"\bMy\b"), "Your"),
    (re.compile(r"\bme\b"), "you"),
)
MAX_STATEMENT = 200


@dataclass(frozen=True)
class Statements:
    """What one message says about the user: a name, and statements in the second person."""

    name: str | None
    lines: tuple[str, ...]


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split after ``.``, ``!`` or ``?``)."""
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def find_name(sentence: str) -> str | None:
    """The user's name if ``sentence`` introduces them ("I'm Ana", "Ana here")."""
    for pattern in _NAME_PATTERNS:
        match = pattern.search(sentence)
        if match and match.group(1).lower() not in _NOT_NAMES:
            return match.group(1)
    return None


def second_person(sentence: str) -> str:
    """``sentence`` as Ember would say it back to the user (first person → second)."""
    for pattern, replacement in _SWAPS:
        sentence = pattern.sub(replacement, sentence)
    return sentence[:1].upper() + sentence[1:]


def is_about_user(sentence: str) -> bool:
    """Whether ``sentence`` is a statement about the user themselves."""
    return (
        not sentence.endswith("?")
        and not _ASKING.match(sentence)
        and not _SMALL_TALK.match(sentence)
        and _ABOUT_ME.search(sentence) is not None
        and _SOMEONE_ELSE.search(sentence) is None
        and len(sentence) <= MAX_STATEMENT
    )


def about_user(text: str) -> Statements:
    """What the user message ``text`` says about the user."""
    name: str | None = None
    lines: list[str] = []
    for sentence in sentences(text):
        found = find_name(sentence)
        if found is not None:
            name = found
            rest = sentence
            # "Hi, I'm Ana." says only the name; "I'm Ana and I bake." says more.
            for pattern in _NAME_PATTERNS:
                rest = pattern.sub("", rest)
            if len(re.findall(r"\w+", rest)) <= 2:
                continue
        if is_about_user(sentence):
            lines.append(second_person(_GREETING.sub("", sentence)))
    return Statements(name, tuple(lines))
