"""The MemGPT base functions, their argument schemas, and the registry that runs them.

Each tool is a plain function ``fn(ctx, **arguments) -> str`` returning the message of an
OK result, or raising :class:`ToolFailure` (or another :class:`EmberError`) for a Failed
one. Arguments are declared once (:class:`Param`); the registry turns them into the JSON
schemas of a :class:`StepSpec` — from which the grammar, the JSON schema and the validation
of a step are derived — and into the tool descriptions of the prompt, so none of them can
disagree. A call only reaches its function after its step was validated against those
schemas, so an exception other than a failure is a bug and is not disguised as one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from ember.core.agent.search_results import format_hits
from ember.core.kernel import clock
from ember.core.kernel.errors import EmberError, ToolFailure
from ember.core.memory import followup, search
from ember.core.memory.excerpts import TokenCounter, bound_result, excerpt
from ember.core.step.schema import FunctionSpec, StepLimits, StepSpec, ValueSchema, object_schema
from ember.core.step.validate import Step

if TYPE_CHECKING:
    from ember.core.memory.embedder import Embedder
    from ember.core.storage.store import Store

PAGE_SIZE = search.PAGE_SIZE
MAX_PAUSE_MINUTES = 360
MAX_PAGE = 999
HEARTBEAT_ARG = "request_heartbeat"

Status = Literal["OK", "Failed"]


@dataclass
class ToolContext:
    """What a tool may touch: the agent's memory; and how large its result may be:
    ``max_tokens`` counted with ``count_tokens`` (the model's tokenizer), when given.
    ``found`` collects the hits of the searches run, as shown (a reply's provenance)."""

    store: Store
    embedder: Embedder
    agent_id: int
    count_tokens: TokenCounter | None = None
    max_tokens: int | None = None
    found: list[tuple[search.Tier, search.Hit]] = field(default_factory=list)


@dataclass(frozen=True)
class Param:
    """One argument of a tool. ``limit`` names the :class:`StepLimits` field bounding a
    string's length; ``labels`` makes a string one of the agent's core memory labels."""

    name: str
    type: Literal["string", "integer", "boolean"]
    description: str
    limit: str | None = None
    format: str | None = None
    labels: bool = False
    minimum: int | None = None
    maximum: int | None = None

    def shape(self, limits: StepLimits, labels: Sequence[str]) -> str:
        """What the model sees of this argument's type and limits."""
        if self.labels:
            return " | ".join(labels)
        if self.format == "date":
            return "YYYY-MM-DD"
        if self.type == "integer":
            return f"whole number {self.minimum}-{self.maximum}"
        if self.type == "boolean":
            return "true | false"
        if self.limit is not None:
            return f"text, at most {getattr(limits, self.limit)} characters"
        return "text"

    def schema(self, limits: StepLimits, labels: Sequence[str]) -> ValueSchema:
        """The JSON schema of this argument under ``limits``."""
        schema: ValueSchema = {"type": self.type, "description": self.description}
        if self.labels:
            schema["enum"] = list(labels)
        if self.limit is not None:
            schema["maxLength"] = int(getattr(limits, self.limit))
        if self.format is not None:
            schema["format"] = self.format
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


HEARTBEAT_PARAM = Param(
    HEARTBEAT_ARG, "boolean", "true to run again after this call (to chain functions)"
)


@dataclass(frozen=True)
class Tool:
    """One function the agent can call."""

    name: str
    description: str
    params: tuple[Param, ...]
    fn: Callable[..., str]
    heartbeat: bool = True  # takes request_heartbeat

    @property
    def all_params(self) -> tuple[Param, ...]:
        """The arguments as written in a step (request_heartbeat last, where it applies)."""
        return (*self.params, HEARTBEAT_PARAM) if self.heartbeat else self.params

    def spec(self, limits: StepLimits, labels: Sequence[str]) -> FunctionSpec:
        """This tool's name and argument schema."""
        props = {p.name: p.schema(limits, labels) for p in self.all_params}
        return FunctionSpec(self.name, object_schema(props))


# -- results the tools report (also used to write the few-shot examples) ---------------------


STORED = "Stored in archival memory."


def block_size_note(label: str, used: int, limit: int) -> str:
    """``'human' (52/2000 characters)``."""
    return f"'{label}' ({used}/{limit} characters)"


def appended(label: str, used: int, limit: int) -> str:
    """The result of a successful core_memory_append."""
    return f"Appended to {block_size_note(label, used, limit)}."


# -- the functions --------------------------------------------------------------------------


def send_message(ctx: ToolContext, message: str) -> str:
    """Handled by the engine (it ends the chain); here only for the registry."""
    return "Sent message successfully."


def core_memory_append(ctx: ToolContext, label: str, content: str) -> str:
    block = ctx.store.get_block(ctx.agent_id, label)
    if not content.strip():
        raise ToolFailure("content is empty; nothing was appended.")
    new_value = f"{block.value}\n{content}" if block.value else content
    if len(new_value) > block.limit:
        raise ToolFailure(
            f"Core memory block '{label}' would hold {len(new_value)} of {block.limit} "
            "characters. Summarise the block with core_memory_replace, or move details to "
            "archival memory with archival_memory_insert, then try again."
        )
    ctx.store.set_block(ctx.agent_id, label, new_value)
    return appended(label, len(new_value), block.limit)


def core_memory_replace(ctx: ToolContext, label: str, old_content: str, new_content: str) -> str:
    block = ctx.store.get_block(ctx.agent_id, label)
    if not old_content:
        raise ToolFailure("old_content is empty; give the exact text to replace.")
    count = block.value.count(old_content)
    if count == 0:
        raise ToolFailure(f"old_content was not found in core memory block '{label}'.")
    if count > 1:
        raise ToolFailure(
            f"old_content occurs {count} times in core memory block '{label}'; give more of "
            "the text around it so that it occurs once."
        )
    at = block.value.index(old_content)
    before, after = block.value[:at], block.value[at + len(old_content) :]
    if not new_content and before[-1:] in ("", "\n") and after[:1] in ("", "\n"):
        # A whole line was deleted: take one of its line breaks with it, nothing else.
        if after:
            after = after[1:]
        else:
            before = before[:-1]
    new_value = before + new_content + after
    if len(new_value) > block.limit:
        raise ToolFailure(
            f"Core memory block '{label}' would hold {len(new_value)} of {block.limit} "
            "characters. Shorten new_content or move details to archival memory."
        )
    ctx.store.set_block(ctx.agent_id, label, new_value)
    action = "Deleted from" if not new_content else "Replaced in"
    return f"{action} {block_size_note(label, len(new_value), block.limit)}."


def _run_search(ctx: ToolContext, tier: search.Tier, query: str, page: int) -> str:
    if not query.strip():
        raise ToolFailure("query is empty.")
    result = search.search(ctx.store, ctx.embedder, ctx.agent_id, tier, query, page)
    on_page = {(tier, h.id) for h in result.hits}
    followed = [
        f
        for f in followup.for_hits(ctx.store, ctx.agent_id, tier, result.hits, query)
        if (f.tier, f.hit.id) not in on_page  # shown once, on the page
    ]
    ctx.found += [(tier, replace(h, text=excerpt(h.text, query))) for h in result.hits]
    ctx.found += [(f.tier, replace(f.hit, text=f.text)) for f in followed]
    return format_hits(result, archival=tier == "archival", query=query, followed=followed)


def conversation_search(ctx: ToolContext, query: str, page: int) -> str:
    return _run_search(ctx, "recall", query, page)


def conversation_search_date(ctx: ToolContext, start_date: str, end_date: str, page: int) -> str:
    start = clock.parse_day(start_date)
    end = clock.parse_day(end_date)
    if end < start:
        raise ToolFailure(f"end_date {end} is before start_date {start}.")
    messages, total = ctx.store.messages_between(
        ctx.agent_id, start.isoformat(), end.isoformat(), page * PAGE_SIZE, PAGE_SIZE
    )
    pages = max(1, -(-total // PAGE_SIZE))
    if page >= pages and total:
        raise ToolFailure(f"page {page} does not exist (there are {pages} pages, from 0)")
    hits = [
        search.Hit(id=m.id, text=m.text, time=m.created_at, score=0.0, role=m.role)
        for m in messages
    ]
    ctx.found += [("recall", replace(h, text=excerpt(h.text))) for h in hits]
    return format_hits(search.ResultPage(hits, total, page, pages), archival=False)


def archival_memory_insert(ctx: ToolContext, content: str) -> str:
    if not content.strip():
        raise ToolFailure("content is empty; nothing was stored.")
    vector = ctx.embedder.embed([content])
    ctx.store.add_passages(ctx.agent_id, [(content, None, None)], vector)
    return STORED


def archival_memory_search(ctx: ToolContext, query: str, page: int) -> str:
    return _run_search(ctx, "archival", query, page)


def pause_heartbeats(ctx: ToolContext, minutes: int) -> str:
    minutes = min(minutes, MAX_PAUSE_MINUTES)
    until = clock.now() + timedelta(minutes=minutes)
    ctx.store.update_agent(ctx.agent_id, heartbeat_paused_until=until.isoformat())
    return f"Timed heartbeats paused for {minutes} minutes."


# -- the registry -----------------------------------------------------------------------------

_LABEL = Param("label", "string", "which core memory block", labels=True)
_PAGE = Param("page", "integer", "result page, from 0", minimum=0, maximum=MAX_PAGE)
_QUERY = Param("query", "string", "what to look for", limit="query")


def base_tools() -> list[Tool]:
    """The MemGPT base function set, in the order the prompt lists them."""
    return [
        Tool(
            "send_message",
            "Send a message to the user. The only way the user sees anything you say; "
            "ends your turn.",
            (Param("message", "string", "the message, in your persona's voice", "message"),),
            send_message,
            heartbeat=False,
        ),
        Tool(
            "core_memory_append",
            "Append a line to a core memory block (always visible to you).",
            (_LABEL, Param("content", "string", "what to add", "content")),
            core_memory_append,
        ),
        Tool(
            "core_memory_replace",
            "Replace text that occurs exactly once in a core memory block; empty new_content "
            "deletes it.",
            (
                _LABEL,
                Param("old_content", "string", "the exact text to replace", "anchor"),
                Param("new_content", "string", "the new text", "content"),
            ),
            core_memory_replace,
        ),
        Tool(
            "conversation_search",
            "Search all past messages (recall memory), not only those in view.",
            (_QUERY, _PAGE),
            conversation_search,
        ),
        Tool(
            "conversation_search_date",
            "Find past messages between two dates (YYYY-MM-DD, inclusive).",
            (
                Param("start_date", "string", "first day", format="date"),
                Param("end_date", "string", "last day", format="date"),
                _PAGE,
            ),
            conversation_search_date,
        ),
        Tool(
            "archival_memory_insert",
            "Store a passage in archival memory (long-term, searchable, unlimited).",
            (Param("content", "string", "the passage to store", "content"),),
            archival_memory_insert,
        ),
        Tool(
            "archival_memory_search",
            "Search archival memory: stored passages and loaded documents.",
            (_QUERY, _PAGE),
            archival_memory_search,
        ),
        Tool(
            "pause_heartbeats",
            f"Pause timed heartbeats for some minutes (at most {MAX_PAUSE_MINUTES}).",
            (
                Param(
                    "minutes",
                    "integer",
                    f"how long to pause (at most {MAX_PAUSE_MINUTES} are used)",
                    minimum=0,
                    maximum=999,
                ),
            ),
            pause_heartbeats,
            heartbeat=False,
        ),
    ]


@dataclass(frozen=True)
class CallResult:
    """The outcome of one function call."""

    status: Status
    message: str
    heartbeat: bool  # whether the agent runs again


class ToolRegistry:
    """Tools by name; gives step specs and descriptions; runs validated calls."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self.tools = {t.name: t for t in (tools or base_tools())}

    def describe(self, names: Sequence[str], labels: Sequence[str], limits: StepLimits) -> str:
        """Descriptions of the tools ``names`` for the prompt, with every argument's meaning
        and limits (stable across turns)."""
        lines = [f"({HEARTBEAT_ARG}, where listed: {HEARTBEAT_PARAM.description}.)"]
        for tool in self._select(names):
            args = ", ".join(p.name for p in tool.all_params)
            lines.append(f"- {tool.name}({args}): {tool.description}")
            details = [
                f"{p.name}: {p.description} ({p.shape(limits, labels)})" for p in tool.params
            ]
            lines.append("    " + "; ".join(details))
        return "\n".join(lines)

    def _select(self, names: Sequence[str]) -> list[Tool]:
        return [tool for tool in self.tools.values() if tool.name in names]

    def spec(self, names: Sequence[str], labels: Sequence[str], limits: StepLimits) -> StepSpec:
        """What one step may be: a call of one of the tools ``names``, with block labels
        limited to those that exist."""
        functions = tuple(tool.spec(limits, labels) for tool in self._select(names))
        return StepSpec(functions, limits.thoughts)

    def call(self, ctx: ToolContext, step: Step) -> CallResult:
        """Run a validated step's call. Failures become Failed results that request a
        heartbeat; any other exception is a bug and propagates."""
        tool = self.tools[step.function]
        args = dict(step.arguments)
        wants = bool(args.pop(HEARTBEAT_ARG, False)) if tool.heartbeat else False
        try:
            message = tool.fn(ctx, **args)
        except EmberError as exc:  # ToolFailure, NotFound, InvalidInput, PageOutOfRange…
            failure = bound_result(str(exc), ctx.count_tokens, ctx.max_tokens)
            return CallResult("Failed", failure, True)
        return CallResult("OK", bound_result(message, ctx.count_tokens, ctx.max_tokens), wants)
