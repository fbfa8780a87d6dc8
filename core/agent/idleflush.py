"""Summaries prepared while idle, so that a flush does not make the user wait.

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
KV cache back to there; the rest of the live context (up to where the agent's next prompt
diverges) is then read again, still while idle, so the next normal step reads only its own
tail. Saving the cache and loading it back would be faster but would turn it into a
restored state, which Gemma 3's sliding-window layers can only continue: the flush's
rollback to the new summary would then re-read the whole prompt (measured: 2,685 tokens
instead of ~600). If the user writes first, the front end cancels the preparation.
"""

from __future__ import annotations

import contextlib
import threading

from ember.core.agent.context import AgentContext
from ember.core.agent.prepared_summary import PreparedSummary
from ember.core.kernel.errors import Cancelled
from ember.core.llm.backend import KVStateBackend, Prompt
from ember.core.llm.kvstate import common_prefix


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
    backend = context.backend if isinstance(context.backend, KVStateBackend) else None
    live: list[int] = []
    if backend is not None:
        cached = backend.context_tokens()
        live = cached[: common_prefix(cached, backend.prompt_tokens(next_prompt))]
    summary = context.summarize(evicted, _ignore, context.budget().summary_tokens, cancel)
    if backend is not None and live:
        # The summary rolled the cache back to the cut: read the rest of the live context
        # again now, so the next step reads only its own tail. Stopped when the user writes
        # (that step then reads what is missing); the summary is ready either way.
        with contextlib.suppress(Cancelled):
            backend.prefill(live, cancel=cancel)
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


def _ignore(event: object) -> None:
    return None
