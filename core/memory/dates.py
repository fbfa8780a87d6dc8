"""Dates in a question: "last Tuesday", "yesterday", "three weeks ago", "on 3 March",
"in April 2025", resolved against the conversation's today to a span of days.

Recall search uses the span to rank what was said on those days first (search.py); the
rest of the question is what the words are searched for. Hand-written English patterns, no
dependency: a question names at most one date here (the first found, most specific
pattern first), and a date without a year is the latest one not after today (questions
look back: "what did I say on 3 March?"). Weeks run Monday to Sunday.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (calendar.month_name[number].lower(), calendar.month_abbr[number].lower())
}
MONTHS["sept"] = 9
WEEKDAYS = {calendar.day_name[n].lower(): n for n in range(7)}
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "a few": 3,
}

_MONTH = "(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>\d{4}))?"
_WEEKDAY = "(?P<weekday>" + "|".join(WEEKDAYS) + ")"
_COUNT = "(?P<count>" + "|".join(sorted(NUMBERS, key=len, reverse=True)) + r"|\d{1,3})"
_UNIT = r"(?P<unit>day|week|month|year)s?"
_WEEKDAY_PREFIX = r"(?:on\s+)?(?:" + _WEEKDAY.replace("<weekday>", "<named>") + r",?\s+)?"


@dataclass(frozen=True)
class Span:
    """The days a question names, first and last included, and where it names them."""

    first: date
    last: date
    start: int  # the phrase's place in the question
    end: int

    def days(self) -> tuple[str, str]:
        """First and last day as ``YYYY-MM-DD``."""
        return self.first.isoformat(), self.last.isoformat()


def _pattern(body: str) -> re.Pattern[str]:
    return re.compile(r"\b" + body + r"\b", re.IGNORECASE)


def _latest(month: int, day: int, year: int | None, today: date) -> date | None:
    """The date ``day month year``, or without a year the latest not after ``today``
    (None when there is no such day: 30 February)."""
    for y in [year] if year else [today.year, today.year - 1, today.year - 4]:
        try:
            found = date(y, month, day)
        except ValueError:
            continue
        if year or found <= today:
            return found
    return None


def _month_span(month: int, year: int | None, today: date) -> tuple[date, date]:
    y = year or (today.year if month <= today.month else today.year - 1)
    return date(y, month, 1), date(y, month, calendar.monthrange(y, month)[1])


def _week_of(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def _months_back(today: date, n: int) -> tuple[date, date]:
    index = today.year * 12 + today.month - 1 - n
    return _month_span(index % 12 + 1, index // 12, today)


def _ago(count: int, unit: str, today: date) -> tuple[date, date]:
    if unit == "day":
        day = today - timedelta(days=count)
        return day, day
    if unit == "week":
        return _week_of(today - timedelta(weeks=count))
    if unit == "month":
        return _months_back(today, count)
    return date(today.year - count, 1, 1), date(today.year - count, 12, 31)


def _count(value: str) -> int:
    value = " ".join(value.lower().split())
    return NUMBERS[value] if value in NUMBERS else int(value)


def _before(today: date, weekday: int, *, strictly: bool = True) -> date:
    """The latest ``weekday`` before ``today`` (or today itself, unless ``strictly``)."""
    back = (today.weekday() - weekday) % 7
    return today - timedelta(days=back or (7 if strictly else 0))


# Each rule: a pattern and the kind of date it names (see _resolve), most specific first.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (_pattern(r"(?:on\s+)?(?P<year>\d{4})-(?P<m>\d{2})-(?P<day>\d{2})"), "iso"),
    (_pattern(_WEEKDAY_PREFIX + _DAY + r"(?:\s+of)?\s+" + _MONTH + _YEAR), "date"),
    (_pattern(_WEEKDAY_PREFIX + _MONTH + r"\s+" + _DAY + _YEAR), "date"),
    (_pattern(r"(?:the\s+)?day\s+before\s+yesterday"), "before_yesterday"),
    (_pattern(r"yesterday"), "yesterday"),
    (_pattern(r"today|this\s+morning|this\s+afternoon|this\s+evening|tonight"), "today"),
    (_pattern(_COUNT + r"\s+" + _UNIT + r"\s+ago"), "ago"),
    (_pattern(r"(?:in\s+)?the\s+(?:last|past)\s+" + _COUNT + r"\s+" + _UNIT), "within"),
    (_pattern(r"(?P<which>last|this|past|previous)\s+weekend"), "weekend"),
    (_pattern(r"(?P<which>last|this|past|previous)\s+" + _WEEKDAY), "weekday"),
    (_pattern(r"(?P<which>last|this|past|previous)\s+(?P<unit>week|month|year)"), "period"),
    (_pattern(r"(?:on\s+)" + _WEEKDAY), "weekday"),
    (_pattern(r"(?:in|of|during|since|early|late|mid)\s+" + _MONTH + _YEAR), "month"),
    (_pattern(_MONTH + r"\s+(?P<year>\d{4})"), "month"),
    (_pattern(r"in\s+(?P<year>(?:19|20)\d{2})"), "year"),
]


def _resolve(kind: str, m: re.Match[str], today: date) -> tuple[date, date] | None:
    g = m.groupdict()
    year = int(g["year"]) if g.get("year") else None
    if kind == "iso":
        day = _latest(int(g["m"]), int(g["day"]), year, today)
        return (day, day) if day else None
    if kind == "date":
        day = _latest(MONTHS[g["month"].lower()], int(g["day"]), year, today)
        return (day, day) if day else None
    if kind in ("yesterday", "before_yesterday", "today"):
        back = {"today": 0, "yesterday": 1, "before_yesterday": 2}[kind]
        day = today - timedelta(days=back)
        return day, day
    if kind == "ago":
        return _ago(_count(g["count"]), g["unit"].lower(), today)
    if kind == "within":
        count, unit = _count(g["count"]), g["unit"].lower()
        days = {"day": 1, "week": 7, "month": 31, "year": 366}[unit] * count
        return today - timedelta(days=days), today
    if kind == "weekend":
        this = g["which"].lower() == "this"
        saturday = _before(today, 5, strictly=not this)
        return saturday, saturday + timedelta(days=1)
    if kind == "weekday":
        this = (g.get("which") or "").lower() == "this"
        day = _before(today, WEEKDAYS[g["weekday"].lower()], strictly=not this)
        return day, day
    if kind == "period":
        unit, back = g["unit"].lower(), 0 if g["which"].lower() == "this" else 1
        return _ago(back, unit, today)
    if kind == "month":
        return _month_span(MONTHS[g["month"].lower()], year, today)
    return date(year or today.year, 1, 1), date(year or today.year, 12, 31)


def find(text: str, today: date) -> Span | None:
    """The span of days ``text`` names (see the module docstring), or None."""
    for pattern, kind in _RULES:
        for m in pattern.finditer(text):
            days = _resolve(kind, m, today)
            if days is not None:
                first, last = days
                return Span(first, min(last, max(first, today)), m.start(), m.end())
    return None


def without(text: str, span: Span) -> str:
    """``text`` without the words that named ``span`` ("What did I cook last Friday?" →
    "What did I cook?"): what the question is about, for the search."""
    rest = " ".join((text[: span.start] + text[span.end :]).split())
    return re.sub(r"\s+([?.!,])", r"\1", rest).lstrip(",;: ")


# "When did I…?", "What day was…?": asking when something was (not "When is my birthday?",
# whose answer is in the words, not in the day they were said).
_ASKS_WHEN = re.compile(
    r"^\W*(?:and\s+|so\s+)?(?:when|(?:what|which)\s+(?:day|date))\s+"
    r"(?:did|was|were|had|have|has)\b|\bhow\s+long\s+ago\b",
    re.IGNORECASE,
)


# A question, or a request for memories: "What did I say last Friday", "remind me…".
_ASKS = re.compile(
    r"\?|^\W*(?:what|when|where|who|whom|which|how|why|did|do|does|was|were|have|had|"
    r"tell|remind|show|list|recall|find|search)\b",
    re.IGNORECASE,
)


def asked(text: str, today: date) -> Span | None:
    """The days ``text`` names when it asks something (:func:`find`); None for a
    statement: "I've practised every evening this month." asks for nothing of this month."""
    return find(text, today) if _ASKS.search(text) else None


def about_time(text: str, today: date) -> bool:
    """Whether ``text`` asks when something was, or asks about days it names: a memory
    shown for it needs its day."""
    return bool(_ASKS_WHEN.search(text)) or asked(text, today) is not None


def said_on(day: date) -> str:
    """How a memory's day is written before its words: ``(Monday, 28 April 2025)``."""
    return f"({day.strftime('%A')}, {day.day} {day.strftime('%B %Y')})"
