"""Nested key-value retrieval for ``ember eval`` (the MemGPT paper's task): pairs of
UUIDs in archival memory, where a value may itself be a key, 0 to 3 levels deep."""

from __future__ import annotations

import itertools
import random
import uuid

from ember.core.evaluation.generator import KeyValue, Question


def key_value(seed: int, size: int, *, pairs: int = 40, max_level: int = 3) -> KeyValue:
    """``pairs`` key-value passages; ``size`` questions with nesting levels 0..max_level.

    At level L the answer takes L+1 lookups: key → key → ... → a value that is no key.
    """
    rng = random.Random(f"kv-{seed}")

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    mapping: dict[str, str] = {}
    questions: list[Question] = []
    for q in range(size):
        level = q % (max_level + 1)
        chain = [new_id() for _ in range(level + 2)]
        for a, b in itertools.pairwise(chain):
            mapping[a] = b
        questions.append(
            Question(
                task="kv",
                qid=f"kv-{q}-level{level}",
                text=(
                    f"Look up key {chain[0]} in archival memory. If its value is itself a "
                    "key, look that up too, until the value is not a key. What is the final "
                    "value?"
                ),
                answers=(chain[-1],),
                evidence=tuple(kv_passage(a, b) for a, b in itertools.pairwise(chain)),
                group=f"level {level}",
            )
        )
    while len(mapping) < pairs:
        mapping[new_id()] = new_id()
    items = list(mapping.items())
    rng.shuffle(items)
    return KeyValue([kv_passage(k, v) for k, v in items], questions)


def kv_passage(key: str, value: str) -> str:
    """How one pair is stored in archival memory."""
    return f"Key {key} has the value {value}."
