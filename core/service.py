"""The one front door to Ember's core: every operation a front end may ask for, typed.

Design (after Anki's headless ``anki`` under its Qt ``aqt``, and simonw/llm's CLI over its
library): :class:`Ember` owns the store, the embedder and, once a model is attached, the
engine. The CLI and the GUI call its methods and get plain dataclasses back; neither
orchestrates the store, the engine and the embedder itself.

Threads. An :class:`Ember` belongs to one thread at a time (the CLI's main thread, the
GUI's engine thread); its store connection is that thread's. Two things are made to run
elsewhere, because they are slow and touch nothing the owner holds:

* :meth:`Ember.load_backend` builds a model backend from settings (a loader thread);
  :meth:`Ember.attach_backend` then installs it on the owning thread;
* :meth:`Ember.ingest` loads documents through its own connection (WAL lets it write
  while the owner reads); the shared embedder serialises its calls.

Read-only operations never create anything: :meth:`Ember.find_agent` raises
:class:`NotFound` for an unknown name, while :meth:`Ember.agent_for_chat` creates the
default agent (or a named one) on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ember.core import embedder as embedder_mod
from ember.core import presets, search_index
from ember.core import search as search_mod
from ember.core.agent_lock import AgentLock
from ember.core.backend import Backend
from ember.core.config import SETTINGS_KEY, EngineConfig
from ember.core.embedder import Embedder
from ember.core.engine import AgentRuntime, Engine, OnEvent, record_user_message
from ember.core.errors import NotFound
from ember.core.events import ContextUsage, TurnFinished
from ember.core.ingest import IngestResult, ProgressCallback, ingest_paths
from ember.core.kvstate import KVStateCache
from ember.core.store import Agent, Block, Message, Passage, Source, Store
from ember.core.transfer import ProgressCallback as TransferProgressCallback

Tier = Literal["archival", "recall"]
BackendFactory = Callable[[EngineConfig], Backend]
EmbedderFactory = Callable[[], Embedder]


def local_backend(config: EngineConfig) -> Backend:
    """The llama.cpp backend for ``config`` (the bundled model when no path is set)."""
    from ember.core.errors import ModelError
    from ember.core.llama_backend import LlamaBackend
    from ember.core.llama_build import missing_cpu_features
    from ember.core.models import resolve_model

    missing = missing_cpu_features()
    if missing:
        raise ModelError(
            f"llama.cpp in this environment was built for CPUs with {', '.join(missing)}, "
            "which this CPU lacks. Reinstall for this machine: make clean && make run."
        )
    return LlamaBackend(
        resolve_model(config.model_path), n_ctx=config.n_ctx, n_threads=config.n_threads
    )


def default_backend(config: EngineConfig) -> Backend:
    """The backend the settings choose: a configured server, else the local model."""
    if config.server_url:
        from ember.core.remote import server_backend

        return server_backend(config)
    return local_backend(config)


class SharedEmbedder:
    """One embedder used by the owning thread and ingest threads: one call at a time."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The model's name, recorded in the database."""
        return self.inner.name

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text."""
        return self.inner.max_tokens

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (lazy embedders load on first use)."""
        return bool(getattr(self.inner, "loaded", True))

    def load(self) -> None:
        """Load the model now (no-op for embedders that are always ready)."""
        load = getattr(self.inner, "load", None)
        if load is not None:
            with self._lock:
                load()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (one caller at a time)."""
        with self._lock:
            return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` (one caller at a time)."""
        with self._lock:
            return self.inner.count_tokens(text)


# -- what the service returns ------------------------------------------------------------


@dataclass(frozen=True)
class AgentSummary:
    """An agent as lists show it."""

    id: int
    name: str
    persona_preset: str | None
    human_preset: str | None
    messages: int


@dataclass(frozen=True)
class MemorySnapshot:
    """Core memory and the sizes of the other tiers, for one agent."""

    agent_id: int
    agent_name: str
    blocks: list[Block]
    recall_messages: int
    in_context_messages: int
    archival_passages: int
    documents: int
    summary: str


@dataclass(frozen=True)
class ModelStatus:
    """The model the engine runs."""

    name: str
    path: str
    n_ctx: int


@dataclass(frozen=True)
class History:
    """The newest messages of an agent, oldest first, for a transcript."""

    agent_id: int
    agent_name: str
    messages: list[Message]
    first_run: bool  # the user and the agent have not spoken yet


@dataclass(frozen=True)
class PassagePage:
    """Archival passages for browsing (no query) or the hits of a query."""

    agent_id: int
    query: str
    passages: list[Passage]
    total: int
    offset: int


@dataclass(frozen=True)
class RecallPage:
    """Recall messages: the newest, those matching a query, or those between two days."""

    agent_id: int
    mode: Literal["recent", "search", "date"]
    messages: list[Message]
    total: int


@dataclass(frozen=True)
class ExportCounts:
    """What an agent export wrote."""

    messages: int
    passages: int
    sources: int


class Ember:
    """Ember's core service. See the module docstring for threads."""

    def __init__(
        self,
        store: Store,
        *,
        embedder: Embedder | None = None,
        backend_factory: BackendFactory = default_backend,
        kv_cache: KVStateCache | None = None,
    ) -> None:
        self.store = store
        self.embedder = SharedEmbedder(embedder or embedder_mod.SentenceTransformerEmbedder())
        self.backend_factory = backend_factory
        self.kv_cache = kv_cache
        self.config = EngineConfig.load(store)
        self.engine: Engine | None = None
        self._logged_in: set[int] = set()
        self._agent_lock: AgentLock | None = None

    @classmethod
    def open(
        cls,
        db_path: Path | str | None = None,
        *,
        embedder: Embedder | None = None,
        backend_factory: BackendFactory = default_backend,
        warm_restart: bool = True,
    ) -> Ember:
        """Open the database (``$EMBER_HOME`` or the user data folder by default)."""
        return cls(
            Store(db_path),
            embedder=embedder,
            backend_factory=backend_factory,
            kv_cache=KVStateCache() if warm_restart else None,
        )

    def __enter__(self) -> Ember:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        """The database file."""
        return self.store.path

    # -- agents -----------------------------------------------------------------------

    def agents(self) -> list[AgentSummary]:
        """Every agent, oldest first."""
        return [
            AgentSummary(
                a.id, a.name, a.persona_preset, a.human_preset, self.store.count_messages(a.id)
            )
            for a in self.store.list_agents()
        ]

    def find_agent(self, name: str | None = None) -> Agent:
        """The named agent, or the default one; never creates. Raises NotFound."""
        wanted = name or presets.DEFAULT_AGENT
        try:
            return self.store.get_agent(wanted)
        except NotFound:
            raise NotFound(f'no agent named "{wanted}"') from None

    def agent_for_chat(self, name: str | None = None) -> Agent:
        """The named agent (default: Ember), created from the default presets if missing."""
        return presets.get_or_create_default(self.store, name)

    def get_agent(self, agent_id: int) -> Agent:
        """An agent by id. Raises NotFound."""
        return self.store.get_agent_by_id(agent_id)

    def create_agent(
        self, name: str, persona: str = presets.DEFAULT_PERSONA, human: str = presets.DEFAULT_HUMAN
    ) -> Agent:
        """A new agent whose core memory starts from the given presets."""
        return presets.create_agent(self.store, name, persona, human)

    def rename_agent(self, agent_id: int, name: str) -> Agent:
        """Rename an agent. Raises AlreadyExists."""
        self.store.rename_agent(agent_id, name)
        return self.store.get_agent_by_id(agent_id)

    def delete_agent(self, agent_id: int) -> Agent:
        """Delete an agent and all its memories; returns the agent to show next (the
        default one is created when none is left)."""
        held = self._agent_lock
        if held is not None and held.agent_id == agent_id:
            self.store.delete_agent(agent_id)
            held.release()
            self._agent_lock = None
        else:  # not while another process is chatting with it
            name = self.store.get_agent_by_id(agent_id).name
            with AgentLock(self.store.path, agent_id, name):
                self.store.delete_agent(agent_id)
        self._logged_in.discard(agent_id)
        remaining = self.store.list_agents()
        return remaining[0] if remaining else self.agent_for_chat(None)

    def export_agent(self, agent_id: int, path: Path | str) -> ExportCounts:
        """Write the agent and all its memories to one file (private to the user)."""
        from ember.core import agent_export

        counts = agent_export.export_agent(self.store, self.store.get_agent_by_id(agent_id), path)
        return ExportCounts(counts["messages"], counts["passages"], counts["sources"])

    def import_agent(
        self,
        path: Path | str,
        on_progress: TransferProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Agent:
        """Import an agent export as a new agent (renamed if the name is taken). The file
        is validated whole first: a bad file changes nothing."""
        from ember.core import agent_import

        return agent_import.import_agent(
            self.store, path, lambda: self.embedder, on_progress=on_progress, cancel=cancel
        )

    def import_history(
        self,
        agent_id: int,
        path: Path | str,
        on_progress: TransferProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """A past conversation (JSON Lines) into recall memory; returns messages imported.
        The file is validated whole first: a bad line changes nothing."""
        from ember.core import history_import

        return history_import.import_history(
            self.store, self.embedder, agent_id, path, on_progress=on_progress, cancel=cancel
        )

    def claim_agent(self, agent_id: int) -> None:
        """Hold this agent's conversation lock (one process per agent at a time; see
        ``agent_lock``), releasing the one held before. Raises AgentInUse."""
        if self._agent_lock is not None and self._agent_lock.agent_id == agent_id:
            return
        name = self.store.get_agent_by_id(agent_id).name
        lock = AgentLock(self.store.path, agent_id, name)
        if self._agent_lock is not None:
            self._agent_lock.release()
        self._agent_lock = lock

    # -- the model ----------------------------------------------------------------------

    def load_backend(self, config: EngineConfig | None = None) -> Backend:
        """Build a backend for ``config`` (default: the saved settings). Slow; touches no
        state of this service, so any thread may call it."""
        return self.backend_factory(config or self.config)

    def attach_backend(self, backend: Backend, config: EngineConfig | None = None) -> ModelStatus:
        """Run the engine on ``backend`` from now on, saving ``config`` as the settings.

        The previous backend's warm state is saved and its model freed. A window too small
        for the agents raises ContextTooSmall (naming the size that works) and changes
        nothing; ``backend`` is closed then.
        """
        config = config or self.config
        try:  # a window too small for the agents is refused before anything changes
            engine = Engine(self.store, backend, self.embedder, config, self.kv_cache)
        except Exception:
            backend.close()
            raise
        old = self.engine
        if old is not None and old.backend is not backend:
            old.close()  # saves its warm state, frees its model
        self.config = config
        config.save(self.store)
        self.engine = engine
        return self.model_status() or ModelStatus("", "", 0)

    def start_model(self, config: EngineConfig | None = None) -> ModelStatus:
        """Load the model for ``config`` and attach it (the CLI's one-step start)."""
        return self.attach_backend(self.load_backend(config), config)

    def model_status(self) -> ModelStatus | None:
        """The attached model, if any."""
        if self.engine is None:
            return None
        backend = self.engine.backend
        return ModelStatus(backend.name, str(getattr(backend, "path", "")), backend.n_ctx)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("no model is attached (call start_model or attach_backend)")
        return self.engine

    def _runtime(self, agent_id: int) -> AgentRuntime:
        return AgentRuntime(self._engine(), agent_id)

    # -- conversation -------------------------------------------------------------------

    def login(self, agent_id: int) -> None:
        """Record the start of a session with this agent (once per agent per service)."""
        if agent_id in self._logged_in:
            return
        self.claim_agent(agent_id)
        self._runtime(agent_id).login()
        self._logged_in.add(agent_id)

    def send(
        self,
        agent_id: int,
        text: str,
        on_event: OnEvent | None = None,
        cancel: threading.Event | None = None,
    ) -> TurnFinished:
        """The user says ``text``; the agent runs until it replies or stops."""
        self.claim_agent(agent_id)
        return self._runtime(agent_id).send_user_message(text, on_event, cancel)

    def prepare_flush(self, agent_id: int, cancel: threading.Event | None = None) -> bool:
        """While the user is idle (the GUI's idle timer; the CLI while it waits for a line):
        once the agent's queue is past the alert line, write the summary its coming flush
        needs, so that the flush only swaps it in. Set ``cancel`` as soon as the user
        writes (it returns promptly; the flush then summarises as usual). Returns whether a
        prepared summary is ready; False without a model or below the alert line."""
        if self.engine is None:
            return False
        self.claim_agent(agent_id)
        return self.engine.prepare_flush(agent_id, cancel)

    def record_message(self, agent_id: int, text: str) -> int | None:
        """Keep a user message without running the agent (typed while the model loads or
        the app closes); the agent sees it with its next event."""
        self.claim_agent(agent_id)
        return record_user_message(self.store, agent_id, text)

    def timed_heartbeat(
        self,
        agent_id: int,
        on_event: OnEvent | None = None,
        cancel: threading.Event | None = None,
    ) -> TurnFinished | None:
        """A timed wake-up of the agent; None when its heartbeats are paused."""
        self.claim_agent(agent_id)
        return self._runtime(agent_id).timed_heartbeat(on_event, cancel)

    def context_usage(self, agent_id: int) -> ContextUsage | None:
        """How full the agent's context is (None before a model is attached)."""
        if self.engine is None:
            return None
        return self._runtime(agent_id).context_usage()

    def history(self, agent_id: int, limit: int = 150) -> History:
        """The newest ``limit`` messages of the agent, for its transcript."""
        agent = self.store.get_agent_by_id(agent_id)
        messages = self.store.recent_messages(agent_id, limit)
        spoken = any(m.kind in ("user_message", "step") for m in messages)
        return History(agent.id, agent.name, messages, first_run=not spoken)

    # -- memory -------------------------------------------------------------------------

    def memory(self, agent_id: int) -> MemorySnapshot:
        """Core memory blocks and the sizes of recall and archival memory."""
        agent = self.store.get_agent_by_id(agent_id)
        return MemorySnapshot(
            agent_id=agent.id,
            agent_name=agent.name,
            blocks=self.store.blocks(agent.id),
            recall_messages=self.store.count_messages(agent.id),
            in_context_messages=self.store.count_messages(agent.id, in_context=True),
            archival_passages=self.store.count_passages(agent.id),
            documents=len(self.store.list_sources(agent.id)),
            summary=agent.summary,
        )

    def set_block(self, agent_id: int, label: str, value: str) -> Block:
        """Replace a core memory block's text (within its limit); returns the saved block."""
        self.store.set_block(agent_id, label, value)
        return self.store.get_block(agent_id, label)

    def search(
        self, agent_id: int, tier: Tier, query: str, page: int = 0, page_size: int = 5
    ) -> search_mod.ResultPage:
        """The hybrid search the agent's tools run, over archival or recall memory."""
        return search_mod.search(self.store, self.embedder, agent_id, tier, query, page, page_size)

    def pending_search_index(self, agent_id: int) -> int:
        """Past messages of the agent that recall search has not indexed yet (all of them
        right after the upgrade that added the window index)."""
        return search_index.pending(self.store, agent_id)

    def update_search_index(
        self, agent_id: int, on_progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Index the agent's new messages for recall search now, reporting
        ``on_progress(done, total)``; searches do it anyway, silently. Returns how many
        windows were embedded."""
        return search_index.sync(self.store, self.embedder, agent_id, on_progress)

    def archival(
        self, agent_id: int, query: str = "", offset: int = 0, limit: int = 50
    ) -> PassagePage:
        """Archival passages: newest first without a query, best first with one.

        Before the embedder has loaded, a query is answered by keyword search alone, so the
        inspector works at once."""
        total = self.store.count_passages(agent_id)
        if not query.strip():
            passages = self.store.list_passages(agent_id, offset, limit)
            return PassagePage(agent_id, query, passages, total, offset)
        if not self.embedder.loaded:
            ids = [i for i, _ in self.store.search_passages_keyword(agent_id, query, limit)]
            return PassagePage(agent_id, query, self.store.get_passages(ids), len(ids), 0)
        page = self.search(agent_id, "archival", query, 0, limit)
        passages = self.store.get_passages([h.id for h in page.hits])
        return PassagePage(agent_id, query, passages, page.total, 0)

    def recall(
        self,
        agent_id: int,
        query: str = "",
        start: str = "",
        end: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> RecallPage:
        """Recall messages: between two days (``start``/``end`` YYYY-MM-DD), matching
        ``query``, or the newest (newest first)."""
        if start and end:
            messages, total = self.store.messages_between(agent_id, start, end, offset, limit)
            return RecallPage(agent_id, "date", messages, total)
        if query.strip():
            if not self.embedder.loaded:
                ids = [i for i, _ in self.store.search_messages_keyword(agent_id, query, limit)]
                return RecallPage(agent_id, "search", self.store.get_messages(ids), len(ids))
            page = self.search(agent_id, "recall", query, 0, limit)
            messages = self.store.get_messages([h.id for h in page.hits])
            return RecallPage(agent_id, "search", messages, page.total)
        recent = [m for m in self.store.recent_messages(agent_id, limit) if m.text]
        recent.reverse()
        return RecallPage(agent_id, "recent", recent, self.store.count_messages(agent_id))

    def delete_passage(self, agent_id: int, passage_id: int) -> None:
        """Delete one archival passage of the agent."""
        passages = self.store.get_passages([passage_id])
        if not passages or passages[0].agent_id != agent_id:
            raise NotFound(f"No archival passage with id {passage_id}.")
        self.store.delete_passage(passage_id)

    # -- documents ------------------------------------------------------------------------

    def sources(self, agent_id: int) -> list[Source]:
        """Documents loaded into the agent's archival memory, oldest first."""
        return self.store.list_sources(agent_id)

    def remove_source(self, agent_id: int, source_id: int) -> int:
        """Remove a loaded document and its passages; returns how many passages went."""
        source = self.store.get_source(source_id)
        if source.agent_id != agent_id:
            raise NotFound(f"No loaded document with id {source_id}.")
        return self.store.remove_source(source_id)

    def ingest(
        self,
        agent_id: int,
        paths: Iterable[str | Path],
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[IngestResult]:
        """Load documents into the agent's archival memory, one result per file.

        Runs on its own database connection, so it may run on a thread of its own while
        the owner keeps chatting."""
        with Store(self.store.path) as store:
            return ingest_paths(
                store, self.embedder, agent_id, paths, on_progress=on_progress, cancel=cancel
            )

    # -- settings -------------------------------------------------------------------------

    def settings(self) -> EngineConfig:
        """The engine settings in force."""
        return replace(self.config)

    def needs_reload(self, config: EngineConfig) -> bool:
        """Whether ``config`` needs a new backend (model file or context shape changed)."""
        return self.engine is None or any(
            getattr(config, k) != getattr(self.config, k)
            for k in ("model_path", "n_ctx", "n_threads", "server_url", "server_model")
        )

    def update_settings(self, config: EngineConfig) -> None:
        """Save settings that need no new backend (see :meth:`needs_reload`)."""
        self.config = config
        config.save(self.store)
        if self.engine is not None:
            self.engine.config = config

    def front_end_settings(self, name: str) -> dict[str, Any]:
        """Settings a front end keeps in the database (e.g. the GUI's last agent)."""
        value = self.store.get_setting(name, {})
        return dict(value) if isinstance(value, dict) else {}

    def save_front_end_settings(self, name: str, values: dict[str, Any]) -> None:
        """Save a front end's settings."""
        if name == SETTINGS_KEY:
            raise ValueError(f"{name!r} is the engine's settings key")
        self.store.set_setting(name, values)

    # -- lifecycle --------------------------------------------------------------------------

    def save_warm_state(self) -> bool:
        """Save the model's KV cache for a fast next start (on idle or quit)."""
        return self.engine.save_warm_state() if self.engine is not None else False

    def close(self) -> None:
        """Save the warm state, free the model and close the database."""
        try:
            if self.engine is not None:
                self.engine.close()
                self.engine = None
        finally:
            if self._agent_lock is not None:
                self._agent_lock.release()
                self._agent_lock = None
            self.store.close()
