"""The engine worker: the task runner and the jobs around the engine, and nothing else.

* the task runner (``taskrunner.py``): its engine lane holds the one
  :class:`~ember.core.service.Ember` (database connection, attached model), its read lane
  a :class:`~ember.core.memory.reader.Reader`; windows call the core only through
  ``worker.tasks.run(fn, done)`` and ``worker.tasks.read(fn, done)``;
* model loading, a background job: :meth:`Ember.load_backend` off every thread the GUI
  waits on, then :meth:`Ember.attach_backend` on the engine lane (the previous model keeps
  working until the new one is attached);
* ingest, a background job per batch: :meth:`Ember.ingest` on its own database
  connection, so chat goes on while a PDF loads (SQLite WAL; the embedder is shared
  through a lock);
* the timed-heartbeat scheduler (core's, with its own timer thread), and the idle timer
  that saves the model's KV cache for a warm restart.

Shutdown is ordered on the engine thread: ingest jobs are cancelled and joined, calls
queued behind the current turn run (messages typed meanwhile are recorded), then the
service saves its warm state and closes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from ember.app.lanes import log
from ember.app.taskrunner import Job, Relay, TaskRunner, describe
from ember.core.kernel.errors import EmberError

if TYPE_CHECKING:
    from ember.core.api import (
        Backend,
        BackendFactory,
        EmbedderFactory,
        Ember,
        EngineConfig,
        HeartbeatScheduler,
        IngestProgress,
        IngestResult,
        ModelStatus,
    )

# Idle time after a turn before the model's KV cache is saved for a warm restart.
WARM_SAVE_IDLE_MS = 20_000


@dataclass(frozen=True)
class _Loaded:
    generation: int
    config: EngineConfig
    backend: Backend | None
    error: Exception | None


class IngestJob:
    """One batch of documents loading as a background job."""

    def __init__(self, batch: int, job: Job[list[IngestResult]]) -> None:
        self.batch = batch
        self.job = job

    def cancel(self) -> None:
        """Stop at the next batch boundary (what is loaded by then stays)."""
        self.job.cancel()


class EngineWorker(QObject):
    """Owns the task runner, the loader and ingest jobs, and the scheduler."""

    modelLoading = Signal(str)  # what is loading now
    modelReady = Signal(object)  # ModelStatus
    modelFailed = Signal(str)  # why the model could not be loaded
    timedHeartbeat = Signal()  # the agent has been idle for the configured interval
    stopped = Signal()  # everything is closed

    def __init__(
        self,
        db_path: Path | str | None = None,
        *,
        backend_factory: BackendFactory | None = None,
        embedder_factory: EmbedderFactory | None = None,
    ) -> None:
        super().__init__()
        self.db_path = db_path
        self.backend_factory = backend_factory
        self.embedder_factory = embedder_factory
        self.tasks = TaskRunner(self)
        self.tasks.opened.connect(self._on_opened)
        self.tasks.stopped.connect(self._on_stopped)
        self.ember: Ember | None = None  # for the loader and ingest jobs only
        self.model: ModelStatus | None = None
        self.config: EngineConfig | None = None  # the settings of the attached model
        self.jobs: dict[int, IngestJob] = {}
        self._generation = 0
        self._batches = 0
        self._progress: Relay[str] = Relay(self.modelLoading.emit, self)
        self._timed: Relay[None] = Relay(lambda _: self.timedHeartbeat.emit(), self)
        self._scheduler: HeartbeatScheduler | None = None
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(self._save_warm_state)

    # -- start-up ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the engine thread and open the data there (the window is already shown)."""
        self.tasks.start(self._open)

    def _open(self) -> Ember:
        """On the engine thread: the service over the database (nothing heavy loads yet)."""
        from ember.core.api import Ember, default_backend

        embedder = self.embedder_factory() if self.embedder_factory else None
        return Ember.open(
            self.db_path, embedder=embedder, backend_factory=self.backend_factory or default_backend
        )

    def _on_opened(self, ember: Ember) -> None:
        self.ember = ember

    @property
    def closing(self) -> bool:
        """Whether shutdown has begun."""
        return self.tasks.closing.is_set()

    # -- the model ---------------------------------------------------------------------

    def load_model(self, config: EngineConfig, *, with_embedder: bool = False) -> None:
        """Load a model for ``config`` as a background job, then attach it on the engine
        lane (``modelReady``) or report why not (``modelFailed``)."""
        ember = self.ember
        if ember is None or self.closing:
            return
        self._generation += 1
        generation = self._generation
        self.modelLoading.emit("Loading the language model…")

        def run() -> _Loaded:
            try:
                backend = ember.load_backend(config)
                if with_embedder:
                    self._progress.post("Loading the embedding model…")
                    ember.load_embedder()
            except Exception as exc:
                log(exc)
                return _Loaded(generation, config, None, exc)
            return _Loaded(generation, config, backend, None)

        self.tasks.background(run, self._on_loaded, name="model-loader")

    def _on_loaded(self, loaded: _Loaded) -> None:
        backend = loaded.backend
        if backend is not None and (self.closing or loaded.generation != self._generation):
            _close_backend(backend)  # the window closed, or a newer choice superseded it
            return
        if backend is None:
            if loaded.generation == self._generation:
                self.modelFailed.emit(describe(loaded.error or EmberError("unknown error")))
            return

        def attached(status: ModelStatus) -> None:
            self.model, self.config = status, loaded.config
            self.schedule_heartbeats(loaded.config.timed_heartbeat_minutes)
            self.modelReady.emit(status)

        self.tasks.run(
            lambda e: e.attach_backend(backend, loaded.config),
            attached,
            lambda exc: self.modelFailed.emit(describe(exc)),
        )

    # -- timed heartbeats and idle work ------------------------------------------------

    def schedule_heartbeats(self, minutes: float | None) -> None:
        """Wake the agent after ``minutes`` idle (None: never)."""
        from ember.core.api import HeartbeatScheduler

        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        if minutes and not self.closing:
            self._scheduler = HeartbeatScheduler(minutes, lambda: self._timed.post(None))
            self._scheduler.start()

    def touch(self) -> None:
        """The user did something: the idle interval starts again."""
        if self._scheduler is not None:
            self._scheduler.touch()

    def schedule_warm_save(self) -> None:
        """Save the KV cache once the agent has been idle a while (restarted every turn),
        so the next start of the app answers as fast as a warm reply."""
        if not self.closing:  # a turn ending during shutdown must not restart the timer
            self._idle.start(WARM_SAVE_IDLE_MS)

    def _save_warm_state(self) -> None:
        if not self.closing:
            self.tasks.run(lambda e: e.save_warm_state())

    # -- documents ---------------------------------------------------------------------

    def ingest(
        self,
        agent_id: int,
        paths: Sequence[str],
        progress: Callable[[int, IngestProgress], object],
        finished: Callable[[int, list[IngestResult]], object],
    ) -> IngestJob | None:
        """Load documents on a thread of their own; ``progress(batch, p)`` and
        ``finished(batch, results)`` are called on the GUI thread, after the caller got
        the job. Errors become one failed result per file."""
        ember = self.ember
        if ember is None or self.closing:
            return None
        self._batches += 1
        batch = self._batches
        cancel = threading.Event()
        on_progress: Relay[IngestProgress] = Relay(lambda p: progress(batch, p), self)

        def done(results: list[IngestResult]) -> None:
            self.jobs.pop(batch, None)
            on_progress.deleteLater()
            finished(batch, results)

        def run() -> list[IngestResult]:
            try:
                return ember.ingest(agent_id, list(paths), on_progress.post, cancel)
            except Exception as exc:
                if not isinstance(exc, ImportError):
                    log(exc)
                return _failed(paths, describe(exc))

        job = self.tasks.background(run, done, name=f"ingest-{batch}", cancel=cancel)
        self.jobs[batch] = IngestJob(batch, job)
        return self.jobs[batch]

    # -- shutdown ----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop everything cleanly, after the call in progress (``stopped`` follows)."""
        if self.tasks.is_stopped:
            self.stopped.emit()
            return
        self.tasks.closing.set()
        self._idle.stop()
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        jobs = [job.job for job in self.jobs.values()]
        for job in jobs:
            job.cancel()

        def join_ingests(_ember: Ember) -> None:
            for job in jobs:  # each stops at its next batch and commits or rolls back
                job.join()

        self.tasks.shutdown(join_ingests)

    def _on_stopped(self) -> None:
        self.ember = None
        self._idle.stop()
        self.stopped.emit()

    def shutdown_now(self) -> None:
        """Blocking shutdown for scripts and tests: cancel, close and join the thread."""
        from PySide6.QtWidgets import QApplication

        self.shutdown()
        while not self.tasks.is_stopped:
            QApplication.processEvents()
            self.tasks.thread_.wait(10)
        self.tasks.wait()


def _close_backend(backend: Backend) -> None:
    close = getattr(backend, "close", None)
    if close is not None:
        close()


def _failed(paths: Sequence[str], message: str) -> list[IngestResult]:
    from ember.core.api import IngestResult

    return [IngestResult(str(p), "failed", 0, 0, 0.0, message, None) for p in paths]
