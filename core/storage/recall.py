"""Recall memory: every message of every agent, its FIFO-queue state, keyword (FTS5) and
vector search (``message_embedding``, searched through ``recall_vectors``).

Part of :class:`ember.core.storage.store.Store`. Messages are never deleted by eviction: leaving
the context window only clears ``in_context``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ember.core.kernel import clock
from ember.core.kernel.jsontypes import JSONLike, JSONObject
from ember.core.storage import messages, recall_vectors
from ember.core.storage.messages import Kind, Part, Role
from ember.core.storage.store_base import SQLValue, StoreBase, Vector, row_reader

# The id of an agent's newest reply still in its queue (the index walked from its end).
_NEWEST_REPLY = (
    "SELECT id FROM messages WHERE agent_id = ? AND in_context = 1 "
    f"AND role = '{Role.ASSISTANT}' ORDER BY id DESC LIMIT 1"
)
# A message by agent, time, role and text, through messages_agent_time_text (migrations.py).
FIND_MESSAGE = (
    "SELECT id FROM messages WHERE agent_id = ? AND created_at = ? "
    "AND length(text) = length(?) AND substr(text, 1, 40) = substr(?, 1, 40) "
    "AND role = ? AND text = ? ORDER BY id LIMIT 1"
)


@dataclass(frozen=True)
class Message:
    """A recall-memory message. ``content`` is the JSON payload, ``text`` its searchable
    text; :attr:`part` reads the content as the record of its kind (messages.py)."""

    id: int
    agent_id: int
    role: Role
    kind: Kind | str  # a kind this version does not know stays as its text
    content: JSONObject
    text: str
    created_at: str
    in_context: bool
    tokens: int | None

    @property
    def part(self) -> Part:
        """The content as a typed record of its kind."""
        return messages.part(self.kind, self.content, self.text)


_message = row_reader(
    Message,
    role=messages.role_of,
    kind=messages.kind_of,
    content=messages.decode,
    in_context=bool,
)


class RecallStore(StoreBase):
    """Recall messages and their search indexes."""

    def __init__(self, path: Path | str | None = None) -> None:
        super().__init__(path)
        self._message_index = recall_vectors.RecallVectorIndex(self.conn, recall_vectors.MESSAGES)
        self._window_index = recall_vectors.RecallVectorIndex(self.conn, recall_vectors.WINDOWS)

    def add_message(
        self,
        agent_id: int,
        role: Role,
        kind: Kind | str,
        content: JSONLike,
        text: str = "",
        *,
        created_at: str | None = None,
        in_context: bool = True,
        tokens: int | None = None,
    ) -> int:
        """Append a message to recall memory (and to the FIFO queue if ``in_context``)."""
        cur = self.conn.execute(
            "INSERT INTO messages(agent_id, role, kind, content, text, created_at, in_context,"
            " tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                agent_id,
                role,
                kind,
                messages.encode(content),
                text,
                created_at or clock.now_iso(),
                int(in_context),
                tokens,
            ),
        )
        return int(cur.lastrowid or 0)

    def find_message(self, agent_id: int, role: Role, created_at: str, text: str) -> int | None:
        """The id of the agent's message with this role, time and searchable text, if
        there is one (imports add nothing twice)."""
        row = self._one(FIND_MESSAGE, (agent_id, created_at, text, text, role, text))
        return int(row[0]) if row else None

    def set_message_tokens(self, message_id: int, tokens: int) -> None:
        """Cache a message's token count in the loaded model's tokenizer."""
        self.conn.execute("UPDATE messages SET tokens = ? WHERE id = ?", (tokens, message_id))

    def context_messages(self, agent_id: int) -> list[Message]:
        """The FIFO queue: in-context messages, oldest first."""
        rows = self._all(
            "SELECT * FROM messages WHERE agent_id = ? AND in_context = 1 ORDER BY id",
            (agent_id,),
        )
        return [_message(r) for r in rows]

    def context_tail(self, agent_id: int) -> list[Message]:
        """The end of the FIFO queue after the agent's newest reply in it (all of the
        queue when there is none), oldest first: what the next reply answers. Bounded by
        what came since that reply, not by the queue (an index walk from its end)."""
        rows = self._all(
            "SELECT * FROM messages WHERE agent_id = ? AND in_context = 1 AND id > "
            f"COALESCE(({_NEWEST_REPLY}), 0) ORDER BY id",
            (agent_id, agent_id),
        )
        return [_message(r) for r in rows]

    def context_ids_before_reply(self, agent_id: int, keep: int) -> list[int]:
        """Ids of the in-context messages older than the agent's newest reply in the
        queue, but the newest ``keep`` of them, oldest first (none without a reply)."""
        rows = self._all(
            "SELECT id FROM messages WHERE agent_id = ? AND in_context = 1 "
            f"AND id < ({_NEWEST_REPLY}) ORDER BY id DESC LIMIT -1 OFFSET ?",
            (agent_id, agent_id, keep),
        )
        return [int(r[0]) for r in reversed(rows)]

    def reply_texts(self, agent_id: int, limit: int) -> list[str]:
        """The texts of the agent's newest ``limit`` replies, newest first. Walks the
        queue's index from the end, in and out of context, so it reads about ``limit``
        rows however long the conversation (one query sorting all of them took 54 ms at
        50,000 messages, every turn)."""
        newest = (
            "SELECT * FROM (SELECT id, text FROM messages WHERE agent_id = ? AND in_context = {} "
            f"AND role = '{Role.ASSISTANT}' AND kind = '{Kind.STEP}' AND text != '' "
            "ORDER BY id DESC LIMIT ?)"
        )
        rows = self._all(
            f"SELECT text FROM ({newest.format(1)} UNION ALL {newest.format(0)}) "
            "ORDER BY id DESC LIMIT ?",
            (agent_id, limit, agent_id, limit, limit),
        )
        return [str(r[0]) for r in rows]

    def evict_messages(self, message_ids: Iterable[int]) -> None:
        """Take messages out of the FIFO queue. They stay in recall storage."""
        self.conn.executemany(
            "UPDATE messages SET in_context = 0 WHERE id = ?", [(i,) for i in message_ids]
        )

    def delete_messages(self, message_ids: Iterable[int]) -> None:
        """Delete messages from recall (their search rows go with them, by trigger). For a
        turn the user takes back; eviction never deletes."""
        self.conn.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in message_ids])

    def get_messages(self, message_ids: Sequence[int]) -> list[Message]:
        """Messages by id, in the order given (missing ids skipped)."""
        if not message_ids:
            return []
        marks = ",".join("?" * len(message_ids))
        rows = self._all(f"SELECT * FROM messages WHERE id IN ({marks})", list(message_ids))
        by_id = {r["id"]: _message(r) for r in rows}
        return [by_id[i] for i in message_ids if i in by_id]

    def recent_messages(
        self, agent_id: int, limit: int = 200, before_id: int | None = None, after_id: int = 0
    ) -> list[Message]:
        """The newest messages of an agent (whatever their context state), oldest first;
        only those with ids between ``after_id`` and ``before_id`` (excluded)."""
        rows = self._all(
            "SELECT * FROM messages WHERE agent_id = ? AND id < ? AND id > ? "
            "ORDER BY id DESC LIMIT ?",
            (agent_id, before_id if before_id is not None else 2**62, after_id, limit),
        )
        return [_message(r) for r in reversed(rows)]

    def searchable_near(
        self, agent_id: int, message_id: int, *, after: bool, limit: int, inclusive: bool = False
    ) -> list[tuple[int, str, str, str]]:
        """``(id, role, text, created_at)`` of the agent's ``limit`` messages with text
        nearest to ``message_id`` on one side (``inclusive``: it too), nearest first.

        One ordered walk of the agent's index per queue state, so the cost does not grow
        with the history: over ``(agent_id, in_context, id)`` a plain ``id <`` range made
        SQLite read and sort every earlier message of the agent (20 ms at 10k)."""
        side = (">=" if inclusive else ">") if after else ("<=" if inclusive else "<")
        order = "" if after else " DESC"
        branch = (
            "SELECT id, role, text, created_at FROM messages WHERE agent_id = ? "
            f"AND in_context = ? AND id {side} ? AND text != '' ORDER BY id{order} LIMIT ?"
        )
        rows = self.conn.execute(
            f"SELECT * FROM ({branch}) UNION ALL SELECT * FROM ({branch}) "
            f"ORDER BY id{order} LIMIT ?",
            (agent_id, 0, message_id, limit, agent_id, 1, message_id, limit, limit),
        ).fetchall()
        return [(int(i), str(r), str(t), str(c)) for i, r, t, c in rows]

    def searchable_after(self, agent_id: int, after_id: int) -> list[tuple[int, str, str]]:
        """``(id, text, created_at)`` of the agent's messages with text after ``after_id``,
        oldest first (through the agent's index: only those rows are read)."""
        rows = self.conn.execute(
            "SELECT id, text, created_at FROM messages WHERE agent_id = ? "
            "AND in_context IN (0, 1) AND id > ? AND text != '' ORDER BY id",
            (agent_id, after_id),
        ).fetchall()
        return [(int(i), str(t), str(c)) for i, t, c in rows]

    def count_searchable_after(self, agent_id: int, after_id: int) -> int:
        """How many of the agent's messages with text come after ``after_id``."""
        return self._int(
            "SELECT count(*) FROM messages WHERE agent_id = ? AND in_context IN (0, 1) "
            "AND id > ? AND text != ''",
            (agent_id, after_id),
        )

    def count_messages(self, agent_id: int, *, in_context: bool | None = None) -> int:
        """How many messages recall memory holds (optionally only in or out of context)."""
        if in_context is None:
            return self._int("SELECT count(*) FROM messages WHERE agent_id = ?", (agent_id,))
        return self._int(
            "SELECT count(*) FROM messages WHERE agent_id = ? AND in_context = ?",
            (agent_id, int(in_context)),
        )

    def set_message_embedding(self, message_id: int, agent_id: int, vector: Vector) -> None:
        """Store (or replace) the embedding of a message's searchable text.

        Idempotent and safe when another process embeds the same message at the same time
        (a chat's backfill and another chat's turn): the rows are replaced inside one
        write transaction, which SQLite serialises between processes.
        """
        self.set_message_embeddings([(message_id, agent_id, vector)])

    def set_message_embeddings(self, items: Iterable[tuple[int, int, Vector]]) -> None:
        """Store (or replace) several message embeddings in one transaction."""
        rows = list(items)
        if not rows:
            return
        with self.transaction():
            # Vectors have no foreign keys: a message deleted meanwhile (its agent deleted
            # by another process during an import) gets no vector, or it would outlive it.
            ids = json.dumps([r[0] for r in rows])
            alive = {
                (int(r[0]), int(r[1]))
                for r in self._all(
                    "SELECT id, agent_id FROM messages WHERE id IN "
                    "(SELECT value FROM json_each(?))",
                    (ids,),
                )
            }
            rows = [r for r in rows if (r[0], r[1]) in alive]
            recall_vectors.write(self.conn, recall_vectors.MESSAGES, rows)

    def set_window_embeddings(self, items: Sequence[tuple[int, int, Vector]]) -> None:
        """Store (or replace) ``(message id, agent id, vector)`` embeddings of search
        windows (``search_index``); inside the caller's transaction."""
        recall_vectors.write(self.conn, recall_vectors.WINDOWS, items)

    def messages_missing_embedding(
        self, agent_id: int | None = None, limit: int = 256, after_id: int = 0
    ) -> list[Message]:
        """Searchable messages that have no embedding yet (oldest first, ids > ``after_id``)."""
        sql = (
            "SELECT m.* FROM messages m WHERE m.id > ? AND m.text != '' AND NOT EXISTS "
            "(SELECT 1 FROM message_embedding v WHERE v.message_id = m.id)"
        )
        params: list[SQLValue] = [after_id]
        if agent_id is not None:
            # "+" keeps the planner on the id range (stopping at LIMIT) instead of an agent
            # index that would check every later message for a vector before sorting.
            sql += " AND +m.agent_id = ?"
            params.append(agent_id)
        sql += " ORDER BY m.id LIMIT ?"
        params.append(limit)
        return [_message(r) for r in self._all(sql, params)]

    def count_messages_missing_embedding(self, agent_id: int, after_id: int = 0) -> int:
        """How many searchable messages of the agent (ids > ``after_id``) lack an embedding."""
        return self._int(
            "SELECT count(*) FROM messages m WHERE m.agent_id = ? AND m.id > ? "
            "AND m.text != '' AND NOT EXISTS "
            "(SELECT 1 FROM message_embedding v WHERE v.message_id = m.id)",
            (agent_id, after_id),
        )

    def search_messages_keyword(
        self, agent_id: int, query: str, limit: int
    ) -> list[tuple[int, float]]:
        """(message id, bm25 score; lower is better) for searchable messages matching ``query``."""
        return self._keyword("messages", agent_id, query, limit)

    def search_messages_vector(
        self, agent_id: int, vector: Vector, k: int
    ) -> list[tuple[int, float]]:
        """(message id, cosine distance) of the ``k`` nearest message embeddings, nearest
        first (exact up to ``vector_index.candidates(k)`` messages; see recall_vectors)."""
        return self._message_index.search(agent_id, vector, k)

    def search_windows_vector(
        self, agent_id: int, vector: Vector, k: int
    ) -> list[tuple[int, float]]:
        """(message id, cosine distance) of the ``k`` search windows nearest ``vector``."""
        return self._window_index.search(agent_id, vector, k)

    def searchable_between(
        self, agent_id: int, first_day: str, day_after: str, limit: int
    ) -> list[int]:
        """Ids of the agent's messages with text whose local date (as stored) is from
        ``first_day`` up to, not including, ``day_after`` (``YYYY-MM-DD``): at most
        ``limit``, the newest first (through ``messages_agent_time``)."""
        rows = self.conn.execute(
            "SELECT id FROM messages WHERE agent_id = ? AND created_at >= ? "
            "AND created_at < ? AND in_context IN (0, 1) AND text != '' "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (agent_id, first_day, day_after, limit),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def message_vectors(self, message_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, float32 matrix) of these messages' embeddings."""
        return self._message_index.embeddings(np.asarray(message_ids, dtype=np.int64))

    def messages_between(
        self, agent_id: int, start_day: str, end_day: str, offset: int, limit: int
    ) -> tuple[list[Message], int]:
        """Searchable messages whose local date lies in [start_day, end_day], and the total."""
        where = "agent_id = ? AND text != '' AND substr(created_at, 1, 10) BETWEEN ? AND ?"
        params = (agent_id, start_day, end_day)
        total = self._int(f"SELECT count(*) FROM messages WHERE {where}", params)
        rows = self._all(
            f"SELECT * FROM messages WHERE {where} ORDER BY created_at, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_message(r) for r in rows], total
