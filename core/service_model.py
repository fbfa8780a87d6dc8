"""The model part of the core service: building a backend and attaching it (the engine),
what is attached, the ways to choose another model (a file, a catalogue download, a
server), and the engine settings that go with it. :class:`ember.core.service.Ember`
inherits it; conversations run on the engine it attaches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ember.core.agent.engine import Engine
from ember.core.kernel.errors import Cancelled, ContextTooSmall
from ember.core.llm.backend import Backend
from ember.core.llm.config import EngineConfig
from ember.core.llm.kvstate import KVStateCache
from ember.core.memory.embedder import SharedEmbedder
from ember.core.memory.pages import ModelStatus, Prepared, Preparing
from ember.core.models import catalogue, choice
from ember.core.models.catalogue import CatalogueEntry
from ember.core.models.check import ModelCheck, check_model
from ember.core.models.choice import BackendFactory, ModelChoice
from ember.core.storage.store import Store

if TYPE_CHECKING:
    from ember.core.llm.server_caps import ServerCapabilities
    from ember.core.models.download import Progress as DownloadProgress


class ModelOps:
    """Model operations of :class:`~ember.core.service.Ember`."""

    store: Store
    embedder: SharedEmbedder
    backend_factory: BackendFactory
    kv_cache: KVStateCache | None
    config: EngineConfig
    engine: Engine | None

    if TYPE_CHECKING:

        def claim_agent(self, agent_id: int) -> None: ...

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
        except ContextTooSmall as exc:
            backend.close()
            from ember.core.llm.remote import window_too_small

            raise window_too_small(backend, exc) from None
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

    def load_embedder(self) -> None:
        """Load the embedding model now rather than at its first use. Slow; any thread may
        call it (the shared embedder serialises its calls)."""
        self.embedder.load()

    def prepare_first_reply(
        self,
        agent_id: int,
        cancel: threading.Event | None = None,
        on_progress: Callable[[Preparing], object] | None = None,
    ) -> Prepared:
        """Before the user's first message (while the window shows its welcome, while
        ``ember chat`` waits at its first prompt): what that reply needs and can have
        ahead, on the owning thread. With a model attached, the agent's saved state or the
        shared prefix state (built and saved the first time) goes into the model's cache
        and the rest of what its next prompt starts with is read (Engine.prepare_agent),
        so the first turn reads only the new message; then the embedding model is loaded
        (the turn embeds the message).

        Set ``cancel`` as soon as the user sends: it returns promptly (a batch of tokens
        under way is finished and stays in the cache for the turn; an embedder not loaded
        yet is left to the turn, one that is loading finishes)."""
        start = time.perf_counter()
        self.claim_agent(agent_id)
        engine = self.engine
        read, complete = 0, engine is not None
        if engine is not None:

            def reading(done: int, total: int) -> None:
                if on_progress is not None:
                    on_progress(Preparing("prompt", done, total))

            try:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Stopped.")
                read = engine.prepare_agent(agent_id, cancel, reading)
            except Cancelled:
                complete = False
        loaded = not self.embedder.loaded and not (cancel is not None and cancel.is_set())
        if loaded:
            if on_progress is not None:
                on_progress(Preparing("embedder"))
            self.embedder.load()
        return Prepared(loaded, read, complete, round(time.perf_counter() - start, 3))

    def start_model(self, config: EngineConfig | None = None) -> ModelStatus:
        """Load the model for ``config`` and attach it (the CLI's one-step start)."""
        return self.attach_backend(self.load_backend(config), config)

    def model_status(self) -> ModelStatus | None:
        """The attached model, if any."""
        if self.engine is None:
            return None
        backend = self.engine.backend
        notices = tuple(getattr(backend, "notices", ()))
        return ModelStatus(backend.name, str(getattr(backend, "path", "")), backend.n_ctx, notices)

    # -- choosing a model (the three ways to a bigger one; switch with start_model or
    # load_backend + attach_backend, which save the choice in the settings) ------------

    def model_choice(self) -> ModelChoice:
        """What the saved settings run: the bundled model, a file, a catalogue model or a
        server."""
        return choice.model_choice(self.config)

    def check_model_file(self, path: Path | str) -> ModelCheck:
        """A GGUF file (dropped on the window, opened from a menu) validated: name, size,
        trained context, memory needed at the current window and whether it fits. Raises
        ModelError for a file that is not a usable GGUF model. Reads only the header."""
        return check_model(path, self.config.n_ctx)

    def test_server(self, url: str, model: str | None = None) -> ServerCapabilities:
        """Ask an OpenAI-compatible server what it offers (``models`` for a picker, the
        step constraint, tokenizer, window). Opens a socket: call it only when the user
        asked (a Test button); slow, any thread. Raises ServerError, InvalidInput."""
        from ember.core.llm.server_caps import probe_server

        return probe_server(url, model)

    def catalogue(self) -> tuple[CatalogueEntry, ...]:
        """The downloadable models (reading the list opens no socket)."""
        return catalogue.entries()

    def download_model(
        self,
        model_id: str,
        on_progress: DownloadProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Download catalogue model ``model_id`` (after the user agreed to its URL and
        size); ``cancel`` pauses it, a new call resumes. Any thread. Returns the verified
        file; use it with ``models/choice.use_catalogue``."""
        return catalogue.download_entry(catalogue.find(model_id), on_progress, cancel)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("no model is attached (call start_model or attach_backend)")
        return self.engine

    # -- settings -----------------------------------------------------------------------

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
