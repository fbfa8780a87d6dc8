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
  while the owner reads); the shared embedder serialises its calls;
* :meth:`Ember.open_reader` gives the memory queries on a read-only connection of their
  own (``reader.py``), for a thread that must answer while the owner runs a turn.

Read-only operations never create anything: :meth:`Ember.find_agent` raises
:class:`NotFound` for an unknown name, while :meth:`Ember.agent_for_chat` creates the
default agent (or a named one) on first use.

Layout: agent listing and moves live in ``service_agents.py``, memory browsing, blocks and
ingest in ``service_memory.py``, loading, attaching and choosing the model and the engine
settings in ``service_model.py`` (mixins :class:`Ember` inherits, one concept each); the
records it answers with in ``memory/pages.py``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ember.core.agent import retract
from ember.core.agent.engine import (
    AgentRuntime,
    Engine,
    OnEvent,
    record_notice,
    record_user_message,
)
from ember.core.documents.ingest import reap_interrupted
from ember.core.kernel.errors import Cancelled
from ember.core.kernel.events import (
    ContextUsage,
    Event,
    MessageDelta,
    SystemNotice,
    TurnFinished,
)
from ember.core.llm.config import SETTINGS_KEY, EngineConfig
from ember.core.llm.kvstate import KVStateCache
from ember.core.memory import embedder as embedder_mod
from ember.core.memory import memorypass
from ember.core.memory.embedder import Embedder, EmbedderFactory, SharedEmbedder
from ember.core.memory.pages import (
    AgentSummary,
    ExportCounts,
    History,
    IdleWork,
    MemorySnapshot,
    ModelStatus,
    PassagePage,
    Prepared,
    Preparing,
    RecallPage,
    Retracted,
)
from ember.core.memory.reader import Reader
from ember.core.memory.search import Tier
from ember.core.models.choice import BackendFactory, default_backend, local_backend
from ember.core.service_agents import AgentOps
from ember.core.service_memory import MemoryOps
from ember.core.service_model import ModelOps
from ember.core.storage import agent_settings, messages
from ember.core.storage.agent_lock import AgentLock
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Agent, Store

# Front ends import the service's answer types and backend factories from here.
__all__ = [
    "CANCELLED_REPLY",
    "AgentSummary",
    "BackendFactory",
    "EmbedderFactory",
    "Ember",
    "ExportCounts",
    "History",
    "IdleWork",
    "Kind",
    "MemorySnapshot",
    "ModelStatus",
    "PassagePage",
    "Prepared",
    "Preparing",
    "Reader",
    "RecallPage",
    "Retracted",
    "Role",
    "SharedEmbedder",
    "Tier",
    "default_backend",
    "local_backend",
]

CANCELLED_REPLY = Kind.CANCELLED_REPLY  # the kind of a reply the user stopped


class Ember(AgentOps, MemoryOps, ModelOps):
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
        # Saved settings that were bad and fell back to their defaults, one line each.
        self.settings_problems: list[str] = []
        self.config = EngineConfig.load(store, self.settings_problems)
        for agent in store.list_agents():  # each agent's own settings, checked alike
            agent_settings.read(agent.settings, self.settings_problems, agent.name)
        reap_interrupted(store)  # documents whose load was killed, with their passages
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

    # -- agents (the rest: service_agents.py) ----------------------------------------------

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

    def open_reader(self) -> Reader:
        """The read-only memory queries over a new connection to this database, sharing
        the embedder; for another thread (see ``reader.py``). Close it when done."""
        return Reader(self.store.path, self.embedder)

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
        """The user says ``text``; the agent runs until it replies or stops.

        A cancelled turn leaves a :data:`CANCELLED_REPLY` record holding what had been
        streamed of the reply (not in the agent's context: it never finished the step)."""
        self.claim_agent(agent_id)
        return self._keeping_stopped(
            agent_id,
            on_event,
            lambda on: self._runtime(agent_id).send_user_message(text, on, cancel),
        )

    def _keeping_stopped(
        self,
        agent_id: int,
        on_event: OnEvent | None,
        turn: Callable[[OnEvent], TurnFinished],
    ) -> TurnFinished:
        """Run ``turn``; a cancelled one leaves what had been streamed of its reply."""
        streamed: list[str] = []

        def forward(event: Event) -> None:
            if isinstance(event, MessageDelta):
                streamed.append(event.text)
            if on_event is not None:
                on_event(event)

        finished = turn(forward)
        if finished.reason == "cancelled":
            content = messages.cancelled("".join(streamed))
            self.store.add_message(
                agent_id, Role.ASSISTANT, Kind.CANCELLED_REPLY, content, in_context=False
            )
        return finished

    def retract_last_turn(self, agent_id: int) -> str:
        """Take back the user's newest message and the turn it started (the reply, its
        steps, results and heartbeats), to send it again or edited; returns its text.

        What the turn's functions did to memory stays. Raises InvalidInput when there is
        no message, or it has left the context window (it then belongs to the summary)."""
        self.claim_agent(agent_id)
        last = retract.last_user_message(self.store, agent_id)
        retract.delete_from(self.store, agent_id, last.id)
        return last.text

    def retract_reply(self, agent_id: int) -> Retracted:
        """Take back what followed the user's newest message (the reply, its steps, results
        and heartbeats), keeping the message as it was; what the turn's functions did to
        memory stays. Raises InvalidInput as :meth:`retract_last_turn` does."""
        self.claim_agent(agent_id)
        last = retract.last_user_message(self.store, agent_id)
        replies = retract.delete_from(self.store, agent_id, last.id + 1, about_message=True)
        return Retracted(last.id, last.text, replies)

    def regenerate(
        self,
        agent_id: int,
        on_event: OnEvent | None = None,
        cancel: threading.Event | None = None,
        replaced: Sequence[str] = (),
    ) -> TurnFinished:
        """Answer the user's newest message again: its reply is taken back
        (:meth:`retract_reply`; ``replaced``: replies taken back before) and a new one is
        sampled at a temperature of its own, never the same words in the dialogue format.
        The message keeps its time and place. Stopped, it leaves what was streamed."""
        kept = self.retract_reply(agent_id)
        runtime = self._runtime(agent_id)
        return self._keeping_stopped(
            agent_id,
            on_event,
            lambda on: runtime.answer_again(
                (kept.message_id, kept.text), [*replaced, *kept.replies], on, cancel
            ),
        )

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

    def while_idle(self, agent_id: int, cancel: threading.Event | None = None) -> IdleWork:
        """The work done for an agent while its user is idle (the window's idle timer,
        ``ember chat`` while it waits for a line): the memory pass (what the user said
        about themselves into core memory, memorypass.py), the coming flush prepared, and
        the start of the next prompt read into the model's cache (Engine.warm_next). Set
        ``cancel`` as soon as the user acts: it returns promptly, and a cancelled pass
        writes nothing."""
        memory = self.memory_pass(agent_id, cancel)
        if cancel is not None and cancel.is_set():
            return IdleWork(memory, False)
        prepared = self.prepare_flush(agent_id, cancel)
        read = 0
        if self.engine is not None and not (cancel is not None and cancel.is_set()):
            with contextlib.suppress(Cancelled):
                read = self.engine.warm_next(agent_id, cancel)
        return IdleWork(memory, prepared, read)

    def memory_pass(
        self, agent_id: int, cancel: threading.Event | None = None
    ) -> memorypass.PassResult:
        """What the user said about themselves since the last pass, into the ``human``
        block (memorypass.py): cheap (no model call), and it writes nothing when
        ``cancel`` is set. Part of :meth:`while_idle`; a front end without idle time
        (piped input) runs it after each turn."""
        self.claim_agent(agent_id)
        return memorypass.run(self.store, self.embedder, agent_id, cancel)

    def record_message(self, agent_id: int, text: str) -> int | None:
        """Keep a user message without running the agent (typed while the model loads or
        the app closes); the agent sees it with its next event."""
        self.claim_agent(agent_id)
        return record_user_message(self.store, agent_id, text)

    def newest_message_id(self, agent_id: int) -> int:
        """The id of the agent's newest message (0: none yet)."""
        newest = self.store.recent_messages(agent_id, 1)
        return newest[-1].id if newest else 0

    def record_notice(self, agent_id: int, notice: SystemNotice) -> None:
        """Keep a notice with the conversation, as turns keep theirs (a front end's turn
        that failed before or outside the agent's loop)."""
        record_notice(self.store, agent_id, notice)

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

    # -- memory: service_memory.py; the model and its settings: service_model.py ---------

    # -- front-end settings ---------------------------------------------------------------

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
