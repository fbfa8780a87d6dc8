"""The plumbing under :class:`ember.core.storage.store.Store`: the connection, transactions,
query helpers, facts about the file (``meta``) and application settings.

The connection runs in autocommit mode; writes that belong together go through
:meth:`StoreBase.transaction` (``BEGIN IMMEDIATE``, nested levels become savepoints).
SQLite errors reach callers as :class:`~ember.core.kernel.errors.StoreError` subclasses with
messages fit to show a user (see ``sqlite_errors``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from ember.core.kernel import jsontypes, paths
from ember.core.kernel.jsontypes import JSONValue
from ember.core.storage import db, sqlite_errors

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# What SQLite stores, and the parameters of a query.
SQLValue = str | int | float | bytes | None
Params = Sequence[SQLValue]
FtsTable = Literal["messages", "passages"]
# An embedding: floats, as a list or a numpy array.
Vector = Sequence[float] | npt.NDArray[np.floating[Any]]


def vector_blob(vector: Vector) -> bytes:
    """float32 little-endian bytes, the format sqlite-vec takes."""
    return np.asarray(vector, dtype=np.float32).tobytes()


_R = TypeVar("_R", bound="DataclassInstance")


def row_reader(cls: type[_R], **convert: Callable[..., object]) -> Callable[[sqlite3.Row], _R]:
    """The function that makes a ``cls`` record of a row: each field is the column of its
    name, passed through ``convert[field]`` where one is given (JSON, enums, flags)."""
    names = [f.name for f in dataclasses.fields(cls)]

    def read(row: sqlite3.Row) -> _R:
        return cls(*[convert[n](row[n]) if n in convert else row[n] for n in names])

    return read


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """A safe FTS5 query matching any word of ``text`` (ranked by bm25), or None if no words."""
    words = [w for w in _WORD.findall(text.lower()) if w]
    if not words:
        return None
    unique = list(dict.fromkeys(words))
    return " OR ".join(f'"{w}"' for w in unique)


class StoreBase:
    """One connection to the Ember database file. One Store belongs to one thread."""

    def __init__(self, path: Path | str | None = None) -> None:
        if path is None:
            try:
                path = paths.db_path()
            except OSError as exc:
                default = paths.data_dir_path() / paths.DB_FILENAME
                raise sqlite_errors.translate_os(exc, default) from exc
        self.path = Path(path)
        self.conn: sqlite3.Connection = db.connect(self.path)
        self._depth = 0

    def close(self) -> None:
        """Close the connection (the last one checkpoints the WAL and removes it)."""
        self.conn.close()

    def __enter__(self) -> StoreBase:
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
                self._rollback()
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

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state of the file (a read transaction: other
        processes keep writing; this connection must not write meanwhile)."""
        if self._depth > 0 or self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (disk full, I/O error): then
        # ROLLBACK fails with "no transaction is active", which must not hide the cause.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        """Whether a :meth:`transaction` is open on this store."""
        return self._depth > 0

    def _one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = self.conn.execute(sql, params).fetchall()
        return rows

    def _int(self, sql: str, params: Params = ()) -> int:
        """The first column of the first row as an int (0 for no row or NULL)."""
        row = self._one(sql, params)
        return int(row[0]) if row is not None and row[0] is not None else 0

    def _keyword(
        self, table: FtsTable, agent_id: int, query: str, limit: int, *, where: str = "1"
    ) -> list[tuple[int, float]]:
        """(row id, bm25 score) of ``table``'s rows (messages or passages) matching ``query``
        and the condition ``where`` (on the row, named ``p``)."""
        match = fts_query(query)
        if match is None:
            return []
        rows = self._all(
            f"SELECT p.id, bm25({table}_fts) AS score FROM {table}_fts "
            f"CROSS JOIN {table} p ON p.id = {table}_fts.rowid "  # the index first (search_index)
            f"WHERE {table}_fts MATCH ? AND p.agent_id = ? AND {where} ORDER BY score LIMIT ?",
            (match, agent_id, limit),
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    # -- meta and settings ------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A fact about the file (e.g. ``embedding_model``)."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else default

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

    def get_setting_text(self, key: str) -> str | None:
        """An application setting's saved JSON text, unparsed (None when not saved)."""
        row = self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def get_setting(self, key: str, default: JSONValue = None) -> JSONValue:
        """An application setting (JSON value); ``default`` when missing or not JSON."""
        text = self.get_setting_text(key)
        if text is None:
            return default
        try:
            return jsontypes.loads(text)
        except ValueError:
            return default

    def set_setting(self, key: str, value: object) -> None:
        """Save an application setting (JSON value)."""
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )
