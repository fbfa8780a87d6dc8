"""Degenerate repetition in a reply or in inner thoughts.

The bundled model sometimes says one sentence over and over until the length limit ("I'm
not sure. I'm not sure. I'm not sure. …", or a key's last digit a hundred times), or the
same sentence with one word changed ("I saved it in memory first. I'll save it in memory
second. I'll save it in memory third. …", 174 tokens of thoughts in one step), which costs
seconds and reads as broken. The runtime stops a reply, or a step's thoughts, once it ends
with one piece of at least :data:`MIN_UNIT` characters said :data:`REPEATS` times in a row
(:func:`repetition_cut`), or with :data:`NEAR_REPEATS` sentences that differ in at most one
word in :data:`NEAR_WORDS` (:func:`near_repeat_cut`; three such sentences can be a list),
and keeps it up to the end of the first say. A phrase said three times on purpose is rare;
one said twice is left alone, except a whole sentence of :data:`NEAR_WORDS` words or more
said again right after itself (:func:`said_again_cut`): "I'm sorry, I don't remember. I'm
sorry, I don't remember." was a whole reply of the bundled model's in a new user's window.
"""

from __future__ import annotations

import re

REPEATS = 3
MIN_UNIT = 8
# Sentences of at least this many words that share all but one of every NEAR_WORDS words
# in place are one sentence said again.
NEAR_WORDS = 4
NEAR_REPEATS = 4
_ENDS = ".!?"
_SENTENCE = re.compile(r"[^.!?]*[.!?]+")


def repetition_cut(text: str) -> int | None:
    """Where to cut ``text`` when it ends with one piece said :data:`REPEATS` times in a
    row (just after its first say), else None."""
    n = len(text)
    for size in range(MIN_UNIT, n // REPEATS + 1):
        unit = text[n - size :]
        if not unit.strip() or any(
            text[n - (k + 1) * size : n - k * size] != unit for k in range(1, REPEATS)
        ):
            continue
        start = n - REPEATS * size  # back to the first of the run of copies
        while start >= size and text[start - size : start] == unit:
            start -= size
        keep = start + size
        ends = [start + i + 1 for i, c in enumerate(unit) if c in _ENDS]
        if ends:  # a sentence: keep whole ones (the stream may stop mid-sentence)
            keep = ends[-1] if ends[-1] <= keep else ends[0]
            last = text[:keep].rstrip()
            sentence = last[max(last[:-1].rfind(c) for c in _ENDS) + 1 :].strip()
            while last[: -len(sentence)].rstrip().endswith(sentence):
                last = last[: -len(sentence)].rstrip()  # "I'm a human. I'm a human."
            keep = len(last)
        return keep
    return None


def _near(a: list[str], b: list[str]) -> bool:
    """Whether two sentences' words are the same but for about one word in four."""
    if len(a) < NEAR_WORDS or abs(len(a) - len(b)) > 1:
        return False
    same = sum(x == y for x, y in zip(a, b, strict=False))
    return max(len(a), len(b)) - same <= max(1, max(len(a), len(b)) // NEAR_WORDS)


def near_repeat_cut(text: str) -> int | None:
    """Where to cut ``text`` when its last :data:`NEAR_REPEATS` complete sentences are one
    sentence said again with a word changed (just after the first of them), else None."""
    spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    if len(spans) < NEAR_REPEATS:
        return None
    words = [text[a:b].lower().replace("'", " ").split() for a, b in spans]
    run = 1
    for i in range(len(words) - 1, 0, -1):
        if not _near(words[i - 1], words[i]):
            break
        run += 1
    if run < NEAR_REPEATS:
        return None
    return spans[len(spans) - run][1]


def said_again_cut(text: str) -> int | None:
    """Where to cut ``text`` when it ends with a whole sentence of at least
    :data:`NEAR_WORDS` words said twice in a row (just after the first), else None."""
    spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    if len(spans) < 2 or text[spans[-1][1] :].strip():
        return None
    (a, b), (c, d) = spans[-2], spans[-1]
    first, second = (" ".join(text[i:j].lower().split()) for i, j in ((a, b), (c, d)))
    return b if first == second and len(first.split()) >= NEAR_WORDS else None


def loop_cut(text: str) -> int | None:
    """Where to cut ``text`` when it loops (:func:`repetition_cut`,
    :func:`said_again_cut` or :func:`near_repeat_cut`), else None."""
    for cut in (repetition_cut, said_again_cut, near_repeat_cut):
        at = cut(text)
        if at is not None:
            return at
    return None
