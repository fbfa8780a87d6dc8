"""The task runner: every thread the GUI uses, in lanes; answers on the GUI thread.

Design (after Anki's ``QueryOp``/``CollectionOp`` over its headless collection): the GUI
never touches the core directly. It hands the runner a typed callable and gets
``done(result)`` or ``failed(error)`` back on the GUI thread. Three lanes:

* **engine** (:meth:`TaskRunner.run`, ``fn(ember) -> T``): the thread that owns the
  :class:`~ember.core.service.Ember` (its database connection and the attached model).
  Calls run one at a time, in the order they were submitted, so an edit made while the
  agent generates waits for the turn to end and is never lost.

  * ``needs_model`` calls (a turn) wait, in order, until a model is attached; calls that
    only use the database run at once.
  * ``when_closing``: once the window has started closing, the call runs this alternative
    instead (a message typed as the app quits is recorded, not answered).
  * ``cancel``: a call not started yet is skipped; a running call sees the event (a turn
    passes it to the engine, which stops at the next token).

* **read** (:meth:`TaskRunner.read`, ``fn(reads) -> T`` over
  :class:`~ember.core.memory.reader.MemoryReads`): a second thread with a read-only connection of
  its own (SQLite WAL), so the memory inspector, search and find answer while a reply is
  being written. Reads run in order among themselves; a read sees what the engine lane
  has committed (a turn in progress shows the messages it has written so far). If the
  reader cannot open, reads run on the engine lane, where the service answers them.

* **background** (:func:`background`, ``fn() -> T``): long jobs that need neither lane
  (loading a model, documents, a download, a folder scan, a server test), each on a daemon
  thread of its own, so they run beside a turn and beside each other. Progress goes
  through a :class:`Relay`; cancelling is the job's own ``threading.Event``.

:class:`Relay` is the one primitive for "call this on the GUI thread" from any thread
(engine events, ingest progress, the heartbeat scheduler). The lanes' thread-side objects
are in ``lanes.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ember.app.lanes import AnyCall, Call, EngineLane, ReadLane, log
from ember.core.kernel.errors import EmberError

if TYPE_CHECKING:
    from ember.core.api import Ember, MemoryReads

__all__ = ["Call", "Job", "Relay", "TaskRunner", "background", "describe"]

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


class Job(Generic[T]):
    """A background job: its thread, and the event that asks it to stop."""

    def __init__(self, thread: threading.Thread, cancel: threading.Event) -> None:
        self.thread = thread
        self.cancel_event = cancel

    def cancel(self) -> None:
        """Ask the job to stop (it sees its event at its next check)."""
        self.cancel_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the job's thread to end (not for its answer on the GUI thread)."""
        self.thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the job's function is still running."""
        return self.thread.is_alive()


_answers: set[Relay[tuple[bool, object]]] = set()


def background(
    fn: Callable[[], T],
    done: Callable[[T], object] | None = None,
    failed: Callable[[Exception], object] | None = None,
    *,
    name: str,
    cancel: threading.Event | None = None,
    owner: QObject | None = None,
) -> Job[T]:
    """Run ``fn`` on a daemon thread ``ember-<name>`` of its own (call this on the GUI
    thread); ``done(result)`` or ``failed(error)`` follow on the GUI thread, unless
    ``owner`` (a dialog, say) has been deleted by then. Without ``failed``, an error is
    printed for a developer (the job's own code should have turned what a user may meet
    into a result)."""

    def deliver(reply: tuple[bool, object]) -> None:
        _answers.discard(answer)
        answer.deleteLater()
        _answer(reply, done, failed)

    answer: Relay[tuple[bool, object]] = Relay(deliver, owner)
    if owner is None:
        _answers.add(answer)  # kept until its answer is delivered (else: by its owner)

    def run() -> None:
        try:
            result: object = fn()
        except Exception as exc:
            if failed is None:
                log(exc)
            answer.post((False, exc))
            return
        answer.post((True, result))

    thread = threading.Thread(target=run, name=f"ember-{name}", daemon=True)
    job: Job[T] = Job(thread, cancel or threading.Event())
    thread.start()
    return job


def _answer(
    reply: tuple[bool, Any],
    done: Callable[[Any], object] | None,
    failed: Callable[[Exception], object] | None,
) -> None:
    ok, value = reply
    if ok and done is not None:
        done(value)
    elif not ok and failed is not None:
        failed(value)


class TaskRunner(QObject):
    """Runs typed calls on the engine and read lanes; see the module docstring."""

    opened = Signal(object)  # Ember: the service is open on the engine thread
    openFailed = Signal(str)
    failed = Signal(str)  # an error of a call that has no ``failed`` callback
    stopped = Signal()  # the service is closed and the lanes' threads are ending

    _open = Signal(object)
    _run = Signal(object)
    _stop = Signal(object)
    _open_reads = Signal(object)
    _read = Signal(object)
    _stop_reads = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.closing = threading.Event()
        self.thread_ = QThread()
        self.thread_.setObjectName("ember-engine")
        self._engine = EngineLane(self.closing)
        self._engine.moveToThread(self.thread_)
        self._open.connect(self._engine.open)
        self._run.connect(self._engine.run)
        self._stop.connect(self._engine.stop)
        self._engine.finished.connect(self._deliver)
        self._engine.opened.connect(self._on_opened)
        self._engine.stopped.connect(self._lane_stopped)
        self.read_thread = QThread()
        self.read_thread.setObjectName("ember-reads")
        self._reads = ReadLane()
        self._reads.moveToThread(self.read_thread)
        self._open_reads.connect(self._reads.open)
        self._read.connect(self._reads.run)
        self._stop_reads.connect(self._reads.stop)
        self._reads.finished.connect(self._deliver)
        self._reads.unavailable.connect(self._on_reads_unavailable)
        self._reads.stopped.connect(self._lane_stopped)
        self.outstanding = 0  # calls submitted whose answer has not been delivered
        self.is_stopped = False
        self._stopping = False
        self._lanes_running = 0

    def start(self, opener: Callable[[], Ember]) -> None:
        """Start the lanes' threads and open the service (``opened`` follows), then the
        read lane's reader."""
        self.thread_.start()
        self.read_thread.start()
        self._lanes_running = 2
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
    ) -> Call[Ember, T]:
        """Queue ``fn`` for the engine thread; ``done``/``failed`` run on the GUI thread."""
        call = Call(
            fn, done, failed, needs_model=needs_model, when_closing=when_closing, cancel=cancel
        )
        if self._stopping:
            return call  # the service is closing: nothing new runs
        self.outstanding += 1
        self._run.emit(call)
        return call

    def read(
        self,
        fn: Callable[[MemoryReads], T],
        done: Callable[[T], object] | None = None,
        failed: Callable[[Exception], object] | None = None,
    ) -> Call[MemoryReads, T]:
        """Queue the read ``fn`` for the read thread (never behind a turn);
        ``done``/``failed`` run on the GUI thread."""
        call: Call[MemoryReads, T] = Call(fn, done, failed)
        if self._stopping:
            return call
        self.outstanding += 1
        self._read.emit(call)
        return call

    def background(
        self,
        fn: Callable[[], T],
        done: Callable[[T], object] | None = None,
        failed: Callable[[Exception], object] | None = None,
        *,
        name: str,
        cancel: threading.Event | None = None,
    ) -> Job[T]:
        """A long job on a thread of its own (see :func:`background`); its answer is
        dropped once the runner is deleted."""
        return background(fn, done, failed, name=name, cancel=cancel, owner=self)

    @property
    def idle(self) -> bool:
        """No call is queued, running or waiting for the model (background jobs aside)."""
        return self.outstanding == 0

    @Slot(object)
    def _deliver(self, call: AnyCall) -> None:
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

    def _fail(self, call: AnyCall, error: Exception) -> None:
        if call.failed is not None:
            call.failed(error)
        else:
            self.failed.emit(describe(error))

    @Slot(object, object)
    def _on_opened(self, ember: Ember | None, error: Exception | None) -> None:
        self._open_reads.emit(ember.open_reader if ember is not None else None)
        if ember is not None:
            self.opened.emit(ember)
        else:
            self.openFailed.emit(describe(error or EmberError("unknown error")))

    @Slot(object)
    def _on_reads_unavailable(self, calls: list[AnyCall]) -> None:
        for call in calls:  # the service answers the same reads, after the calls before
            self._run.emit(call)

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
        self._stop_reads.emit()
        self._stop.emit(before_close)

    @Slot()
    def _lane_stopped(self) -> None:
        self._lanes_running -= 1
        if self._lanes_running <= 0:
            self._on_stopped()

    def _on_stopped(self) -> None:
        self.is_stopped = True
        self.outstanding = 0
        self.thread_.quit()
        self.read_thread.quit()
        self.stopped.emit()

    def wait(self) -> None:
        """Block until the lanes' threads have ended (after ``stopped``)."""
        for thread in (self.thread_, self.read_thread):
            thread.quit()
            thread.wait()
