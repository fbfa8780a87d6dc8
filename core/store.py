"""The one SQLite file: agents, core memory, recall messages, archival passages, sources.

Design: a thin typed layer over SQL. The connection runs in autocommit mode; writes that
belong together go through :meth:`Store.transaction` (``BEGIN IMMEDIATE``, nested levels
become savepoints). Full-text rows are kept in sync by triggers; vector rows (message
embeddings in a ``vec0`` table partitioned by agent; passage embeddings and their binary
codes in plain tables, searched by ``vector_index``) are deleted by the same triggers.
Search *fusion* (keyword + vector) lives in ``search.py``; this module only runs the queries.

One Store (one connection) belongs to one thread at a time: the engine worker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ember.core import blockhistory, db, paths, timeutil, vector_index
from ember.core.errors import AlreadyExists, InvalidInput, NotFound

DEFAULT_BLOCK_LIMIT = 2000


@dataclass(frozen=True)
class Agent:
    """One agent's row. ``settings`` is a plain dict of per-agent settings."""

    id: int
    name: str
    persona_preset: str | None
    human_preset: str | None
    created_at: str
    last_login_at: str | None
    summary: str
    summary_hidden: int
    heartbeat_paused_until: str | None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """A core memory block."""

    label: str
    value: str
    limit: int
    position: int = 0


@dataclass(frozen=True)
class Message:
    """A recall-memory message. ``content`` is the JSON payload, ``text`` its searchable text."""

    id: int
    agent_id: int
    role: str
    kind: str
    content: dict[str, Any]
    text: str
    created_at: str
    in_context: bool
    tokens: int | None


@dataclass(frozen=True)
class Passage:
    """An archival passage, with its document source and page when it came from one."""

    id: int
    agent_id: int
    text: str
    source_id: int | None
    source_name: str | None
    page: int | None
    position: int | None
    created_at: str


@dataclass(frozen=True)
class Source:
    """A loaded document."""

    id: int
    agent_id: int
    path: str
    name: str
    sha256: str
    pages: int
    passages: int
    status: str
    error: str | None
    created_at: str


def vector_blob(vector: Sequence[float] | np.ndarray) -> bytes:
    """float32 little-endian bytes, the format vec0 takes."""
    return np.asarray(vector, dtype=np.float32).tobytes()


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """A safe FTS5 query matching any word of ``text`` (ranked by bm25), or None if no words."""
    words = [w for w in _WORD.findall(text.lower()) if w]
    if not words:
        return None
    unique = list(dict.fromkeys(words))
    return " OR ".join(f'"{w}"' for w in unique)


class Store:
    """Typed access to the Ember database file."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else paths.db_path()
        self.conn = db.connect(self.path)
        self._depth = 0
        self._passage_index = vector_index.PassageVectorIndex(self.conn)

    # -- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all. Nests with savepoints."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{self._depth}")
                self.conn.execute(f"RELEASE sp{self._depth}")
            raise
        else:
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute(f"RELEASE sp{self._depth}")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def _keyword(
        self, table: str, agent_id: int, query: str, limit: int
    ) -> list[tuple[int, float]]:
        """(row id, bm25 score) of ``table``'s rows (messages or passages) matching ``query``."""
        match = fts_query(query)
        if match is None:
            return []
        rows = self._all(
            f"SELECT t.id, bm25({table}_fts) AS score FROM {table}_fts "
            f"JOIN {table} t ON t.id = {table}_fts.rowid "
            f"WHERE {table}_fts MATCH ? AND t.agent_id = ? ORDER BY score LIMIT ?",
            (match, agent_id, limit),
        )
        return [(r[0], float(r[1])) for r in rows]

    # -- meta and settings ------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A fact about the file (e.g. ``embedding_model``)."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Record a fact about the file."""
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def embedding_model(self) -> tuple[str, int]:
        """The embedding model name and dimension the vectors in this file were made with."""
        return (
            self.get_meta("embedding_model") or "",
            int(self.get_meta("embedding_dim") or 0),
        )

    def get_setting(self, key: str, default: Any = None) -> Any:
        """An application setting (JSON value)."""
        row = self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        """Save an application setting (JSON value)."""
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    # -- agents -----------------------------------------------------------------------

    @staticmethod
    def _agent(row: Any) -> Agent:
        return Agent(
            id=row["id"],
            name=row["name"],
            persona_preset=row["persona_preset"],
            human_preset=row["human_preset"],
            created_at=row["created_at"],
            last_login_at=row["last_login_at"],
            summary=row["summary"],
            summary_hidden=row["summary_hidden"],
            heartbeat_paused_until=row["heartbeat_paused_until"],
            settings=json.loads(row["settings"] or "{}"),
        )

    def create_agent(
        self,
        name: str,
        blocks: dict[str, str],
        *,
        persona_preset: str | None = None,
        human_preset: str | None = None,
        limits: dict[str, int] | None = None,
        settings: dict[str, Any] | None = None,
        created_at: str | None = None,
    ) -> Agent:
        """Create an agent with its core memory blocks. Raises AlreadyExists."""
        name = name.strip()
        if not name:
            raise InvalidInput("An agent needs a name.")
        if self._one("SELECT 1 FROM agents WHERE name = ?", (name,)):
            raise AlreadyExists(f"An agent named '{name}' already exists.")
        created = created_at or timeutil.now_iso()
        limits = limits or {}
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO agents(name, persona_preset, human_preset, created_at, settings) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, persona_preset, human_preset, created, json.dumps(settings or {})),
            )
            agent_id = cur.lastrowid
            for position, (label, value) in enumerate(blocks.items()):
                limit = limits.get(label, DEFAULT_BLOCK_LIMIT)
                self.conn.execute(
                    "INSERT INTO blocks(agent_id, label, value, char_limit, position, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (agent_id, label, value, limit, position, created),
                )
        return self.get_agent_by_id(agent_id)

    def get_agent(self, name: str) -> Agent:
        """The agent named ``name`` (case-insensitive). Raises NotFound."""
        row = self._one("SELECT * FROM agents WHERE name = ?", (name.strip(),))
        if row is None:
            raise NotFound(f"No agent named '{name}'.")
        return self._agent(row)

    def get_agent_by_id(self, agent_id: int) -> Agent:
        """The agent with this id. Raises NotFound."""
        row = self._one("SELECT * FROM agents WHERE id = ?", (agent_id,))
        if row is None:
            raise NotFound(f"No agent with id {agent_id}.")
        return self._agent(row)

    def list_agents(self) -> list[Agent]:
        """All agents, oldest first."""
        return [self._agent(r) for r in self._all("SELECT * FROM agents ORDER BY id")]

    def rename_agent(self, agent_id: int, new_name: str) -> None:
        """Rename an agent. Raises AlreadyExists."""
        new_name = new_name.strip()
        if not new_name:
            raise InvalidInput("An agent needs a name.")
        clash = self._one("SELECT id FROM agents WHERE name = ? AND id != ?", (new_name, agent_id))
        if clash:
            raise AlreadyExists(f"An agent named '{new_name}' already exists.")
        self.conn.execute("UPDATE agents SET name = ? WHERE id = ?", (new_name, agent_id))

    def delete_agent(self, agent_id: int) -> None:
        """Delete an agent with all its memories."""
        with self.transaction():
            # vec0 tables have no foreign keys: the delete triggers on messages and passages
            # clear them as the cascade removes rows.
            self.conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,))

    _AGENT_FIELDS = frozenset(
        {"summary", "summary_hidden", "last_login_at", "heartbeat_paused_until"}
    )

    def update_agent(self, agent_id: int, **fields: Any) -> None:
        """Update agent columns (summary, summary_hidden, last_login_at, ...) or settings."""
        for key, value in fields.items():
            if key == "settings":
                self.conn.execute(
                    "UPDATE agents SET settings = ? WHERE id = ?", (json.dumps(value), agent_id)
                )
            elif key in self._AGENT_FIELDS:
                self.conn.execute(f"UPDATE agents SET {key} = ? WHERE id = ?", (value, agent_id))
            else:
                raise ValueError(f"unknown agent field {key!r}")

    # -- core memory blocks -----------------------------------------------------------

    def blocks(self, agent_id: int) -> list[Block]:
        """Core memory blocks in display order."""
        rows = self._all(
            "SELECT label, value, char_limit, position FROM blocks WHERE agent_id = ? "
            "ORDER BY position, id",
            (agent_id,),
        )
        return [Block(r["label"], r["value"], r["char_limit"], r["position"]) for r in rows]

    def get_block(self, agent_id: int, label: str) -> Block:
        """One block. Raises NotFound naming the labels that exist."""
        for block in self.blocks(agent_id):
            if block.label == label:
                return block
        labels = ", ".join(b.label for b in self.blocks(agent_id)) or "none"
        raise NotFound(f"No core memory block labelled '{label}' (blocks: {labels}).")

    def set_block(self, agent_id: int, label: str, value: str, *, author: str = "agent") -> None:
        """Replace a block's value; enforces the block's character limit. The change is
        kept in the block's history with ``author`` (see blockhistory.py)."""
        block = self.get_block(agent_id, label)
        if len(value) > block.limit:
            raise InvalidInput(
                f"Block '{label}' would hold {len(value)} characters; its limit is {block.limit}."
            )
        with self.transaction():
            self.conn.execute(
                "UPDATE blocks SET value = ?, updated_at = ? WHERE agent_id = ? AND label = ?",
                (value, timeutil.now_iso(), agent_id, label),
            )
            blockhistory.record(self.conn, agent_id, label, block.value, value, author)

    def add_block(self, agent_id: int, label: str, value: str = "", limit: int = 2000) -> None:
        """Add a labelled block (MemGPT allows more than persona and human)."""
        if self._one("SELECT 1 FROM blocks WHERE agent_id = ? AND label = ?", (agent_id, label)):
            raise AlreadyExists(f"A block labelled '{label}' already exists.")
        pos = self._one(
            "SELECT coalesce(max(position), -1) + 1 FROM blocks WHERE agent_id = ?", (agent_id,)
        )[0]
        self.conn.execute(
            "INSERT INTO blocks(agent_id, label, value, char_limit, position, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (agent_id, label, value, limit, pos, timeutil.now_iso()),
        )

    # -- recall memory (messages) -----------------------------------------------------

    @staticmethod
    def _message(row: Any) -> Message:
        return Message(
            id=row["id"],
            agent_id=row["agent_id"],
            role=row["role"],
            kind=row["kind"],
            content=json.loads(row["content"]),
            text=row["text"],
            created_at=row["created_at"],
            in_context=bool(row["in_context"]),
            tokens=row["tokens"],
        )

    def add_message(
        self,
        agent_id: int,
        role: str,
        kind: str,
        content: dict[str, Any],
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
                json.dumps(content, ensure_ascii=False),
                text,
                created_at or timeutil.now_iso(),
                int(in_context),
                tokens,
            ),
        )
        return int(cur.lastrowid)

    def set_message_tokens(self, message_id: int, tokens: int) -> None:
        """Cache a message's token count in the loaded model's tokenizer."""
        self.conn.execute("UPDATE messages SET tokens = ? WHERE id = ?", (tokens, message_id))

    def context_messages(self, agent_id: int) -> list[Message]:
        """The FIFO queue: in-context messages, oldest first."""
        rows = self._all(
            "SELECT * FROM messages WHERE agent_id = ? AND in_context = 1 ORDER BY id",
            (agent_id,),
        )
        return [self._message(r) for r in rows]

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
        by_id = {r["id"]: self._message(r) for r in rows}
        return [by_id[i] for i in message_ids if i in by_id]

    def recent_messages(
        self, agent_id: int, limit: int = 200, before_id: int | None = None
    ) -> list[Message]:
        """The newest messages of an agent (whatever their context state), oldest first."""
        rows = self._all(
            "SELECT * FROM messages WHERE agent_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (agent_id, before_id if before_id is not None else 2**62, limit),
        )
        return [self._message(r) for r in reversed(rows)]

    def count_messages(self, agent_id: int, *, in_context: bool | None = None) -> int:
        """How many messages recall memory holds (optionally only in or out of context)."""
        if in_context is None:
            return self._one("SELECT count(*) FROM messages WHERE agent_id = ?", (agent_id,))[0]
        return self._one(
            "SELECT count(*) FROM messages WHERE agent_id = ? AND in_context = ?",
            (agent_id, int(in_context)),
        )[0]

    def set_message_embedding(self, message_id: int, agent_id: int, vector: Any) -> None:
        """Store the embedding of a message's searchable text."""
        self.conn.execute(
            "INSERT OR REPLACE INTO message_vec(message_id, agent_id, embedding) VALUES (?, ?, ?)",
            (message_id, agent_id, vector_blob(vector)),
        )

    def messages_missing_embedding(
        self, agent_id: int | None = None, limit: int = 256
    ) -> list[Message]:
        """Searchable messages that have no embedding yet (oldest first)."""
        sql = (
            "SELECT m.* FROM messages m WHERE m.text != '' AND NOT EXISTS "
            "(SELECT 1 FROM message_vec v WHERE v.message_id = m.id)"
        )
        params: list[Any] = []
        if agent_id is not None:
            sql += " AND m.agent_id = ?"
            params.append(agent_id)
        sql += " ORDER BY m.id LIMIT ?"
        params.append(limit)
        return [self._message(r) for r in self._all(sql, params)]

    def search_messages_keyword(
        self, agent_id: int, query: str, limit: int
    ) -> list[tuple[int, float]]:
        """(message id, bm25 score; lower is better) for searchable messages matching ``query``."""
        return self._keyword("messages", agent_id, query, limit)

    def search_messages_vector(self, agent_id: int, vector: Any, k: int) -> list[tuple[int, float]]:
        """(message id, cosine distance) of the ``k`` nearest message embeddings."""
        rows = self._all(
            "SELECT message_id, distance FROM message_vec "
            "WHERE embedding MATCH ? AND k = ? AND agent_id = ? ORDER BY distance",
            (vector_blob(vector), k, agent_id),
        )
        return [(r[0], float(r[1])) for r in rows]

    def messages_between(
        self, agent_id: int, start_day: str, end_day: str, offset: int, limit: int
    ) -> tuple[list[Message], int]:
        """Searchable messages whose local date lies in [start_day, end_day], and the total."""
        where = "agent_id = ? AND text != '' AND substr(created_at, 1, 10) BETWEEN ? AND ?"
        params = (agent_id, start_day, end_day)
        total = self._one(f"SELECT count(*) FROM messages WHERE {where}", params)[0]
        rows = self._all(
            f"SELECT * FROM messages WHERE {where} ORDER BY created_at, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self._message(r) for r in rows], total

    # -- sources ----------------------------------------------------------------------

    @staticmethod
    def _source(row: Any) -> Source:
        return Source(
            id=row["id"],
            agent_id=row["agent_id"],
            path=row["path"],
            name=row["name"],
            sha256=row["sha256"],
            pages=row["pages"],
            passages=row["passages"],
            status=row["status"],
            error=row["error"],
            created_at=row["created_at"],
        )

    def add_source(
        self,
        agent_id: int,
        path: str,
        name: str,
        sha256: str,
        pages: int = 0,
        status: str = "loading",
    ) -> Source:
        """Record a document being loaded."""
        cur = self.conn.execute(
            "INSERT INTO sources(agent_id, path, name, sha256, pages, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (agent_id, path, name, sha256, pages, status, timeutil.now_iso()),
        )
        return self.get_source(int(cur.lastrowid))

    def update_source(self, source_id: int, **fields: Any) -> None:
        """Update a source's pages, passages, status or error."""
        allowed = {"pages", "passages", "status", "error", "path", "name"}
        for key, value in fields.items():
            if key not in allowed:
                raise ValueError(f"unknown source field {key!r}")
            self.conn.execute(f"UPDATE sources SET {key} = ? WHERE id = ?", (value, source_id))

    def get_source(self, source_id: int) -> Source:
        """A source by id. Raises NotFound."""
        row = self._one("SELECT * FROM sources WHERE id = ?", (source_id,))
        if row is None:
            raise NotFound(f"No loaded document with id {source_id}.")
        return self._source(row)

    def find_source(self, agent_id: int, sha256: str) -> Source | None:
        """The source with this content hash for this agent, if loaded."""
        row = self._one(
            "SELECT * FROM sources WHERE agent_id = ? AND sha256 = ?", (agent_id, sha256)
        )
        return self._source(row) if row else None

    def list_sources(self, agent_id: int) -> list[Source]:
        """Loaded documents of an agent, oldest first."""
        rows = self._all("SELECT * FROM sources WHERE agent_id = ? ORDER BY id", (agent_id,))
        return [self._source(r) for r in rows]

    def remove_source(self, source_id: int) -> int:
        """Remove a document and all its passages. Returns how many passages went."""
        with self.transaction():
            n = self._one("SELECT count(*) FROM passages WHERE source_id = ?", (source_id,))[0]
            self.conn.execute("DELETE FROM passages WHERE source_id = ?", (source_id,))
            self.conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
        return int(n)

    # -- archival memory (passages) ---------------------------------------------------

    def add_passages(
        self,
        agent_id: int,
        items: Sequence[tuple[str, int | None, int | None]],
        vectors: Any,
        *,
        source_id: int | None = None,
        created_at: str | None = None,
    ) -> list[int]:
        """Insert passages ``(text, page, position)`` with their embeddings, atomically."""
        if len(items) != len(vectors):
            raise ValueError("one vector per passage")
        created = created_at or timeutil.now_iso()
        matrix = self._passage_matrix(vectors, len(items))
        codes = vector_index.binary_codes(matrix)
        ids: list[int] = []
        with self.transaction():
            for text, page, position in items:
                cur = self.conn.execute(
                    "INSERT INTO passages(agent_id, source_id, text, page, position, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (agent_id, source_id, text, page, position, created),
                )
                ids.append(int(cur.lastrowid))
            self.conn.executemany(
                "INSERT INTO passage_embedding(passage_id, embedding) VALUES (?, ?)",
                [(pid, matrix[i].tobytes()) for i, pid in enumerate(ids)],
            )
            self.conn.executemany(
                "INSERT INTO passage_code(agent_id, passage_id, code) VALUES (?, ?, ?)",
                [(agent_id, pid, codes[i].tobytes()) for i, pid in enumerate(ids)],
            )
        return ids

    def _passage_matrix(self, vectors: Any, n: int) -> np.ndarray:
        """Vectors as a float32 ``(n, dim)`` matrix; the dimension must be the file's."""
        matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(n, -1))
        dim = self.embedding_model()[1]
        if n and dim and matrix.shape[1] != dim:
            raise InvalidInput(
                f"Embeddings have {matrix.shape[1]} dimensions; this database holds {dim}."
            )
        return matrix

    def set_passage_embeddings(self, passage_ids: Sequence[int], vectors: Any) -> None:
        """Replace the embeddings of existing passages (e.g. after a change of embedding
        model), keeping the binary prefilter in step."""
        matrix = self._passage_matrix(vectors, len(passage_ids))
        codes = vector_index.binary_codes(matrix)
        with self.transaction():
            for i, pid in enumerate(passage_ids):
                row = self._one("SELECT agent_id FROM passages WHERE id = ?", (pid,))
                if row is None:
                    raise NotFound(f"No passage with id {pid}.")
                self.conn.execute(
                    "INSERT OR REPLACE INTO passage_embedding(passage_id, embedding) VALUES (?, ?)",
                    (pid, matrix[i].tobytes()),
                )
                self.conn.execute(
                    "INSERT OR REPLACE INTO passage_code(agent_id, passage_id, code) "
                    "VALUES (?, ?, ?)",
                    (row[0], pid, codes[i].tobytes()),
                )
                # Codes changed in place: in-memory copies must reload, as after a delete.
                self.conn.execute(
                    "INSERT INTO passage_index_state(agent_id, deletes) VALUES (?, 1) "
                    "ON CONFLICT(agent_id) DO UPDATE SET deletes = deletes + 1",
                    (row[0],),
                )

    _PASSAGE_SELECT = (
        "SELECT p.*, s.name AS source_name FROM passages p "
        "LEFT JOIN sources s ON s.id = p.source_id"
    )

    @staticmethod
    def _passage(row: Any) -> Passage:
        return Passage(
            id=row["id"],
            agent_id=row["agent_id"],
            text=row["text"],
            source_id=row["source_id"],
            source_name=row["source_name"],
            page=row["page"],
            position=row["position"],
            created_at=row["created_at"],
        )

    def get_passages(self, passage_ids: Sequence[int]) -> list[Passage]:
        """Passages by id, in the order given."""
        if not passage_ids:
            return []
        marks = ",".join("?" * len(passage_ids))
        rows = self._all(f"{self._PASSAGE_SELECT} WHERE p.id IN ({marks})", list(passage_ids))
        by_id = {r["id"]: self._passage(r) for r in rows}
        return [by_id[i] for i in passage_ids if i in by_id]

    def list_passages(self, agent_id: int, offset: int = 0, limit: int = 50) -> list[Passage]:
        """Passages of an agent, newest first (for browsing)."""
        rows = self._all(
            f"{self._PASSAGE_SELECT} WHERE p.agent_id = ? ORDER BY p.id DESC LIMIT ? OFFSET ?",
            (agent_id, limit, offset),
        )
        return [self._passage(r) for r in rows]

    def count_passages(self, agent_id: int) -> int:
        """How many passages archival memory holds for an agent."""
        return self._one("SELECT count(*) FROM passages WHERE agent_id = ?", (agent_id,))[0]

    def delete_passage(self, passage_id: int) -> None:
        """Delete one passage (its vector and full-text rows go with it)."""
        self.conn.execute("DELETE FROM passages WHERE id = ?", (passage_id,))

    def search_passages_keyword(
        self, agent_id: int, query: str, limit: int
    ) -> list[tuple[int, float]]:
        """(passage id, bm25 score; lower is better) for passages matching ``query``."""
        return self._keyword("passages", agent_id, query, limit)

    def search_passages_vector(self, agent_id: int, vector: Any, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine distance) of the ``k`` nearest passages of the agent.

        A binary (sign-bit) Hamming prefilter over the agent's passages, kept in memory,
        then an exact cosine re-rank of the candidates (see ``vector_index``): recall@10
        ≥ 0.95 against exact search, exact outright for agents with few passages.
        """
        return self._passage_index.search(agent_id, vector, k)
