"""The context after a coming flush, read into the model while the user is idle.

A flush puts a new summary at the head of the queue, so everything after it differs from
what the KV cache holds: even with the summary prepared while idle (idleflush.py), the
flushing turn read the whole queue after it again (2,579 tokens, 3.75x a normal turn; the
head's "N prior messages of M" changes with every message, so nothing after it can be
read before the summary is known). Once the summary is prepared, this module also reads
the context as it will be right after that flush — fixed part, the new head (counting the
user's next message in M), the kept messages, up to where the next event begins — and
keeps its KV state as bytes in memory (:class:`PreparedState`). The live cache is not
replaced: idleflush.py saves it before and puts it back after, so a turn that does not
flush still reads only its own tail.

Before each step, :func:`use_state` loads the prepared state when its tokens are a strict
prefix of the step's prompt and the live cache holds less of that prompt: the flushing
turn then reads only the user's message and what automatic recall added. The check is on
tokens, so anything that changes what the state holds (another message first, an edit of
core memory, a different cut or summary, another agent) makes it fail and the step reads
its prompt as before; and a KV state is exact for its tokens, so it never gives a wrong
prompt. The state lives in memory only (one per engine): after a restart the flush reads
as before.

Restoring a state, like a warm restart, leaves Gemma 3's sliding-window layers with only
their last 512 positions (kvstate.py): the restored cache is continued, never rolled
back. A flush that falls back (the state no longer matches) therefore reads the prompt
from its start rather than from the new summary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ember.core.agent.context import AgentContext
from ember.core.agent.prefixstate import NEXT_EVENT, OTHER_EVENT, PREFIX_MARGIN
from ember.core.agent.prepared_summary import PreparedSummary, after_flush
from ember.core.agent.summary import summary_head
from ember.core.llm.backend import KVStateBackend, Prompt
from ember.core.llm.kvstate import common_prefix


@dataclass(frozen=True)
class PreparedState:
    """The KV state of an agent's context as it will be right after a prepared flush."""

    agent_id: int
    tokens: tuple[int, ...]
    data: bytes


def post_flush_tokens(
    context: AgentContext, backend: KVStateBackend, summary: PreparedSummary
) -> list[int]:
    """The tokens the agent's prompt will start with right after ``summary`` is swapped in
    by the flush at the user's next message, up to where that message begins (less a
    margin: a tokenizer may merge across the boundary). [] if the summary no longer
    matches the queue."""
    store = context.store
    queue = store.context_messages(context.agent_id)
    agent = store.get_agent_by_id(context.agent_id)
    if not summary.matches(queue, agent.summary):
        return []
    after = after_flush(queue, len(summary.evicted_ids), agent.summary_hidden)
    # The flush comes after the user's message is stored: M counts it.
    head = summary_head(summary.summary, after.hidden, after.total + 1)
    a, b = (
        backend.prompt_tokens(context.render(queue=after.fresh, summary=head, extra=(event,)))
        for event in (NEXT_EVENT, OTHER_EVENT)
    )
    return a[: max(0, common_prefix(a, b) - PREFIX_MARGIN)]


# (agent id, tokens, cancel): put what ``tokens`` start with for every agent in the cache
Prime = Callable[[int, list[int], "threading.Event | None"], object]


def build_state(
    context: AgentContext,
    backend: KVStateBackend,
    summary: PreparedSummary,
    earlier: PreparedState | None = None,
    cancel: threading.Event | None = None,
    prime: Prime | None = None,
) -> PreparedState | None:
    """Read the post-flush context into the KV cache and keep its state (``earlier`` if it
    already holds exactly those tokens). The live cache is left holding the post-flush
    context: the caller puts its own state back. None if there is nothing to read; raises
    Cancelled when ``cancel`` is set. ``prime`` (the shared prefix state, warmstart.py)
    spares reading the instructions again when the cache cannot roll back to them (a
    put-back or restored one: every preparation after the first)."""
    tokens = post_flush_tokens(context, backend, summary)
    if len(tokens) < 2:
        return None
    if earlier is not None and (earlier.agent_id, earlier.tokens) == (
        context.agent_id,
        tuple(tokens),
    ):
        return earlier
    cached = backend.cached_prefix(tokens)
    if prime is not None and not (cached > 0 and backend.kv_can_continue(cached)):
        prime(context.agent_id, tokens, cancel)
    backend.prefill(tokens, cancel=cancel)
    saved, data = backend.save_kv_state()
    if list(saved) != tokens:  # the cache holds something else: never keep a wrong state
        return None
    return PreparedState(context.agent_id, tuple(tokens), data)


def use_state(
    backend: KVStateBackend, state: PreparedState | None, agent_id: int, prompt: Prompt
) -> int:
    """Before a step of ``agent_id``: load ``state`` if the prompt continues it and the
    live cache holds less of the prompt. Returns the prompt tokens the step will not read
    thanks to it (0 when it was not used)."""
    if state is None or state.agent_id != agent_id:
        return 0
    tokens = backend.prompt_tokens(prompt)
    n = len(state.tokens)
    if n >= len(tokens) or tuple(tokens[:n]) != state.tokens:
        return 0
    cached = backend.cached_prefix(tokens)
    if cached >= n and backend.kv_can_continue(cached):
        return 0  # the live cache serves as well
    try:
        loaded = backend.load_kv_state(state.tokens, state.data)
    except Exception:  # an optimisation: the step reads its prompt as before
        loaded = False
    return n if loaded else 0
