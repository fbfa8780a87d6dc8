"""Timestamps: ISO 8601 local time with its UTC offset, as MemGPT's events show them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, datetime, timezone

from ember.core.kernel.errors import InvalidInput, quoted

_FIXED: list[datetime] = []  # the innermost fixed_clock, if any


def now() -> datetime:
    """The current local time, aware, to the second (or the fixed clock's time)."""
    if _FIXED:
        return _FIXED[-1]
    return datetime.now().astimezone().replace(microsecond=0)


@contextlib.contextmanager
def fixed_clock(at: datetime) -> Iterator[None]:
    """Inside, :func:`now` is ``at``: every time written to memory and shown in a prompt
    is the same from run to run (``ember eval`` and the real-model tests: the time is in
    the prompt, and the bundled model answers differently to a different prompt)."""
    _FIXED.append(at.astimezone().replace(microsecond=0))
    try:
        yield
    finally:
        _FIXED.pop()


def now_iso() -> str:
    """The current local time as ISO 8601 with offset."""
    return now().isoformat()


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601; naive times are taken as local time."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(
            f"{quoted(value)} is not an ISO 8601 time (e.g. 2024-05-01T14:30:00)."
        ) from exc
    try:
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()
        # Every stored time must also be shown in local time and compared in UTC.
        parsed.astimezone(timezone.utc)
        parsed.astimezone()
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{quoted(value)} is outside the range of times Ember can store "
            "(years 1 to 9999 in every time zone)."
        ) from None
    return parsed


def normalize_iso(value: str) -> str:
    """ISO 8601 with offset, to the second."""
    return parse_iso(value).replace(microsecond=0).isoformat()


def parse_day(value: str) -> date:
    """Parse a ``YYYY-MM-DD`` date with a message fit for the agent."""
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(f"{quoted(value)} is not a date in YYYY-MM-DD format.") from exc


def human_time(value: str | datetime) -> str:
    """A compact local time for prompts, e.g. ``2026-11-21 01:05:09 PM +0100``."""
    dt = parse_iso(value) if isinstance(value, str) else value
    return dt.astimezone().strftime("%Y-%m-%d %I:%M:%S %p %z")
