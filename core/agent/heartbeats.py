"""Timed heartbeats: a real scheduler that wakes an idle agent every N minutes.

Off by default. The agent's ``pause_heartbeats`` is honoured by the runtime itself
(:meth:`AgentRuntime.timed_heartbeat` returns None while paused), so the scheduler only
keeps time: it fires when the agent has been idle for the interval, on its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class HeartbeatScheduler:
    """Calls ``fire`` after ``interval_minutes`` without activity, repeatedly, until stopped."""

    def __init__(
        self,
        interval_minutes: float,
        fire: Callable[[], object],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_minutes <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval_minutes * 60.0
        self._fire = fire
        self._clock = clock
        self._last = clock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def touch(self) -> None:
        """Record activity (a user message): the idle timer starts again."""
        self._last = self._clock()
        self._wake.set()

    def due_in(self) -> float:
        """Seconds until the next heartbeat is due (0 if due now)."""
        return max(0.0, self._last + self.interval - self._clock())

    def tick(self) -> bool:
        """Fire if due; returns whether it fired. (The thread calls this; tests may too.)"""
        if self.due_in() > 0:
            return False
        self._last = self._clock()
        self.fired += 1
        self._fire()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=min(self.due_in(), 60.0) or 0.01)
            self._wake.clear()
            if not self._stop.is_set():
                self.tick()

    def start(self) -> None:
        """Start the background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ember-heartbeat", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for a heartbeat in progress)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
