"""The task runner: typed calls on the one engine thread, answers on the GUI thread.

Design (after Anki's ``QueryOp``/``CollectionOp`` over its headless collection): the GUI
never touches the core directly. It hands :meth:`TaskRunner.run` a callable
``fn(ember) -> T``; the runner runs it on the engine thread, which owns the
:class:`~ember.core.service.Ember` (its database connection and the attached model), and
calls ``done(result)`` or ``failed(error)`` back on the GUI thread. Calls run one at a
time, in the order they were submitted, so an edit made while the agent generates waits
for the turn to end and is never lost.

* ``needs_model`` calls (a turn) wait, in order, until a model is attached; calls that
  only use the database run at once.
* ``when_closing``: once the window has started closing, the call runs this alternative
  instead (a message typed as the app quits is recorded, not answered).
* ``cancel``: a call not started yet is skipped; a running call sees the event (a turn
  passes it to the engine, which stops at the next token).

:class:`Relay` is the one primitive for "call this on the GUI thread" from any thread
(engine events, ingest progress, the heartbeat scheduler).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ember.core.errors import EmberError

if TYPE_CHECKING:
    from ember.core.service import Ember

T = TypeVar("T")
V = TypeVar("V")


def describe(error: BaseException) -> str:
    """A one-line message for the user (Ember's own errors are written for them)."""
    return str(error) or type(error).__name__


class Relay(QObject, Generic[V]):
    """Calls ``fn(value)`` on the thread this relay was created on, whoever posts."""

    _posted = Signal(object)

    def __init__(self, fn: Callable[[V], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._posted.connect(self._deliver)

    def post(self, value: V) -> None:
        """Deliver ``value`` (thread-safe; queued when posted from another thread)."""
        self._posted.emit(value)

    @Slot(object)
    def _deliver(self, value: V) -> None:
        self._fn(value)


class Call(Generic[T]):
    """One submitted call and, once it ran, its result or error."""

    def __init__(
        self,
        fn: Callable[[Ember], T],
        done: Callable[[T], object] | None,
        failed: Callable[[Exception], object] | None,
        *,
        needs_model: bool,
        when_closing: Callable[[Ember], object] | None,
        cancel: threading.Event | None,
    ) -> None:
        self.fn = fn
        self.done = done
        self.failed = failed
        self.needs_model = needs_model
        self.when_closing = when_closing
        self.cancel_event = cancel or threading.Event()
        self.result: T | None = None
        self.error: Exception | None = None
        self.ran = False
        self.replaced = False  # its closing alternative ran instead: no callback

    def cancel(self) -> None:
        """Skip the call if it has not started; a running call sees the event."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancel was asked for."""
        return self.cancel_event.is_set()


class _EngineSide(QObject):
    """Lives on the engine thread: holds the service and runs calls in order."""

    finished = Signal(object)  # Call
    opened = Signal(object, object)  # Ember | None, Exception | None
    stopped = Signal()

    def __init__(self, closing: threading.Event) -> None:
        super().__init__()
        self.closing = closing
        self.ember: Ember | None = None
        self.pending: list[Call[object]] = []

    @Slot(object)
    def open(self, opener: Callable[[], Ember]) -> None:
        try:
            self.ember = opener()
        except Exception as exc:
            _log(exc)
            self.opened.emit(None, exc)
            return
        self.opened.emit(self.ember, None)

    @Slot(object)
    def run(self, call: Call[object]) -> None:
        ember = self.ember
        if ember is None:
            call.error = EmberError("Ember's data could not be opened.")
            self.finished.emit(call)
            return
        if call.cancelled:
            self.finished.emit(call)
            return
        if self.closing.is_set() and call.when_closing is not None:
            self._replace(call, call.when_closing, ember)
            return
        if call.needs_model and ember.model_status() is None:
            self.pending.append(call)
            return
        self._execute(call, call.fn, ember)
        self._run_pending()

    def _run_pending(self) -> None:
        ember = self.ember
        while self.pending and ember is not None and ember.model_status() is not None:
            call = self.pending.pop(0)
            if call.cancelled:
                self.finished.emit(call)
            elif self.closing.is_set() and call.when_closing is not None:
                self._replace(call, call.when_closing, ember)
            else:
                self._execute(call, call.fn, ember)

    def _replace(self, call: Call[object], fn: Callable[[Ember], object], ember: Ember) -> None:
        call.replaced = True
        self._execute(call, fn, ember)

    def _execute(self, call: Call[object], fn: Callable[[Ember], object], ember: Ember) -> None:
        call.ran = True
        try:
            call.result = fn(ember)
        except Exception as exc:  # keep the thread alive; the GUI reports it
            _log(exc)
            call.error = exc
        self.finished.emit(call)

    @Slot(object)
    def stop(self, before_close: Callable[[Ember], object] | None) -> None:
        """Last call: pending calls run their closing alternative, then the service closes."""
        ember = self.ember
        if ember is not None:
            for call in self.pending:
                if call.when_closing is not None and not call.cancelled:
                    self._replace(call, call.when_closing, ember)
            self.pending.clear()
            try:
                if before_close is not None:
                    before_close(ember)
            finally:
                ember.close()
                self.ember = None
        self.stopped.emit()


def _log(exc: Exception) -> None:
    """Print unexpected errors (bugs) for a developer; Ember's own errors are expected."""
    if not isinstance(exc, EmberError):
        traceback.print_exception(exc)


class TaskRunner(QObject):
    """Runs typed calls on the engine thread; see the module docstring."""

    opened = Signal(object)  # Ember: the service is open on the engine thread
    openFailed = Signal(str)
    failed = Signal(str)  # an error of a call that has no ``failed`` callback
    stopped = Signal()  # the service is closed and the engine thread is ending

    _open = Signal(object)
    _run = Signal(object)
    _stop = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.closing = threading.Event()
        self.thread_ = QThread()
        self.thread_.setObjectName("ember-engine")
        self._side = _EngineSide(self.closing)
        self._side.moveToThread(self.thread_)
        self._open.connect(self._side.open)
        self._run.connect(self._side.run)
        self._stop.connect(self._side.stop)
        self._side.finished.connect(self._deliver)
        self._side.opened.connect(self._on_opened)
        self._side.stopped.connect(self._on_stopped)
        self.outstanding = 0  # calls submitted whose answer has not been delivered
        self.is_stopped = False
        self._stopping = False

    def start(self, opener: Callable[[], Ember]) -> None:
        """Start the engine thread and open the service there (``opened`` follows)."""
        self.thread_.start()
        self._open.emit(opener)

    def run(
        self,
        fn: Callable[[Ember], T],
        done: Callable[[T], object] | None = None,
        failed: Callable[[Exception], object] | None = None,
        *,
        needs_model: bool = False,
        when_closing: Callable[[Ember], object] | None = None,
        cancel: threading.Event | None = None,
    ) -> Call[T]:
        """Queue ``fn`` for the engine thread; ``done``/``failed`` run on the GUI thread."""
        call = Call(
            fn, done, failed, needs_model=needs_model, when_closing=when_closing, cancel=cancel
        )
        if self._stopping:
            return call  # the service is closing: nothing new runs
        self.outstanding += 1
        self._run.emit(call)
        return call

    @property
    def idle(self) -> bool:
        """No call is queued, running or waiting for the model."""
        return self.outstanding == 0

    @Slot(object)
    def _deliver(self, call: Call[object]) -> None:
        self.outstanding -= 1
        if call.replaced:
            return  # the window is closing: the alternative ran, nobody waits for it
        if not call.ran:
            if call.error is not None:
                self._fail(call, call.error)
            return  # skipped (cancelled)
        if call.error is not None:
            self._fail(call, call.error)
        elif call.done is not None:
            call.done(call.result)

    def _fail(self, call: Call[object], error: Exception) -> None:
        if call.failed is not None:
            call.failed(error)
        else:
            self.failed.emit(describe(error))

    @Slot(object, object)
    def _on_opened(self, ember: Ember | None, error: Exception | None) -> None:
        if ember is not None:
            self.opened.emit(ember)
        else:
            self.openFailed.emit(describe(error or EmberError("unknown error")))

    def shutdown(self, before_close: Callable[[Ember], object] | None = None) -> None:
        """Close the service after the calls already queued (``stopped`` follows).

        From now on, queued calls with a ``when_closing`` alternative run that instead."""
        self.closing.set()
        if self._stopping:
            return
        self._stopping = True
        if not self.thread_.isRunning():
            self._on_stopped()
            return
        self._stop.emit(before_close)

    @Slot()
    def _on_stopped(self) -> None:
        self.is_stopped = True
        self.outstanding = 0
        self.thread_.quit()
        self.stopped.emit()

    def wait(self) -> None:
        """Block until the engine thread has ended (after ``stopped``)."""
        self.thread_.quit()
        self.thread_.wait()
