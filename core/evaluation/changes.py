"""The ``changes`` task's world: facts about the user that change across sessions.

A fictional user says things about themselves ("I live in Dundee.") and later says they
changed ("I moved from Dundee to Tallinn.", "I'm not allergic to cats after all, it's
peanuts.", "These days my morning drink is kefir."), once or twice, in later sessions,
among ordinary chat and other people's changes ("My brother moved to Oslo."). Each fact is
asked about "now" (the current value: current-state accuracy) and "before" (the value it
had before the last change). The changes are phrased several ways: naming the old value or
not, as a move, a switch, a correction or a plain new statement, so that no one wording
decides the score.

Evidence strings are verbatim substrings of the statement that holds the answer: for a
"now" question the newest statement (recall@1 of the current statement), for a "before"
question the statement of the previous value. A "now" reply that names an earlier value
too is wrong (the model mixed them), unless the current statement names it as well.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ember.core.evaluation import pools
from ember.core.evaluation.generator import (
    START,
    Conversation,
    Question,
    Turn,
    _filler_user,
    _pick,
)

GROUPS = ("now", "before")
SESSIONS = 8
EXCHANGES = 12


@dataclass(frozen=True)
class Kind:
    """One kind of fact that changes: its values, how it is first said, how a change is
    said (``{a}``: the previous value, ``{b}``: the new one; each change picks one
    wording), and the two questions."""

    name: str
    pool: Sequence[str]
    first: tuple[str, ...]
    change: tuple[str, ...]
    now: str
    before: str


KINDS = (
    Kind(
        "city",
        pools.CITIES,
        ("I live in {a}, close to the old market.", "Home for me is {a}, I love the harbour."),
        (
            "Big news: I moved from {a} to {b}!",
            "I live in {b} now, the flat is much bigger than the old one.",
            "We finally left {a}, our new home is in {b}.",
        ),
        "Which city do I live in now?",
        "Which city did I live in before?",
    ),
    Kind(
        "allergy",
        pools.ALLERGENS,
        ("I'm allergic to {a}, so I always read the labels.",),
        (
            "Turns out I'm not allergic to {a} after all, it's {b}.",
            "The doctor says my allergy is to {b}, not {a}.",
        ),
        "What am I allergic to?",
        "What did I think I was allergic to before?",
    ),
    Kind(
        "drink",
        pools.DRINKS,
        ("I start every morning with {a}.",),
        (
            "I've switched from {a} to {b} in the mornings.",
            "These days I start every morning with {b}.",
        ),
        "What do I drink in the mornings now?",
        "What did I drink in the mornings before?",
    ),
    Kind(
        "job",
        pools.JOBS,
        ("I work as a {a} at a small place in town.",),
        ("I quit being a {a}, I'm a {b} now.", "I started a new job last week, I work as a {b}."),
        "What's my job now?",
        "What was my job before?",
    ),
    Kind(
        "instrument",
        pools.INSTRUMENTS,
        ("I'm taking {a} lessons on Thursdays.",),
        (
            "I gave up the {a} and started {b} lessons instead.",
            "My Thursday lessons are for the {b} now.",
        ),
        "Which instrument am I learning now?",
        "Which instrument was I learning before?",
    ),
    Kind(
        "dish",
        pools.DISHES,
        ("My favourite dish is {a}, nothing beats it.",),
        (
            "My favourite dish is {b} now, I'm over {a}.",
            "I've gone off {a}, my favourite is {b} these days.",
        ),
        "What's my favourite dish now?",
        "What was my favourite dish before?",
    ),
    Kind(
        "car",
        pools.CARS,
        ("I drive an old {a} that never wants to start.",),
        ("I sold the {a} and bought a {b}.", "I drive a {b} these days, it always starts."),
        "What car do I drive now?",
        "What car did I drive before?",
    ),
)


@dataclass(frozen=True)
class Fact:
    """One generated fact: its kind and the statements of its values, oldest first."""

    kind: Kind
    values: tuple[str, ...]
    statements: tuple[str, ...]


def _fact(rng: random.Random, kind: Kind, used: set[str]) -> Fact:
    changes = rng.choice((1, 1, 2))
    values = tuple(_pick(rng, list(kind.pool), used) for _ in range(changes + 1))
    said = [rng.choice(kind.first).format(a=values[0])]
    for a, b in itertools.pairwise(values):
        said.append(rng.choice(kind.change).format(a=a, b=b))
    return Fact(kind, values, tuple(said))


def _other_change(rng: random.Random, used: set[str]) -> str:
    """Someone else's change: a distractor (never one of the user's own values)."""

    def other(pool: Sequence[str]) -> str:
        return rng.choice([v for v in pool if v not in used])

    def move() -> str:
        old, new = rng.sample([v for v in pools.CITIES if v not in used], 2)
        return f"My brother moved from {old} to {new}."

    templates: list[Callable[[], str]] = [
        move,
        lambda: f"My friend {other(pools.NAMES)} is a {other(pools.JOBS)} now.",
        lambda: f"My colleague switched to {other(pools.DRINKS)} in the mornings.",
        lambda: f"My neighbour sold her car and bought a {other(pools.CARS)}.",
        lambda: f"My cousin's favourite dish is {other(pools.DISHES)} these days.",
    ]
    return rng.choice(templates)()


def _filler(rng: random.Random, used: set[str]) -> str:
    return _other_change(rng, used) if rng.random() < 0.25 else _filler_user(rng, used)


def _place(rng: random.Random, facts: Sequence[Fact]) -> dict[tuple[int, int], str]:
    """Every statement in a slot (session, exchange), a fact's statements in increasing
    sessions."""
    slots = [(s, e) for s in range(SESSIONS) for e in range(1, EXCHANGES)]
    rng.shuffle(slots)
    placed: dict[tuple[int, int], str] = {}
    for fact in facts:
        after = -1
        for n, statement in enumerate(fact.statements):
            latest = SESSIONS - len(fact.statements) + n
            slot = next((s, e) for s, e in slots if after < s <= latest and (s, e) not in placed)
            placed[slot] = statement
            after = slot[0]
    return placed


def _evidence(statement: str, value: str) -> str:
    """The words of ``statement`` up to and including ``value`` (a substring that holds
    the answer), at most the last eight words of it."""
    end = statement.index(value) + len(value)
    words = statement[:end].split()
    return " ".join(words[-8:])


def _outdated(fact: Fact, n: int) -> tuple[str, ...]:
    """The values before the ``n``-th that its statement does not name: a reply quoting the
    current statement ("I moved from Dundee to Tallinn") names the old one rightly."""
    return tuple(v for v in fact.values[:n] if v not in fact.statements[n])


def changes(seed: int, size: int) -> Conversation:
    """A history of facts that change, and up to ``size`` "now" and ``size`` "before"
    questions (one of each per fact)."""
    rng = random.Random(f"changes-{seed}")
    used: set[str] = set()
    name = _pick(rng, pools.NAMES, used)
    facts = [_fact(rng, kind, used) for kind in KINDS]
    placed = _place(rng, facts)
    placed[(0, 0)] = f"Hi, I'm {name}. Nice to meet you."
    turns: list[Turn] = []
    for s in range(SESSIONS):
        when = START + timedelta(days=9 * s + rng.randint(0, 4), hours=rng.randint(0, 11))
        for e in range(EXCHANGES):
            turns.append(Turn("user", placed.get((s, e)) or _filler(rng, used), when.isoformat()))
            when += timedelta(seconds=rng.randint(20, 90))
            turns.append(Turn("assistant", rng.choice(pools.ASSISTANT_FILLER), when.isoformat()))
            when += timedelta(seconds=rng.randint(30, 240))
    order = list(facts)
    rng.shuffle(order)
    questions: list[Question] = []
    for group in GROUPS:
        for i, fact in enumerate(order[:size]):
            n = len(fact.values) - (1 if group == "now" else 2)
            statement = fact.statements[n]
            questions.append(
                Question(
                    task="changes",
                    qid=f"changes-{group}-{i}-{fact.kind.name}",
                    text=fact.kind.now if group == "now" else fact.kind.before,
                    answers=(fact.values[n],),
                    evidence=(_evidence(statement, fact.values[n]),),
                    group=group,
                    wrong=_outdated(fact, n) if group == "now" else (),
                )
            )
    return Conversation(turns, questions, SESSIONS)
