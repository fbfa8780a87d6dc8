"""The task runner's lanes: the objects that live on its threads and run the calls.

* :class:`EngineLane` (the engine thread) holds the :class:`~ember.core.service.Ember`
  and runs calls one at a time, in order; calls that need a model wait for one.
* :class:`ReadLane` (the read thread) holds a :class:`~ember.core.memory.reader.Reader`, the
  service's memory queries on a read-only connection of their own, and runs reads in
  order, never behind a turn. Reads sent before it opened wait for it; if it cannot open,
  they go back to the runner, which sends them to the engine lane instead (the service
  answers the same queries).

Both report a call that ran (or was skipped) with ``finished``; the runner delivers it on
the GUI thread. See ``taskrunner.py`` for the whole picture.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from ember.core.kernel.errors import EmberError

if TYPE_CHECKING:
    from ember.core.api import Ember, MemoryReads, Reader

S = TypeVar("S", contravariant=True)  # what the call is given: the service or a reader
T = TypeVar("T")


class Call(Generic[S, T]):
    """One submitted call and, once it ran, its result or error."""

    def __init__(
        self,
        fn: Callable[[S], T],
        done: Callable[[T], object] | None,
        failed: Callable[[Exception], object] | None,
        *,
        needs_model: bool = False,
        when_closing: Callable[[S], object] | None = None,
        cancel: threading.Event | None = None,
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


AnyCall = Call[Any, object]


def log(exc: BaseException) -> None:
    """Print unexpected errors (bugs) for a developer; Ember's own errors are expected."""
    if not isinstance(exc, EmberError):
        traceback.print_exception(exc)


class _Lane(QObject):
    finished = Signal(object)  # Call

    def _execute(self, call: AnyCall, fn: Callable[[Any], object], arg: object) -> None:
        call.ran = True
        try:
            call.result = fn(arg)
        except Exception as exc:  # keep the thread alive; the GUI reports it
            log(exc)
            call.error = exc
        self.finished.emit(call)


class EngineLane(_Lane):
    """Lives on the engine thread: holds the service and runs calls in order."""

    opened = Signal(object, object)  # Ember | None, Exception | None
    stopped = Signal()

    def __init__(self, closing: threading.Event) -> None:
        super().__init__()
        self.closing = closing
        self.ember: Ember | None = None
        self.pending: list[AnyCall] = []

    @Slot(object)
    def open(self, opener: Callable[[], Ember]) -> None:
        try:
            self.ember = opener()
        except Exception as exc:
            log(exc)
            self.opened.emit(None, exc)
            return
        self.opened.emit(self.ember, None)

    @Slot(object)
    def run(self, call: AnyCall) -> None:
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

    def _replace(self, call: AnyCall, fn: Callable[[Any], object], ember: Ember) -> None:
        call.replaced = True
        self._execute(call, fn, ember)

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


class ReadLane(_Lane):
    """Lives on the read thread: holds a Reader and runs reads in order."""

    unavailable = Signal(object)  # list[Call]: reads for the engine lane instead
    stopped = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.reader: Reader | None = None
        self.waiting: list[AnyCall] | None = []  # None once the lane knows if it can read

    @Slot(object)
    def open(self, opener: Callable[[], Reader] | None) -> None:
        """Open the reader (None: the service could not open, nor can this)."""
        waiting, self.waiting = self.waiting or [], None
        if opener is not None:
            try:
                self.reader = opener()
            except Exception as exc:
                log(exc)
        if self.reader is None:
            self.unavailable.emit(waiting)
            return
        for call in waiting:
            self.run(call)

    @Slot(object)
    def run(self, call: AnyCall) -> None:
        if self.waiting is not None:
            self.waiting.append(call)
        elif self.reader is None:
            self.unavailable.emit([call])
        elif call.cancelled:
            self.finished.emit(call)
        else:
            reads: MemoryReads = self.reader
            self._execute(call, call.fn, reads)

    @Slot()
    def stop(self) -> None:
        """Close the reader (reads queued before this have run)."""
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.waiting = None
        self.stopped.emit()
