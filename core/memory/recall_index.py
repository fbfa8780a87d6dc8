"""Recall memory's vector index: every searchable message embedded, once.

Messages are embedded as they are committed (the user's, the agent's replies). Messages
recorded without a model (typed while the app was closing, or before the model loaded) are
embedded by a backfill, once per engine and agent, before the agent's next turn, so that
recall's vector search finds them too.
"""

from __future__ import annotations

from ember.core.memory.embedder import Embedder
from ember.core.storage.store import Store


class RecallIndex:
    """Embeds an agent's searchable message texts into recall's vector index."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._backfilled: set[int] = set()

    def embed(self, agent_id: int, items: list[tuple[int, str]]) -> None:
        """Embed ``(message id, text)`` pairs of one agent."""
        if not items:
            return
        vectors = self.embedder.embed([t for _, t in items])
        with self.store.transaction():
            for (message_id, _), vector in zip(items, vectors, strict=True):
                self.store.set_message_embedding(message_id, agent_id, vector)

    def backfill(self, agent_id: int, batch: int = 64) -> None:
        """Once per agent: embed messages recorded without embeddings."""
        if agent_id in self._backfilled:
            return
        self._backfilled.add(agent_id)
        while missing := self.store.messages_missing_embedding(agent_id, limit=batch):
            self.embed(agent_id, [(m.id, m.text) for m in missing])
