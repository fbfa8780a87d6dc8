"""Mending a damaged database with what SQLite can rebuild (``ember doctor --repair``).

Design. A copy of the file as it is (with its write-ahead log) is kept beside it first,
private to the user, so a repair can never lose more than the damage did. Then, in order:

1. the indexes are rebuilt from their tables (``REINDEX``) and the full-text indexes from
   the rows they index (FTS5 ``rebuild``): damage to an index alone — "row 1552 missing
   from index messages_agent_time" — is mended without touching a table;
2. otherwise the whole file is rewritten through its b-trees (``VACUUM INTO`` a new file),
   and the new file replaces the damaged one if it passes ``integrity_check``.

When neither works nothing is replaced, and the error says to restore a backup. Only a
process that has the file to itself repairs it (the lease of ``health``): another
Ember window or command must close first.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ember.core.kernel import clock
from ember.core.kernel.errors import DatabaseDamaged, NotFound, StorageBusy, StoreError
from ember.core.storage import db, health, sqlite_errors

How = Literal["nothing", "reindex", "rebuild"]


@dataclass(frozen=True)
class Repair:
    """What a repair did: ``how``, what was wrong (``detail``) and where the file as it
    was is kept (``backup``; None when there was nothing to repair)."""

    path: Path
    how: How
    detail: str
    backup: Path | None

    def line(self) -> str:
        """The one line ``ember doctor --repair`` prints."""
        if self.how == "nothing":
            return f"Nothing to repair: {self.path} passes integrity_check."
        what = {
            "reindex": "rebuilt its indexes",
            "rebuild": "rewrote it through its tables",
        }[self.how]
        return (
            f"Repaired {self.path} ({self.detail}): {what}; the file as it was is kept at "
            f"{self.backup}."
        )


def _connect(path: Path) -> sqlite3.Connection:
    """A plain connection (no health refusal: the file is known to be damaged) with
    sqlite-vec loaded, for the vec0 tables' schema."""
    conn: sqlite3.Connection = db.sqlite_module().connect(str(path), isolation_level=None)
    db._load_vec(conn)
    return conn


def _problems(conn: sqlite3.Connection) -> list[str]:
    try:
        return health.integrity_check(conn)
    except Exception as exc:  # the module's DatabaseError: too damaged to even check
        return [str(exc)]


def _backup(path: Path) -> Path:
    """Copy the file (and its write-ahead log) beside it, private; returns the copy."""
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.before-repair-{stamp}")
    pairs = [(path, backup)]
    wal = health.wal_path(path)
    if wal.exists():
        pairs.append((wal, backup.with_name(backup.name + "-wal")))
    try:
        for src, dst in pairs:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
                shutil.copyfileobj(inp, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
    except OSError as exc:
        for _, dst in pairs:
            dst.unlink(missing_ok=True)
        raise sqlite_errors.translate_os(exc, path) from exc
    return backup


def _reindex(conn: sqlite3.Connection) -> bool:
    """Rebuild every index and full-text index; whether the file passes now."""
    try:
        conn.execute("REINDEX")
        fts = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING fts5%'"
        ).fetchall()
        for (name,) in fts:
            conn.execute(f'INSERT INTO "{name}"("{name}") VALUES (\'rebuild\')')
    except Exception:
        return False
    return not _problems(conn)


def _rebuild(path: Path) -> bool:
    """Rewrite the file through its b-trees into a new one; replace it if that passes."""
    fresh = path.with_name(f"{path.name}.{os.getpid()}.rebuilt")
    fresh.unlink(missing_ok=True)
    conn = _connect(path)
    try:
        conn.execute("VACUUM INTO ?", (str(fresh),))
    except Exception:
        fresh.unlink(missing_ok=True)
        return False
    finally:
        conn.close()
    check = _connect(fresh)
    try:
        sound = not _problems(check)
    finally:
        check.close()
    if not sound:
        fresh.unlink(missing_ok=True)
        return False
    os.chmod(fresh, 0o600)
    os.replace(fresh, path)
    for leftover in (health.wal_path(path), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)  # the old file's log: never replay it
    return True


def repair(path: Path) -> Repair:
    """Check the database at ``path`` and mend what SQLite can (see the module docstring).
    Raises NotFound, StorageBusy (another process has it open), DatabaseDamaged (beyond
    repair; nothing replaced) or StoreError (not a database file)."""
    odd = health.not_a_regular_file(path)
    if odd is not None:
        raise StoreError(f"{odd}; there is nothing to repair.")
    if not path.exists():
        raise NotFound(f"There is no database at {path} yet.")
    if not health.is_sqlite_file(path):
        raise StoreError(f"{path} is not an SQLite file; Ember cannot repair it.")
    lease = health.Lease(path)
    try:
        if not lease.alone:
            raise StorageBusy(
                f"Another Ember process has {path} open. Close it (the app, chats, imports) "
                "and run 'ember doctor --repair' again."
            )
        conn = _connect(path)
        try:
            problems = _problems(conn)
            if not problems:
                health.clear_mark(path)
                return Repair(path, "nothing", "", None)
            detail = health.summary(problems)
            backup = _backup(path)
            mended = _reindex(conn)
        finally:
            conn.close()
        if mended:
            health.clear_mark(path)
            return Repair(path, "reindex", detail, backup)
        if _rebuild(path):
            health.clear_mark(path)
            return Repair(path, "rebuild", detail, backup)
        health.mark_damaged(path, detail)
        raise DatabaseDamaged(
            f"The database {path} is damaged beyond what SQLite can rebuild ({detail}). It "
            f"was left as it was (a copy is at {backup}): restore a backup, or move it away "
            "to start afresh."
        )
    finally:
        lease.release()
