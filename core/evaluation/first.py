"""The ``first`` task's world: a new user's first conversation, generated from a seed.

Each conversation is what a person says in their first minutes with Ember: a greeting with
their name, a few facts about themselves said in passing among ordinary messages (some
about other people), then questions about those facts later in the same conversation, and
more after a restart. Facts, phrasings and fillers are drawn from the word pools, never the
example of the issue that asked for this task (Dana, a violin and a cat called Biscuit are
left out), so that no prompt can be tuned to one conversation.

Scoring of the ``human`` core memory block (:func:`score_block`): a written line is
*right* when it holds one of the user's own values, *wrong* when it holds a value the user
gave for someone else or never said (or shares too few words with anything the user said),
and neutral otherwise.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ember.core.evaluation.pools import (
    ALLERGENS,
    CITIES,
    DISHES,
    GENRES,
    INSTRUMENTS,
    JOBS,
    NAMES,
    OPINIONS,
    PET_NAMES,
    SPECIES,
    TOPICS,
    WEATHER,
    WEEKDAYS,
)

# The issue's own example never appears in a generated conversation.
EXCLUDED = frozenset({"Dana", "violinist", "Biscuit", "violin"})
# Facts per conversation, besides the name.
FACTS_PER_CONVERSATION = 3
# Conversations per unit of ``--size`` (two questions per conversation and phase count as
# one unit: size 6 gives 3 conversations of 4 facts).
SIZE_PER_CONVERSATION = 2
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "i'm",
        "im",
        "my",
        "me",
        "you",
        "your",
        "is",
        "are",
        "was",
        "be",
        "to",
        "of",
        "in",
        "on",
        "at",
        "and",
        "or",
        "but",
        "so",
        "it",
        "its",
        "it's",
        "for",
        "with",
        "that",
        "this",
        "as",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "not",
        "no",
        "yes",
        "user",
        "user's",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "him",
        "we",
        "our",
        "name",
        "called",
        "named",
    ]
)


@dataclass(frozen=True)
class Fact:
    """One thing the user says about themselves, and how it is asked about."""

    kind: str
    value: str  # what a right answer contains
    said: str  # the message that says it
    asked: tuple[str, str]  # the question in the session, and after the restart


@dataclass(frozen=True)
class Message:
    """One user message of the conversation: a fact (``kind``) or ordinary chat (``""``)."""

    text: str
    kind: str = ""


@dataclass(frozen=True)
class FirstConversation:
    """A first conversation: what the user says, then the questions of each phase."""

    name: str
    messages: tuple[Message, ...]
    facts: tuple[Fact, ...]
    others: frozenset[str]  # values the user gave for other people (distractors)

    def questions(self, phase: int) -> list[tuple[Fact, str]]:
        """The questions of phase 0 (same session) or 1 (after the restart), each with
        the fact it asks about, in a seeded order."""
        order = list(self.facts)
        random.Random(f"{self.name}-{phase}").shuffle(order)
        return [(f, f.asked[phase]) for f in order]


def _pool(values: Sequence[str]) -> list[str]:
    return [v for v in values if v not in EXCLUDED]


def _take(rng: random.Random, pool: Sequence[str], used: set[str]) -> str:
    value = rng.choice([v for v in _pool(pool) if v not in used])
    used.add(value)
    return value


def _fact_makers(rng: random.Random, used: set[str]) -> list[Callable[[], Fact]]:
    """One maker per kind of fact (each draws its values when called)."""

    def job() -> Fact:
        v = _take(rng, JOBS, used)
        said = rng.choice(
            [
                f"Long day today. I'm a {v}, so that's normal for me.",
                f"I work as a {v}, and this week has been busy.",
                f"Being a {v} keeps me on my feet all day.",
            ]
        )
        return Fact("job", v, said, ("What do I do for a living?", "What's my job?"))

    def pet() -> Fact:
        species, v = rng.choice(_pool(SPECIES)), _take(rng, PET_NAMES, used)
        said = rng.choice(
            [
                f"My {species} {v} woke me up at six this morning.",
                f"I have a {species} called {v}. He sleeps all day.",
                f"Sorry, {v}, my {species}, is walking across the keyboard.",
            ]
        )
        return Fact(
            "pet", v, said, (f"What is my {species} called?", f"What's my {species}'s name?")
        )

    def instrument() -> Fact:
        v = _take(rng, INSTRUMENTS, used)
        said = rng.choice(
            [
                f"I play the {v} in a small band on weekends.",
                f"I've been practising the {v} every evening this month.",
            ]
        )
        return Fact(
            "instrument", v, said, ("What instrument do I play?", "Which instrument do I play?")
        )

    def city() -> Fact:
        v = _take(rng, CITIES, used)
        said = rng.choice(
            [
                f"It has been {rng.choice(WEATHER)} here in {v} all week.",
                f"I live in {v}, near the river.",
            ]
        )
        return Fact("city", v, said, ("Where do I live?", "Which city do I live in?"))

    def sister() -> Fact:
        v = _take(rng, NAMES, used)
        said = rng.choice(
            [
                f"My sister {v} is coming to stay next weekend.",
                f"I had lunch with my sister {v} yesterday.",
            ]
        )
        return Fact("sister", v, said, ("What's my sister's name?", "What is my sister called?"))

    def dish() -> Fact:
        v = _take(rng, DISHES, used)
        said = f"My favourite food is {v}, I could eat it every day."
        return Fact("dish", v, said, ("What's my favourite food?", "What food do I love most?"))

    def allergy() -> Fact:
        v = _take(rng, ALLERGENS, used)
        said = f"I'm allergic to {v}, so I always read the labels."
        return Fact("allergy", v, said, ("What am I allergic to?", "What is my allergy?"))

    return [job, pet, instrument, city, sister, dish, allergy]


def _filler(rng: random.Random, used: set[str], others: set[str]) -> str:
    """Ordinary chat; some of it about other people, whose values become distractors."""

    def other(pool: Sequence[str]) -> str:
        value = _take(rng, pool, used)  # never one of the user's own values
        others.add(value)
        return value

    templates: list[Callable[[], str]] = [
        lambda: "Can you suggest something quick for dinner?",
        lambda: f"I watched a {rng.choice(GENRES)} film last night. It was {rng.choice(OPINIONS)}.",
        lambda: "Any tips for sleeping better?",
        lambda: f"I'm reading a book about {rng.choice(TOPICS)}.",
        lambda: "What's a good way to start running again?",
        lambda: f"My friend {other(NAMES)} is a {other(JOBS)} and loves it.",
        lambda: f"My neighbour's {rng.choice(_pool(SPECIES))} is called {other(PET_NAMES)}.",
        lambda: f"I might visit {other(CITIES)} on {rng.choice(WEEKDAYS)}.",
        lambda: "I need to remember to call the plumber.",
        lambda: "Do you know any good songs for a long drive?",
    ]
    return rng.choice(templates)()


def _conversation(rng: random.Random) -> FirstConversation:
    used: set[str] = set()
    others: set[str] = set()
    name = _take(rng, NAMES, used)
    makers = _fact_makers(rng, used)
    facts = [maker() for maker in rng.sample(makers, FACTS_PER_CONVERSATION)]
    greeting = rng.choice([f"Hi, I'm {name}.", f"Hello! My name is {name}.", f"Hey, {name} here."])
    # The first fact comes with the greeting, the others among ordinary messages.
    first = Fact("name", name, greeting, ("What's my name?", "Do you remember my name?"))
    messages = [Message(f"{greeting} {facts[0].said}", "name+" + facts[0].kind)]
    for fact in facts[1:]:
        messages.append(Message(_filler(rng, used, others)))
        messages.append(Message(fact.said, fact.kind))
    messages.append(Message(_filler(rng, used, others)))
    return FirstConversation(name, tuple(messages), (first, *facts), frozenset(others))


def first_conversations(seed: int, size: int) -> list[FirstConversation]:
    """``max(1, size // 2)`` first conversations of one person each, for ``seed``."""
    rng = random.Random(f"first-{seed}")
    return [_conversation(rng) for _ in range(max(1, size // SIZE_PER_CONVERSATION))]


# -- scoring the human block -------------------------------------------------------------


def contains_value(text: str, value: str) -> bool:
    """Whether ``value`` occurs in ``text`` as whole words, ignoring case."""
    return re.search(rf"(?<!\w){re.escape(value.lower())}(?!\w)", text.lower()) is not None


def _content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z][a-z']+", text.lower())
    return {w for w in words if w not in _STOP and len(w) > 2}


@dataclass(frozen=True)
class BlockScore:
    """How the ``human`` block came out: facts held, and the lines written."""

    facts: int  # stated facts
    facts_held: int  # whose value is in the block
    lines: int  # lines written (not in the block at the start)
    wrong: int
    wrong_lines: tuple[str, ...]


def score_block(conversation: FirstConversation, initial: str, final: str) -> BlockScore:
    """Score the ``human`` block ``final`` (which started as ``initial``)."""
    held = sum(contains_value(final, f.value) for f in conversation.facts)
    before = {line.strip() for line in initial.splitlines()}
    written = [ln.strip() for ln in final.splitlines() if ln.strip() and ln.strip() not in before]
    said = [_content_words(m.text) for m in conversation.messages]
    own = [f.value for f in conversation.facts]
    wrong: list[str] = []
    for line in written:
        mine = any(contains_value(line, v) for v in own)
        foreign = any(contains_value(line, v) for v in conversation.others)
        words = _content_words(line)
        supported = not words or max(len(words & s) / len(words) for s in said) >= 0.5
        if foreign or not (mine or supported):
            wrong.append(line)
    return BlockScore(len(conversation.facts), held, len(written), len(wrong), tuple(wrong))
