"""Opening the one SQLite file: the right sqlite3 module, sqlite-vec, pragmas, migrations.

Some Python builds (pyenv, macOS system Python) ship a ``sqlite3`` that cannot load
extensions. We use the stdlib module when it can, ``pysqlite3`` (``pysqlite3-binary`` on
Linux) when it cannot, and otherwise raise a clear :class:`ExtensionUnavailable`.

A file that is not an Ember database is never written to: SQLite itself reads the header
(no other descriptor of the file is ever opened: closing one would drop SQLite's POSIX
locks in this process), and the ``application_id`` is checked before any migration. A
damaged file is refused before anything is written (``health``); errors from the file's
surroundings become messages a user can act on (``sqlite_errors``).
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from functools import cache
from pathlib import Path
from types import ModuleType

from ember.core.kernel import paths
from ember.core.kernel.errors import (
    DatabaseDamaged,
    DatabaseTooNew,
    ExtensionUnavailable,
    NotAnEmberDatabase,
    StoreError,
)
from ember.core.storage import health, sqlite_errors
from ember.core.storage.migrations import MIGRATIONS, REBUILD_MARK

APPLICATION_ID = 0x454D4252  # "EMBR"


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
    if _can_load_extensions(sqlite3):
        return sqlite3
    try:
        pysqlite3: ModuleType | None = importlib.import_module("pysqlite3.dbapi2")
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


def _load_vec(conn: sqlite3.Connection) -> None:
    import sqlite_vec

    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except Exception as exc:  # pragma: no cover - depends on the platform build
        raise ExtensionUnavailable(f"Could not load the sqlite-vec extension: {exc}") from exc


def connect(path: Path | str, *, migrate: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the Ember database at ``path``, with sqlite-vec loaded.

    Runs pending migrations unless ``migrate`` is false. Raises :class:`StoreError`
    subclasses with user-facing messages for foreign, damaged, too-new, read-only or
    unwritable files (see ``sqlite_errors``); a file that is not an Ember database is never
    written to.
    """
    module = sqlite_module()
    path = Path(path)
    is_memory = str(path) == ":memory:"
    lease: health.Lease | None = None
    existed = True
    if not is_memory:
        odd = health.not_a_regular_file(path)
        if odd is not None:  # /dev/null "worked" until writes failed as a disk error
            raise StoreError(
                f"{odd}. Ember keeps its memories in a regular file: remove that, or set "
                "EMBER_HOME to another folder."
            )
        existed = path.exists()
        try:
            paths.make_dirs(path.parent)  # any it creates private (umask 000 made them 0777)
        except OSError as exc:
            raise sqlite_errors.translate_os(exc, path) from exc
        lease = health.Lease(path)
    try:
        conn = _open(module, path, lease)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    if not is_memory and not existed:
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
    try:
        _check_identity(conn, path)
        if lease is not None:
            _check_health(conn, path, alone=lease.alone)
        conn.execute("PRAGMA foreign_keys = ON")
        if not is_memory:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        if migrate:
            migrate_db(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _open(module: ModuleType, path: Path, lease: health.Lease | None) -> sqlite3.Connection:
    factory = sqlite_errors.connection_class(module)
    try:
        conn: sqlite3.Connection = module.connect(
            str(path), isolation_level=None, check_same_thread=False, factory=factory
        )
    except module.Error as exc:
        raise sqlite_errors.translate(exc, path) from exc
    setattr(conn, "ember_path", str(path))  # noqa: B010 - attributes of the factory class
    setattr(conn, "ember_lease", lease)  # noqa: B010
    conn.row_factory = module.Row
    conn.execute(f"PRAGMA busy_timeout = {sqlite_errors.BUSY_TIMEOUT_MS}")
    _load_vec(conn)
    return conn


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite file that is not an Ember database (read in one snapshot, so a
    concurrent first start cannot be seen half-migrated)."""
    conn.execute("BEGIN")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        n_objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")  # a read: nothing to keep
            except StoreError:
                pass  # the error that brought us here is the one to report
    if app_id != APPLICATION_ID and (app_id != 0 or n_objects > 0):
        raise NotAnEmberDatabase(
            f"{path} is an SQLite file but not an Ember database. It was left untouched."
        )


def _check_health(conn: sqlite3.Connection, path: Path, *, alone: bool) -> None:
    """Run ``integrity_check`` when there is a reason to (see ``health``); refuse a
    damaged file before anything is written to it."""
    marked = health.marked_reason(path) is not None
    small = path.exists() and path.stat().st_size <= health.ALWAYS_CHECK_BYTES
    if not (marked or (alone and (small or health.unclean(path)))):
        return
    problems = health.integrity_check(conn)
    if problems:
        detail = health.summary(problems)
        health.mark_damaged(path, detail)
        raise DatabaseDamaged(health.damaged_message(path, detail))
    if marked:
        health.clear_mark(path)


def schema_version(conn: sqlite3.Connection) -> int:
    """The newest migration recorded in the file (0 for a new file)."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate_db(conn: sqlite3.Connection) -> int:
    """Apply pending migrations in order, each in its own transaction. Returns the version.

    Safe when several processes open a new or old file at once: the version is read again
    under the write lock (``BEGIN IMMEDIATE``), so each migration runs exactly once.
    """
    latest = len(MIGRATIONS)
    while True:
        current = schema_version(conn)  # a hint; re-read under the lock below
        _refuse_newer(current, latest)
        if current == latest:
            return latest
        # A migration that rebuilds tables runs with foreign keys off (dropping a parent
        # table would cascade to its children); they are checked before it commits.
        rebuild = MIGRATIONS[current][1].lstrip().startswith(REBUILD_MARK)
        keys_on = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
        if rebuild:
            conn.execute("PRAGMA foreign_keys = OFF")  # outside a transaction, or no-op
        try:
            _apply_next(conn, latest, rebuild)
        finally:
            if rebuild and keys_on:
                conn.execute("PRAGMA foreign_keys = ON")


def _apply_next(conn: sqlite3.Connection, latest: int, rebuild: bool) -> None:
    """Apply the next pending migration (if another process has not) in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)
        _refuse_newer(current, latest)
        name, script = MIGRATIONS[current] if current < latest else ("", "")
        if current < latest and script.lstrip().startswith(REBUILD_MARK) == rebuild:
            orphans = _orphans(conn) if rebuild else 0
            for statement in _split_sql(script):
                conn.execute(statement)
            if rebuild and _orphans(conn) > orphans:
                raise StoreError(
                    f"Upgrading the database ({name}) found rows whose owner is missing; "
                    "the file was left as it was ('ember doctor' checks it)."
                )
            conn.execute(
                "INSERT INTO schema_migrations(version, name, applied_at) "
                "VALUES (?, ?, datetime('now'))",
                (current + 1, name),
            )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _orphans(conn: sqlite3.Connection) -> int:
    """Rows whose foreign key points at nothing (a rebuild must not add any)."""
    return len(conn.execute("PRAGMA foreign_key_check").fetchall())


def _refuse_newer(current: int, latest: int) -> None:
    if current > latest:
        raise DatabaseTooNew(
            f"This database was written by a newer Ember (schema {current}; this Ember "
            f"knows up to {latest}). Update Ember to open it; the file was left untouched."
        )


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
