"""A recursive summary written ahead of a flush (idleflush.py writes it while the user is
idle; ``AgentContext.flush`` swaps it in if it still matches the queue), and what a flush
leaves of the queue (:func:`after_flush`, shared by the flush and by the context read ahead
of it, postflush.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ember.core.storage.messages import Kind
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


@dataclass(frozen=True)
class AfterFlush:
    """What a flush evicting the oldest ``cut`` messages of a queue leaves."""

    evicted: list[Message]
    stale: list[Message]  # memory-pressure alerts among the kept: retired with the flush
    fresh: list[Message]  # the queue after the flush
    hidden: int  # messages hidden behind the new summary ("N prior messages …")
    total: int  # ("… of M")


def after_flush(queue: Sequence[Message], cut: int, hidden_before: int) -> AfterFlush:
    """The queue after a flush of its oldest ``cut`` messages, and the counts of the new
    summary's head (``hidden_before``: the agent's ``summary_hidden``)."""
    evicted, kept = list(queue[:cut]), list(queue[cut:])
    stale = [m for m in kept if m.kind == Kind.MEMORY_PRESSURE]  # the next fill alerts anew
    fresh = [m for m in kept if m.kind != Kind.MEMORY_PRESSURE]
    hidden = hidden_before + cut + len(stale)
    return AfterFlush(evicted, stale, fresh, hidden, hidden + len(fresh))
