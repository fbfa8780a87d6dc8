"""The memory part of the core service: core memory block edits, search indexing,
passage and document removal, and ingest. The read-only queries (blocks and counts,
history, searches, archival and recall pages, documents) are :class:`MemoryReads`, shared
with the read lane's :class:`~ember.core.memory.reader.Reader`.
:class:`ember.core.service.Ember` inherits it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ember.core.documents.ingest import (
    IngestResult,
    ProgressCallback,
    ingest_paths,
    load_lock,
    reap_interrupted,
)
from ember.core.kernel.errors import InvalidInput, NotFound, quoted
from ember.core.memory import autorecall, search_index
from ember.core.memory.reader import MemoryReads
from ember.core.storage import blockhistory
from ember.core.storage.store import Block, Source, Store


class MemoryOps(MemoryReads):
    """Memory operations of :class:`~ember.core.service.Ember`."""

    def set_auto_recall(self, agent_id: int, on: bool) -> None:
        """Switch the agent's automatic recall on or off (a per-agent setting)."""
        settings = {**self.store.get_agent_by_id(agent_id).settings, autorecall.SETTING: on}
        self.store.update_agent(agent_id, settings=settings)

    def set_block(self, agent_id: int, label: str, value: str) -> Block:
        """The user replaces a core memory block's text (within its limit); returns the
        saved block. The change is kept in the block's history."""
        self.store.set_block(agent_id, label, value, author="user")
        return self.store.get_block(agent_id, label)

    def undo_block_change(self, agent_id: int, change_id: int) -> Block:
        """Restore a block to its value before a change (itself kept as a change)."""
        change = blockhistory.get_change(self.store.conn, agent_id, change_id)
        self.store.set_block(agent_id, change.label, change.old_value, author="undo")
        return self.store.get_block(agent_id, change.label)

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

    def delete_passage(self, agent_id: int, passage_id: int) -> None:
        """Delete one archival passage of the agent."""
        passages = self.store.get_passages([passage_id])
        if not passages or passages[0].agent_id != agent_id:
            raise NotFound(f"No archival passage with id {passage_id}.")
        self.store.delete_passage(passage_id)

    # -- documents ------------------------------------------------------------------------

    def sources(self, agent_id: int) -> list[Source]:
        """Documents loaded into the agent's archival memory, oldest first (a ``loading``
        one is being loaded right now: those whose load was killed are removed first)."""
        reap_interrupted(self.store, agent_id)
        return super().sources(agent_id)

    def remove_source(self, agent_id: int, source_id: int) -> int:
        """Remove a loaded document and its passages; returns how many passages went.
        Raises InvalidInput for a document another process is loading right now."""
        source = self.store.get_source(source_id)
        if source.agent_id != agent_id:
            raise NotFound(f"No loaded document with id {source_id}.")
        if source.status != "loading":
            return self.store.remove_source(source_id)
        lock = load_lock(self.store, agent_id, source.sha256)
        if lock.acquire() is not None:
            raise InvalidInput(
                f"{quoted(source.name)} is being loaded right now; remove it once the load "
                "is done, or stop the load."
            )
        try:  # a load that died: what it left goes
            return self.store.remove_source(source_id)
        finally:
            lock.release()

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
