"""SQLite's failures as messages a user can act on.

Design. Every connection Ember opens is of a connection class made here: its
``execute``/``executemany``/``executescript`` and its cursors' fetches turn the SQLite
errors that come from the file's surroundings into :class:`StoreError` subclasses that
say what is wrong and what to do — disk full, read-only file or folder, disk I/O error,
busy, damaged — instead of a traceback or a false "corrupt". Errors that mean a bug
(constraint violations, SQL errors) pass through unchanged.

A damaged file (``SQLITE_CORRUPT``/``SQLITE_NOTADB``, or sqlite-vec failing to read a
vector blob) is also marked as damaged beside it (see ``health``), so no later open
writes into it.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ember.core.kernel.errors import (
    DatabaseDamaged,
    NotAnEmberDatabase,
    StorageBusy,
    StorageFull,
    StorageIOError,
    StorageReadOnly,
    StoreError,
)
from ember.core.storage import health

BUSY_TIMEOUT_MS = 5000
# Less free space than this when an I/O error happens: the disk is (nearly) full.
LOW_SPACE_BYTES = 1 << 20

SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26
# SQLite's own messages for those codes, for sqlite3 modules without ``sqlite_errorcode``.
_BY_MESSAGE = (
    ("database or disk is full", SQLITE_FULL),
    ("readonly database", SQLITE_READONLY),
    ("disk I/O error", SQLITE_IOERR),
    ("database is locked", SQLITE_BUSY),
    ("database disk image is malformed", SQLITE_CORRUPT),
    ("file is not a database", SQLITE_NOTADB),
    ("unable to open database file", SQLITE_CANTOPEN),
)
# sqlite-vec reports unreadable vector blobs as a plain SQLITE_ERROR with these words.
_VEC_DAMAGE = ("blob read error", "vector blob", "chunks")
# ... and failures whose cause it does not pass on (measured: "Could not fetch vector data"
# on 'ember agents delete' with 4 KB free).
_VEC_FAILURE = ("Could not",)


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _full(db_file: Path) -> StorageFull:
    return StorageFull(
        f"The disk holding {db_file.parent} is full, so Ember could not save. Free some "
        "disk space and try again; what was saved before is kept."
    )


def _read_only(db_file: Path) -> StorageReadOnly:
    folder = db_file.parent
    if folder.exists() and not _writable(folder):
        return StorageReadOnly(
            f"Ember cannot write in {folder}: the folder is read-only (SQLite keeps its "
            f"journal beside the database). Make it writable (chmod u+w '{folder}') or set "
            "EMBER_HOME to another folder."
        )
    if db_file.exists() and not _writable(db_file):
        return StorageReadOnly(
            f"Ember cannot write to {db_file}: the file is read-only. Make it writable "
            f"(chmod u+w '{db_file}') or set EMBER_HOME to another folder."
        )
    return StorageReadOnly(
        f"Ember cannot write to {db_file}: the file, its folder or the disk is read-only. "
        "Make them writable, or set EMBER_HOME to another folder."
    )


def translate_os(exc: OSError, db_file: Path) -> StoreError:
    """The user-facing error for an OS error while preparing ``db_file``'s folder."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return _read_only(db_file)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _full(db_file)
    return StoreError(f"Cannot prepare {db_file.parent}: {exc.strerror or exc}.")


def translate(exc: BaseException, db_file: Path) -> BaseException:
    """The user-facing error for an SQLite error on ``db_file`` (``exc`` itself when it is
    not about the file's surroundings, e.g. a constraint violation)."""
    if isinstance(exc, StoreError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):  # a sqlite3 module too old to say: read the message
        code = next((c for words, c in _BY_MESSAGE if words in str(exc)), None)
        if code is None:
            return exc
    primary = code & 0xFF
    message = str(exc)
    if primary == SQLITE_FULL:
        return _full(db_file)
    if primary == SQLITE_READONLY:
        return _read_only(db_file)
    if primary in (SQLITE_BUSY, SQLITE_LOCKED):
        return StorageBusy(
            f"The database {db_file} is busy: another Ember process has held it for over "
            f"{BUSY_TIMEOUT_MS // 1000} s (a long import?). Try again when it has finished."
        )
    if primary == SQLITE_CANTOPEN:
        if not (db_file.parent.exists() and _writable(db_file.parent)) or (
            db_file.exists() and not _writable(db_file)
        ):
            return _read_only(db_file)
        return StoreError(f"Cannot open the database {db_file} ({message}).")
    if primary == SQLITE_IOERR:
        free = _free_bytes(db_file.parent)
        if free is not None and free < LOW_SPACE_BYTES:
            return _full(db_file)
        return StorageIOError(
            f"A disk error stopped Ember reading or writing {db_file} ({message}). Check that "
            "the disk is connected and has free space; if it keeps happening, the disk may be "
            "failing. This change was not saved."
        )
    vec_error = primary == 1 and any(w in message for w in (*_VEC_DAMAGE, *_VEC_FAILURE))
    if vec_error:  # sqlite-vec hides the cause: near a full disk, that is the cause
        free = _free_bytes(db_file.parent)
        if free is not None and free < LOW_SPACE_BYTES:
            return _full(db_file)
        if not any(w in message for w in _VEC_DAMAGE):
            return StorageIOError(
                f"Ember could not read or write vectors in {db_file} ({message}). Check that "
                "the disk has free space; if it keeps happening, run 'ember doctor'. This "
                "change was not saved."
            )
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or vec_error:
        if primary == SQLITE_NOTADB and not health.is_sqlite_file(db_file):
            return NotAnEmberDatabase(
                f"{db_file} is not an Ember database (it is not an SQLite file). It was left "
                "untouched; move it away or set EMBER_HOME to another folder."
            )
        health.mark_damaged(db_file, message)
        return DatabaseDamaged(health.damaged_message(db_file, message))
    return exc


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:
            err = translate(exc, _db_file(self))
            if err is exc:
                raise
            raise err from exc

    method.__name__ = getattr(fn, "__name__", "method")
    method.__doc__ = fn.__doc__
    return method


def _db_file(obj: Any) -> Path:
    conn = getattr(obj, "connection", obj)
    return Path(getattr(conn, "ember_path", ":memory:"))


_CURSOR_METHODS = (
    "execute",
    "executemany",
    "executescript",
    "fetchone",
    "fetchmany",
    "fetchall",
    "__next__",
)


@cache
def connection_class(module: ModuleType) -> type[Any]:
    """A subclass of ``module.Connection`` whose statements and cursors translate errors.

    Its instances carry ``ember_path`` (the database file) and ``ember_lease`` (released
    on close)."""
    cursor_cls: type[Any] = type(
        "EmberCursor",
        (module.Cursor,),
        {name: _guard(getattr(module.Cursor, name)) for name in _CURSOR_METHODS},
    )

    def cursor(self: Any, factory: Any = cursor_cls) -> Any:
        return module.Connection.cursor(self, factory)

    def execute(self: Any, sql: str, parameters: Any = ()) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self: Any, sql: str, parameters: Any) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self: Any, script: str) -> Any:
        return self.cursor().executescript(script)

    def close(self: Any) -> None:
        try:
            module.Connection.close(self)
        finally:
            lease = getattr(self, "ember_lease", None)
            if lease is not None:
                lease.release()
                self.ember_lease = None

    return type(
        "EmberConnection",
        (module.Connection,),
        {
            "ember_path": ":memory:",
            "ember_lease": None,
            "cursor": cursor,
            "execute": execute,
            "executemany": executemany,
            "executescript": executescript,
            "commit": _guard(module.Connection.commit),
            "close": _guard(close),
        },
    )
