"""Typed events the engine emits while it works. Plain frozen data: safe to pass between
threads (the GUI worker forwards them through queued Qt signals) and to print (the CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from ember.core.kernel.jsontypes import JSONObject


@dataclass(frozen=True)
class StepStarted:
    """The model starts one step (one completion) for an agent."""

    agent_id: int
    step: int
    trigger: str  # "user_message", "heartbeat", "login", "system_alert", "timed_heartbeat"


@dataclass(frozen=True)
class PromptProgress:
    """The model reads its prompt: ``done`` of the ``total`` tokens it must evaluate (the
    rest came from its KV cache). ``purpose``: a step, or a summary of older messages."""

    agent_id: int
    purpose: Literal["step", "summary"]
    done: int
    total: int


@dataclass(frozen=True)
class SummaryProgress:
    """Older messages are being summarised before they leave the context (a flush).

    ``stage``: ``started`` (a piece begins), ``writing`` (``tokens`` of at most
    ``max_tokens`` written in this piece), ``done`` (the summary is in place). A flush
    summarises ``messages`` messages in ``pieces`` pieces when they do not fit at once.
    Cancelling stops it; then nothing is evicted.
    """

    agent_id: int
    stage: Literal["started", "writing", "done"]
    messages: int
    piece: int
    pieces: int
    tokens: int
    max_tokens: int


@dataclass(frozen=True)
class ThoughtDelta:
    """More of the inner thoughts being generated."""

    text: str


@dataclass(frozen=True)
class MessageDelta:
    """More of the ``send_message`` text being generated (stream it to the user)."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The step's parsed function call, before it runs."""

    name: str
    arguments: JSONObject
    thoughts: str


@dataclass(frozen=True)
class ToolResult:
    """What the function returned."""

    name: str
    status: Literal["OK", "Failed"]
    message: str
    heartbeat: bool


@dataclass(frozen=True)
class StepRejected:
    """The step just generated was not a valid step (``error`` says why; the agent gets it
    as a Failed result and another step). Text streamed for it is void."""

    raw: str
    error: str


MemoryTier = Literal["recall", "archival", "core"]
# How a memory reached the prompt: automatic recall, the agent's own search, core memory.
FoundBy = Literal["automatic", "search", "core"]


@dataclass(frozen=True)
class Remembered:
    """One memory that was in the prompt a reply was written from (its provenance, kept
    with the reply: storage/provenance.py). ``time``: when it was said or stored (for a
    core memory line, when its block last changed); ``item_id``: the recall message or
    archival passage; ``source`` and ``page``: the document of a passage."""

    tier: MemoryTier
    found_by: FoundBy
    text: str
    time: str
    item_id: int | None = None
    role: str | None = None  # a recall message's speaker
    source: str | None = None
    page: int | None = None
    label: str | None = None  # a core memory line's block

    def place(self) -> str:
        """Where it is kept, in words: ``page 2 of report.pdf``, ``core memory (human)``."""
        if self.tier == "core":
            return f"core memory ({self.label})" if self.label else "core memory"
        if self.tier == "recall":
            return "the conversation"
        if self.source:
            return f"page {self.page} of {self.source}" if self.page else self.source
        return "archival memory"

    def to_json(self) -> JSONObject:
        """Plain dict for ``--jsonl`` output and exports (empty fields left out)."""
        out: JSONObject = {k: v for k, v in self.__dict__.items() if v is not None}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Remembered:
        """The record :meth:`to_json` wrote."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        def number(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        tier, found_by = str(data.get("tier")), str(data.get("found_by"))
        if tier not in ("recall", "archival", "core") or found_by not in (
            "automatic",
            "search",
            "core",
        ):
            raise ValueError(f"not a remembered memory: {tier!r} found by {found_by!r}")
        return cls(
            cast(MemoryTier, tier),
            cast(FoundBy, found_by),
            str(data.get("text", "")),
            str(data.get("time", "")),
            number("item_id"),
            text("role"),
            text("source"),
            number("page"),
            text("label"),
        )


@dataclass(frozen=True)
class AssistantMessage:
    """A complete ``send_message`` reply, committed to recall memory, with the memories
    that were in the prompt it was written from."""

    text: str
    message_id: int
    time: str
    remembered: tuple[Remembered, ...] = ()


NoticeKind = Literal["flush", "step_cap", "truncated", "reply_cut", "error", "info"]


@dataclass(frozen=True)
class SystemNotice:
    """Something the user should know: a flush, the step cap, a truncated message, an error.
    The runtime keeps each one with the conversation (a ``notice`` message), so that a
    transcript shows it after a restart too. (The memory-pressure alert is the agent's;
    front ends see ContextUsage pass warn_at.)"""

    kind: NoticeKind
    text: str


@dataclass(frozen=True)
class ContextUsage:
    """How full the main context is, in model tokens. The thresholds apply to the queue's
    share, ``budget - fixed``; a meter of ``used`` against ``flush_at`` with marks at
    ``fixed`` and ``warn_at`` shows one consistent measure."""

    used: int
    budget: int  # window minus the reply reserve
    window: int
    warn_at: int  # fixed + 70% of the queue's share: memory-pressure alert (to the agent)
    flush_at: int  # the whole budget: eviction + summary
    fixed: int = 0  # system, tools, examples and core memory: there before any message


@dataclass(frozen=True)
class StepStats:
    """What one step cost (prefix reuse shows as evaluated < prompt tokens)."""

    prompt_tokens: int
    evaluated_tokens: int
    completion_tokens: int
    seconds: float
    tokens_per_second: float


FinishReason = Literal["message", "no_message", "step_cap", "cancelled", "error"]


@dataclass(frozen=True)
class TurnFinished:
    """The agent stopped for this event: replied, hit the step cap, was cancelled, or failed."""

    reason: FinishReason
    error: str | None = None


Event = (
    StepStarted
    | PromptProgress
    | SummaryProgress
    | ThoughtDelta
    | MessageDelta
    | ToolCall
    | ToolResult
    | StepRejected
    | AssistantMessage
    | SystemNotice
    | ContextUsage
    | StepStats
    | TurnFinished
)
