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

from ember.core.evaluation import pools
from ember.core.evaluation.generator import _pick

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
    return _pick(rng, _pool(pool), used)


def _fact_makers(rng: random.Random, used: set[str]) -> list[Callable[[], Fact]]:
    """One maker per kind of fact (each draws its values when called), in a fixed order:
    the seed picks makers by position."""

    def plain(
        kind: str, pool: Sequence[str], phrasings: tuple[str, ...], asked: tuple[str, str]
    ) -> Callable[[], Fact]:
        """A fact that is one value of ``pool``, said in one of ``phrasings`` ({}: the
        value; a single phrasing draws nothing, so a seed gives the same conversations)."""

        def make() -> Fact:
            v = _take(rng, pool, used)
            said = rng.choice(phrasings) if len(phrasings) > 1 else phrasings[0]
            return Fact(kind, v, said.format(v), asked)

        return make

    def pet() -> Fact:
        species, v = rng.choice(_pool(pools.SPECIES)), _take(rng, pools.PET_NAMES, used)
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

    def city() -> Fact:
        v = _take(rng, pools.CITIES, used)
        said = rng.choice(
            [
                f"It has been {rng.choice(pools.WEATHER)} here in {v} all week.",
                f"I live in {v}, near the river.",
            ]
        )
        return Fact("city", v, said, ("Where do I live?", "Which city do I live in?"))

    return [
        plain(
            "job",
            pools.JOBS,
            (
                "Long day today. I'm a {}, so that's normal for me.",
                "I work as a {}, and this week has been busy.",
                "Being a {} keeps me on my feet all day.",
            ),
            ("What do I do for a living?", "What's my job?"),
        ),
        pet,
        plain(
            "instrument",
            pools.INSTRUMENTS,
            (
                "I play the {} in a small band on weekends.",
                "I've been practising the {} every evening this month.",
            ),
            ("What instrument do I play?", "Which instrument do I play?"),
        ),
        city,
        plain(
            "sister",
            pools.NAMES,
            (
                "My sister {} is coming to stay next weekend.",
                "I had lunch with my sister {} yesterday.",
            ),
            ("What's my sister's name?", "What is my sister called?"),
        ),
        plain(
            "dish",
            pools.DISHES,
            ("My favourite food is {}, I could eat it every day.",),
            ("What's my favourite food?", "What food do I love most?"),
        ),
        plain(
            "allergy",
            pools.ALLERGENS,
            ("I'm allergic to {}, so I always read the labels.",),
            ("What am I allergic to?", "What is my allergy?"),
        ),
    ]


def _filler(rng: random.Random, used: set[str], others: set[str]) -> str:
    """Ordinary chat; some of it about other people, whose values become distractors."""

    def other(pool: Sequence[str]) -> str:
        value = _take(rng, pool, used)  # never one of the user's own values
        others.add(value)
        return value

    templates: list[Callable[[], str]] = [
        lambda: "Can you suggest something quick for dinner?",
        lambda: (
            f"I watched a {rng.choice(pools.GENRES)} film last night. "
            f"It was {rng.choice(pools.OPINIONS)}."
        ),
        lambda: "Any tips for sleeping better?",
        lambda: f"I'm reading a book about {rng.choice(pools.TOPICS)}.",
        lambda: "What's a good way to start running again?",
        lambda: f"My friend {other(pools.NAMES)} is a {other(pools.JOBS)} and loves it.",
        lambda: (
            f"My neighbour's {rng.choice(_pool(pools.SPECIES))} is called {other(pools.PET_NAMES)}."
        ),
        lambda: f"I might visit {other(pools.CITIES)} on {rng.choice(pools.WEEKDAYS)}.",
        lambda: "I need to remember to call the plumber.",
        lambda: "Do you know any good songs for a long drive?",
    ]
    return rng.choice(templates)()


def _conversation(rng: random.Random) -> FirstConversation:
    used: set[str] = set()
    others: set[str] = set()
    name = _take(rng, pools.NAMES, used)
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
