"""The MemGPT base functions, their JSON schemas, and the registry that runs them.

Each tool is a plain function ``fn(ctx, **arguments) -> str`` returning the message of an
OK result, or raising :class:`ToolFailure` (or an :class:`EmberError`) for a Failed one.
The registry renders the tool descriptions for the prompt and the grammar for the model,
from the same schemas, so they can never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ember.core import grammar, search, timeutil
from ember.core.errors import EmberError

if TYPE_CHECKING:
    from ember.core.embedder import Embedder
    from ember.core.store import Store

PAGE_SIZE = search.PAGE_SIZE
MAX_PAUSE_MINUTES = 360
MESSAGE_MAX_CHARS = 600
CONTENT_MAX_CHARS = 1000
QUERY_MAX_CHARS = 200


class ToolFailure(Exception):
    """A function call that failed; the message goes back to the agent."""


@dataclass
class ToolContext:
    """What a tool may touch: the agent's memory, and a hook to note side effects."""

    store: Store
    embedder: Embedder
    agent_id: int
    pause_heartbeats: Callable[[int], None] | None = None


@dataclass(frozen=True)
class Tool:
    """One function the agent can call."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., str]
    heartbeat: bool = True  # takes request_heartbeat

    def schema(self) -> dict[str, Any]:
        """JSON schema of the arguments, including request_heartbeat where it applies."""
        params = json.loads(json.dumps(self.parameters))
        if self.heartbeat:
            params["properties"]["request_heartbeat"] = {
                "type": "boolean",
                "description": "true to run again after this call (to chain functions)",
            }
            params.setdefault("required", []).append("request_heartbeat")
        return params


PAGE_ARG: dict[str, Any] = {"type": "integer", "description": "result page, from 0"}


def _props(**kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": kwargs, "required": list(kwargs)}


def _str(description: str, max_length: int | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description, **extra}
    if max_length:
        schema["maxLength"] = max_length
    return schema


# -- the functions --------------------------------------------------------------------------


def send_message(ctx: ToolContext, message: str) -> str:
    """Handled by the engine (it ends the chain); here only for the registry."""
    return "Sent message successfully."


def core_memory_append(
    ctx: ToolContext, label: str, content: str, request_heartbeat: bool = False
) -> str:
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
    return f"Appended to '{label}' ({len(new_value)}/{block.limit} characters)."


def core_memory_replace(
    ctx: ToolContext,
    label: str,
    old_content: str,
    new_content: str,
    request_heartbeat: bool = False,
) -> str:
    block = ctx.store.get_block(ctx.agent_id, label)
    if not old_content:
        raise ToolFailure("old_content is empty; give the exact text to replace.")
    if old_content not in block.value:
        raise ToolFailure(f"old_content was not found in core memory block '{label}'.")
    new_value = block.value.replace(old_content, new_content)
    if not new_content:
        new_value = "\n".join(line for line in new_value.split("\n") if line.strip())
    if len(new_value) > block.limit:
        raise ToolFailure(
            f"Core memory block '{label}' would hold {len(new_value)} of {block.limit} "
            "characters. Shorten new_content or move details to archival memory."
        )
    ctx.store.set_block(ctx.agent_id, label, new_value)
    action = "Deleted from" if not new_content else "Replaced in"
    return f"{action} '{label}' ({len(new_value)}/{block.limit} characters)."


def _format_hits(page: search.ResultPage, archival: bool) -> str:
    if page.total == 0:
        return "No results found."
    items = []
    for hit in page.hits:
        item: dict[str, Any] = {"timestamp": timeutil.human_time(hit.time)}
        if archival:
            if hit.source:
                item["source"] = hit.source
            if hit.page:
                item["page"] = hit.page
            item["content"] = hit.text
        else:
            item["role"] = hit.role
            item["message"] = hit.text
        items.append(item)
    return f"{page.header()}: {json.dumps(items, ensure_ascii=False)}"


def _page(page: int | None) -> int:
    return int(page or 0)


def _run_search(
    run: Callable[..., search.ResultPage],
    ctx: ToolContext,
    query: str,
    page: int | None,
    archival: bool,
) -> str:
    if not query.strip():
        raise ToolFailure("query is empty.")
    try:
        result = run(ctx.store, ctx.embedder, ctx.agent_id, query, _page(page))
    except IndexError as exc:
        raise ToolFailure(str(exc)) from exc
    return _format_hits(result, archival=archival)


def conversation_search(
    ctx: ToolContext, query: str, page: int = 0, request_heartbeat: bool = False
) -> str:
    return _run_search(search.search_recall, ctx, query, page, archival=False)


def conversation_search_date(
    ctx: ToolContext,
    start_date: str,
    end_date: str,
    page: int = 0,
    request_heartbeat: bool = False,
) -> str:
    start = timeutil.parse_day(start_date)
    end = timeutil.parse_day(end_date)
    if end < start:
        raise ToolFailure(f"end_date {end} is before start_date {start}.")
    page = _page(page)
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
    return _format_hits(search.ResultPage(hits, total, page, pages), archival=False)


def archival_memory_insert(ctx: ToolContext, content: str, request_heartbeat: bool = False) -> str:
    if not content.strip():
        raise ToolFailure("content is empty; nothing was stored.")
    vector = ctx.embedder.embed([content])
    ctx.store.add_passages(ctx.agent_id, [(content, None, None)], vector)
    return "Stored in archival memory."


def archival_memory_search(
    ctx: ToolContext, query: str, page: int = 0, request_heartbeat: bool = False
) -> str:
    return _run_search(search.search_archival, ctx, query, page, archival=True)


def pause_heartbeats(ctx: ToolContext, minutes: int) -> str:
    minutes = int(minutes)
    if minutes < 0:
        raise ToolFailure("minutes must be 0 or more.")
    minutes = min(minutes, MAX_PAUSE_MINUTES)
    until = timeutil.now() + timedelta(minutes=minutes)
    ctx.store.update_agent(ctx.agent_id, heartbeat_paused_until=until.isoformat())
    if ctx.pause_heartbeats:
        ctx.pause_heartbeats(minutes)
    return f"Timed heartbeats paused for {minutes} minutes."


# -- the registry -----------------------------------------------------------------------------


def base_tools() -> list[Tool]:
    """The MemGPT base function set, in the order the prompt lists them."""
    return [
        Tool(
            "send_message",
            "Send a message to the user. The only way the user sees anything you say; "
            "ends your turn.",
            _props(message=_str("the message, in your persona's voice", MESSAGE_MAX_CHARS)),
            send_message,
            heartbeat=False,
        ),
        Tool(
            "core_memory_append",
            "Append a line to a core memory block (always visible to you).",
            _props(
                label=_str("the block: persona or human"),
                content=_str("what to add", CONTENT_MAX_CHARS),
            ),
            core_memory_append,
        ),
        Tool(
            "core_memory_replace",
            "Replace exact text in a core memory block; empty new_content deletes it.",
            _props(
                label=_str("the block: persona or human"),
                old_content=_str("exact text to replace", CONTENT_MAX_CHARS),
                new_content=_str("the new text", CONTENT_MAX_CHARS),
            ),
            core_memory_replace,
        ),
        Tool(
            "conversation_search",
            "Search all past messages (recall memory), not only those in view.",
            _props(
                query=_str("what to look for", QUERY_MAX_CHARS),
                page=PAGE_ARG,
            ),
            conversation_search,
        ),
        Tool(
            "conversation_search_date",
            "Find past messages between two dates (YYYY-MM-DD, inclusive).",
            _props(
                start_date=_str("first day", format="date"),
                end_date=_str("last day", format="date"),
                page=PAGE_ARG,
            ),
            conversation_search_date,
        ),
        Tool(
            "archival_memory_insert",
            "Store a passage in archival memory (long-term, searchable, unlimited).",
            _props(content=_str("the passage to store", CONTENT_MAX_CHARS)),
            archival_memory_insert,
        ),
        Tool(
            "archival_memory_search",
            "Search archival memory: stored passages and loaded documents.",
            _props(
                query=_str("what to look for", QUERY_MAX_CHARS),
                page=PAGE_ARG,
            ),
            archival_memory_search,
        ),
        Tool(
            "pause_heartbeats",
            f"Pause timed heartbeats for some minutes (at most {MAX_PAUSE_MINUTES}).",
            _props(minutes={"type": "integer", "description": "how long to pause"}),
            pause_heartbeats,
            heartbeat=False,
        ),
    ]


@dataclass(frozen=True)
class CallResult:
    """The outcome of one function call."""

    status: str  # "OK" or "Failed"
    message: str
    heartbeat: bool  # whether the agent runs again


class ToolRegistry:
    """Tools by name; renders descriptions and the grammar; runs calls."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self.tools = {t.name: t for t in (tools or base_tools())}

    def describe(self) -> str:
        """Tool descriptions for the prompt (stable across turns)."""
        lines = []
        for tool in self.tools.values():
            schema = tool.schema()
            args = ", ".join(
                f"{name}: {'date' if s.get('format') == 'date' else s['type']}"
                for name, s in schema["properties"].items()
            )
            lines.append(f"- {tool.name}({args}): {tool.description}")
        return "\n".join(lines)

    def grammar(self, labels: list[str], only: Sequence[str] | None = None) -> str:
        """The GBNF for one step, with block labels constrained to those that exist.

        ``only`` restricts the step to some functions (e.g. a final ``send_message``).
        """
        specs = []
        for tool in self.tools.values():
            if only is not None and tool.name not in only:
                continue
            schema = tool.schema()
            if "label" in schema["properties"]:
                schema["properties"]["label"] = {"type": "string", "enum": labels}
            specs.append((tool.name, schema))
        return grammar.build_grammar(specs)

    def call(self, ctx: ToolContext, name: str, arguments: Mapping[str, Any]) -> CallResult:
        """Run a call. Failures become Failed results that request a heartbeat."""
        tool = self.tools.get(name)
        if tool is None:
            return CallResult("Failed", f"No function named '{name}'.", True)
        wants = bool(arguments.get("request_heartbeat")) if tool.heartbeat else False
        args = {k: v for k, v in arguments.items() if k in tool.schema()["properties"]}
        try:
            message = tool.fn(ctx, **args)
        except (ToolFailure, EmberError) as exc:
            return CallResult("Failed", str(exc), True)
        except TypeError as exc:
            return CallResult("Failed", f"Bad arguments for {name}: {exc}", True)
        return CallResult("OK", message, wants)
