"""Context management: the budget of the main context, memory pressure, eviction, the
recursive summary, truncation of over-sized messages, and token counting.

Token counts always come from the loaded model's own tokenizer, on the rendered prompt. The
budget is the window minus the reply reserve. At 70% of it the agent gets one
memory-pressure alert; at 100%, before the step that would overflow, the oldest ≈50% of
the FIFO queue (by tokens) is evicted — never separating a function call from its result —
and the summary at the queue's head is rewritten from the previous summary plus the
evicted messages. Evicted messages stay in recall storage.

The summary request is rendered as the *same* prompt as the main context, cut after the
evicted messages, plus one request event: its whole prefix is already in llama.cpp's KV
cache, so summarising costs the request and the summary tokens, and the flush as a whole
costs one re-read of what follows the new summary.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ember.core import timeutil
from ember.core.backend import Backend, Constraint, Prompt, count_prompt_tokens
from ember.core.errors import EmberError
from ember.core.events import ContextUsage, Event, PromptProgress, SummaryProgress, SystemNotice
from ember.core.prompt import PromptRenderer
from ember.core.step.gbnf import CHAR_RULE, string_rule
from ember.core.store import Message, Store

OnEvent = Callable[[Event], None]
SummaryStage = Literal["started", "writing", "done"]

WARN_FRACTION = 0.70
EVICT_FRACTION = 0.50
# A flush frees at least down to this share of the budget, so that the summary and the
# reply that follow do not land back above the alert line.
REFILL_FRACTION = 0.55
SUMMARY_MAX_CHARS = 800
SUMMARY_MAX_TOKENS = 320
# A single message may take at most this share of the budget in context.
MAX_MESSAGE_SHARE = 0.25
# A summary progress event every this many generated pieces.
PROGRESS_EVERY = 8

PRESSURE_ALERT = (
    "Memory pressure: the conversation will soon be trimmed to fit your context window. "
    "Save anything important from it to core memory or archival memory now."
)
SUMMARY_REQUEST = (
    "Your context window is full. The messages above (and the summary at the top, if any) "
    "are about to be hidden. Write a short summary of them that keeps names, facts about the "
    'user, and decisions. Reply only as {"summary": "..."}.'
)
# The summary starts with a fixed primer and has a minimum length: weak base models
# otherwise close the string at once.
SUMMARY_PRIMER = "Earlier, "
SUMMARY_CONSTRAINT = Constraint(
    gbnf=(
        f'root ::= "{{\\"summary\\": " {string_rule(SUMMARY_MAX_CHARS, 16, SUMMARY_PRIMER)} "}}"\n'
        f"{CHAR_RULE}\n"
    ),
    json_schema={
        "type": "object",
        "properties": {"summary": {"type": "string", "maxLength": SUMMARY_MAX_CHARS}},
        "required": ["summary"],
        "additionalProperties": False,
    },
)


@dataclass(frozen=True)
class Budget:
    """Token thresholds of one context window."""

    window: int
    reserve: int

    @property
    def budget(self) -> int:
        """Tokens the prompt may use: window minus the reply reserve."""
        return max(1, self.window - self.reserve)

    @property
    def warn_at(self) -> int:
        """Memory-pressure alert threshold (70% of budget)."""
        return int(self.budget * WARN_FRACTION)

    @property
    def flush_at(self) -> int:
        """Eviction threshold (100% of budget)."""
        return self.budget

    def usage(self, used: int) -> ContextUsage:
        """A ContextUsage event for ``used`` prompt tokens."""
        return ContextUsage(used, self.budget, self.window, self.warn_at, self.flush_at)


def eviction_cut(
    queue: Sequence[Message],
    tokens: Sequence[int],
    fraction: float = EVICT_FRACTION,
    at_least: int = 0,
) -> int:
    """How many of the oldest messages to evict: ≈``fraction`` of the queue's tokens, and
    at least ``at_least`` tokens (so a flush does not land back above the alert line).

    The cut never leaves a function result without the step that called it, and always
    keeps the newest message (the event being answered). Returns 0 if nothing can go.
    """
    if len(queue) < 2:
        return 0
    target = max(sum(tokens) * fraction, at_least)
    acc = 0
    cut = 0
    while cut < len(queue) - 1 and acc < target:
        acc += tokens[cut]
        cut += 1
    # A function result belongs with its call: evict both, or neither.
    while cut < len(queue) - 1 and queue[cut].role == "tool":
        cut += 1
    return min(cut, len(queue) - 1)


def summary_head(summary: str, hidden: int, total: int) -> str:
    """The text at the head of the queue after a flush."""
    return (
        f"{hidden} prior messages of {total} are hidden from view (they stay searchable with "
        f"conversation_search). Summary of them: {summary}"
    )


def parse_summary(raw: str) -> str:
    """The summary text from the model's constrained output."""
    try:
        return str(json.loads(raw)["summary"]).strip()
    except (ValueError, KeyError, TypeError):
        return raw.strip()


def event_time() -> str:
    """The local time as events show it."""
    return timeutil.human_time(timeutil.now())


class AgentContext:
    """One agent's main context: rendering, counting, and keeping it within the budget."""

    def __init__(
        self,
        store: Store,
        backend: Backend,
        renderer: PromptRenderer,
        describe_tools: Callable[[Sequence[str]], str],
        budget: Budget,
        agent_id: int,
    ) -> None:
        self.store = store
        self.backend = backend
        self.renderer = renderer
        self.describe_tools = describe_tools
        self.budget = budget
        self.agent_id = agent_id

    # -- rendering and counting ---------------------------------------------------------------

    def render(self, queue: Sequence[Message] | None = None, extra: Sequence[str] = ()) -> Prompt:
        """The agent's main context (or with ``queue`` instead of the stored one)."""
        agent = self.store.get_agent_by_id(self.agent_id)
        blocks = self.store.blocks(self.agent_id)
        return self.renderer.render(
            self.describe_tools([b.label for b in blocks]),
            blocks,
            agent.summary,
            queue if queue is not None else self.store.context_messages(self.agent_id),
            extra,
        )

    def count(self, prompt: Prompt) -> int:
        """Tokens the model reads for ``prompt``."""
        return count_prompt_tokens(self.backend, prompt)

    def count_text(self, text: str) -> int:
        """Tokens of a piece of data."""
        return len(self.backend.tokenize(text))

    def usage(self) -> ContextUsage:
        """How full the main context is right now."""
        return self.budget.usage(self.count(self.render()))

    # -- keeping within budget ------------------------------------------------------------------

    def prepare(self, emit: OnEvent, cancel: threading.Event | None = None) -> tuple[Prompt, int]:
        """Render the next prompt within budget: flush when full, alert when nearly full.
        Raises Cancelled when ``cancel`` is set during a flush (nothing is evicted then)."""
        budget = self.budget
        prompt = self.render()
        used = self.count(prompt)
        while used > budget.flush_at:
            if not self.flush(emit, used - int(budget.budget * REFILL_FRACTION), cancel):
                raise EmberError(
                    f"The context window ({budget.window} tokens) is too small for the "
                    "instructions, core memory and the newest message. Use a larger context "
                    "size (--ctx or Settings)."
                )
            prompt = self.render()
            used = self.count(prompt)
        if used > budget.warn_at and not self._has_pressure_alert():
            # For the agent only: front ends see the usage crossing warn_at.
            content = {"type": "system_alert", "message": PRESSURE_ALERT, "time": event_time()}
            self.store.add_message(self.agent_id, "user", "memory_pressure", content)
            prompt = self.render()
            used = self.count(prompt)
        return prompt, used

    def _has_pressure_alert(self) -> bool:
        return any(m.kind == "memory_pressure" for m in self.store.context_messages(self.agent_id))

    def _message_tokens(self, message: Message) -> int:
        if message.tokens is None:
            n = self.count_text(json.dumps(message.content, ensure_ascii=False)) + 2
            self.store.set_message_tokens(message.id, n)
            return n
        return message.tokens

    def flush(self, emit: OnEvent, excess: int = 0, cancel: threading.Event | None = None) -> bool:
        """Evict ≈50% of the queue (at least ``excess`` tokens) into recall and rewrite the
        summary. False if nothing can be evicted. The summary is written first and the
        eviction committed after it, so a cancelled or failed summary evicts nothing."""
        queue = self.store.context_messages(self.agent_id)
        tokens = [self._message_tokens(m) for m in queue]
        cut = eviction_cut(queue, tokens, at_least=excess)
        if cut == 0:
            return False
        agent = self.store.get_agent_by_id(self.agent_id)
        summary = self.summarize(queue[:cut], emit, cancel)
        hidden = agent.summary_hidden + cut
        head = summary_head(summary, hidden, hidden + len(queue) - cut)
        with self.store.transaction():
            self.store.evict_messages(m.id for m in queue[:cut])
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
        cancel: threading.Event | None = None,
    ) -> str:
        """Recursive summary of the current summary plus ``evicted``, in pieces if needed,
        with progress events; raises Cancelled when ``cancel`` is set.

        The first piece is rendered exactly like the main context cut after the evicted
        messages, so its prompt is a KV-cache hit up to the request.
        """
        backend = self.backend
        max_tokens = min(SUMMARY_MAX_TOKENS, backend.n_ctx // 4)
        room = backend.n_ctx - max_tokens - 8
        blocks = self.store.blocks(self.agent_id)
        tools = self.describe_tools([b.label for b in blocks])
        summary = self.store.get_agent_by_id(self.agent_id).summary
        request = (json.dumps({"type": "system_alert", "message": SUMMARY_REQUEST}),)

        def render(piece: list[Message]) -> Prompt:
            return self.renderer.render(tools, blocks, summary, piece, request)

        pieces: list[list[Message]] = [[]]
        for message in evicted:
            candidate = [*pieces[-1], message]
            if pieces[-1] and self.count(render(candidate)) > room:
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
            for chunk in backend.generate(
                render(piece),
                constraint=SUMMARY_CONSTRAINT,
                max_tokens=max_tokens,
                temperature=0.3,
                cancel=cancel,
                on_prompt_progress=reading,
            ):
                chunks.append(chunk)
                if len(chunks) % PROGRESS_EVERY == 1:
                    progress("writing", number, len(chunks))
            summary = parse_summary("".join(chunks))
        progress("done", len(pieces), 0)
        return summary

    # -- over-sized messages --------------------------------------------------------------------

    def fit_message(
        self, content: dict[str, Any], key: str, text: str, emit: OnEvent
    ) -> dict[str, Any]:
        """Truncate an over-sized message in context; recall keeps it whole."""
        limit = int(self.budget.budget * MAX_MESSAGE_SHARE)
        n = self.count_text(text)
        if n <= limit:
            return content
        keep = max(1, int(len(text) * limit / n * 0.9))
        while keep > 1 and self.count_text(text[:keep]) > limit:
            keep = int(keep * 0.8)
        note = (
            f" [... truncated: the full message ({len(text)} characters) is in recall "
            "memory; search it with conversation_search]"
        )
        emit(
            SystemNotice(
                "truncated",
                f"Your message is long ({n} tokens), so the agent sees "
                "its beginning; all of it is saved and searchable.",
            )
        )
        return {**content, key: text[:keep] + note}
