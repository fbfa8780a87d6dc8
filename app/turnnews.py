"""A turn's news, posted from the engine thread to the GUI thread in order: that it began,
the engine's events (text deltas coalesced to one per ``STREAM_INTERVAL``, so a fast
model never floods the GUI), and how it ended. See ``conversation.py``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.core.kernel import events as ev

if TYPE_CHECKING:
    from ember.app.transcript import DisplayItem
    from ember.core.kernel.events import ContextUsage, Event, TurnFinished

STREAM_INTERVAL = 0.04


class Coalescer:
    """Forwards engine events, merging text deltas into one per interval."""

    def __init__(self, emit: Callable[[Event], None], interval: float = STREAM_INTERVAL) -> None:
        self._emit = emit
        self._interval = interval
        self._kind: type[ev.ThoughtDelta] | type[ev.MessageDelta] | None = None
        self._text = ""
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, ev.TurnFinished):
            return  # the turn's end is posted after the call (Ended)
        if isinstance(event, ev.ThoughtDelta | ev.MessageDelta):
            if self._kind is not None and self._kind is not type(event):
                self.flush()
            self._kind = type(event)
            self._text += event.text
            if time.monotonic() - self._last >= self._interval:
                self.flush()
            return
        self.flush()
        self._emit(event)

    def flush(self) -> None:
        """Send the merged delta, if any."""
        if self._kind is not None and self._text:
            self._emit(self._kind(self._text))
        self._kind, self._text = None, ""
        self._last = time.monotonic()


@dataclass(frozen=True)
class Begun:
    """A turn started on the engine thread (``user``: a user's message, not a heartbeat)."""

    agent_id: int
    user: bool


@dataclass(frozen=True)
class Happened:
    """An engine event of the turn running."""

    agent_id: int
    event: Event


@dataclass(frozen=True)
class Ended:
    """A turn ended: why (None: a paused heartbeat, nothing ran), the turn as stored (None:
    it could not be read back), and the context usage after it (None without a model)."""

    agent_id: int
    user: bool
    finished: TurnFinished | None
    items: list[DisplayItem] | None
    usage: ContextUsage | None
    refused: str | None = None  # why the agent could not take the turn (in use elsewhere)


TurnNews = Begun | Happened | Ended
