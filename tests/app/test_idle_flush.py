"""The GUI prepares the coming flush while the user is idle (Ember.prepare_flush on the
engine thread, issue 16.2) and gives way as soon as the user sends. What preparing does to
the context is tested in tests/core/agent/test_idleflush.py; here, that the window calls it at the
right moments and cancels it."""

from __future__ import annotations

import threading
from typing import Any

from ember.app import ahead, turnnews
from ember.core.kernel import events
from ember.core.service import Ember

from .fixtures import WAIT_MS, scripted, send_and_wait, step


def test_idle_prepares_the_flush_and_sending_cancels_it(
    qtbot: Any, make_window: Any, monkeypatch: Any
) -> None:
    calls: list[tuple[int, threading.Event]] = []
    gave_way: list[bool] = []

    def prepare_flush(self: Ember, agent_id: int, cancel: threading.Event | None = None) -> bool:
        assert cancel is not None
        calls.append((agent_id, cancel))
        gave_way.append(cancel.wait(timeout=WAIT_MS / 1000))  # "writing" until told to stop
        return False

    monkeypatch.setattr(Ember, "prepare_flush", prepare_flush)
    monkeypatch.setattr(ahead, "PREPARE_IDLE_MS", 50)
    window = make_window(scripted(step("Hello."), step("Again.")))

    assert send_and_wait(qtbot, window, "Hi").reason == "message"
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=WAIT_MS)
    assert calls[0][0] == window.agent_id
    assert not calls[0][1].is_set()

    # The user writes while the summary is being prepared: it is cancelled at once and the
    # turn runs (it queued behind the preparation on the one engine thread).
    finished = send_and_wait(qtbot, window, "Are you there?")
    assert finished.reason == "message"
    assert gave_way == [True]
    assert window.chat.bubbles[-1].text == "Again."


def test_no_preparation_while_a_turn_runs_or_after_switching_away(
    qtbot: Any, make_window: Any, monkeypatch: Any
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(
        Ember, "prepare_flush", lambda self, agent_id, cancel=None: calls.append(agent_id)
    )
    monkeypatch.setattr(ahead, "PREPARE_IDLE_MS", 400)
    window = make_window(scripted(step("Hello.")))
    assert send_and_wait(qtbot, window, "Hi").reason == "message"
    window.conversation.stop_preparing()  # what switching agents and closing do
    qtbot.wait(800)
    assert calls == []


def test_no_idle_timer_runs_after_shutdown(qtbot: Any, make_window: Any) -> None:
    # A timer still running when Python frees the worker (possibly from another thread)
    # stays registered with Qt and fires on a dead object: it crashed the test session.
    window = make_window(scripted(step("Hello.")))
    assert send_and_wait(qtbot, window, "Hi").reason == "message"
    window.shutdown_now()
    window.worker.schedule_warm_save()  # what a turn ending during shutdown does
    ended = turnnews.Ended(window.agent_id, True, events.TurnFinished("message"), [], None)
    window.conversation._on_ended(ended)
    assert not window.worker._idle.isActive()
    assert not window.conversation.ahead.timer.isActive()
