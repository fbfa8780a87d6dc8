"""Work done ahead for the agent on screen, on the engine lane, that gives way at once to
anything the user does (a message, a switch, closing the window):

* **its first reply prepared** (:meth:`Ahead.first_reply`): once its session starts with
  a model attached (the welcome of a first start, any start, a switch), what the reply
  to its first message needs is done before that message (``Ember.prepare_first_reply``:
  its prompt read into the model's cache, the shared prefix state built the first time),
  with ``preparing`` progress for the status bar and ``prepared`` when it ends;
* **the idle work** (:meth:`Ahead.after_turn`): 2 s after a turn, ``Ember.while_idle``
  (the memory pass, the coming flush's summary, the next prompt's start read ahead).

Both are calls on the engine lane with a cancel event; :meth:`Ahead.stop` sets it, so a
turn queued behind them starts after the batch of tokens under way (which it reuses).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from ember.app.taskrunner import Relay, TaskRunner, describe
from ember.core.kernel.errors import EmberError

if TYPE_CHECKING:
    from ember.core.api import IdleWork, Prepared, Preparing

# Quiet time after a turn before the idle work.
PREPARE_IDLE_MS = 2_000


class Ahead(QObject):
    """The first-reply preparation and the idle work of the agent on screen."""

    memoryNoted = Signal(int, object)  # agent id, PassResult: the idle memory pass wrote
    preparing = Signal(int, object)  # agent id, Preparing: its first reply is being prepared
    prepared = Signal(int, object)  # agent id, Prepared (None: it gave way before its end)

    def __init__(
        self, tasks: TaskRunner, free: Callable[[], int | None], parent: QObject | None = None
    ) -> None:
        """``free()``: the agent on screen when nothing runs or waits for it and the window
        stays open; None otherwise (then nothing is done ahead)."""
        super().__init__(parent)
        self.tasks = tasks
        self.free = free
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._idle_work)
        self._cancel: threading.Event | None = None  # set it to stop what runs ahead
        self._first: tuple[int, threading.Event] | None = None  # a first reply's, under way

    def first_reply(self) -> None:
        """Prepare the first reply of the agent on screen (see the module docstring)."""
        agent_id = self.free()
        if agent_id is None:
            return
        cancel = self._start()
        self._first = (agent_id, cancel)

        def progress(step: Preparing) -> None:
            if not cancel.is_set():  # a late batch of a cancelled read shows nothing
                self.preparing.emit(agent_id, step)

        relay: Relay[Preparing] = Relay(progress, self)

        def ended(prepared: Prepared | None) -> None:
            relay.deleteLater()
            if self._first is not None and self._first[1] is cancel:
                self._first = None
                self.prepared.emit(agent_id, prepared)

        def failed(exc: Exception) -> None:
            ended(None)
            if not isinstance(exc, EmberError):  # a bug: shown like any other
                self.tasks.failed.emit(describe(exc))
            # otherwise the turn meets the same problem and reports it

        self.tasks.run(
            lambda e: e.prepare_first_reply(agent_id, cancel, relay.post),
            ended,
            failed,
            cancel=cancel,
        )

    def after_turn(self) -> None:
        """A turn ended: the idle work follows after :data:`PREPARE_IDLE_MS` of quiet."""
        self.timer.start(PREPARE_IDLE_MS)

    def _idle_work(self) -> None:
        """The user is idle: the memory pass (what they said about themselves into core
        memory), then the summary the agent's coming flush needs (nothing below the
        memory-pressure line), then the next prompt's start read into the cache."""
        agent_id = self.free()
        if agent_id is None:
            return
        cancel = self._start()

        def done(work: IdleWork) -> None:
            if work.memory.changed:
                self.memoryNoted.emit(agent_id, work.memory)

        def failed(exc: Exception) -> None:
            if not isinstance(exc, EmberError):  # a bug: shown like any other
                self.tasks.failed.emit(describe(exc))
            # otherwise the flush itself summarises and reports, as without preparation

        self.tasks.run(lambda e: e.while_idle(agent_id, cancel), done, failed, cancel=cancel)

    def _start(self) -> threading.Event:
        self.stop()
        self._cancel = threading.Event()
        return self._cancel

    def stop(self) -> None:
        """The user did something (sent, switched agent, closed): what runs ahead gives
        way at once; a flush then summarises as usual if it comes."""
        self.timer.stop()
        if self._cancel is not None:
            self._cancel.set()
            self._cancel = None
        if self._first is not None:  # its progress ends now (a skipped call answers nothing)
            agent_id, self._first = self._first[0], None
            self.prepared.emit(agent_id, None)
