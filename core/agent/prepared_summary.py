"""A recursive summary written ahead of a flush (idleflush.py writes it while the user is
idle; ``AgentContext.flush`` swaps it in if it still matches the queue)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ember.core.storage.store import Message


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
