"""``ember chat``: the terminal chat, piped or interactive.

Replies go to stdout and details to stderr (``--show-thoughts``), or every engine event to
stdout as one JSON line (``--jsonl``: the stream scripts and the evaluation harness read).
Piped input is one message per line, read as UTF-8 bytes: a line that is not valid UTF-8
is reported and skipped (the rest still runs; the exit code is then 1). Ctrl-C during a
reply stops that reply cleanly (the engine's cancel event, as the GUI's Stop button);
at the prompt it ends the chat.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, replace
from types import FrameType
from typing import Any

from ember.cli.shared import open_ember, require_stdin
from ember.core.api import Ember, Preparing, printable, use_file, use_server
from ember.core.kernel import events
from ember.core.kernel.errors import EmberError


def event_json(event: events.Event) -> str:
    """One engine event as a JSON line: ``{"type": "message_delta", ...fields}``."""
    name = type(event).__name__
    kind = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    fields = asdict(event)
    if isinstance(event, events.AssistantMessage):  # what it was written from, no blanks
        fields["remembered"] = [m.to_json() for m in event.remembered]
    return json.dumps({"type": kind, **fields}, ensure_ascii=False)


class JsonlPrinter:
    """Writes every event as one JSON line on stdout."""

    def __call__(self, event: events.Event) -> None:
        sys.stdout.write(event_json(event) + "\n")
        sys.stdout.flush()


class TextPrinter:
    """Replies on stdout (streamed on a terminal); notices, and with ``show_thoughts``
    thoughts, calls and token counts, on stderr."""

    def __init__(self, show_thoughts: bool, stream: bool) -> None:
        self.show = show_thoughts
        self.stream = stream
        self.streamed = False

    def __call__(self, event: events.Event) -> None:
        err = sys.stderr
        if isinstance(event, events.MessageDelta) and self.stream:
            sys.stdout.write(event.text)
            sys.stdout.flush()
            self.streamed = True
        elif isinstance(event, events.AssistantMessage):
            if self.streamed:
                sys.stdout.write("\n")
            else:
                print(event.text)
            sys.stdout.flush()
            self.streamed = False
            if self.show:
                print_remembered(event.remembered)
        elif isinstance(event, events.SummaryProgress) and event.stage == "started":
            print(
                f"[summary] summarising {event.messages} older messages "
                f"(part {event.piece} of {event.pieces})…",
                file=err,
            )
        elif isinstance(event, events.SystemNotice):
            if event.kind != "error":  # errors end the turn; the chat loop prints them once
                print(f"[{event.kind}] {event.text}", file=err)
        elif not self.show:
            return
        elif isinstance(event, events.ToolCall):
            print(f"  thoughts: {event.thoughts}", file=err)
            args = json.dumps(event.arguments, ensure_ascii=False)
            print(f"  call: {event.name}({args})", file=err)
        elif isinstance(event, events.ToolResult):
            print(f"  result: {event.status}: {event.message[:300]}", file=err)
        elif isinstance(event, events.StepRejected):
            print(f"  rejected step: {event.error}", file=err)
        elif isinstance(event, events.StepStats):
            print(
                f"  tokens: prompt {event.prompt_tokens} (evaluated {event.evaluated_tokens}, "
                f"reused {event.prompt_tokens - event.evaluated_tokens}), generated "
                f"{event.completion_tokens}, {event.seconds:.2f} s, "
                f"{event.tokens_per_second:.1f} tok/s",
                file=err,
            )
        elif isinstance(event, events.ContextUsage):
            # Against the point where it flushes (the budget but automatic recall's room).
            print(f"  context: {event.used}/{event.flush_at} tokens", file=err)


def remembered_line(memory: events.Remembered, width: int = 160) -> str:
    """One memory a reply was written from: how it was found, its time and place, its text."""
    when = memory.time[:16].replace("T", " ")
    text = " ".join(memory.text.split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"  - [{memory.found_by}] {when} · {memory.place()}: {text}"


def print_remembered(memories: tuple[events.Remembered, ...]) -> None:
    """The memories a reply was written from, after it (stderr, with the thoughts)."""
    count = len(memories)
    print(f"  remembered: {count} memor{'y' if count == 1 else 'ies'}", file=sys.stderr)
    for memory in memories:
        print(remembered_line(memory), file=sys.stderr)


def piped_lines() -> Iterator[tuple[int, str | None]]:
    """(line number, text) of stdin; text is None for a line that is not valid UTF-8."""
    for number, raw in enumerate(sys.stdin.buffer, 1):
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield number, None


def typed_lines() -> Iterator[tuple[int, str | None]]:
    """Lines typed at the ``you>`` prompt until end of input."""
    number = 0
    while True:
        try:
            line = input("you> ")
        except EOFError:
            return
        number += 1
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
            yield number, None
            continue
        yield number, line


def _idle_while_waiting(
    lines: Iterator[tuple[int, str | None]], ember: Ember, agent_id: int
) -> Iterator[tuple[int, str | None]]:
    """``lines``, with the work done while the user is idle in a thread while the next
    line is awaited: at the first prompt what the first reply needs
    (``Ember.prepare_first_reply``: the agent's prompt in the model's cache, the embedding
    model), then ``Ember.while_idle`` (the memory pass, the coming flush prepared);
    cancelled as soon as the line arrives. A line waits for an embedder load under way
    (its turn needs the embedder); the end of input does not (the chat ends)."""

    def prepare(cancel: threading.Event, first: bool, loading: threading.Event) -> None:
        def stage(step: Preparing) -> None:
            if step.stage == "embedder":
                loading.set()

        with contextlib.suppress(EmberError):  # optional: the turn itself reports errors
            if first:
                ember.prepare_first_reply(agent_id, cancel, stage)
                loading.clear()
            if not cancel.is_set():
                ember.while_idle(agent_id, cancel)

    first = True
    while True:
        cancel, loading = threading.Event(), threading.Event()
        worker = threading.Thread(target=prepare, args=(cancel, first, loading), daemon=True)
        first = False
        worker.start()
        item: tuple[int, str | None] | None = None
        try:
            item = next(lines, None)
        finally:
            cancel.set()
            if item is not None or not loading.is_set():  # a daemon: it ends with us
                worker.join()
        if item is None:
            return
        yield item


class _CancelOnSigint:
    """While a reply runs, Ctrl-C sets the cancel event instead of raising in the engine
    (which could land between a function call and its result)."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.cancel.set()

    def __enter__(self) -> None:
        self.cancel.clear()
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def run(args: argparse.Namespace) -> int:
    """Terminal chat with an agent. With stdin not a terminal, each line is one message."""
    require_stdin("messages")
    interactive = sys.stdin.isatty()
    code = 0
    with open_ember() as ember:
        config = ember.settings()
        if args.model:
            config = use_file(config, args.model)
        if args.server:
            config = use_server(config, args.server, args.server_model)
        elif args.server_model and config.server_url:
            config = replace(config, server_model=args.server_model)
        if args.ctx:
            config = replace(config, n_ctx=args.ctx)
        agent = ember.agent_for_chat(args.agent)
        ember.claim_agent(agent.id)  # before the slow model load: one chat per agent
        for notice in ember.start_model(config).notices:
            print(f"[model] {notice}", file=sys.stderr)
        ember.login(agent.id)
        printer: Any = (
            JsonlPrinter() if args.jsonl else TextPrinter(args.show_thoughts, sys.stdout.isatty())
        )
        scheduler = None
        if interactive and config.timed_heartbeat_minutes:
            from ember.core.api import HeartbeatScheduler

            scheduler = HeartbeatScheduler(
                config.timed_heartbeat_minutes, lambda: ember.timed_heartbeat(agent.id, printer)
            )
            scheduler.start()
        if interactive and not args.jsonl:
            print(
                f"Chatting with {printable(agent.name)} (Ctrl-D to quit, Ctrl-C to stop a reply)."
            )
        cancel = threading.Event()
        lines = _idle_while_waiting(typed_lines(), ember, agent.id)
        try:
            for number, line in lines if interactive else piped_lines():
                if line is None:
                    print(f"ember: line {number} is not valid UTF-8; skipped", file=sys.stderr)
                    code = 1
                    continue
                if not line.strip():
                    continue
                if scheduler:
                    scheduler.touch()
                with _CancelOnSigint(cancel):
                    result = ember.send(agent.id, line, printer, cancel)
                if not interactive:  # no idle time between piped lines: note them now
                    ember.memory_pass(agent.id)
                if result.reason == "cancelled":
                    print("(stopped)", file=sys.stderr)
                elif result.reason == "error":
                    if not args.jsonl:
                        print(f"ember: {result.error}", file=sys.stderr)
                    code = 1
        except KeyboardInterrupt:  # Ctrl-C at the prompt ends the chat
            print(file=sys.stderr)
        finally:
            if scheduler:
                scheduler.stop()
    return code
