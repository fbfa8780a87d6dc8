"""Messages at the centre: their roles and kinds, the contents of each kind, and the one
codec between those and the JSON that the database, the prompt and exports hold.

MemGPT's event messages are JSON with a ``type``, their content and the local time. Every
writer of the queue — the loop, context management, the few-shot examples — builds them
here, so the examples can never contradict what the runtime shows. Every reader — the
prompt renderers, the transcript, export and import — reads them through :func:`encode`,
:func:`decode` and :func:`part` (in the spirit of simonw/llm's ``parts.py`` and
``serialization.py``).

Roles and kinds are enums whose values are the strings stored in the ``messages`` table,
so the database file and exports read exactly as before. A kind this version does not know
(from a newer export) stays as its text, is shown to the model as its JSON, and is not
shown in the transcript.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Literal, TypedDict

from ember.core.kernel import clock
from ember.core.kernel.events import NoticeKind
from ember.core.kernel.jsontypes import JSONLike, JSONObject, as_object


class _Text(str, Enum):
    """An enum whose members are their text in SQL, JSON, f-strings and ``str()`` alike
    (StrEnum, which Python 3.10 lacks)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)


class Role(_Text):
    """Who a message is from, as the ``messages.role`` column holds it."""

    USER = "user"  # the user's messages and every event (heartbeats, logins, alerts)
    ASSISTANT = "assistant"  # the agent's steps
    SYSTEM = "system"
    TOOL = "tool"  # function results


class Kind(_Text):
    """What a message is, as the ``messages.kind`` column holds it."""

    USER_MESSAGE = "user_message"
    LOGIN = "login"
    HEARTBEAT = "heartbeat"
    MEMORY_PRESSURE = "memory_pressure"  # a system alert: the context is nearly full
    STEP = "step"  # the agent's thoughts and one function call
    INVALID_STEP = "invalid_step"  # what the model wrote when it was not a valid step
    FUNCTION_RESULT = "function_result"
    # A reply the user stopped: what had been streamed, kept in recall (out of context) so
    # a transcript shows the turn the same way before and after a restart.
    CANCELLED_REPLY = "cancelled_reply"
    # What the user was told during a turn (a flush, a long message cut, an error), kept in
    # recall (out of context, not searchable) so the transcript shows it after a restart.
    NOTICE = "notice"


ROLES = tuple(r.value for r in Role)


def role_of(text: str) -> Role:
    """The role stored as ``text`` (the table's CHECK constraint admits no other)."""
    return Role(text)


def kind_of(text: str) -> Kind | str:
    """The kind stored as ``text``; an unknown kind stays as its text."""
    try:
        return Kind(text)
    except ValueError:
        return text


# -- contents of each kind, as stored (key order is the stored order) ----------------------


class UserMessageContent(TypedDict):
    type: Literal["user_message"]
    message: str
    time: str


class ImportedUserMessageContent(UserMessageContent):
    imported: bool  # from import-history


class HeartbeatContent(TypedDict):
    type: Literal["heartbeat"]
    reason: str
    time: str


class LoginContent(TypedDict):
    type: Literal["login"]
    last_login: str
    time: str


class SystemAlertContent(TypedDict):
    type: Literal["system_alert"]
    message: str
    time: str


class SystemRequestContent(TypedDict):
    type: Literal["system_alert"]
    message: str


class FunctionResultContent(TypedDict):
    status: str  # "OK" or "Failed"
    message: str
    time: str


class StepContent(TypedDict):
    thoughts: str
    function: str
    arguments: JSONObject


class ImportedStepContent(StepContent):
    imported: bool  # from import-history


class InvalidStepContent(TypedDict):
    raw: str


class CancelledContent(TypedDict):
    type: Literal["cancelled"]
    message: str


class NoticeContent(TypedDict):
    type: Literal["notice"]
    kind: NoticeKind
    message: str


class SummaryContent(TypedDict):
    type: Literal["summary"]
    message: str


# -- the codec -------------------------------------------------------------------------------


def encode(content: JSONLike) -> str:
    """A message's content as the database, the prompt and the token counts hold it."""
    return json.dumps(content, ensure_ascii=False)


def decode(text: str) -> JSONObject:
    """A stored content back as JSON (a stored content is always an object)."""
    return as_object(json.loads(text))


@dataclass(frozen=True)
class UserSaid:
    """A user message."""

    text: str


@dataclass(frozen=True)
class Step:
    """One step of the agent: its thoughts and one function call."""

    thoughts: str
    function: str
    arguments: JSONObject

    @property
    def reply(self) -> str | None:
        """The message sent to the user, if the step sends one."""
        if self.function != "send_message":
            return None
        return str(self.arguments.get("message", ""))


@dataclass(frozen=True)
class Result:
    """A function's result."""

    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "OK"


@dataclass(frozen=True)
class Alert:
    """A system alert to the agent (memory pressure): the agent's, not the user's."""

    message: str


@dataclass(frozen=True)
class Notice:
    """What the user was told during a turn (SystemNotice, kept)."""

    kind: str
    message: str


@dataclass(frozen=True)
class Stopped:
    """A reply the user stopped: what had been streamed of it."""

    message: str


@dataclass(frozen=True)
class Other:
    """Every other message (a login, a heartbeat, an invalid step, an unknown kind)."""

    kind: Kind | str
    content: JSONObject


Part = UserSaid | Step | Result | Alert | Stopped | Notice | Other


def part(kind: Kind | str, content: JSONObject, text: str = "") -> Part:
    """A stored message as a typed record (``text``: its searchable text). Missing or
    ill-typed fields read as empty, as they always have."""
    if kind == Kind.USER_MESSAGE:
        return UserSaid(text or str(content.get("message", "")))
    if kind == Kind.STEP:
        arguments = content.get("arguments") or {}
        return Step(
            str(content.get("thoughts", "")),
            str(content.get("function", "")),
            as_object(arguments),
        )
    if kind == Kind.FUNCTION_RESULT:
        return Result(str(content.get("status")), str(content.get("message")))
    if kind == Kind.MEMORY_PRESSURE:
        return Alert(str(content.get("message", "")))
    if kind == Kind.CANCELLED_REPLY:
        return Stopped(str(content.get("message", "")))
    if kind == Kind.NOTICE:
        return Notice(str(content.get("kind", "info")), str(content.get("message", "")))
    return Other(kind, content)


# -- what the agent reads ----------------------------------------------------------------------

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
    return clock.human_time(when or clock.now())


def user_message(text: str, when: datetime | None = None) -> UserMessageContent:
    """A user message as it is queued and shown to the model (stable once written)."""
    return {"type": "user_message", "message": text, "time": event_time(when)}


def heartbeat(reason: str, when: datetime | None = None) -> HeartbeatContent:
    """A heartbeat event: the agent runs again for ``reason``."""
    return {"type": "heartbeat", "reason": reason, "time": event_time(when)}


def function_result(
    status: str, message: str, when: datetime | None = None
) -> FunctionResultContent:
    """The result of a function call: ``OK`` or ``Failed`` and its message."""
    return {"status": status, "message": message, "time": event_time(when)}


def login(last: datetime | None, when: datetime | None = None) -> LoginContent:
    """The start of a session, with the time of the one before."""
    previous = event_time(last) if last is not None else "never"
    return {"type": "login", "last_login": previous, "time": event_time(when)}


def system_alert(message: str, when: datetime | None = None) -> SystemAlertContent:
    """A system alert to the agent (memory pressure)."""
    return {"type": "system_alert", "message": message, "time": event_time(when)}


def system_alert_request(message: str) -> SystemRequestContent:
    """A system alert asking the agent for something, never stored (the summary request)."""
    return {"type": "system_alert", "message": message}


def invalid_step(raw: str) -> InvalidStepContent:
    """What the model wrote when it was not a valid step (stored whole)."""
    return {"raw": raw}


def cancelled(streamed: str) -> CancelledContent:
    """What had been streamed of a reply the user stopped."""
    return {"type": "cancelled", "message": streamed}


def notice(kind: NoticeKind, message: str) -> NoticeContent:
    """What the user was told during a turn (never shown to the agent)."""
    return {"type": "notice", "kind": kind, "message": message}


def summary_event(summary: str) -> SummaryContent:
    """The head of the FIFO queue after evictions."""
    return {"type": "summary", "message": summary}
