"""Summaries prepared while idle (DESIGN §3: a flush must not stall the user).

Once an agent's queue has crossed the alert line, the front end calls
:meth:`Engine.prepare_flush` while the user is not typing (the GUI on an idle timer, the CLI
while it waits for the next line). It picks the messages the coming flush will evict — the
oldest ones holding about half of the queue budget, never splitting a function call from
its result, leaving the queue below the alert line — and writes their recursive summary
now. The flush then only swaps it in, if it is still valid: the queue still starts with
exactly those messages, the agent's summary is still the one it was written from, and the
queue lands below the alert line with it (:meth:`PreparedSummary.matches`, checked by
``AgentContext.flush``). Otherwise the flush summarises as before (with progress, and
cancellable). Evicted messages stay in recall either way.

Writing the summary reads the main context cut after those messages, which rolls the live
KV cache back to there: the cache is first cut to what the agent's next prompt will start
with, kept in memory, and put back afterwards, so the next normal step still reads only
its own tail. If the user writes first, the front end cancels the preparation.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.core.backend import KVStateBackend, Prompt
from ember.core.errors import Cancelled
from ember.core.kvstate import common_prefix
from ember.core.store import Message

if TYPE_CHECKING:
    from ember.core.context import AgentContext


@dataclass(frozen=True)
class PreparedSummary:
    """A recursive summary written ahead of a flush."""

    agent_id: int
    evicted_ids: tuple[int, ...]  # the oldest messages of the queue it summarises, in order
    previous: str  # the agent's summary (head) it was written from
    summary: str

    def matches(self, queue: Sequence[Message], summary: str) -> bool:
        """Whether it still summarises the head of ``queue`` under the same summary."""
        n = len(self.evicted_ids)
        return (
            summary == self.previous
            and 0 < n < len(queue)
            and tuple(m.id for m in queue[:n]) == self.evicted_ids
        )


def preparation_cut(context: AgentContext) -> int:
    """How many of the oldest messages the coming flush should evict: the flush's own rule
    (``eviction_cut``) applied as if the queue had just filled its budget, i.e. the oldest
    messages holding about half of the queue budget. 0 below the alert line."""
    budget = context.budget()
    used = context.count(context.render())
    if used <= budget.warn_at:
        return 0
    queue = context.store.context_messages(context.agent_id)
    # eviction_cut keeps half of (used - fixed); evicting half the budget keeps this much.
    kept = max(1, (used - budget.fixed) - budget.queue // 2)
    return context.eviction_cut(queue, budget, budget.fixed + 2 * kept)


def prepare_summary(
    context: AgentContext,
    next_prompt: Prompt,
    cancel: threading.Event | None = None,
    earlier: PreparedSummary | None = None,
) -> PreparedSummary | None:
    """The summary the coming flush needs (``earlier`` if it still matches), or None when
    the queue is below the alert line. Raises Cancelled when ``cancel`` is set; the live
    KV cache is put back either way (``next_prompt``: the agent's next prompt up to where
    any next event diverges)."""
    store = context.store
    queue = store.context_messages(context.agent_id)
    previous = store.get_agent_by_id(context.agent_id).summary
    cut = preparation_cut(context)
    if cut == 0:
        return None
    if earlier is not None and earlier.matches(queue, previous) and len(earlier.evicted_ids) >= cut:
        return earlier  # still evicts enough for the queue as it is now
    evicted = queue[:cut]
    with PreservedCache(context.backend, next_prompt):
        summary = context.summarize(evicted, _ignore, context.budget().summary_tokens, cancel)
    return PreparedSummary(context.agent_id, tuple(m.id for m in evicted), previous, summary)


def prepare_into(
    prepared: dict[int, PreparedSummary],
    context: AgentContext,
    next_prompt: Prompt,
    cancel: threading.Event | None = None,
) -> bool:
    """:func:`prepare_summary` for ``context``'s agent, kept in ``prepared`` (by agent).
    Returns whether one is ready; False below the alert line or when cancelled."""
    agent_id = context.agent_id
    try:
        ready = prepare_summary(context, next_prompt, cancel, prepared.get(agent_id))
    except Cancelled:
        return False
    if ready is None:
        prepared.pop(agent_id, None)
        return False
    prepared[agent_id] = ready
    return True


class PreservedCache:
    """Keeps the live KV cache (cut to ``next_prompt``'s shared prefix) across other work.

    The saved state can only be continued from its end (sliding-window layers), which is
    exactly what the next step does. A backend without a KV cache is left alone."""

    def __init__(self, backend: object, next_prompt: Prompt) -> None:
        self.backend = backend if isinstance(backend, KVStateBackend) else None
        self.next_prompt = next_prompt
        self.saved: tuple[list[int], bytes] | None = None

    def __enter__(self) -> PreservedCache:
        backend = self.backend
        if backend is None:
            return self
        cached = backend.context_tokens()
        keep = common_prefix(cached, backend.prompt_tokens(self.next_prompt))
        if keep < len(cached):
            backend.truncate_kv(keep)
        if keep > 0 and backend.kv_can_continue(keep):
            self.saved = backend.save_kv_state()
        return self

    def __exit__(self, *exc: object) -> None:
        backend, saved = self.backend, self.saved
        if backend is not None and saved is not None and not backend.load_kv_state(*saved):
            backend.truncate_kv(0)  # rejected: the next step reads from the start


def _ignore(event: object) -> None:
    return None
