"""Queue manager: context budget, memory pressure, eviction and the recursive summary.

Token counts always come from the loaded model's own tokenizer. The budget is the window
minus the reply reserve. At 70% of it the agent gets one memory-pressure alert; at 100%,
before the step that would overflow, the oldest ≈50% of the FIFO queue (by tokens) is
evicted — never separating a function call from its result — and the summary at the
queue's head is rewritten from the previous summary plus the evicted messages. Evicted
messages stay in recall storage.

The summary request is rendered as the *same* prompt as the main context, cut after the
evicted messages, plus one request event: its whole prefix is already in llama.cpp's KV
cache, so summarising costs the request and the summary tokens, and the flush as a whole
costs one re-read of what follows the new summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from ember.core.events import ContextUsage
from ember.core.store import Message

WARN_FRACTION = 0.70
EVICT_FRACTION = 0.50
# A flush frees at least down to this share of the budget, so that the summary and the
# reply that follow do not land back above the alert line.
REFILL_FRACTION = 0.55
SUMMARY_MAX_CHARS = 800
SUMMARY_MAX_TOKENS = 320

PRESSURE_ALERT = (
    "Memory pressure: the conversation will soon be trimmed to fit your context window. "
    "Save anything important from it to core memory or archival memory now."
)
SUMMARY_REQUEST = (
    "Your context window is full. The messages above (and the summary at the top, if any) "
    "are about to be hidden. Write a short summary of them that keeps names, facts about the "
    'user, and decisions. Reply only as {"summary": "..."}.'
)
# The summary starts with a fixed primer and has a minimum length: weak base models
# otherwise close the string at once.
SUMMARY_PRIMER = "Earlier, "
SUMMARY_GRAMMAR = (
    f'root ::= "{{\\"summary\\": \\"{SUMMARY_PRIMER}" char{{16,{SUMMARY_MAX_CHARS}}} "\\"}}"\n'
    'char ::= [^"\\\\\\x00-\\x1F] | "\\\\" ["\\\\/bfnrt]\n'
)


@dataclass(frozen=True)
class Budget:
    """Token thresholds of one context window."""

    window: int
    reserve: int

    @property
    def budget(self) -> int:
        """Tokens the prompt may use: window minus the reply reserve."""
        return max(1, self.window - self.reserve)

    @property
    def warn_at(self) -> int:
        """Memory-pressure alert threshold (70% of budget)."""
        return int(self.budget * WARN_FRACTION)

    @property
    def flush_at(self) -> int:
        """Eviction threshold (100% of budget)."""
        return self.budget

    def usage(self, used: int) -> ContextUsage:
        """A ContextUsage event for ``used`` prompt tokens."""
        return ContextUsage(used, self.budget, self.window, self.warn_at, self.flush_at)


def eviction_cut(
    queue: Sequence[Message],
    tokens: Sequence[int],
    fraction: float = EVICT_FRACTION,
    at_least: int = 0,
) -> int:
    """How many of the oldest messages to evict: ≈``fraction`` of the queue's tokens, and
    at least ``at_least`` tokens (so a flush does not land back above the alert line).

    The cut never leaves a function result without the step that called it, and always
    keeps the newest message (the event being answered). Returns 0 if nothing can go.
    """
    if len(queue) < 2:
        return 0
    target = max(sum(tokens) * fraction, at_least)
    acc = 0
    cut = 0
    while cut < len(queue) - 1 and acc < target:
        acc += tokens[cut]
        cut += 1
    # A function result belongs with its call: evict both, or neither.
    while cut < len(queue) - 1 and queue[cut].role == "tool":
        cut += 1
    return min(cut, len(queue) - 1)


def summary_head(summary: str, hidden: int, total: int) -> str:
    """The text at the head of the queue after a flush."""
    return (
        f"{hidden} prior messages of {total} are hidden from view (they stay searchable with "
        f"conversation_search). Summary of them: {summary}"
    )


def parse_summary(raw: str) -> str:
    """The summary text from the model's constrained output."""
    try:
        return str(json.loads(raw)["summary"]).strip()
    except (ValueError, KeyError, TypeError):
        return raw.strip()
