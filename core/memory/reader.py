"""Reading memory without waiting for the engine: the queries a front end browses with,
shared by the service and by a :class:`Reader` on a connection of its own.

Design: :class:`MemoryReads` holds the read-only memory queries (an agent's transcript,
blocks and counts, block history, archival and recall pages, hybrid search, loaded
documents) over a store and the
shared embedder. :class:`~ember.core.service.Ember` inherits them (with its writes, in
``service_memory.py``); :class:`Reader` offers them alone, over its own connection opened
``query_only``. SQLite's WAL lets that connection read while the service's connection
writes a turn, so a GUI can answer the memory inspector, search and find on a second
thread while the model writes a reply, with the same code the service runs.

What a Reader does differently, so that it never writes:

* recall search does not bring the window index up to date first (``search_index.sync``
  writes and embeds); it ranks what is indexed, and the message-level rankings (kept by
  the store as messages are written) still hold the newest messages. The service's next
  search, or the agent's, indexes them;
* documents whose load was killed are listed as they are (the service removes them).

The embedder is shared with the service: :class:`~ember.core.memory.embedder.SharedEmbedder`
serialises its calls, so a query waits at most for one embedding batch of a turn. Before it
has loaded, queries are answered by keyword search alone (as the service does).
"""

from __future__ import annotations

from pathlib import Path

from ember.core.kernel.events import Remembered
from ember.core.memory import autorecall
from ember.core.memory import search as search_mod
from ember.core.memory.embedder import SharedEmbedder
from ember.core.memory.pages import History, MemorySnapshot, PassagePage, RecallPage
from ember.core.memory.search import Tier
from ember.core.storage import blockhistory, provenance
from ember.core.storage.blockhistory import BlockChange
from ember.core.storage.messages import Kind
from ember.core.storage.store import Source, Store


class MemoryReads:
    """The read-only memory queries of the service and of a :class:`Reader`."""

    store: Store
    embedder: SharedEmbedder
    # Whether a recall search first indexes new messages (a write; see the module docstring).
    indexes_on_search: bool = True

    def history(self, agent_id: int, limit: int = 150, after_id: int = 0) -> History:
        """The newest ``limit`` messages of the agent (those after ``after_id``: a turn's,
        given :meth:`newest_message_id` before it), for its transcript."""
        agent = self.store.get_agent_by_id(agent_id)
        recent = self.store.recent_messages(agent_id, limit, after_id=after_id)
        spoken = any(m.kind in (Kind.USER_MESSAGE, Kind.STEP) for m in recent)
        replies = [m.id for m in recent if m.kind == Kind.STEP and m.text]
        return History(agent.id, agent.name, recent, not spoken, self.remembered(agent_id, replies))

    def remembered(
        self, agent_id: int, message_ids: list[int]
    ) -> dict[int, tuple[Remembered, ...]]:
        """The memories each of the agent's replies ``message_ids`` was written from (the
        replies that have a record), by message id."""
        mine = {m.id for m in self.store.get_messages(message_ids) if m.agent_id == agent_id}
        return provenance.read(self.store.conn, mine)

    def message(self, agent_id: int, message_id: int) -> RecallPage:
        """One recall message of the agent (none when it is gone), as a page."""
        found = [m for m in self.store.get_messages([message_id]) if m.agent_id == agent_id]
        return RecallPage(agent_id, "search", found, len(found))

    def passage(self, agent_id: int, passage_id: int) -> PassagePage:
        """One archival passage of the agent (none when it is gone), as a page."""
        found = [p for p in self.store.get_passages([passage_id]) if p.agent_id == agent_id]
        return PassagePage(agent_id, "", found, len(found), 0)

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
            documents=sum(s.status == "loaded" for s in self.store.list_sources(agent.id)),
            summary=agent.summary,
        )

    def auto_recall(self, agent_id: int) -> bool:
        """Whether the agent's automatic recall is on (it is by default)."""
        return autorecall.enabled(self.store.get_agent_by_id(agent_id).settings)

    def block_history(self, agent_id: int, label: str, limit: int = 200) -> list[BlockChange]:
        """Every change of a core memory block (by the agent, the user or an undo), newest
        first. Raises NotFound for an unknown label."""
        self.store.get_block(agent_id, label)
        return blockhistory.changes(self.store.conn, agent_id, label, limit)

    def search(
        self, agent_id: int, tier: Tier, query: str, page: int = 0, page_size: int = 5
    ) -> search_mod.ResultPage:
        """The hybrid search the agent's tools run, over archival or recall memory."""
        return search_mod.search(
            self.store,
            self.embedder,
            agent_id,
            tier,
            query,
            page,
            page_size,
            index=self.indexes_on_search,
        )

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

    def sources(self, agent_id: int) -> list[Source]:
        """Documents loaded into the agent's archival memory, oldest first (a ``loading``
        one is being loaded, or its load was killed)."""
        return self.store.list_sources(agent_id)


class Reader(MemoryReads):
    """The memory queries over a read-only connection of their own (see the module
    docstring). Belongs to one thread at a time, like a Store."""

    indexes_on_search = False

    def __init__(self, db_path: Path | str, embedder: SharedEmbedder) -> None:
        self.store = Store(db_path)
        try:  # any write on this connection is a bug: SQLite refuses it
            self.store.conn.execute("PRAGMA query_only = ON")
        except BaseException:
            self.store.close()
            raise
        self.embedder = embedder

    def close(self) -> None:
        """Close the connection."""
        self.store.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
