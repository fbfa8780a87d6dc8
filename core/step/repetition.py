"""Degenerate repetition in a reply.

The bundled model sometimes says one sentence over and over until the length limit ("I'm
not sure. I'm not sure. I'm not sure. …", or a key's last digit a hundred times), which
costs seconds and reads as broken. The runtime stops a dialogue reply once it ends with one
piece of at least :data:`MIN_UNIT` characters said :data:`REPEATS` times in a row, and keeps
it up to the end of the first say (at a sentence's end when the piece has one). A reply
repeating a phrase that long three times on purpose is rare; one said twice is left alone.
"""

from __future__ import annotations

REPEATS = 3
MIN_UNIT = 8
_ENDS = ".!?"


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
