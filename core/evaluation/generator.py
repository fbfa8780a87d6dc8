"""The seeded generator of ``ember eval``'s tasks: no downloads, the same data for a seed.

Three worlds, each with questions whose answers and evidence are known:

* :func:`conversation` — a fictional user's multi-session history: a job, a pet, a sister,
  a move between cities, a drink that changes, a birthday... each fact said once (or said
  and later changed) among ordinary chat, with distractors about other people. Questions
  are what the user would ask later ("What's my job?").
* :func:`documents` — a PDF and a Markdown file about a fictional town, with facts on known
  pages among filler prose.
* :func:`key_value` — nested key-value pairs (MemGPT's nested KV task): the value of a key
  may itself be a key, 0 to 3 levels deep.

Evidence strings are verbatim substrings of what is stored (message or passage), without
quotes or backslashes, so they can be found in a rendered prompt.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ember.core.evaluation.pools import (
    ALLERGENS,
    ASSISTANT_FILLER,
    CARS,
    CITIES,
    COLOURS,
    DISHES,
    DRINKS,
    GENRES,
    INSTRUMENTS,
    JOBS,
    MONTHS,
    NAMES,
    OPINIONS,
    PET_NAMES,
    SPECIES,
    TOPICS,
    WEATHER,
    WEEKDAYS,
)

TASKS = ("conversation", "documents", "kv", "changes", "dates")
# Histories start here (a fixed date: the same seed gives the same data any day).
START = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
# The eval's clock (runner.py): data is loaded and questions asked at this fixed time, after
# every generated session, so a run's prompts are the same each time.
ASKED_AT = START + timedelta(days=120)


@dataclass(frozen=True)
class Question:
    """One question with its gold answers and the evidence needed to answer it."""

    task: str
    qid: str
    text: str
    answers: tuple[str, ...]  # any of them contained in the reply counts as correct
    evidence: tuple[str, ...]  # all must be in the prompt the reply is written from
    group: str  # breakdown label: fact kind, page, nesting level
    distance: int | None = None  # conversation: messages said after the fact
    wrong: tuple[str, ...] = ()  # a reply holding any of them is wrong (an outdated value)


@dataclass(frozen=True)
class Turn:
    """One message of a generated history (``ember import-history`` JSON Lines row)."""

    role: str
    content: str
    time: str


@dataclass
class Conversation:
    """A multi-session history and questions about it."""

    turns: list[Turn]
    questions: list[Question]
    sessions: int


@dataclass
class Document:
    """A generated document: a PDF (``pages``) or a Markdown file (``sections``)."""

    name: str
    pages: list[list[str]] = field(default_factory=list)  # PDF: paragraphs per page
    sections: list[tuple[str, list[str]]] = field(default_factory=list)  # Markdown


@dataclass
class Documents:
    """Documents and questions about facts on known pages."""

    documents: list[Document]
    questions: list[Question]


@dataclass
class KeyValue:
    """Archival passages holding key-value pairs, and lookup questions."""

    passages: list[str]
    questions: list[Question]


def _pick(rng: random.Random, pool: list[str], used: set[str]) -> str:
    """A value from ``pool`` not used yet in this world (names never collide)."""
    choices = [v for v in pool if v not in used]
    value = rng.choice(choices)
    used.add(value)
    return value


# -- conversation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fact:
    kind: str
    # Said in this order, in different sessions; the last one counts. A pair is a lead-in
    # and the statement in the user's next message (the answer sits next to the words of
    # the question, not in them).
    says: tuple[str | tuple[str, str], ...]
    question: str
    answers: tuple[str, ...]
    evidence: str  # substring of the last statement


def _user_facts(rng: random.Random, used: set[str]) -> list[_Fact]:
    job = _pick(rng, JOBS, used)
    old, new = _pick(rng, CITIES, used), _pick(rng, CITIES, used)
    species, pet = _pick(rng, SPECIES, used), _pick(rng, PET_NAMES, used)
    d1, d2 = _pick(rng, DRINKS, used), _pick(rng, DRINKS, used)
    sister, partner = _pick(rng, NAMES, used), _pick(rng, NAMES, used)
    month, day = rng.choice(MONTHS), rng.randint(2, 28)
    moved = rng.choice(MONTHS)
    allergen = _pick(rng, ALLERGENS, used)
    instrument = _pick(rng, INSTRUMENTS, used)
    dish = _pick(rng, DISHES, used)
    colour, car = rng.choice(COLOURS), _pick(rng, CARS, used)
    dest = _pick(rng, CITIES, used)
    return [
        _Fact(
            "job",
            (("Guess what I do for a living?", f"I'm a {job}, at a small place in town."),),
            "What's my job?",
            (job,),
            f"I'm a {job}",
        ),
        _Fact(
            "city",
            (
                f"I live in {old}, close to the old market.",
                f"Big news: I moved from {old} to {new} in {moved}!",
            ),
            "Which city do I live in now?",
            (new,),
            f"moved from {old} to {new}",
        ),
        _Fact(
            "pet",
            ((f"We adopted a {species} last month!", f"We named him {pet}."),),
            f"What is my {species} called?",
            (pet,),
            f"We named him {pet}",
        ),
        _Fact(
            "drink",
            (
                f"I start every morning with {d1}.",
                f"I've switched from {d1} to {d2} in the mornings.",
            ),
            "What do I drink in the mornings these days?",
            (d2,),
            f"switched from {d1} to {d2}",
        ),
        _Fact(
            "sister",
            (
                (
                    "Did I ever tell you about my sister?",
                    f"Her name is {sister}, she is coming to stay next weekend.",
                ),
            ),
            "What's my sister's name?",
            (sister,),
            f"Her name is {sister}",
        ),
        _Fact(
            "birthday",
            (("My birthday is coming up soon.", f"It's on {month} {day}, I'd like a quiet one."),),
            "When is my birthday?",
            (f"{month} {day}", f"{day} {month}"),
            f"It's on {month} {day}",
        ),
        _Fact(
            "allergy",
            (f"I'm allergic to {allergen}, so I always read the labels.",),
            "What am I allergic to?",
            (allergen,),
            f"allergic to {allergen}",
        ),
        _Fact(
            "instrument",
            (f"I've started taking {instrument} lessons on Thursdays.",),
            "Which instrument am I learning?",
            (instrument,),
            f"taking {instrument} lessons",
        ),
        _Fact(
            "partner",
            (
                (
                    "My partner just got a new job at the hospital.",
                    f"{partner} had wanted that job for years.",
                ),
            ),
            "What's my partner's name?",
            (partner,),
            f"{partner} had wanted that job",
        ),
        _Fact(
            "dish",
            (f"My favourite dish is {dish}, nothing beats it.",),
            "What's my favourite dish?",
            (dish,),
            f"My favourite dish is {dish}",
        ),
        _Fact(
            "car",
            (f"I drive an old {colour} {car} that never wants to start.",),
            "What car do I drive?",
            (car,),
            f"I drive an old {colour} {car}",
        ),
        _Fact(
            "trip",
            (f"I'm flying to {dest} in {rng.choice(MONTHS)} for a friend's wedding.",),
            "Where am I flying for the wedding?",
            (dest,),
            f"flying to {dest}",
        ),
    ]


def _filler_user(rng: random.Random, used: set[str]) -> str:
    """Ordinary chat, some of it about other people (distractors that never repeat one of
    the user's own values, so every question has one right answer)."""

    def other(pool: list[str]) -> str:
        return rng.choice([v for v in pool if v not in used])

    templates: list[Callable[[], str]] = [
        lambda: f"The weather was {rng.choice(WEATHER)} today.",
        lambda: f"I watched a {rng.choice(GENRES)} film last night. It was {rng.choice(OPINIONS)}.",
        lambda: "Can you suggest something quick for dinner?",
        lambda: f"Work was {rng.choice(OPINIONS)} this week.",
        lambda: "I went for a long walk this morning before breakfast.",
        lambda: f"I'm reading a book about {rng.choice(TOPICS)}.",
        lambda: f"Should I repaint the kitchen {rng.choice(COLOURS)}?",
        lambda: f"My friend {other(NAMES)} is a {other(JOBS)} and loves it.",
        lambda: f"My neighbour's {other(SPECIES)} is called {other(PET_NAMES)}.",
        lambda: f"I'm thinking about a weekend trip to {other(CITIES)}.",
        lambda: f"My colleague drinks {other(DRINKS)} all day long.",
        lambda: "Any tips for sleeping better?",
        lambda: f"I cooked {other(DISHES)} for friends on {rng.choice(WEEKDAYS)}.",
        lambda: "I need to remember to call the plumber.",
        lambda: f"It's been {rng.choice(WEATHER)} all week, I'm tired of it.",
        lambda: "What's a good way to start running again?",
        lambda: f"My friend's sister is a {other(JOBS)} in {other(CITIES)}.",
        lambda: "There is a new job opening at work, but it's not for me.",
        lambda: f"My cousin's birthday party was on {rng.choice(WEEKDAYS)}.",
        lambda: f"What should I name my new {rng.choice(['plant', 'bike', 'laptop'])}?",
        lambda: f"My colleague {other(NAMES)} is allergic to cats.",
        lambda: f"A friend of mine plays the {other(INSTRUMENTS)} in a band.",
        lambda: "Do you know any good songs for a wedding?",
        lambda: f"My brother lives in {other(CITIES)} and keeps inviting me.",
    ]
    return rng.choice(templates)()


def conversation(seed: int, size: int, *, sessions: int = 8, exchanges: int = 14) -> Conversation:
    """A history of ``sessions`` sessions of ``exchanges`` user/assistant pairs, facts
    buried among them, and ``size`` questions (at most one per fact)."""
    rng = random.Random(f"conversation-{seed}")
    used: set[str] = set()
    name = _pick(rng, NAMES, used)
    facts = _user_facts(rng, used)
    # Slots: (session, exchange). Statements of a changing fact go to increasing sessions;
    # a lead-in and its statement take two consecutive exchanges.
    slots = [(s, e) for s in range(sessions) for e in range(1, exchanges - 1)]
    rng.shuffle(slots)
    placed: dict[tuple[int, int], str] = {(0, 0): f"Hi, I'm {name}. Nice to meet you."}
    last_said: dict[str, tuple[int, int]] = {}
    leads: set[tuple[int, int]] = set()
    for fact in facts:
        after = -1
        for n, said in enumerate(fact.says):
            lead, statement = said if isinstance(said, tuple) else (None, said)
            latest = sessions - len(fact.says) + n  # leave sessions for the later statements
            slot = next(
                (s, e)
                for s, e in slots
                if after < s <= latest
                and (s, e) not in placed
                and (lead is None or ((s, e - 1) not in placed and e > 1))
            )
            if lead is not None:
                placed[(slot[0], slot[1] - 1)] = lead
                leads.add((slot[0], slot[1] - 1))
            placed[slot] = statement
            after = slot[0]
            last_said[fact.kind] = slot
    turns: list[Turn] = []
    index: dict[tuple[int, int], int] = {}
    for s in range(sessions):
        when = START + timedelta(days=9 * s + rng.randint(0, 4), hours=rng.randint(0, 11))
        for e in range(exchanges):
            text = placed.get((s, e)) or _filler_user(rng, used)
            index[(s, e)] = len(turns)
            turns.append(Turn("user", text, when.isoformat()))
            when += timedelta(seconds=rng.randint(20, 90))
            reply = "Oh? Tell me more!" if (s, e) in leads else rng.choice(ASSISTANT_FILLER)
            turns.append(Turn("assistant", reply, when.isoformat()))
            when += timedelta(seconds=rng.randint(30, 240))
    order = list(facts)
    rng.shuffle(order)
    questions = [
        Question(
            task="conversation",
            qid=f"conversation-{i}-{fact.kind}",
            text=fact.question,
            answers=fact.answers,
            evidence=(fact.evidence,),
            group=fact.kind,
            distance=len(turns) - 1 - index[last_said[fact.kind]],
        )
        for i, fact in enumerate(order[:size])
    ]
    return Conversation(turns, questions, sessions)
