"""Timed heartbeats: fire after the idle interval, restart on activity, stop cleanly."""

from __future__ import annotations

import threading

from ember.core.agent.heartbeats import HeartbeatScheduler


def test_fires_only_after_idle_interval() -> None:
    now = [0.0]
    fired: list[float] = []
    s = HeartbeatScheduler(1, lambda: fired.append(now[0]), clock=lambda: now[0])
    now[0] = 59.0
    assert not s.tick()
    now[0] = 60.0
    assert s.tick() and fired == [60.0]
    now[0] = 100.0
    s.touch()  # the user spoke: the idle timer restarts
    now[0] = 150.0
    assert not s.tick()
    now[0] = 160.0
    assert s.tick() and s.fired == 2


def test_thread_fires_and_stops() -> None:
    done = threading.Event()
    s = HeartbeatScheduler(0.001, done.set)  # 60 ms
    s.start()
    assert done.wait(5)
    s.stop()
    assert s._thread is None
