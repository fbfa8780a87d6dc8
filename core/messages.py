"""What the agent reads: the contents of the events and results in its FIFO queue.

MemGPT's event messages are JSON with a ``type``, their content and the local time. Every
writer of the queue — the loop, context management, the few-shot examples — builds them
here, so the examples can never contradict what the runtime shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ember.core import timeutil

_HIDDEN = "[This is an automated system message hidden from the user] "
HEARTBEAT_REQUESTED = _HIDDEN + "Function called using request_heartbeat=true, returning control."
HEARTBEAT_FAILED = _HIDDEN + "Function call failed, returning control."
HEARTBEAT_TIMED = (
    _HIDDEN + "Timed heartbeat: you may reflect, tidy your memory, or message the user if "
    "there is a reason to."
)
HEARTBEAT_REPLY = _HIDDEN + "You have not answered the user yet. Reply now with send_message."

STEP_CUT = (
    "Your step was cut off at {} tokens, the most one step may use, so it was not a "
    "complete step. Write a shorter one."
)
REPLY_AT_LIMIT = (
    "This reply reached the limit of {} characters for one message, so its end may be missing."
)


def event_time(when: datetime | None = None) -> str:
    """A time as events show it (local time; now by default)."""
    return timeutil.human_time(when or timeutil.now())


def user_message(text: str, when: datetime | None = None) -> dict[str, Any]:
    """A user message as it is queued and shown to the model (stable once written)."""
    return {"type": "user_message", "message": text, "time": event_time(when)}


def heartbeat(reason: str, when: datetime | None = None) -> dict[str, Any]:
    """A heartbeat event: the agent runs again for ``reason``."""
    return {"type": "heartbeat", "reason": reason, "time": event_time(when)}


def function_result(status: str, message: str, when: datetime | None = None) -> dict[str, Any]:
    """The result of a function call: ``OK`` or ``Failed`` and its message."""
    return {"status": status, "message": message, "time": event_time(when)}


def login(last: datetime | None, when: datetime | None = None) -> dict[str, Any]:
    """The start of a session, with the time of the one before."""
    previous = event_time(last) if last is not None else "never"
    return {"type": "login", "last_login": previous, "time": event_time(when)}


def system_alert(message: str, when: datetime | None = None) -> dict[str, Any]:
    """A system alert to the agent (memory pressure)."""
    return {"type": "system_alert", "message": message, "time": event_time(when)}
