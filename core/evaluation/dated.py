"""The ``dates`` task of ``ember eval``: questions that only a date answers.

A fictional user's sessions on different days of the six weeks before the eval's clock
(``generator.ASKED_AT``), each day with a few of the same kinds of news told again with
new values ("For dinner I made pad thai."), among ordinary chat. Questions name the day,
relatively ("yesterday", "last Thursday", "three days ago") or absolutely ("on 14 April",
"on Friday, April 18"): every statement of that kind matches the question's words, only
its day tells the right one. And two "When did I …?" questions, whose answer is the day a
thing began (the memory must be shown with its time).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from ember.core.evaluation.generator import (
    ASKED_AT,
    Conversation,
    Question,
    Turn,
    _filler_user,
    _pick,
)
from ember.core.evaluation.pools import (
    ASSISTANT_FILLER,
    CITIES,
    DISHES,
    INSTRUMENTS,
    JOBS,
    NAMES,
    TOPICS,
)

NUMBER_WORDS = ("two", "three", "four", "five", "six")


@dataclass(frozen=True)
class _Kind:
    """News told on several days: its statement, and the question with ``{when}``."""

    name: str
    pool: list[str]
    says: str  # with {value}
    asks: str  # with {when}
    evidence: str  # with {value}: the part of ``says`` that must be in the prompt


KINDS = (
    _Kind(
        "dinner",
        DISHES,
        "For dinner I made {value}, it turned out well.",
        "What did I make for dinner {when}?",
        "For dinner I made {value}",
    ),
    _Kind(
        "coffee",
        NAMES,
        "I had coffee with {value} this afternoon.",
        "Who did I have coffee with {when}?",
        "coffee with {value}",
    ),
    _Kind(
        "train",
        CITIES,
        "I took the train to {value} for the day.",
        "Where did I take the train to {when}?",
        "the train to {value}",
    ),
    _Kind(
        "documentary",
        TOPICS,
        "I watched a documentary about {value} tonight.",
        "What was the documentary I watched {when} about?",
        "a documentary about {value}",
    ),
)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def when_phrase(rng: random.Random, day: date, today: date) -> tuple[str, str]:
    """How a question names ``day`` (before ``today``), and its group."""
    back = (today - day).days
    if back == 1:
        return "yesterday", "relative"
    if back < 7:
        weekday = day.strftime("%A")
        choices = [f"last {weekday}", f"on {weekday}"]
        if back - 2 < len(NUMBER_WORDS):
            choices.append(f"{NUMBER_WORDS[back - 2]} days ago")
        return rng.choice(choices), "relative"
    month, weekday = day.strftime("%B"), day.strftime("%A")
    return (
        rng.choice(
            [
                f"on {day.day} {month}",
                f"on {month} {_ordinal(day.day)}",
                f"on {weekday}, {month} {day.day}",
            ]
        ),
        "absolute",
    )


def _answers_for_day(day: date) -> tuple[str, ...]:
    month = day.strftime("%B")
    return (f"{month} {day.day}", f"{day.day} {month}", f"{month} {_ordinal(day.day)}", str(day))


def dated(seed: int, size: int, *, sessions: int = 10, exchanges: int = 10) -> Conversation:
    """``sessions`` sessions on different days, ``size`` questions naming days."""
    rng = random.Random(f"dates-{seed}")
    today = ASKED_AT.date()
    used: set[str] = set()
    backs = sorted({1, *rng.sample(range(2, 7), 2), *rng.sample(range(8, 43), sessions - 3)})
    days = [today - timedelta(days=b) for b in reversed(backs)]  # oldest first
    said: dict[tuple[int, int], tuple[str, str]] = {}  # (session, exchange) -> text, kind
    asked: list[tuple[int, _Kind, str]] = []
    for s in range(sessions):
        slots = rng.sample(range(1, exchanges), exchanges - 1)
        kinds = [k for k in KINDS if rng.random() < 0.6] or [rng.choice(KINDS)]
        for kind in kinds:
            if not [v for v in kind.pool if v not in used]:
                continue
            value = _pick(rng, kind.pool, used)
            said[(s, slots.pop())] = (kind.says.format(value=value), kind.name)
            asked.append((s, kind, value))
    instrument, job = _pick(rng, INSTRUMENTS, used), _pick(rng, JOBS, used)
    begun = rng.sample(range(sessions - 2), 2)
    starts = [
        (
            f"Today I had my first {instrument} lesson!",
            f"My {instrument} lesson went well again.",
            f"When did I have my first {instrument} lesson?",
        ),
        (
            f"I started my new job as a {job} today.",
            f"The new job as a {job} is going well.",
            "When did I start my new job?",
        ),
    ]
    when_questions = []
    for s, (first, again, question) in zip(begun, starts, strict=True):
        free = [e for e in range(1, exchanges) if (s, e) not in said]
        said[(s, rng.choice(free))] = (first, "start")
        for later in rng.sample(range(s + 1, sessions), 1):
            free = [e for e in range(1, exchanges) if (later, e) not in said]
            if free:
                said[(later, rng.choice(free))] = (again, "again")
        when_questions.append((question, days[s], first))
    turns: list[Turn] = []
    for s, day in enumerate(days):
        when = ASKED_AT.replace(year=day.year, month=day.month, day=day.day)
        when = when.replace(hour=rng.randint(10, 19), minute=rng.randint(0, 59))
        for e in range(exchanges):
            text = said[(s, e)][0] if (s, e) in said else _filler_user(rng, used)
            if e == 0:
                text = rng.choice(["Hi again!", "Hello, me again.", "Evening!"])
            turns.append(Turn("user", text, when.isoformat()))
            when += timedelta(seconds=rng.randint(20, 90))
            turns.append(Turn("assistant", rng.choice(ASSISTANT_FILLER), when.isoformat()))
            when += timedelta(seconds=rng.randint(30, 240))
    rng.shuffle(asked)
    n_when = min(len(when_questions), max(1, size // 5)) if size > 1 else 0
    questions = [
        _dated_question(rng, i, kind, value, days[s], today)
        for i, (s, kind, value) in enumerate(asked[: size - n_when])
    ]
    for question, day, first in when_questions[:n_when]:
        questions.append(
            Question(
                task="dates",
                qid=f"dates-{len(questions)}-when",
                text=question,
                answers=_answers_for_day(day),
                evidence=(first.rstrip("!."),),
                group="when",
            )
        )
    return Conversation(turns, questions, sessions)


def _dated_question(
    rng: random.Random, i: int, kind: _Kind, value: str, day: date, today: date
) -> Question:
    phrase, group = when_phrase(rng, day, today)
    return Question(
        task="dates",
        qid=f"dates-{i}-{kind.name}",
        text=kind.asks.format(when=phrase),
        answers=(value,),
        evidence=(kind.evidence.format(value=value),),
        group=group,
    )
