"""Stored recall messages → what the chat view shows. Pure data, no Qt.

The engine stores every step (inner thoughts + one function call), every function result
and every event. The chat shows the user's messages and the agent's replies; everything
the agent did on the way to a reply (thoughts, calls, results) becomes that reply's
collapsible *details*. What the user was told during a turn (a flush, a long message cut,
the step cap, an error: the runtime keeps each one) becomes a notice; the agent's own
alerts (memory pressure) stay out of the user's view. A reply the user stopped shows what
had been streamed, marked stopped (the service records it).

This is the one renderer of a turn: the chat shows a history through it, and a turn that
has just ended is shown again through it from its stored messages (``Conversation``), so
the chat looks the same live and after a restart. Every turn starts with a stored message
(the user's, or a timed heartbeat), so the transcript of a history is the transcript of
its turns, one after another.

Also here: the one-line activity shown in a reply bubble while the agent works
(:func:`activity`, kept honest across a reply's steps by :class:`ReplyActivity`), and
the Markdown export of a conversation (:func:`to_markdown`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ember.core.api import (
    HEARTBEAT_TIMED,
    JSONObject,
    Kind,
    Notice,
    Other,
    Part,
    Result,
    Step,
    Stopped,
    UserSaid,
)

if TYPE_CHECKING:
    from ember.core.api import Message, Remembered
    from ember.core.kernel.events import Event

Role = Literal["user", "assistant", "notice"]
SEARCH_TOOLS = frozenset(
    {"archival_memory_search", "conversation_search", "conversation_search_date"}
)
MEMORY_TOOLS = frozenset({"core_memory_append", "core_memory_replace", "archival_memory_insert"})
STOPPED = "Stopped."
SUMMARISING = "Summarising older messages"


@dataclass(frozen=True)
class Detail:
    """One line of a reply's detail: an inner thought, a function call or its result."""

    kind: Literal["thought", "call", "result"]
    text: str
    ok: bool = True


@dataclass
class DisplayItem:
    """One bubble of the chat."""

    role: Role
    text: str
    time: str = ""
    details: list[Detail] = field(default_factory=list)
    stopped: bool = False  # a reply the user stopped: ``text`` is what was streamed
    remembered: tuple[Remembered, ...] = ()  # a reply's memories (memoryrows.py)


def short_time(iso: str, now: datetime | None = None) -> str:
    """``14:05`` for today, ``3 Mar 14:05`` for another day of this year, else with year."""
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    now = now or datetime.now(when.tzinfo)
    if when.date() == now.date():
        return when.strftime("%H:%M")
    if when.year == now.year:
        return f"{when.day} {when.strftime('%b %H:%M')}"
    return f"{when.day} {when.strftime('%b %Y %H:%M')}"


def format_call(name: str, arguments: JSONObject) -> str:
    """``name(arg="value", ...)`` without the heartbeat flag, long values shortened."""
    parts = []
    for key, value in arguments.items():
        if key == "request_heartbeat":
            continue
        text = json.dumps(value, ensure_ascii=False)
        if len(text) > 160:
            text = text[:157] + '…"'
        parts.append(f"{key}={text}")
    return f"{name}({', '.join(parts)})"


def call_details(thoughts: str, name: str, arguments: JSONObject) -> list[Detail]:
    """Details of one step: its thoughts, and its call unless it is the reply itself."""
    out = [Detail("thought", thoughts)] if thoughts.strip() else []
    if name != "send_message":
        out.append(Detail("call", format_call(name, arguments)))
    return out


def result_detail(status: str, message: str) -> Detail:
    """Detail of a function result."""
    text = message if len(message) <= 400 else message[:397] + "…"
    return Detail("result", f"{status}: {text}", ok=status == "OK")


def build_transcript(
    messages: Sequence[Message], remembered: Mapping[int, tuple[Remembered, ...]] | None = None
) -> list[DisplayItem]:
    """Turn stored messages (oldest first) into bubbles; a reply with the memories it was
    written from (``remembered``, by its message id: ``History.remembered``)."""
    remembered = remembered or {}
    items: list[DisplayItem] = []
    pending: list[Detail] = []
    last_time = ""
    for msg in messages:
        part, when = msg.part, msg.created_at
        if pending and _starts_turn(part):  # the previous turn ended without a reply
            items.append(DisplayItem("assistant", "", last_time, pending))
            pending = []
        if isinstance(part, UserSaid):
            items.append(DisplayItem("user", part.text, when))
        elif isinstance(part, Step):
            pending += call_details(part.thoughts, part.function, part.arguments)
            last_time = when
            if part.reply is not None:
                memories = remembered.get(msg.id, ())
                items.append(DisplayItem("assistant", part.reply, when, pending, False, memories))
                pending = []
        elif isinstance(part, Result):
            pending.append(result_detail(part.status, part.message))
        elif isinstance(part, Stopped):
            items.append(DisplayItem("assistant", part.message, when, pending, stopped=True))
            pending = []
        elif isinstance(part, Notice):
            items.append(DisplayItem("notice", notice_text(part), when))
    if pending:
        items.append(DisplayItem("assistant", "", last_time, pending))
    return items


def _starts_turn(part: Part) -> bool:
    """A user's message, or a timed heartbeat: the first stored message of a turn."""
    if isinstance(part, UserSaid):
        return True
    return (
        isinstance(part, Other)
        and part.kind == Kind.HEARTBEAT
        and part.content.get("reason") == HEARTBEAT_TIMED
    )


def notice_text(notice: Notice) -> str:
    """What a notice bubble says."""
    if notice.kind == "error":
        return f"Something went wrong: {notice.message}"
    return notice.message


def activity(event: Event) -> str | None:
    """What a reply bubble says the agent is doing after ``event`` (None: no change)."""
    from ember.core.kernel import events as ev

    if isinstance(event, ev.StepStarted):
        return "Reading the conversation…"
    if isinstance(event, ev.PromptProgress):
        if event.done >= event.total:
            return None  # read: the step's text follows
        doing = "Reading the conversation" if event.purpose == "step" else SUMMARISING
        return f"{doing}… {100 * event.done // max(1, event.total)}%"
    if isinstance(event, ev.SummaryProgress):
        if event.stage == "done":
            return None
        part = f" (part {event.piece} of {event.pieces})" if event.pieces > 1 else ""
        return f"{SUMMARISING}{part}…"
    if isinstance(event, ev.ThoughtDelta):
        return "Thinking…"
    if isinstance(event, ev.MessageDelta):
        return "Writing…"
    if isinstance(event, ev.ToolCall):
        if event.name in SEARCH_TOOLS:
            return "Searching memory…"
        if event.name in MEMORY_TOOLS:
            return "Saving to memory…"
        if event.name == "send_message":
            return None
        return "Working…"
    if isinstance(event, ev.ToolResult):
        return "Reading the result…" if event.heartbeat else None
    if isinstance(event, ev.SystemNotice) and event.kind == "flush":
        return "Older messages were summarised…"
    return None


TRYING_AGAIN = "Something went wrong; the agent is trying again…"


class ReplyActivity:
    """The activity line of one reply, kept honest: reading progress only goes forward
    within a step and never shows a bare 0 % (how much there is to read instead); once a
    step writes, it no longer "reads"; after a rejected step (its text taken back), the
    next one says it is trying again instead of starting over at 0 %."""

    def __init__(self) -> None:
        self.read = -1  # the percentage shown for this step's reading
        self.writing = False
        self.rejected = False  # the previous step was rejected
        self.again = False  # this step follows a rejected one

    def __call__(self, event: Event) -> str | None:
        """What the reply says after ``event`` (None: no change)."""
        from ember.core.kernel import events as ev

        if isinstance(event, ev.StepStarted):
            self.read, self.writing = -1, False
            self.again, self.rejected = self.rejected, False
            return TRYING_AGAIN if self.again else activity(event)
        if isinstance(event, ev.StepRejected):
            self.rejected = True
            return TRYING_AGAIN
        if isinstance(event, ev.ThoughtDelta | ev.MessageDelta):
            self.writing = True
        if isinstance(event, ev.PromptProgress) and event.purpose == "step":
            return self._reading(event.done, event.total)
        return activity(event)

    def _reading(self, done: int, total: int) -> str | None:
        percent = 100 * done // max(1, total)
        if self.writing or done >= total or percent < self.read:
            return None  # written already, read, or a later part's count: no step back
        self.read = percent
        doing = (
            "Trying again: reading the conversation" if self.again else "Reading the conversation"
        )
        return f"{doing} ({total:,} tokens)…" if done == 0 else f"{doing}… {percent}%"


def to_markdown(items: Sequence[DisplayItem], agent_name: str, title: str = "") -> str:
    """The conversation as a Markdown document (replies, messages, notices; no details)."""
    lines = [f"# {title or f'Conversation with {agent_name}'}", ""]
    for item in items:
        who = {"user": "You", "assistant": agent_name, "notice": "Notice"}[item.role]
        when = _full_time(item.time)
        head = f"**{who}**" + (f" · {when}" if when else "")
        if item.stopped:
            head += " · *stopped*"
        text = item.text.strip()
        if not text and not item.stopped:
            continue  # a turn without a reply (its details are not exported)
        lines += [head, "", text if item.role != "notice" else f"> {text}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _full_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso
