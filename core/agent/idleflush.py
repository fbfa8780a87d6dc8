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
KV cache back to there; with a KV cache the context after the coming flush is then read too
and kept as a state in memory (postflush.py), so that the flushing turn reads only its new
tail. The live cache (up to where the agent's next prompt diverges) is saved before and put
back after, so the next normal step also reads only its own tail. Put back, it is a
restored state, which Gemma 3's sliding-window layers can only continue: a flush that
cannot use the prepared state reads its prompt from the start (the fixed part more than
before). Reading the live context again instead cost the whole queue, every time the user
is idle past the alert line. If the user writes first, the front end cancels the
preparation; the live cache is put back either way.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ember.core.agent.context import AgentContext
from ember.core.agent.postflush import PreparedState, Prime, build_state, post_flush_tokens
from ember.core.agent.prepared_summary import PreparedSummary
from ember.core.kernel.errors import Cancelled
from ember.core.llm.backend import KVStateBackend, Prompt
from ember.core.llm.kvstate import common_prefix
from ember.core.storage.store import Message


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
    states: StateSlot | None = None,
) -> PreparedSummary | None:
    """The summary the coming flush needs (``earlier`` if it still matches), or None when
    the queue is below the alert line. With ``states`` (a backend with a KV cache), the
    context after that flush is read too and its state kept there (postflush.py). Raises
    Cancelled when ``cancel`` is set before the summary is ready; the live KV cache is put
    back either way (``next_prompt``: the agent's next prompt up to where any next event
    diverges)."""
    store = context.store
    queue = store.context_messages(context.agent_id)
    previous = store.get_agent_by_id(context.agent_id).summary
    cut = preparation_cut(context)
    if cut == 0:
        return None
    ready = None
    if earlier is not None and earlier.matches(queue, previous) and len(earlier.evicted_ids) >= cut:
        ready = earlier  # still evicts enough for the queue as it is now
    backend = context.backend if isinstance(context.backend, KVStateBackend) else None
    if backend is None:
        return ready or _summarize(context, queue[:cut], previous, cancel)
    if (
        ready is not None
        and states is not None
        and _state_is_current(context, backend, ready, states)
    ):
        return ready  # nothing to write or read
    with _live_kept(backend, next_prompt):
        if ready is None:
            ready = _summarize(context, queue[:cut], previous, cancel)
        if states is not None:
            # One state at a time (21 MB at 8k), never a stale one kept. Stopped when the
            # user writes: the flush then reads its prompt as before.
            earlier_state, states.state = states.state, None
            with contextlib.suppress(Cancelled):
                states.state = build_state(
                    context, backend, ready, earlier_state, cancel, states.prime
                )
    return ready


def _summarize(
    context: AgentContext,
    evicted: Sequence[Message],
    previous: str,
    cancel: threading.Event | None,
) -> PreparedSummary:
    summary = context.summarize(evicted, _ignore, context.budget().summary_tokens, cancel)
    return PreparedSummary(context.agent_id, tuple(m.id for m in evicted), previous, summary)


def _state_is_current(
    context: AgentContext, backend: KVStateBackend, ready: PreparedSummary, states: StateSlot
) -> bool:
    state = states.state
    if state is None or state.agent_id != context.agent_id:
        return False
    return state.tokens == tuple(post_flush_tokens(context, backend, ready))


@contextlib.contextmanager
def _live_kept(backend: KVStateBackend, next_prompt: Prompt) -> Iterator[None]:
    """Save the live KV cache (cut back to what the next prompt shares with it) and put it
    back afterwards: writing the summary and reading the post-flush context both replace
    it. (Put back, it is a restored state, which Gemma 3's sliding-window layers can only
    continue: the agent's next step does; reading it again instead cost the whole queue.)"""
    cached = backend.context_tokens()
    keep = common_prefix(cached, backend.prompt_tokens(next_prompt))
    saved: tuple[list[int], bytes] | None = None
    if keep > 1:
        backend.truncate_kv(keep)
        with contextlib.suppress(Exception):  # keeping it is an optimisation
            saved = backend.save_kv_state()
    try:
        yield
    finally:
        if saved is not None and backend.context_tokens() != saved[0]:
            loaded = False
            with contextlib.suppress(Exception):
                loaded = backend.load_kv_state(*saved)
            if not loaded:
                backend.truncate_kv(0)  # the next step reads its prompt from the start


@dataclass
class StateSlot:
    """Where the engine keeps its one prepared post-flush state (postflush.py)."""

    state: PreparedState | None = None
    prime: Prime | None = None  # the shared prefix state put in the cache (warmstart.py)


def prepare_into(
    prepared: dict[int, PreparedSummary],
    context: AgentContext,
    next_prompt: Prompt,
    cancel: threading.Event | None = None,
    states: StateSlot | None = None,
) -> bool:
    """:func:`prepare_summary` for ``context``'s agent, kept in ``prepared`` (by agent).
    Returns whether one is ready; False below the alert line or when cancelled."""
    agent_id = context.agent_id
    try:
        ready = prepare_summary(context, next_prompt, cancel, prepared.get(agent_id), states)
    except Cancelled:
        return False
    if ready is None:
        prepared.pop(agent_id, None)
        if states is not None and states.state is not None and states.state.agent_id == agent_id:
            states.state = None
        return False
    prepared[agent_id] = ready
    return True


def _ignore(event: object) -> None:
    return None
