"""Stored recall messages → what the chat view shows. Pure data, no Qt.

The engine stores every step (inner thoughts + one function call), every function result
and every event. The chat shows the user's messages and the agent's replies; everything
the agent did on the way to a reply (thoughts, calls, results) becomes that reply's
collapsible *details*. System alerts the user should know about become notices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Role = Literal["user", "assistant", "notice"]


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


def format_call(name: str, arguments: dict[str, Any]) -> str:
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


def call_details(thoughts: str, name: str, arguments: dict[str, Any]) -> list[Detail]:
    """Details of one step: its thoughts, and its call unless it is the reply itself."""
    out = [Detail("thought", thoughts)] if thoughts.strip() else []
    if name != "send_message":
        out.append(Detail("call", format_call(name, arguments)))
    return out


def result_detail(status: str, message: str) -> Detail:
    """Detail of a function result."""
    text = message if len(message) <= 400 else message[:397] + "…"
    return Detail("result", f"{status}: {text}", ok=status == "OK")


def build_transcript(messages: list[dict[str, Any]]) -> list[DisplayItem]:
    """Turn stored messages (dicts with role, kind, content, text, created_at) into bubbles."""
    items: list[DisplayItem] = []
    pending: list[Detail] = []
    last_time = ""
    for msg in messages:
        kind = msg.get("kind", "")
        content = msg.get("content") or {}
        when = msg.get("created_at", "")
        if kind == "user_message":
            if pending:
                items.append(DisplayItem("assistant", "", last_time, pending))
                pending = []
            text = msg.get("text") or str(content.get("message", ""))
            items.append(DisplayItem("user", text, when))
        elif kind == "step":
            name = str(content.get("function", ""))
            args = content.get("arguments") or {}
            pending += call_details(str(content.get("thoughts", "")), name, args)
            last_time = when
            if name == "send_message":
                items.append(DisplayItem("assistant", str(args.get("message", "")), when, pending))
                pending = []
        elif kind == "function_result":
            pending.append(result_detail(str(content.get("status")), str(content.get("message"))))
        elif kind == "memory_pressure":
            items.append(DisplayItem("notice", str(content.get("message", "")), when))
    if pending:
        items.append(DisplayItem("assistant", "", last_time, pending))
    return items
