"""The engine worker: one long-lived QObject on its own QThread that owns the model
backend, the Store (DB connection) and the embedder.

Design
------
The GUI never calls the core. It sends requests — ``(kind, payload dict)`` — through one
queued signal (:meth:`EngineWorker.submit`), and the worker answers through signals that
carry plain data (dicts, dataclasses from ``ember.core.events``). Requests run on the
worker thread *in the order they were sent*, so an edit made while the agent is
generating waits for the turn to end and is never lost.

Slow things never block the worker's queue at start: the model and the embedder load on
a loader thread and are handed to the worker when ready. Requests that need them (a chat
message typed before the model is ready) wait in ``_pending`` and run, in order, once the
engine exists; requests that only need the database run at once.

Documents are ingested on a second thread with its own DB connection (SQLite WAL lets a
reader and a short writer share the file), so chat keeps going while a PDF loads. The
embedder is shared between the two through a lock.

Streamed deltas are coalesced here (at most one signal per ~40 ms per kind) and again in
the view, so a fast model cannot flood the GUI event loop. Cancellation is a
``threading.Event`` the GUI sets directly.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ember.app.transcript import build_transcript

# Requests that need the model and the embedder.
ENGINE_KINDS = frozenset({"send", "timed_heartbeat"})
STREAM_INTERVAL = 0.04
HISTORY_LIMIT = 150
ARCHIVAL_PAGE = 50
GUI_SETTINGS_KEY = "gui"
# Idle time after a turn before the model's KV cache is saved for a warm restart.
WARM_SAVE_IDLE_MS = 20_000

BackendFactory = Callable[[Any], Any]
EmbedderFactory = Callable[[], Any]


def real_backend(config: Any) -> Any:
    """The llama.cpp backend for ``config`` (bundled model when no path is set)."""
    from ember.core.llama_backend import LlamaBackend
    from ember.core.models import resolve_model

    return LlamaBackend(
        resolve_model(config.model_path), n_ctx=config.n_ctx, n_threads=config.n_threads
    )


def real_embedder() -> Any:
    """The bundled sentence-transformers embedder (not loaded yet)."""
    from ember.core.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


class SharedEmbedder:
    """Serialises calls to one embedder used by the engine and the ingest threads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def load(self) -> Any:
        """Load the model (if the embedder is lazy)."""
        load = getattr(self.inner, "load", None)
        return load() if load else None

    def embed(self, texts: Any) -> Any:
        """Embed ``texts`` (one caller at a time)."""
        with self._lock:
            return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` (one caller at a time)."""
        with self._lock:
            return self.inner.count_tokens(text)


def _message_dict(m: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "role": m.role,
        "kind": m.kind,
        "content": m.content,
        "text": m.text,
        "created_at": m.created_at,
    }


class _Coalescer:
    """Forwards engine events, merging text deltas into one signal per interval."""

    def __init__(self, emit: Callable[[Any], None], interval: float = STREAM_INTERVAL) -> None:
        self._emit = emit
        self._interval = interval
        self._kind: type | None = None
        self._text = ""
        self._last = 0.0

    def __call__(self, event: Any) -> None:
        from ember.core.events import MessageDelta, ThoughtDelta, TurnFinished

        if isinstance(event, TurnFinished):
            return  # the worker reports the end of the turn itself
        if isinstance(event, ThoughtDelta | MessageDelta):
            if self._kind is not None and self._kind is not type(event):
                self.flush()
            self._kind = type(event)
            self._text += event.text
            now = time.monotonic()
            if now - self._last >= self._interval:
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


class EngineWorker(QObject):
    """Owns the Store, the backend and the embedder; answers requests in order."""

    # GUI → worker (connect with a queued connection; see :meth:`submit`).
    requested = Signal(str, object)

    # worker → GUI
    started = Signal(object)  # {"agents": [...], "agent": {...}, "config": {...}, "gui": {...}}
    agentsChanged = Signal(object)  # list of {"id", "name"}
    agentLoaded = Signal(object)  # {"id", "name", "items": [DisplayItem], "first_run": bool}
    loadProgress = Signal(str, bool)  # text, finished
    modelReady = Signal(object)  # {"name", "path", "n_ctx"}
    modelFailed = Signal(str)
    turnStarted = Signal(int)  # agent id
    engineEvent = Signal(int, object)  # agent id, core event dataclass
    turnEnded = Signal(int, object)  # agent id, TurnFinished
    memoryLoaded = Signal(object)  # {"agent_id", "blocks": [...], "counts": {...}}
    blockSaved = Signal(object)  # {"agent_id", "label", "ok", "error", "value"}
    archivalLoaded = Signal(object)  # {"agent_id", "query", "items", "total", "offset"}
    recallLoaded = Signal(object)  # {"agent_id", "mode", "items", "total"}
    sourcesLoaded = Signal(object)  # {"agent_id", "items"}
    settingsSaved = Signal(object)  # {"config": {...}, "gui": {...}}
    ingestProgress = Signal(int, object)  # batch id, IngestProgress
    ingestFinished = Signal(int, object)  # batch id, list of result dicts
    notice = Signal(str, str)  # level ("info" | "error"), text
    stopped = Signal()

    # internal: loader thread / ingest thread → worker thread
    _loaded = Signal(int, object, object, str)  # generation, backend, config, error
    _timed = Signal()

    def __init__(
        self,
        db_path: Path | str | None = None,
        *,
        backend_factory: BackendFactory = real_backend,
        embedder_factory: EmbedderFactory = real_embedder,
    ) -> None:
        super().__init__()
        self.db_path = db_path
        self.backend_factory = backend_factory
        self.embedder_factory = embedder_factory
        self.cancel = threading.Event()
        self.store: Any = None
        self.engine: Any = None
        self.embedder: SharedEmbedder | None = None
        self.config: Any = None
        self.gui: dict[str, Any] = {}
        self.agent_id: int | None = None
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._generation = 0
        self._scheduler: Any = None
        self._closing = False
        # Set by the window (any thread) as soon as it starts closing: messages still
        # queued are then recorded instead of starting a turn.
        self.closing = threading.Event()
        self._idle_timer: Any = None
        self._logged_in: set[int] = set()
        self._ingest_threads: list[threading.Thread] = []
        self._ingest_cancels: dict[int, threading.Event] = {}
        self.requested.connect(self._handle)
        self._loaded.connect(self._on_loaded)
        self._timed.connect(self._on_timed)

    # -- entry points -------------------------------------------------------------------

    def submit(self, kind: str, payload: dict[str, Any] | None = None) -> None:
        """Queue a request (callable from any thread; runs on the worker thread)."""
        self.requested.emit(kind, payload or {})

    def cancel_ingest(self, batch: int) -> None:
        """Stop a document batch (thread-safe flag)."""
        event = self._ingest_cancels.get(batch)
        if event is not None:
            event.set()

    @Slot()
    def _on_timed(self) -> None:
        self._handle("timed_heartbeat", {})

    @property
    def busy(self) -> bool:
        """Whether requests are waiting for the engine."""
        return bool(self._pending)

    @Slot(str, object)
    def _handle(self, kind: str, payload: dict[str, Any]) -> None:
        if self._closing and kind != "shutdown":
            return
        if kind in ENGINE_KINDS and self.engine is None:
            self._pending.append((kind, payload))
            return
        handler = getattr(self, f"_do_{kind}", None)
        if handler is None:
            self.notice.emit("error", f"Internal error: unknown request {kind!r}.")
            return
        try:
            handler(**payload)
        except Exception as exc:  # keep the worker alive; tell the user
            from ember.core.errors import EmberError

            if not isinstance(exc, EmberError):
                traceback.print_exc()
            self.notice.emit("error", str(exc) or type(exc).__name__)

    # -- start-up ----------------------------------------------------------------------

    def _do_start(self, agent: str | None = None) -> None:
        from ember.core import presets
        from ember.core.engine import EngineConfig
        from ember.core.store import Store

        self.store = Store(self.db_path)
        self.db_path = self.store.path
        self.config = EngineConfig.load(self.store)
        self.gui = dict(self.store.get_setting(GUI_SETTINGS_KEY, {}) or {})
        wanted = agent or self.gui.get("last_agent")
        try:
            row = presets.get_or_create_default(self.store, wanted)
        except Exception:
            row = presets.get_or_create_default(self.store, None)
        self.started.emit({"config": asdict(self.config), "gui": dict(self.gui)})
        self._emit_agents()
        self._select(row.id)
        self.embedder = SharedEmbedder(self.embedder_factory())
        self._load_backend(self.config, first=True)

    def _load_backend(self, config: Any, *, first: bool = False) -> None:
        """Load a backend (and the embedder) on a loader thread."""
        self._generation += 1
        generation = self._generation
        embedder = self.embedder

        def run() -> None:
            try:
                self.loadProgress.emit("Loading the language model…", False)
                backend = self.backend_factory(config)
                if first and embedder is not None:
                    self.loadProgress.emit("Loading the embedding model…", False)
                    embedder.load()
                self._loaded.emit(generation, backend, config, "")
            except Exception as exc:
                from ember.core.errors import EmberError

                if not isinstance(exc, EmberError):
                    traceback.print_exc()
                self._loaded.emit(generation, None, config, str(exc) or type(exc).__name__)

        thread = threading.Thread(target=run, name="ember-model-loader", daemon=True)
        thread.start()

    @Slot(int, object, object, str)
    def _on_loaded(self, generation: int, backend: Any, config: Any, error: str) -> None:
        from ember.core.engine import Engine
        from ember.core.kvstate import KVStateCache

        if self._closing:
            if backend is not None and hasattr(backend, "close"):
                backend.close()
            return
        if backend is None:
            self.loadProgress.emit("The model could not be loaded.", True)
            self.modelFailed.emit(error)
            return
        old = self.engine.backend if self.engine is not None else None
        self.config = config
        self.config.save(self.store)
        if self.engine is not None:
            self.engine.save_warm_state()  # the old model's context, for its next use
        self.engine = Engine(self.store, backend, self.embedder, config, KVStateCache())
        if old is not None and old is not backend and hasattr(old, "close"):
            old.close()
        self.loadProgress.emit("Ready", True)
        self.modelReady.emit(
            {
                "name": getattr(backend, "name", "model"),
                "path": str(getattr(backend, "path", "")),
                "n_ctx": getattr(backend, "n_ctx", 0),
            }
        )
        self._restart_scheduler()
        if self.agent_id is not None:
            self._login(self.agent_id)
            self._emit_usage(self.agent_id)
        pending, self._pending = self._pending, []
        for kind, payload in pending:
            self._handle(kind, payload)

    def _login(self, agent_id: int) -> None:
        """Record the session start (MemGPT login event) once per agent per session."""
        if self.engine is None or agent_id in self._logged_in:
            return
        from ember.core.engine import AgentRuntime

        AgentRuntime(self.engine, agent_id).login()
        self._logged_in.add(agent_id)

    def _restart_scheduler(self) -> None:
        from ember.core.scheduler import HeartbeatScheduler

        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        minutes = self.config.timed_heartbeat_minutes if self.config else None
        if minutes:
            self._scheduler = HeartbeatScheduler(minutes, self._timed.emit)
            self._scheduler.start()

    # -- agents ------------------------------------------------------------------------

    def _emit_agents(self) -> None:
        self.agentsChanged.emit([{"id": a.id, "name": a.name} for a in self.store.list_agents()])

    def _select(self, agent_id: int) -> None:
        agent = self.store.get_agent_by_id(agent_id)
        self.agent_id = agent.id
        messages = self.store.recent_messages(agent.id, HISTORY_LIMIT)
        items = build_transcript([_message_dict(m) for m in messages])
        self.agentLoaded.emit(
            {
                "id": agent.id,
                "name": agent.name,
                "items": items,
                "first_run": not any(m.kind in ("user_message", "step") for m in messages),
            }
        )
        if self.gui.get("last_agent") != agent.name:
            self.gui["last_agent"] = agent.name
            self.store.set_setting(GUI_SETTINGS_KEY, self.gui)
        self._login(agent.id)
        self._emit_usage(agent.id)
        self._do_memory(agent.id)

    def _do_select_agent(self, agent_id: int) -> None:
        self._select(agent_id)

    def _do_create_agent(self, name: str, persona: str, human: str) -> None:
        from ember.core import presets

        agent = presets.create_agent(self.store, name, persona, human)
        self._emit_agents()
        self._select(agent.id)

    def _do_rename_agent(self, agent_id: int, name: str) -> None:
        self.store.rename_agent(agent_id, name)
        if agent_id == self.agent_id:
            self.gui["last_agent"] = name.strip()
            self.store.set_setting(GUI_SETTINGS_KEY, self.gui)
        self._emit_agents()

    def _do_delete_agent(self, agent_id: int) -> None:
        from ember.core import presets

        self.store.delete_agent(agent_id)
        self._logged_in.discard(agent_id)
        if not self.store.list_agents():
            presets.get_or_create_default(self.store, None)
        self._emit_agents()
        if agent_id == self.agent_id or self.agent_id is None:
            self._select(self.store.list_agents()[0].id)

    # -- chat --------------------------------------------------------------------------

    def _do_send(self, agent_id: int, text: str) -> None:
        from ember.core.engine import AgentRuntime, record_user_message
        from ember.core.events import TurnFinished

        if self.closing.is_set():
            record_user_message(self.store, agent_id, text)
            return
        if self._scheduler is not None:
            self._scheduler.touch()
        self.cancel.clear()
        self.turnStarted.emit(agent_id)
        forward = _Coalescer(lambda event: self.engineEvent.emit(agent_id, event))
        try:
            runtime = AgentRuntime(self.engine, agent_id)
            finished = runtime.send_user_message(text, on_event=forward, cancel=self.cancel)
        except Exception as exc:
            traceback.print_exc()
            finished = TurnFinished("error", str(exc) or type(exc).__name__)
        forward.flush()
        self.turnEnded.emit(agent_id, finished)
        self._after_turn(agent_id)

    def _do_timed_heartbeat(self) -> None:
        from ember.core.engine import AgentRuntime

        if self.agent_id is None:
            return
        agent_id = self.agent_id
        self.cancel.clear()
        self.turnStarted.emit(agent_id)
        forward = _Coalescer(lambda event: self.engineEvent.emit(agent_id, event))
        finished = AgentRuntime(self.engine, agent_id).timed_heartbeat(forward, self.cancel)
        forward.flush()
        from ember.core.events import TurnFinished

        self.turnEnded.emit(agent_id, finished or TurnFinished("no_message"))
        self._after_turn(agent_id)

    def _after_turn(self, agent_id: int) -> None:
        self._schedule_warm_save()
        self._emit_usage(agent_id)
        if agent_id == self.agent_id:
            self._do_memory(agent_id)

    def _emit_usage(self, agent_id: int) -> None:
        if self.engine is None:
            return
        from ember.core.engine import AgentRuntime

        try:
            usage = AgentRuntime(self.engine, agent_id).context_usage()
        except Exception:  # usage is informative only
            return
        self.engineEvent.emit(agent_id, usage)

    # -- memory inspector ----------------------------------------------------------------

    def _do_memory(self, agent_id: int) -> None:
        blocks = [
            {"label": b.label, "value": b.value, "limit": b.limit}
            for b in self.store.blocks(agent_id)
        ]
        counts = {
            "recall": self.store.count_messages(agent_id),
            "in_context": self.store.count_messages(agent_id, in_context=True),
            "archival": self.store.count_passages(agent_id),
            "documents": len(self.store.list_sources(agent_id)),
        }
        self.memoryLoaded.emit({"agent_id": agent_id, "blocks": blocks, "counts": counts})

    def _do_set_block(self, agent_id: int, label: str, value: str) -> None:
        from ember.core.errors import EmberError

        try:
            self.store.set_block(agent_id, label, value)
        except EmberError as exc:
            self.blockSaved.emit(
                {"agent_id": agent_id, "label": label, "ok": False, "error": str(exc)}
            )
            return
        saved = self.store.get_block(agent_id, label).value
        self.blockSaved.emit(
            {"agent_id": agent_id, "label": label, "ok": True, "error": "", "value": saved}
        )
        self._emit_usage(agent_id)

    def _do_archival(self, agent_id: int, query: str = "", offset: int = 0) -> None:
        total = self.store.count_passages(agent_id)
        if query.strip():
            if self.embedder is None or not getattr(self.embedder, "loaded", True):
                # Keyword search works before the embedder is ready.
                ids = [i for i, _ in self.store.search_passages_keyword(agent_id, query, 50)]
                passages = self.store.get_passages(ids)
            else:
                from ember.core.search import search_archival

                page = search_archival(self.store, self.embedder, agent_id, query, 0, 50)
                passages = self.store.get_passages([h.id for h in page.hits])
                total = page.total
        else:
            passages = self.store.list_passages(agent_id, offset, ARCHIVAL_PAGE)
        items = [
            {
                "id": p.id,
                "text": p.text,
                "source": p.source_name,
                "page": p.page,
                "time": p.created_at,
            }
            for p in passages
        ]
        self.archivalLoaded.emit(
            {"agent_id": agent_id, "query": query, "items": items, "total": total, "offset": offset}
        )

    def _do_delete_passage(self, agent_id: int, passage_id: int, query: str = "") -> None:
        self.store.delete_passage(passage_id)
        self._do_archival(agent_id, query)
        self._do_memory(agent_id)

    def _do_recall(
        self, agent_id: int, query: str = "", start: str = "", end: str = "", offset: int = 0
    ) -> None:
        if start and end:
            messages, total = self.store.messages_between(agent_id, start, end, offset, 100)
            mode = "date"
        elif query.strip():
            if self.embedder is None or not getattr(self.embedder, "loaded", True):
                ids = [i for i, _ in self.store.search_messages_keyword(agent_id, query, 50)]
                messages, total = self.store.get_messages(ids), len(ids)
            else:
                from ember.core.search import search_recall

                page = search_recall(self.store, self.embedder, agent_id, query, 0, 50)
                messages, total = self.store.get_messages([h.id for h in page.hits]), page.total
            mode = "search"
        else:
            messages = [m for m in self.store.recent_messages(agent_id, 100) if m.text]
            messages.reverse()
            total, mode = self.store.count_messages(agent_id), "recent"
        items = [
            {"id": m.id, "role": m.role, "text": m.text, "time": m.created_at} for m in messages
        ]
        self.recallLoaded.emit({"agent_id": agent_id, "mode": mode, "items": items, "total": total})

    def _do_sources(self, agent_id: int) -> None:
        items = [
            {
                "id": s.id,
                "name": s.name,
                "path": s.path,
                "pages": s.pages,
                "passages": s.passages,
                "status": s.status,
                "error": s.error,
                "time": s.created_at,
            }
            for s in self.store.list_sources(agent_id)
        ]
        self.sourcesLoaded.emit({"agent_id": agent_id, "items": items})

    def _do_remove_source(self, agent_id: int, source_id: int) -> None:
        n = self.store.remove_source(source_id)
        self.notice.emit("info", f"Removed the document and its {n} passages.")
        self._do_sources(agent_id)
        self._do_memory(agent_id)

    # -- settings ----------------------------------------------------------------------

    def _do_save_settings(self, config: dict[str, Any], gui: dict[str, Any]) -> None:
        """Save settings; reload the model when its file or shape changed.

        The previous model keeps working until the new one has loaded; if it fails to
        load, the previous settings stay in force and ``modelFailed`` says why.
        """
        from ember.core.engine import EngineConfig

        new = EngineConfig(**{**asdict(self.config), **config})
        self.gui.update(gui)
        self.store.set_setting(GUI_SETTINGS_KEY, self.gui)
        reload = self.engine is None or any(
            getattr(new, k) != getattr(self.config, k) for k in ("model_path", "n_ctx", "n_threads")
        )
        if reload:
            self._load_backend(new)  # saved by _on_loaded once the model works
        else:
            self.config = new
            new.save(self.store)
            if self.engine is not None:
                self.engine.config = new
            self._restart_scheduler()
        self.settingsSaved.emit({"config": asdict(new), "gui": dict(self.gui), "reload": reload})

    def _do_save_gui(self, gui: dict[str, Any]) -> None:
        self.gui.update(gui)
        self.store.set_setting(GUI_SETTINGS_KEY, self.gui)

    # -- documents ---------------------------------------------------------------------

    def _do_ingest(self, batch: int, agent_id: int, paths: list[str]) -> None:
        cancel = threading.Event()
        self._ingest_cancels[batch] = cancel
        db_path = self.db_path
        embedder = self.embedder

        def run() -> None:
            results: list[dict[str, Any]] = []
            try:
                from ember.core.ingest import ingest_paths
                from ember.core.store import Store

                with Store(db_path) as store:
                    out = ingest_paths(
                        store,
                        embedder,
                        agent_id,
                        [Path(p) for p in paths],
                        on_progress=lambda p: self.ingestProgress.emit(batch, p),
                        cancel=cancel,
                    )
                results = [
                    {
                        "path": str(r.path),
                        "status": r.status,
                        "pages": r.pages,
                        "passages": r.passages,
                        "seconds": r.seconds,
                        "message": r.message,
                    }
                    for r in out
                ]
            except Exception as exc:
                from ember.core.errors import EmberError

                if not isinstance(exc, EmberError | ImportError):
                    traceback.print_exc()
                results = [
                    {
                        "path": p,
                        "status": "failed",
                        "pages": 0,
                        "passages": 0,
                        "seconds": 0.0,
                        "message": str(exc) or type(exc).__name__,
                    }
                    for p in paths
                ]
            finally:
                self._ingest_cancels.pop(batch, None)
            self.ingestFinished.emit(batch, results)

        thread = threading.Thread(target=run, name=f"ember-ingest-{batch}", daemon=True)
        self._ingest_threads.append(thread)
        thread.start()

    # -- warm restart --------------------------------------------------------------------

    def _schedule_warm_save(self) -> None:
        """Save the model's KV cache once the agent has been idle for a while, so the next
        start of the app answers as fast as a warm reply (restarted at every turn)."""
        from PySide6.QtCore import QTimer

        if self._idle_timer is None:
            self._idle_timer = QTimer(self)
            self._idle_timer.setSingleShot(True)
            self._idle_timer.timeout.connect(self._save_warm_state)
        self._idle_timer.start(WARM_SAVE_IDLE_MS)

    @Slot()
    def _save_warm_state(self) -> None:
        if self.engine is not None and not self._closing:
            self.engine.save_warm_state()

    # -- shutdown ----------------------------------------------------------------------

    def _do_shutdown(self) -> None:
        """Stop everything cleanly; the current turn has already ended (requests are serial)."""
        self._closing = True
        for event in list(self._ingest_cancels.values()):
            event.set()
        for thread in self._ingest_threads:
            thread.join()  # each stops at its next batch boundary and commits or rolls back
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._idle_timer is not None:
            self._idle_timer.stop()
        if self.store is not None:
            from ember.core.engine import record_user_message

            for kind, payload in self._pending:  # typed before the model was ready
                if kind == "send":
                    record_user_message(self.store, payload["agent_id"], payload["text"])
            self._pending = []
        if self.engine is not None:
            self.engine.close()  # saves the warm KV state, then frees the model
            self.engine = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.stopped.emit()
