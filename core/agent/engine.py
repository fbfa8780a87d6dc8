"""The agent loop: MemGPT's event loop over a model backend and the one SQLite file.

An :class:`Engine` owns the store, the model backend, the embedder and the tool registry;
:meth:`Engine.agent` gives an :class:`AgentRuntime`, whose methods handle one event each
(user message, login, timed heartbeat) by running steps until the agent sends a message,
stops chaining, hits the step cap, is cancelled, or fails.

The loop itself, one step after another, is :class:`AgentRuntime` (runtime.py).

Engines are not thread-safe by design except for one lock serialising turns: the GUI runs
one engine on its worker thread; the CLI's timed-heartbeat thread takes the same lock.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Sequence

from ember.core.agent import presets
from ember.core.agent.context import AgentContext, OnEvent
from ember.core.agent.context_window import WindowSizing, default_blocks
from ember.core.agent.idleflush import StateSlot, prepare_into
from ember.core.agent.postflush import use_state
from ember.core.agent.prefixstate import (
    NEXT_EVENT,
    OTHER_EVENT,
    PREFIX_MARGIN,
    reference_prompts,
)
from ember.core.agent.prepared_summary import PreparedSummary
from ember.core.agent.runtime import AgentRuntime, record_notice, record_user_message
from ember.core.agent.tools import ToolRegistry
from ember.core.agent.warmstart import WarmStart
from ember.core.kernel.errors import ContextTooSmall
from ember.core.llm.backend import (
    Backend,
    KVStateBackend,
    OnPromptProgress,
    Prompt,
    count_prompt_tokens,
)
from ember.core.llm.config import EngineConfig
from ember.core.llm.kvstate import KVStateCache, common_prefix
from ember.core.memory.embedder import Embedder
from ember.core.memory.recall_index import RecallIndex
from ember.core.step.schema import StepSpec
from ember.core.storage.store import Block, Store

__all__ = [
    "AgentRuntime",
    "Engine",
    "EngineConfig",
    "OnEvent",
    "record_notice",
    "record_user_message",
]


class Engine:
    """Owns the store, the backend, the embedder and the tools; hands out agent runtimes."""

    def __init__(
        self,
        store: Store,
        backend: Backend,
        embedder: Embedder,
        config: EngineConfig | None = None,
        kv_cache: KVStateCache | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.embedder = embedder
        self.config = config or EngineConfig()
        self.warm = WarmStart(backend, kv_cache, store.path, self.prefix_references)
        self.tools = ToolRegistry()
        window = backend.n_ctx
        self.sizing = WindowSizing(
            self.tools,
            backend.chat_format,
            lambda prompt: count_prompt_tokens(backend, prompt),
            self.offered_tools,
            self.config.step_format,
        )
        self.limits = self.sizing.limits(window)
        self.renderer = self.sizing.renderer(window)
        self.reserve = self.sizing.reserve(window)  # the reply reserve
        self.lock = threading.RLock()
        self.recall = RecallIndex(store, embedder)
        self.prepared_summaries: dict[int, PreparedSummary] = {}  # see idleflush.py
        # The context after the coming flush (postflush.py), read after the shared prefix.
        self.prepared_state = StateSlot(prime=self.warm.shared_prefix)
        self._check_window()

    def _check_window(self) -> None:
        """Reject a window too small for any agent of this database (or, in an empty one,
        a new agent from the default presets) before the first message."""
        window = self.backend.n_ctx
        agents = self.store.list_agents()
        cores = [self.store.blocks(a.id) for a in agents] if agents else [default_blocks()]
        needed = max(self.sizing.needed(window, blocks) for blocks in cores)
        if needed > window:
            smallest = max(self.sizing.smallest(blocks) for blocks in cores)
            raise ContextTooSmall(
                f"A context window of {window} tokens is too small: Ember's instructions, "
                f"tools, core memory and one reply need {needed}. Use at least {smallest} "
                "tokens (--ctx or Settings).",
                needed=needed,
                smallest=smallest,
            )

    def smallest_window(self, blocks: Sequence[Block]) -> int:
        """The smallest window that holds the fixed part with ``blocks``."""
        return self.sizing.smallest(blocks)

    def agent(self, name: str | None = None) -> AgentRuntime:
        """The runtime of the named agent (created from the default presets if missing)."""
        return AgentRuntime(self, presets.get_or_create_default(self.store, name).id)

    @property
    def dialogue(self) -> bool:
        """Whether the model writes dialogue replies only (a model without a chat
        template: see dialogue_prompt.py); Ember then keeps its memory for it (automatic
        recall, the memory pass)."""
        return self.renderer.dialogue

    def offered_tools(self) -> list[str]:
        """The functions the agent may call: only ``send_message`` in the dialogue format;
        ``pause_heartbeats`` only while timed heartbeats are on."""
        if self.dialogue:
            return ["send_message"]
        names = list(self.tools.tools)
        if not self.config.timed_heartbeat_minutes:
            names.remove("pause_heartbeats")
        return names

    def describe_tools(self, labels: Sequence[str]) -> str:
        """The tool descriptions of the prompt (with their limits and ``labels``)."""
        return self.tools.describe(self.offered_tools(), labels, self.limits)

    def step_spec(self, labels: Sequence[str], *, reply_only: bool = False) -> StepSpec:
        """What the next step may be (only ``send_message`` when a reply is forced)."""
        names = ["send_message"] if reply_only else self.offered_tools()
        spec = self.tools.spec(names, labels, self.limits)
        return dataclasses.replace(spec, dialogue=True) if self.renderer.dialogue else spec

    def prefix_references(self, agent_id: int) -> tuple[Prompt, Prompt]:
        """Two prompts sharing exactly what this agent's prompt starts with whatever its
        core memory and conversation (for the shared prefix state, prefixstate.py)."""
        labels = [b.label for b in self.store.blocks(agent_id)]
        return reference_prompts(self.renderer, self.describe_tools(labels), labels)

    def context(self, agent_id: int) -> AgentContext:
        """The main context of an agent."""
        return AgentContext(self, agent_id)

    def prepare_flush(self, agent_id: int, cancel: threading.Event | None = None) -> bool:
        """While the user is idle: write the summary the agent's coming flush needs, once
        its queue has crossed the alert line (idleflush.py). Returns whether one is ready;
        False below the alert line or when ``cancel`` was set (then the flush summarises
        as usual). With a KV cache, the context after that flush is read too
        (postflush.py), so the flushing turn reads only its new tail. The live KV cache is
        kept for the next step."""
        with self.lock:
            context = self.context(agent_id)
            next_prompt = context.render(extra=(NEXT_EVENT,))
            return prepare_into(
                self.prepared_summaries, context, next_prompt, cancel, self.prepared_state
            )

    def use_prepared_state(self, agent_id: int, prompt: Prompt) -> int:
        """Before a step: load the state prepared for the context after a flush if the
        step's prompt continues it (postflush.py). Returns the prompt tokens it spares the
        step (0 when not used; it is used once)."""
        backend = self.backend
        if not isinstance(backend, KVStateBackend) or self.prepared_state.state is None:
            return 0
        with self.lock:
            spared = use_state(backend, self.prepared_state.state, agent_id, prompt)
            if spared:
                self.prepared_state.state = None
            return spared

    def warm_next(
        self,
        agent_id: int,
        cancel: threading.Event | None = None,
        on_progress: OnPromptProgress | None = None,
    ) -> int:
        """While the user is idle: read into the model's KV cache what the agent's next
        prompt will start with (everything before the next event: in the dialogue format
        the last message and the human block, which the memory pass may have changed), so
        that the next turn reads only what the new message brings. Returns the tokens read;
        0 for a backend without a KV cache. Raises Cancelled when ``cancel`` is set (what
        was read by then stays in the cache)."""
        backend = self.backend
        if not isinstance(backend, KVStateBackend):
            return 0
        with self.lock:
            start = self._next_start(backend, agent_id)
            if not start:
                return 0
            self.warm.active_agent_id = agent_id
            if common_prefix(backend.context_tokens(), start) >= len(start):
                # All cached. (A prefill re-reads the last token, a rollback a restored
                # cache, such as one put back by prepare_flush, cannot do: it read it all.)
                return 0
            return backend.prefill(start, cancel=cancel, on_progress=on_progress)

    def prepare_agent(
        self,
        agent_id: int,
        cancel: threading.Event | None = None,
        on_progress: OnPromptProgress | None = None,
    ) -> int:
        """Before the agent's first message (a new agent, or the first after a start): its
        saved state restored, or else the shared prefix state restored or, the first time,
        built and saved (warmstart.py), then the rest of what its next prompt starts with
        read (:meth:`warm_next`), so that its first turn reads only the new message.
        ``on_progress(done, total)`` counts tokens of that start. Returns the tokens read;
        0 for a backend without a KV cache. Raises Cancelled when ``cancel`` is set."""
        backend = self.backend
        if not isinstance(backend, KVStateBackend):
            return 0
        with self.lock:
            start = self._next_start(backend, agent_id)
            total = len(start)

            def first(done: int, _whole: int) -> None:
                if on_progress is not None:
                    on_progress(min(done, total), total)

            prompt = self.context(agent_id).render(extra=(NEXT_EVENT,))
            read = self.warm.before_step(agent_id, prompt, cancel, first)
            if not start:
                return read

            def rest(done: int, todo: int) -> None:
                if on_progress is not None:  # on from what the cache held
                    on_progress(total - todo + done, total)

            self.warm.active_agent_id = agent_id
            return read + backend.prefill(start, cancel=cancel, on_progress=rest)

    def _next_start(self, backend: KVStateBackend, agent_id: int) -> list[int]:
        """The tokens every next prompt of the agent starts with, whatever its next event
        (less :data:`PREFIX_MARGIN`); [] when there are none."""
        context = self.context(agent_id)
        a = backend.prompt_tokens(context.render(extra=(NEXT_EVENT,)))
        b = backend.prompt_tokens(context.render(extra=(OTHER_EVENT,)))
        n = common_prefix(a, b) - PREFIX_MARGIN
        return a[:n] if n > 0 else []

    def save_warm_state(self) -> bool:
        """Save the backend's KV cache for the agent it holds (on idle or quit).

        The cache is first cut back to what the agent's next prompt will start with, so
        the next start can continue it. Returns whether a state was saved.
        """
        agent_id = self.warm.active_agent_id
        if not self.warm.enabled or agent_id is None:
            return False
        with self.lock:
            return self.warm.save(self.context(agent_id).render(extra=(NEXT_EVENT,)))

    def close(self) -> None:
        """Save the warm state and release the model (the store stays open).

        Warm restart is an optimisation: a failure to save never stops the model closing.
        """
        try:
            self.save_warm_state()
        except Exception as exc:  # logged: the next start is only slower
            print(f"ember: could not save the warm state: {exc}", file=sys.stderr)
        finally:
            self.backend.close()
