"""The memory part of the core service: core memory blocks and their history, searches,
archival and recall pages for browsing, loaded documents and ingest.
:class:`ember.core.service.Ember` inherits it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ember.core import autorecall, blockhistory, search_index
from ember.core import search as search_mod
from ember.core.blockhistory import BlockChange
from ember.core.embedder import SharedEmbedder
from ember.core.errors import NotFound
from ember.core.ingest import IngestResult, ProgressCallback, ingest_paths, reap_interrupted
from ember.core.search import Tier
from ember.core.store import Block, Source, Store
from ember.core.views import MemorySnapshot, PassagePage, RecallPage


class MemoryOps:
    """Memory operations of :class:`~ember.core.service.Ember`."""

    store: Store
    embedder: SharedEmbedder

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

    def auto_recall(self, agent_id: int) -> bool:
        """Whether the agent's automatic recall is on (it is by default)."""
        return autorecall.enabled(self.store.get_agent_by_id(agent_id).settings)

    def set_auto_recall(self, agent_id: int, on: bool) -> None:
        """Switch the agent's automatic recall on or off (a per-agent setting)."""
        settings = {**self.store.get_agent_by_id(agent_id).settings, autorecall.SETTING: on}
        self.store.update_agent(agent_id, settings=settings)

    def set_block(self, agent_id: int, label: str, value: str) -> Block:
        """The user replaces a core memory block's text (within its limit); returns the
        saved block. The change is kept in the block's history."""
        self.store.set_block(agent_id, label, value, author="user")
        return self.store.get_block(agent_id, label)

    def block_history(self, agent_id: int, label: str, limit: int = 200) -> list[BlockChange]:
        """Every change of a core memory block (by the agent, the user or an undo), newest
        first. Raises NotFound for an unknown label."""
        self.store.get_block(agent_id, label)
        return blockhistory.changes(self.store.conn, agent_id, label, limit)

    def undo_block_change(self, agent_id: int, change_id: int) -> Block:
        """Restore a block to its value before a change (itself kept as a change)."""
        change = blockhistory.get_change(self.store.conn, agent_id, change_id)
        self.store.set_block(agent_id, change.label, change.old_value, author="undo")
        return self.store.get_block(agent_id, change.label)

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
        # Every message with text lies between these days: the count of spoken messages.
        spoken = self.store.messages_between(agent_id, "0001-01-01", "9999-12-31", 0, 0)[1]
        events = self.store.count_messages(agent_id) - spoken
        return RecallPage(agent_id, "recent", recent, spoken, events)

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
