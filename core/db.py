"""Opening the one SQLite file: the right sqlite3 module, sqlite-vec, pragmas, migrations.

Some Python builds (pyenv, macOS system Python) ship a ``sqlite3`` that cannot load
extensions. We use the stdlib module when it can, ``pysqlite3`` (``pysqlite3-binary`` on
Linux) when it cannot, and otherwise raise a clear :class:`ExtensionUnavailable`.

A file that is not an Ember database is never written to: we check the SQLite header and
the ``application_id`` before running any migration.
"""

from __future__ import annotations

import os
import sqlite3 as _stdlib_sqlite3
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ember.core.errors import (
    DatabaseTooNew,
    ExtensionUnavailable,
    NotAnEmberDatabase,
    StoreError,
)
from ember.core.migrations import MIGRATIONS

APPLICATION_ID = 0x454D4252  # "EMBR"
SQLITE_HEADER = b"SQLite format 3\x00"


def _can_load_extensions(module: ModuleType) -> bool:
    try:
        conn = module.connect(":memory:")
    except Exception:
        return False
    try:
        return hasattr(conn, "enable_load_extension")
    finally:
        conn.close()


@cache
def sqlite_module() -> ModuleType:
    """The sqlite3 DB-API module that can load sqlite-vec on this Python."""
    if _can_load_extensions(_stdlib_sqlite3):
        return _stdlib_sqlite3
    try:
        import pysqlite3.dbapi2 as pysqlite3  # type: ignore[import-not-found]
    except ImportError:
        pysqlite3 = None
    if pysqlite3 is not None and _can_load_extensions(pysqlite3):
        return pysqlite3
    raise ExtensionUnavailable(
        "This Python's sqlite3 module cannot load extensions, which Ember needs for "
        "sqlite-vec. Install 'pysqlite3-binary' (Linux) into Ember's environment, or run "
        "Ember with a Python built with loadable SQLite extensions (e.g. python.org or "
        "Homebrew builds)."
    )


def _load_vec(conn: Any) -> None:
    import sqlite_vec

    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except Exception as exc:  # pragma: no cover - depends on the platform build
        raise ExtensionUnavailable(f"Could not load the sqlite-vec extension: {exc}") from exc


def _check_header(path: Path) -> None:
    """Refuse a non-empty file that is not SQLite, before SQLite touches it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        raise NotAnEmberDatabase(
            f"{path} is not an Ember database (it is not an SQLite file). "
            "It was left untouched; move it away or set EMBER_HOME to another folder."
        )


def connect(path: Path | str, *, migrate: bool = True) -> Any:
    """Open (creating if needed) the Ember database at ``path``, with sqlite-vec loaded.

    Runs pending migrations unless ``migrate`` is false. Raises :class:`StoreError`
    subclasses with user-facing messages for foreign, corrupt or too-new files.
    """
    module = sqlite_module()
    path = Path(path)
    is_memory = str(path) == ":memory:"
    if not is_memory:
        _check_header(path)
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = module.connect(str(path), isolation_level=None, check_same_thread=False)
    except module.Error as exc:
        raise StoreError(f"Cannot open the database {path}: {exc}") from exc
    if not is_memory and not existed:
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
    conn.row_factory = module.Row
    try:
        _load_vec(conn)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        n_objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except module.DatabaseError as exc:
        conn.close()
        raise NotAnEmberDatabase(
            f"{path} is corrupt or not an Ember database ({exc}). It was left untouched."
        ) from exc
    if app_id != APPLICATION_ID and (app_id != 0 or n_objects > 0):
        conn.close()
        raise NotAnEmberDatabase(
            f"{path} is an SQLite file but not an Ember database. It was left untouched."
        )
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    if not is_memory:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    if migrate:
        try:
            migrate_db(conn)
        except StoreError:
            conn.close()
            raise
    return conn


def schema_version(conn: Any) -> int:
    """The newest migration recorded in the file (0 for a new file)."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate_db(conn: Any) -> int:
    """Apply pending migrations in order, each in its own transaction. Returns the version."""
    current = schema_version(conn)
    latest = len(MIGRATIONS)
    if current > latest:
        raise DatabaseTooNew(
            f"This database was written by a newer Ember (schema {current}; this Ember "
            f"knows up to {latest}). Update Ember to open it; the file was left untouched."
        )
    for version in range(current + 1, latest + 1):
        name, script = MIGRATIONS[version - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations(version, name, applied_at) "
                "VALUES (?, ?, datetime('now'))",
                (version, name),
            )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return latest


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (trigger bodies kept whole)."""
    module = sqlite_module()
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if module.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
