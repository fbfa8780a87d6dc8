"""Timed heartbeats in the GUI: a paused agent shows nothing and leaves the user's queued
messages alone; a heartbeat that fails unexpectedly still ends its turn; the scheduler's
tick reaches the agent shown."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from ember.core.kernel import clock
from ember.core.llm.backend import Prompt
from ember.core.llm.config import EngineConfig
from ember.core.llm.scripted import ScriptedBackend
from ember.core.storage.store import Store

from .fixtures import WAIT_MS, call, scripted, settle, step


def pause(agent_id: int, minutes: int = 60) -> None:
    until = (clock.now() + timedelta(minutes=minutes)).isoformat()
    with Store() as store:
        store.update_agent(agent_id, heartbeat_paused_until=until)


def test_paused_heartbeats_add_nothing(qtbot: Any, make_window: Any) -> None:
    release = threading.Event()
    backend = scripted(step("Hello!"), step("And hello again!"))

    def slow(config: Any) -> Any:
        release.wait(30)
        return backend

    window = make_window(backend_factory=slow, wait_ready=False)
    qtbot.waitUntil(lambda: window.agent_id is not None, timeout=WAIT_MS)
    pause(window.agent_id)
    for _ in range(3):  # ticks queue for the model first, then the user's messages
        window.worker.timedHeartbeat.emit()
    window.send("First")
    window.send("Second")
    assert window.conversation.queued == 2
    assert "2 messages waiting" in window.statusBar().currentMessage()
    bubbles = len(window.chat.bubbles)
    ended: list[Any] = []
    waiting: list[int] = []  # the user's messages still waiting as each turn starts
    window.conversation.turnEnded.connect(lambda _a, f: ended.append(f))
    window.conversation.turnStarted.connect(lambda _a: waiting.append(window.conversation.queued))
    release.set()
    qtbot.waitUntil(lambda: len(ended) == 5, timeout=WAIT_MS)
    settle(qtbot, window)
    assert waiting == [2, 2, 2, 1, 0]
    assert ended[:3] == [None, None, None]  # paused: no turn ran
    assert [f.reason for f in ended[3:]] == ["message", "message"]
    texts = [b.text for b in window.chat.bubbles[bubbles - 2 :]]
    # Each reply under its message, as a restart shows them; no "(no reply)" bubbles.
    assert texts == ["First", "Hello!", "Second", "And hello again!"]
    assert window.conversation.queued == 0 and not window.conversation.generating
    assert not window.stop_button.isEnabled()
    with Store() as store:  # nothing recorded for the paused ticks
        kinds = [m.kind for m in store.recent_messages(window.agent_id)]
    assert "heartbeat" not in kinds


def test_a_quiet_heartbeat_leaves_no_empty_reply(qtbot: Any, make_window: Any) -> None:
    with Store() as store:  # pause_heartbeats is offered only while timed heartbeats run
        EngineConfig(timed_heartbeat_minutes=60).save(store)
    quiet = call("pause_heartbeats", "Nothing to say; rest.", minutes=30)
    window = make_window(scripted(quiet.replace(', "request_heartbeat": true', "")))
    bubbles = len(window.chat.bubbles)
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS) as blocker:
        window.worker.timedHeartbeat.emit()
    settle(qtbot, window)
    assert blocker.args[1].reason == "no_message"
    new = window.chat.bubbles[bubbles:]
    assert [(b.role, b.text) for b in new] == [("assistant", "")]  # thoughts only
    assert not new[0].body.isVisible() and new[0].toggle.isVisible()


class Exploding(ScriptedBackend):
    """A backend that fails with an unexpected error (a bug, not an EmberError)."""

    def generate(self, prompt: Prompt, **kwargs: Any) -> Iterator[str]:
        raise RuntimeError("boom inside the backend")
        yield ""


def test_an_unexpected_error_in_a_timed_turn_ends_it(qtbot: Any, make_window: Any) -> None:
    window = make_window(Exploding())
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS) as blocker:
        window.worker.timedHeartbeat.emit()
    settle(qtbot, window)
    finished = blocker.args[1]
    assert finished.reason == "error" and "boom" in finished.error
    assert not window.conversation.generating and not window.stop_button.isEnabled()
    assert window.chat.bubbles[-1].role == "notice"
    assert "boom inside the backend" in window.chat.bubbles[-1].text


def test_the_scheduler_wakes_the_agent(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted(step("Just checking in: how is the garden?")))
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        window.worker.schedule_heartbeats(0.002)  # about 0.1 s idle
    window.worker.schedule_heartbeats(None)
    settle(qtbot, window)
    assert window.chat.bubbles[-1].text == "Just checking in: how is the garden?"
