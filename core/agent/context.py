"""Context management: the budget of the main context, memory pressure, eviction, the
recursive summary, truncation of over-sized messages, and token counting.

Token counts always come from the loaded model's own tokenizer, on the rendered prompt
(role markers and template text included), never on messages alone.

The figures are budget.py's: the window minus the reply reserve, its fixed part (system,
tools, examples, core memory), automatic recall's room, and the **queue budget**, the rest,
to which the thresholds apply: at 70% of the queue budget the agent gets one
memory-pressure alert per fill (a flush instead when the alert itself would not fit); at
100%, before the step that would overflow, the oldest ≈50% of the queue's tokens are
evicted (never a function call without its result) and the summary at the queue's head is
rewritten from the previous one plus the evicted messages, sized so that the queue lands
below the alert line. Evicted messages stay in recall; a stale alert leaves with them.

The summary request is rendered as the *same* prompt as the main context, cut after the
evicted messages, plus one request event: its whole prefix is already in llama.cpp's KV
cache, so summarising costs the request and the summary tokens. It reports progress, and
stops when cancelled; the eviction is committed only once the summary is written.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from ember.core.agent.budget import EVICT_FRACTION, SUMMARY_HEAD_TOKENS, Budget, recall_room
from ember.core.agent.context_window import MIN_QUEUE_TOKENS
from ember.core.agent.prepared_summary import PreparedSummary, after_flush
from ember.core.agent.prompt import PromptRenderer
from ember.core.agent.summary import (
    SUMMARY_CONSTRAINT,
    SUMMARY_REQUEST,
    parse_summary,
    summary_head,
    summary_text,
)
from ember.core.kernel.errors import ContextTooSmall
from ember.core.kernel.events import (
    ContextUsage,
    Event,
    PromptProgress,
    SummaryProgress,
    SystemNotice,
)
from ember.core.llm.backend import Backend, Prompt, count_prompt_tokens
from ember.core.memory import autorecall
from ember.core.memory.excerpts import CHARS_PER_TOKEN, cut_texts
from ember.core.storage import messages
from ember.core.storage.messages import Kind, Role, UserMessageContent
from ember.core.storage.store import Block, Message, Store

OnEvent = Callable[[Event], None]
SummaryStage = Literal["started", "writing", "done"]

# A summary progress event every this many generated pieces.
PROGRESS_EVERY = 8

PRESSURE_ALERT = (
    "Memory pressure: the conversation will soon be trimmed to fit your context window. "
    "Save anything important from it to core memory or archival memory now."
)


class ContextOwner(Protocol):
    """What an agent's context needs from its engine."""

    store: Store
    backend: Backend
    renderer: PromptRenderer
    reserve: int
    prepared_summaries: dict[int, PreparedSummary]

    def describe_tools(self, labels: Sequence[str]) -> str:
        """The tool descriptions of the prompt."""
        ...

    def smallest_window(self, blocks: Sequence[Block]) -> int:
        """The smallest window that holds the fixed part with ``blocks``."""
        ...


class AgentContext:
    """One agent's main context: rendering, counting, and keeping it within the budget."""

    def __init__(self, owner: ContextOwner, agent_id: int) -> None:
        self.owner = owner
        self.store = owner.store
        self.backend = owner.backend
        self.agent_id = agent_id
        self.recalled: str | None = None  # the recall event the last prepare showed

    # -- rendering and counting ---------------------------------------------------------------

    def render(
        self,
        queue: Sequence[Message] | None = None,
        extra: Sequence[str] = (),
        summary: str | None = None,
    ) -> Prompt:
        """The agent's main context (or with another ``queue`` or ``summary``)."""
        blocks = self.store.blocks(self.agent_id)
        if summary is None:
            summary = self.store.get_agent_by_id(self.agent_id).summary
        return self.owner.renderer.render(
            self.owner.describe_tools([b.label for b in blocks]),
            blocks,
            summary,
            queue if queue is not None else self.queue(),
            extra,
        )

    def queue(self) -> list[Message]:
        """The queue as the prompt needs it (the dialogue format: only its end after the
        newest reply, which renders the same; dialogue_queue.py)."""
        if self.owner.renderer.dialogue:
            return self.store.context_tail(self.agent_id)
        return self.store.context_messages(self.agent_id)

    def count(self, prompt: Prompt) -> int:
        """Tokens the model reads for ``prompt``."""
        return count_prompt_tokens(self.backend, prompt)

    def count_text(self, text: str) -> int:
        """Tokens of a piece of data."""
        return len(self.backend.tokenize(text))

    def budget(self) -> Budget:
        """The budget now (the fixed part changes with core memory), with the room for
        automatic recall set aside when the agent has it on."""
        fixed = self.count(self.render(queue=[], summary=""))
        budget = Budget(self.backend.n_ctx, self.owner.reserve, fixed)
        if autorecall.enabled(self.store.get_agent_by_id(self.agent_id).settings):
            budget = Budget(budget.window, budget.reserve, fixed, recall_room(budget.queue))
        return budget

    def usage(self) -> ContextUsage:
        """How full the main context is right now."""
        return self.budget().usage(self.count(self.render()))

    def queue_tokens(self, queue: Sequence[Message], summary: str = "") -> int:
        """Tokens ``queue`` (with ``summary`` at its head) adds to the fixed part."""
        full = self.count(self.render(queue=queue, summary=summary))
        return full - self.count(self.render(queue=[], summary=""))

    # -- keeping within budget ------------------------------------------------------------------

    def prepare(
        self,
        emit: OnEvent,
        cancel: threading.Event | None = None,
        extra_choices: Sequence[str] = (),
    ) -> tuple[Prompt, Budget, int]:
        """Render the next prompt within budget: flush when full, alert once per fill when
        nearly full. The first of ``extra_choices`` (automatic recall, largest first) that
        fits the recall room ends the prompt. Raises Cancelled when ``cancel`` is set
        during a flush (nothing is evicted then), ContextTooSmall when even a flush cannot
        make room."""
        budget = self.budget()
        if budget.queue < MIN_QUEUE_TOKENS:
            self._too_small(budget)
        fixed = budget.fixed  # before any event of this step
        extra: tuple[str, ...] = ()
        for choice in extra_choices:
            size = self._event_tokens(choice, fixed)
            if size <= budget.room:
                budget = Budget(
                    budget.window, budget.reserve, budget.fixed + size, budget.room - size
                )
                extra = (choice,)
                break
        self.recalled = extra[0] if extra else None
        prompt = self.render(extra=extra)
        used = self.count(prompt)
        while used > budget.warn_at:
            if used <= budget.flush_at:
                if self._has_pressure_alert():
                    break
                # For the agent only: front ends see the usage pass warn_at. An alert that
                # would itself overflow the budget comes too late: flush instead.
                content = messages.system_alert(PRESSURE_ALERT)
                alert = self._event_tokens(messages.encode(content), fixed)
                if used + alert <= budget.flush_at:
                    self.store.add_message(self.agent_id, Role.USER, Kind.MEMORY_PRESSURE, content)
                    prompt = self.render(extra=extra)
                    used = self.count(prompt)
                    continue  # (flushes should the estimate have been short)
            if not self.flush(emit, budget, used, cancel):
                self._too_small(budget)
            prompt = self.render(extra=extra)
            used = self.count(prompt)
        return prompt, budget, used

    def _event_tokens(self, event: str, fixed: int) -> int:
        """Tokens the event ``event`` adds to a fixed part of ``fixed`` tokens."""
        return self.count(self.render(queue=[], summary="", extra=(event,))) - fixed

    def _too_small(self, budget: Budget) -> None:
        smallest = self.owner.smallest_window(self.store.blocks(self.agent_id))
        raise ContextTooSmall(
            f"The context window ({budget.window} tokens) is too small for the instructions, "
            f"core memory and the newest message; it needs at least {smallest} tokens. "
            "Use a larger context size (--ctx or Settings)."
        )

    def _has_pressure_alert(self) -> bool:
        return any(
            m.kind == Kind.MEMORY_PRESSURE for m in self.store.context_messages(self.agent_id)
        )

    def eviction_cut(self, queue: Sequence[Message], budget: Budget, used: int) -> int:
        """How many of the oldest messages to evict, counted on the rendered prompt: the
        cut whose evicted share of the queue's tokens is nearest one half, among those that
        leave room for the new summary below the alert line. Never leaves a function result
        without the step that called it; always keeps the newest message. 0 if nothing can
        go. (A stale memory-pressure alert leaves with the flush but is not counted as
        kept: it is retired, not summarised.)"""
        if len(queue) < 2:
            return 0

        def kept(cut: int) -> int:
            return self.queue_tokens([m for m in queue[cut:] if m.kind != Kind.MEMORY_PRESSURE])

        def first_cut_keeping(at_most: float) -> int:
            low, high = 1, len(queue) - 1
            while low < high:
                mid = (low + high) // 2
                if kept(mid) <= at_most:
                    high = mid
                else:
                    low = mid + 1
            return low

        land = budget.queue_warn - budget.summary_tokens - SUMMARY_HEAD_TOKENS
        target = (used - budget.fixed) * (1 - EVICT_FRACTION)
        cut = first_cut_keeping(target)
        if cut > 1 and abs(kept(cut - 1) - target) < abs(kept(cut) - target):
            cut -= 1  # one message fewer lands nearer one half
        cut = max(cut, first_cut_keeping(land))
        # A function result belongs with its call: evict both, or neither.
        while cut < len(queue) - 1 and queue[cut].role == Role.TOOL:
            cut += 1
        return cut

    def flush(
        self,
        emit: OnEvent,
        budget: Budget,
        used: int,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Evict ≈50% of the queue into recall and rewrite the summary. False if nothing
        can be evicted. The summary is written first and the eviction committed after it,
        so a cancelled or failed summary evicts nothing."""
        queue = self.store.context_messages(self.agent_id)
        agent = self.store.get_agent_by_id(self.agent_id)
        prepared = self.owner.prepared_summaries.pop(self.agent_id, None)  # idleflush.py
        if prepared is not None and not prepared.matches(queue, agent.summary):
            prepared = None
        cut = len(prepared.evicted_ids) if prepared else self.eviction_cut(queue, budget, used)
        if cut == 0:
            return False
        after = after_flush(queue, cut, agent.summary_hidden)
        hidden, total = after.hidden, after.total
        summary = prepared.summary if prepared else ""
        if prepared and (
            self.queue_tokens(after.fresh, summary_head(summary, hidden, total)) > budget.queue_warn
        ):
            return self.flush(emit, budget, used, cancel)  # it would not land: summarise now
        if not prepared:
            summary = self.summarize(after.evicted, emit, budget.summary_tokens, cancel)
        head = summary_head(summary, hidden, total)
        with self.store.transaction():
            self.store.evict_messages([m.id for m in [*after.evicted, *after.stale]])
            self.store.update_agent(self.agent_id, summary=head, summary_hidden=hidden)
        emit(
            SystemNotice(
                "flush",
                f"{cut} older messages were moved out of the context window "
                "into recall memory and summarised.",
            )
        )
        return True

    def summarize(
        self,
        evicted: Sequence[Message],
        emit: OnEvent,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> str:
        """Recursive summary of the current summary plus ``evicted``, in pieces if needed,
        with progress events; raises Cancelled when ``cancel`` is set. The first piece is
        rendered like the main context cut after the evicted messages (a KV-cache hit)."""
        room = self.backend.n_ctx - max_tokens - 8
        summary = self.store.get_agent_by_id(self.agent_id).summary  # as the head reads
        previous = summary_text(summary)
        request = (json.dumps(messages.system_alert_request(SUMMARY_REQUEST)),)
        pieces: list[list[Message]] = [[]]
        for message in self._bounded(evicted, request, summary, room):
            candidate = [*pieces[-1], message]
            if pieces[-1] and self.count(self.render(candidate, request, summary)) > room:
                pieces.append([message])
            else:
                pieces[-1] = candidate

        def progress(stage: SummaryStage, piece: int, tokens: int) -> None:
            emit(
                SummaryProgress(
                    self.agent_id, stage, len(evicted), piece, len(pieces), tokens, max_tokens
                )
            )

        def reading(done: int, total: int) -> None:
            emit(PromptProgress(self.agent_id, "summary", done, total))

        for number, piece in enumerate(pieces, 1):
            progress("started", number, 0)
            chunks: list[str] = []
            for chunk in self.backend.generate(
                self.render(piece, request, summary),
                constraint=SUMMARY_CONSTRAINT,
                max_tokens=max_tokens,
                temperature=0.3,
                cancel=cancel,
                on_prompt_progress=reading,
            ):
                chunks.append(chunk)
                if len(chunks) % PROGRESS_EVERY == 1:
                    progress("writing", number, len(chunks))
            # Unreadable output keeps the previous summary, within the same bound (a token
            # covers at least one character), never the head around it: nothing nests.
            summary = parse_summary("".join(chunks)) or previous[:max_tokens]
            previous = summary
        progress("done", len(pieces), 0)
        return summary

    # -- over-sized messages --------------------------------------------------------------------

    def _bounded(
        self, evicted: Sequence[Message], request: Sequence[str], summary: str, room: int
    ) -> list[Message]:
        """``evicted`` as the summariser may read them: a text in a message longer than
        one message's share of the queue is cut to its beginning, and more until the
        message fits the summary prompt alone. Messages in the queue are bounded when
        stored, but one stored before those bounds made every flush overflow the window."""
        most = self.budget().message_limit * CHARS_PER_TOKEN // 4

        def cut(message: Message, chars: int) -> Message:
            content = cut_texts(message.content, chars)
            return message if content is None else dataclasses.replace(message, content=content)

        out = []
        for message in evicted:
            chars = most
            shown = cut(message, chars)
            while (
                shown is not message
                and chars > 16
                and self.count(self.render([shown], request, summary)) > room
            ):
                chars //= 2
                shown = cut(message, chars)
            out.append(shown)
        return out

    def fit_message(
        self, content: UserMessageContent, text: str, emit: OnEvent
    ) -> UserMessageContent:
        """Truncate an over-sized user message in context; recall keeps it whole.

        Only the message's first :data:`CHARS_PER_TOKEN` characters a token of room are
        ever tokenized: a 2 MB message took 6.7 s to count whole, for a beginning of a
        few thousand characters."""
        limit = self.budget().message_limit
        head = text[: limit * CHARS_PER_TOKEN]
        n = self.count_text(head)
        if n <= limit and len(head) == len(text):
            return content
        keep = max(1, int(len(head) * min(1.0, limit / max(n, 1)) * 0.9))
        while keep > 1 and self.count_text(text[:keep]) > limit:
            keep = int(keep * 0.8)
        note = (
            f" [... truncated: the full message ({len(text):,} characters) is in recall "
            "memory; search it with conversation_search]"
        )
        emit(
            SystemNotice(
                "truncated",
                f"Your message is long ({len(text):,} characters), so the agent sees "
                "its beginning; all of it is saved and searchable.",
            )
        )
        fitted = content.copy()
        fitted["message"] = text[:keep] + note
        return fitted
