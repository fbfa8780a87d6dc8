"""Warm restart orchestration: when to restore and when to save an agent's KV state.

:mod:`.kvstate` keeps the files; this decides their use. Before an agent's first step in
an engine, its saved state is restored unless the live cache already holds at least half
of the prompt. On idle or quit, the state of the agent whose context the backend holds is
saved, cut back to what that agent's next prompt will start with. Only a backend with the
:class:`KVStateBackend` capability takes part; with any other, both are no-ops.
"""

from __future__ import annotations

from pathlib import Path

from ember.core.backend import Backend, KVStateBackend, Prompt
from ember.core.kvstate import KVStateCache


class WarmStart:
    """Restores and saves KV states of one engine's agents."""

    def __init__(self, backend: Backend, cache: KVStateCache | None, db_path: Path) -> None:
        self.backend = backend if isinstance(backend, KVStateBackend) else None
        self.cache = cache if self.backend is not None else None
        self.db_path = db_path
        self.active_agent_id: int | None = None  # whose context the backend holds
        self._tried: set[int] = set()

    @property
    def enabled(self) -> bool:
        """Whether states are saved and restored at all."""
        return self.cache is not None

    def key(self, agent_id: int) -> str:
        """The warm-restart key of an agent: this database file and the agent."""
        return f"{self.db_path.resolve()}#{agent_id}"

    def before_step(self, agent_id: int, prompt: Prompt) -> None:
        """Called before each step: restore the agent's saved state on its first step, if
        the live cache does not already hold the prompt's prefix."""
        self.active_agent_id = agent_id
        if self.cache is None or self.backend is None or agent_id in self._tried:
            return
        self._tried.add(agent_id)
        tokens = self.backend.prompt_tokens(prompt)
        if self.backend.cached_prefix(tokens) >= len(tokens) // 2:
            return
        self.cache.restore(self.backend, self.key(agent_id), tokens)

    def save(self, next_prompt: Prompt) -> bool:
        """Save the active agent's state, cut back to ``next_prompt``'s tokens (its next
        prompt up to where any next event diverges). Returns whether a state was saved."""
        if self.cache is None or self.backend is None or self.active_agent_id is None:
            return False
        upto = self.backend.prompt_tokens(next_prompt)
        return self.cache.save(self.backend, self.key(self.active_agent_id), upto) is not None
