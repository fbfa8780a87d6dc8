"""The conversation controller: the user's messages, the agent's turns and their stream.

A turn is one call on the engine thread (``Ember.send`` or ``Ember.timed_heartbeat``)
that posts three kinds of news to the GUI thread, in order: that it started, the engine's
events (text deltas coalesced to one per ``STREAM_INTERVAL``), and how it ended. Turns
run one at a time in the order they were asked for; each has its own cancel event, which
Stop sets for the turn running and closing sets for all (messages still waiting are then
recorded for the agent instead of answered).

A reply bubble appears when a user's turn starts, or with the first sign of life of a
timed heartbeat: a heartbeat that is paused, or ends without a message, adds nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from ember.app.chat import ChatView
from ember.app.taskrunner import Relay, describe
from ember.app.transcript import DisplayItem, activity, call_details, result_detail
from ember.core.kernel import events as ev
from ember.core.kernel.errors import EmberError

if TYPE_CHECKING:
    from ember.app.worker import EngineWorker
    from ember.core.kernel.events import Event, TurnFinished
    from ember.core.service import Ember, IdleWork

STREAM_INTERVAL = 0.04
Run = Callable[["Ember", Callable[["Event"], None], threading.Event], "TurnFinished | None"]
NOTES = {
    "no_message": "(no reply)",
    "step_cap": "(stopped after too many steps)",
}


# Quiet time after a turn before the idle work (Ember.while_idle: the memory pass, then the
# coming flush's summary prepared).
PREPARE_IDLE_MS = 2_000


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
            return  # the turn's end is reported by the call's result
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
class _Started:
    agent_id: int
    user: bool


class Conversation(QObject):
    """Sends, turns, streamed events, stop, regenerate and edit, for the chat view."""

    turnStarted = Signal(int)  # agent id
    turnEnded = Signal(int, object)  # agent id, TurnFinished (None: a paused heartbeat)
    eventReceived = Signal(int, object)  # agent id, engine event (after the view showed it)
    usageChanged = Signal(object)  # ContextUsage of the agent shown
    stateChanged = Signal()  # generating / queued changed
    memoryNoted = Signal(int, object)  # agent id, PassResult: the idle memory pass wrote

    def __init__(self, worker: EngineWorker, chat: ChatView, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = worker
        self.tasks = worker.tasks
        self.chat = chat
        self.agent_id: int | None = None
        self.generating = False
        self.queued = 0  # the user's messages waiting for their turn
        self._cancels: list[threading.Event] = []  # turns not ended yet, oldest first
        self._started: Relay[_Started] = Relay(self._on_started, self)
        self._events: Relay[tuple[int, Event]] = Relay(self._on_event, self)
        worker.timedHeartbeat.connect(self.timed_heartbeat)
        self._prepare_timer = QTimer(self)
        self._prepare_timer.setSingleShot(True)
        self._prepare_timer.timeout.connect(self._idle_work)
        self._preparing: threading.Event | None = None  # set it to stop the preparation

    @property
    def busy(self) -> bool:
        """A turn is running or waiting."""
        return bool(self._cancels)

    # -- asking ------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Show the user's message at once and queue it for the agent."""
        from ember.core.kernel.clock import now_iso

        agent_id = self.agent_id
        if agent_id is None:
            return
        self.chat.add(DisplayItem("user", text, now_iso()))
        self.chat.offer_actions(False)
        self.queued += 1
        self.worker.touch()
        self._turn(
            agent_id,
            lambda e, on, cancel: e.send(agent_id, text, on, cancel),
            user=True,
            when_closing=lambda e: e.record_message(agent_id, text),
        )

    def timed_heartbeat(self) -> None:
        """The scheduler's wake-up: a turn that shows something only if the agent acts."""
        agent_id = self.agent_id
        if agent_id is None or self.worker.closing:
            return
        self._turn(
            agent_id,
            lambda e, on, cancel: e.timed_heartbeat(agent_id, on, cancel),
            user=False,
            when_closing=lambda e: None,
        )

    def resend(self, text: str | None = None) -> None:
        """Take back the newest message (and the reply to it) and send ``text`` instead,
        or the same text again (regenerate)."""
        agent_id = self.agent_id
        if agent_id is None or self.busy:
            return

        def retracted(previous: str) -> None:
            self.chat.drop_last_turn()
            self.send(text or previous)

        self.tasks.run(lambda e: e.retract_last_turn(agent_id), retracted)

    def stop(self) -> bool:
        """Cancel the reply being generated; returns whether one was."""
        if self.generating and self._cancels:
            self._cancels[0].set()
            return True
        return False

    def cancel_all(self) -> None:
        """Closing: stop the turn running; those waiting record their message instead."""
        self.stop_preparing()
        for cancel in self._cancels:
            cancel.set()

    # -- idle work ---------------------------------------------------------------------

    def _idle_work(self) -> None:
        """The user is idle: the memory pass (what they said about themselves into core
        memory), then the summary the agent's coming flush needs (nothing below the
        memory-pressure line). Any user action cancels it (:meth:`stop_preparing`)."""
        agent_id = self.agent_id
        if agent_id is None or self.busy or self.worker.closing:
            return
        cancel = threading.Event()
        self._preparing = cancel

        def done(work: IdleWork) -> None:
            if work.memory.changed:
                self.memoryNoted.emit(agent_id, work.memory)

        def failed(exc: Exception) -> None:
            if not isinstance(exc, EmberError):  # a bug: shown like any other
                self.tasks.failed.emit(describe(exc))
            # otherwise the flush itself summarises and reports, as without preparation

        self.tasks.run(lambda e: e.while_idle(agent_id, cancel), done, failed, cancel=cancel)

    def stop_preparing(self) -> None:
        """The user did something (sent, switched agent, closed): preparation gives way
        at once; the flush then summarises as usual if it comes."""
        self._prepare_timer.stop()
        if self._preparing is not None:
            self._preparing.set()
            self._preparing = None

    def refresh_usage(self) -> None:
        """Ask for the context usage of the agent shown (once a model is attached)."""
        agent_id = self.agent_id
        if agent_id is not None:
            self.tasks.run(lambda e: e.context_usage(agent_id), self._usage)

    def _usage(self, usage: ev.ContextUsage | None) -> None:
        if usage is not None:
            self.usageChanged.emit(usage)

    # -- a turn ------------------------------------------------------------------------

    def _turn(
        self, agent_id: int, run: Run, *, user: bool, when_closing: Callable[[Ember], object]
    ) -> None:
        self.stop_preparing()  # before the turn queues behind it on the engine thread
        cancel = threading.Event()
        self._cancels.append(cancel)
        if self.worker.closing:
            cancel.set()

        def call(ember: Ember) -> TurnFinished | None:
            self._started.post(_Started(agent_id, user))
            forward = Coalescer(lambda event: self._events.post((agent_id, event)))
            try:
                return run(ember, forward, cancel)
            finally:
                forward.flush()

        def failed(exc: Exception) -> None:
            from ember.core.kernel.events import TurnFinished

            self._on_ended(agent_id, TurnFinished("error", describe(exc)), user)

        self.tasks.run(
            call,
            lambda finished: self._on_ended(agent_id, finished, user),
            failed,
            needs_model=True,
            when_closing=when_closing,
        )
        self.stateChanged.emit()

    def _on_started(self, started: _Started) -> None:
        self.generating = True
        if started.user:
            self.queued = max(0, self.queued - 1)
            if started.agent_id == self.agent_id:
                self.chat.begin_reply()
                self.chat.set_activity("Getting ready…")
        self.turnStarted.emit(started.agent_id)
        self.stateChanged.emit()

    def _on_event(self, item: tuple[int, Event]) -> None:
        agent_id, event = item
        if isinstance(event, ev.ContextUsage):
            if agent_id == self.agent_id:
                self.usageChanged.emit(event)
        elif agent_id == self.agent_id:
            self._show(event)
        self.eventReceived.emit(agent_id, event)

    def _show(self, event: Event) -> None:
        chat = self.chat
        starts_reply = ev.StepStarted | ev.ThoughtDelta | ev.MessageDelta | ev.ToolCall
        if chat.current is None and isinstance(event, starts_reply):
            chat.begin_reply()  # a timed heartbeat that does something
        status = activity(event)
        if status is not None:
            chat.set_activity(status)
        if isinstance(event, ev.StepStarted):
            chat.begin_step()
        elif isinstance(event, ev.StepRejected):  # what it streamed is void; the failure stays
            chat.void_step()
            chat.add_details([result_detail("Failed", event.error)])
        elif isinstance(event, ev.MessageDelta):
            chat.stream_text(event.text)
        elif isinstance(event, ev.ThoughtDelta):
            chat.stream_thought(event.text)
        elif isinstance(event, ev.ToolCall):
            chat.add_details(call_details(event.thoughts, event.name, event.arguments))
        elif isinstance(event, ev.ToolResult):
            chat.add_details([result_detail(event.status, event.message)])
        elif isinstance(event, ev.AssistantMessage):
            chat.finish_reply(event.text, event.time)
        elif isinstance(event, ev.SystemNotice) and event.kind != "error":
            chat.add(DisplayItem("notice", event.text))  # errors are shown as the turn ends

    def _on_ended(self, agent_id: int, finished: TurnFinished | None, user: bool) -> None:
        from ember.core.kernel.clock import now_iso

        if self._cancels:
            self._cancels.pop(0)
        self.generating = False
        if agent_id == self.agent_id and self.chat.current is not None:
            reason = finished.reason if finished is not None else "no_message"
            note = NOTES.get(reason, "") if user else ""
            self.chat.finish_reply(None, now_iso(), note, stopped=reason == "cancelled")
        if agent_id == self.agent_id and finished is not None and finished.reason == "error":
            self.chat.add(DisplayItem("notice", f"Something went wrong: {finished.error}"))
        self.chat.offer_actions(not self.busy)
        if finished is not None:
            self.worker.schedule_warm_save()
            if not self.busy and not self.worker.closing:
                self._prepare_timer.start(PREPARE_IDLE_MS)
            if agent_id == self.agent_id:
                self.refresh_usage()
        self.turnEnded.emit(agent_id, finished)
        self.stateChanged.emit()
