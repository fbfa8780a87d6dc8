"""Warm restart orchestration: when to restore and when to save an agent's KV state.

:mod:`~ember.core.llm.kvstate` keeps the files; this decides their use. Before an agent's
first step in an engine, its saved state is restored unless the live cache already holds at
least half of the prompt (and can continue from there). An agent without a usable state of its own
gets the shared prefix state instead (:mod:`.prefixstate`): restored from the cache, or,
the first time, built by evaluating exactly the shared tokens and saved for every later
agent. On idle or quit, the state of the agent whose context the backend holds is saved,
cut back to what that agent's next prompt will start with. Only a backend with the
:class:`KVStateBackend` capability takes part; with any other, all of this is a no-op.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ember.core.agent.prefixstate import prefix_key, shared_prefix
from ember.core.kernel.errors import Cancelled
from ember.core.llm.backend import Backend, KVStateBackend, OnPromptProgress, Prompt
from ember.core.llm.kvstate import KVStateCache

# agent id -> two prompts that share exactly what that agent's prompt starts with
References = Callable[[int], tuple[Prompt, Prompt]]


class WarmStart:
    """Restores and saves KV states of one engine's agents."""

    def __init__(
        self,
        backend: Backend,
        cache: KVStateCache | None,
        db_path: Path,
        references: References | None = None,
    ) -> None:
        self.backend = backend if isinstance(backend, KVStateBackend) else None
        self.cache = cache if self.backend is not None else None
        self.db_path = db_path
        self.references = references
        self.active_agent_id: int | None = None  # whose context the backend holds
        self._tried: set[int] = set()

    @property
    def enabled(self) -> bool:
        """Whether states are saved and restored at all."""
        return self.cache is not None

    def key(self, agent_id: int) -> str:
        """The warm-restart key of an agent: this database file and the agent."""
        return f"{self.db_path.resolve()}#{agent_id}"

    def before_step(
        self,
        agent_id: int,
        prompt: Prompt,
        cancel: threading.Event | None = None,
        on_progress: OnPromptProgress | None = None,
    ) -> int:
        """Called before each step: on the agent's first step, restore its saved state or
        the shared prefix state, unless the live cache already serves the prompt.

        Returns how many prompt tokens were evaluated here (building the shared prefix
        state the first time; 0 otherwise). Raises Cancelled when ``cancel`` is set while
        building it (the agent's first step then tries again)."""
        self.active_agent_id = agent_id
        if self.cache is None or self.backend is None or agent_id in self._tried:
            return 0
        self._tried.add(agent_id)
        tokens = self.backend.prompt_tokens(prompt)
        if self._live_serves(tokens, len(tokens) // 2):
            return 0
        if self.cache.restore(self.backend, self.key(agent_id), tokens) > 0:
            return 0
        try:
            return self._shared_prefix(agent_id, tokens, cancel, on_progress)
        except Cancelled:
            self._tried.discard(agent_id)
            raise

    def shared_prefix(
        self, agent_id: int, tokens: list[int], cancel: threading.Event | None = None
    ) -> int:
        """Put the shared prefix state in the cache for ``tokens`` of ``agent_id`` unless
        the live cache serves them (restored, or built and saved); the tokens evaluated.
        A no-op without a state cache."""
        if self.cache is None or self.backend is None:
            return 0
        return self._shared_prefix(agent_id, tokens, cancel, None)

    def _live_serves(self, tokens: list[int], at_least: int) -> bool:
        """Whether the live cache holds ``at_least`` leading ``tokens`` and can continue
        from there (a restored state cannot roll back its sliding-window layers)."""
        assert self.backend is not None
        cached = self.backend.cached_prefix(tokens)
        return cached >= max(1, at_least) and self.backend.kv_can_continue(cached)

    def _shared_prefix(
        self,
        agent_id: int,
        tokens: list[int],
        cancel: threading.Event | None,
        on_progress: OnPromptProgress | None,
    ) -> int:
        """Put the shared prefix state in the cache: restored, or built and saved."""
        assert self.backend is not None and self.cache is not None
        if self.references is None:
            return 0
        prefix = shared_prefix(self.backend, self.references(agent_id), tokens)
        if len(prefix) < self.cache.min_prefix or self._live_serves(tokens, len(prefix)):
            return 0
        key = prefix_key(prefix)
        if self.cache.restore(self.backend, key, tokens) >= len(prefix):
            return 0
        # Exactly the shared tokens: every agent's prompt continues it. A build cancelled
        # part-way (the user sent while it was prepared) goes on from where it stopped.
        held = self.backend.cached_prefix(prefix)
        held = held if held > 0 and self.backend.kv_can_continue(held) else 0
        self.backend.truncate_kv(held)
        whole = len(tokens) - 1  # the step's reading is one measure: this prefix, then the rest
        progress = None if on_progress is None else lambda done, _t: on_progress(held + done, whole)
        evaluated = self.backend.prefill(prefix, cancel=cancel, on_progress=progress)
        self.cache.save(self.backend, key)
        return evaluated

    def save(self, next_prompt: Prompt) -> bool:
        """Save the active agent's state, cut back to ``next_prompt``'s tokens (its next
        prompt up to where any next event diverges). Returns whether a state was saved."""
        if self.cache is None or self.backend is None or self.active_agent_id is None:
            return False
        upto = self.backend.prompt_tokens(next_prompt)
        return self.cache.save(self.backend, self.key(self.active_agent_id), upto) is not None
