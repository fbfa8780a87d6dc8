"""The budget of an agent's main context, in model tokens.

The window minus the reply reserve (the longest step the grammar allows) is the budget. Its
**fixed part** (system, tools, examples, core memory) is there before the first message;
automatic recall has a **room** of its own while it is on; the **queue budget** is the rest,
and the thresholds apply to it: the memory-pressure alert at 70% of it, eviction of ≈50% of
the queue's tokens when it is full, landing below the alert line with room for the new
summary. context.py keeps the context within these figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from ember.core.kernel.events import ContextUsage

WARN_FRACTION = 0.70
EVICT_FRACTION = 0.50
# The new summary may take this share of the queue budget (so a flush of 50% lands below
# the alert line), and never more than SUMMARY_MAX_TOKENS.
SUMMARY_SHARE = 0.10
SUMMARY_MAX_TOKENS = 320
# Tokens of the head's own words around the summary ("N prior messages of M…").
SUMMARY_HEAD_TOKENS = 40
# The least queue budget in which a flush of half the queue, with the new summary and its
# head, lands below the alert line. A message or a tool step is 10-35% of a small queue,
# so recall's room only comes out of a queue budget above twice this: at --ctx 2048 (a
# queue budget of 470-560 tokens with the bundled model) there is no room, and no recall.
FLUSH_QUEUE_TOKENS = int(SUMMARY_HEAD_TOKENS / (WARN_FRACTION - EVICT_FRACTION - SUMMARY_SHARE))
RECALL_MIN_QUEUE = 2 * FLUSH_QUEUE_TOKENS
# A single message may take at most this share of the queue budget in context.
MAX_MESSAGE_SHARE = 0.25
# Automatic recall has a room of its own, set aside from the queue budget whenever it is on
# (this share of it, at most RECALL_MAX_TOKENS): the thresholds then stay where they are
# from turn to turn whatever was recalled. At --ctx 2048 half of the queue budget went to
# recall, every turn filled the rest, and flushes came every two messages (issue 11).
RECALL_SHARE = 0.25
RECALL_MAX_TOKENS = 800


@dataclass(frozen=True)
class Budget:
    """Token thresholds of one agent's context: ``window`` minus the ``reserve`` for the
    reply is the budget; ``fixed`` of it is taken before the first message, and ``room``
    is set aside for automatic recall. For a step, ``fixed`` includes what its recall
    took and ``room`` is what it left unused: the queue budget and its thresholds are the
    same whatever was recalled."""

    window: int
    reserve: int
    fixed: int = 0
    room: int = 0

    @property
    def budget(self) -> int:
        """Tokens the prompt may use: window minus the reply reserve."""
        return max(1, self.window - self.reserve)

    @property
    def queue(self) -> int:
        """Tokens left for the FIFO queue (and its summary head)."""
        return max(0, self.budget - self.fixed - self.room)

    @property
    def queue_warn(self) -> int:
        """Tokens of the queue at the alert line."""
        return int(self.queue * WARN_FRACTION)

    @property
    def warn_at(self) -> int:
        """Memory-pressure alert: 70% of the queue budget used."""
        return self.fixed + self.queue_warn

    @property
    def flush_at(self) -> int:
        """Eviction and summary: the queue budget used (the budget but recall's room)."""
        return self.fixed + self.queue

    @property
    def summary_tokens(self) -> int:
        """The most a new summary may take."""
        return max(16, min(SUMMARY_MAX_TOKENS, int(self.queue * SUMMARY_SHARE)))

    @property
    def message_limit(self) -> int:
        """The most one message may take in context (the rest stays in recall)."""
        return max(16, int(self.queue * MAX_MESSAGE_SHARE))

    def usage(self, used: int) -> ContextUsage:
        """A ContextUsage event for ``used`` prompt tokens."""
        return ContextUsage(used, self.budget, self.window, self.warn_at, self.flush_at, self.fixed)


def recall_room(queue: int) -> int:
    """The room automatic recall gets out of a queue budget of ``queue`` tokens."""
    return min(RECALL_MAX_TOKENS, int(queue * RECALL_SHARE), max(0, queue - RECALL_MIN_QUEUE))
