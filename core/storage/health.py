"""Is the database file healthy? Damage detection that costs nothing on a normal start.

Design. SQLite files do not break when a process is killed; they break when something
else writes into them (a failing disk, a sync tool, a copy of a live file). Ember checks
with ``PRAGMA integrity_check`` (every page and b-tree, and whether every index holds
exactly its table's rows: ≈180 ms per 85 MB here, against 130 ms for ``quick_check``,
which missed two of ten random page overwrites that had damaged an index) when it is cheap
or when there is a reason to:

* the file was not closed cleanly: no other process has it open (a *lease*, an advisory
  ``flock`` on ``<file>.lock`` that every open connection holds shared), yet a non-empty
  ``-wal`` file is left over; the last connection to close removes it;
* the file is small (≤ :data:`ALWAYS_CHECK_BYTES`) and no other process has it open;
* the file is known to be damaged: a *damage marker* ``<file>.damaged`` is written beside
  it (never into it) when SQLite reports corruption. While the marker is there every
  open re-checks; a file that passes again (restored, repaired) loses its marker, one
  that does not is refused, so Ember never writes into a file it knows to be damaged.

:func:`check_file` is the same check for ``ember doctor``, read-only; ``repair`` mends
what SQLite can rebuild (``ember doctor --repair``, a copy of the file first). A database
path that is not a regular file (a link to ``/dev/null``, a folder, a pipe) is refused
before SQLite opens it (:func:`not_a_regular_file`).

The lease file is a separate file on purpose: closing any descriptor of the database
file itself would drop the POSIX locks SQLite holds on it in this process.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Literal

from ember.core.kernel import clock

ALWAYS_CHECK_BYTES = 64 << 20
SQLITE_MAGIC = b"SQLite format 3\x00"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lease, only the other checks
    fcntl = None  # type: ignore[assignment]


def marker_path(db_file: Path) -> Path:
    """Where the damage marker of ``db_file`` lives."""
    return db_file.with_name(db_file.name + ".damaged")


def lease_path(db_file: Path) -> Path:
    """The lease file every open connection of ``db_file`` holds a shared lock on."""
    return db_file.with_name(db_file.name + ".lock")


def wal_path(db_file: Path) -> Path:
    """SQLite's write-ahead log beside ``db_file``."""
    return db_file.with_name(db_file.name + "-wal")


class Lease:
    """A shared advisory lock on ``<file>.lock`` for as long as a connection is open."""

    def __init__(self, db_file: Path) -> None:
        self.alone = False
        self._fh: IO[bytes] | None = None
        if fcntl is None:
            return
        path = lease_path(db_file)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return  # a read-only folder: the open itself will say so
        self._fh = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.alone = True
        except OSError:
            self.alone = False
        # Not atomic (flock converts by unlock + lock): at worst another opener also
        # thinks it is alone for a moment and runs one needless integrity_check.
        fcntl.flock(fd, fcntl.LOCK_SH)

    def release(self) -> None:
        """Drop the lock (closing the lease file)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def unclean(db_file: Path) -> bool:
    """Whether a write-ahead log is left over (only meaningful when no one has it open)."""
    try:
        return wal_path(db_file).stat().st_size > 0
    except OSError:
        return False


def is_sqlite_file(db_file: Path) -> bool:
    """Whether the file starts with SQLite's magic (an empty or missing file counts)."""
    try:
        with db_file.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError:
        return True
    return head in (b"", SQLITE_MAGIC)


def mark_damaged(db_file: Path, reason: str) -> None:
    """Record beside the file that it is damaged (best effort: the folder may be full)."""
    marker = marker_path(db_file)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"reason": reason, "time": clock.now_iso()}, fh)
    except OSError:
        pass


def marked_reason(db_file: Path) -> str | None:
    """Why the file was marked damaged, or None when it is not marked."""
    marker = marker_path(db_file)
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "marked damaged"
    return str(data.get("reason", "marked damaged")) if isinstance(data, dict) else "damaged"


def clear_mark(db_file: Path) -> None:
    """Forget an old damage marker (the file passed its check again)."""
    marker_path(db_file).unlink(missing_ok=True)


def not_a_regular_file(db_file: Path) -> str | None:
    """What ``db_file`` is when it exists but is not a regular file (None otherwise)."""
    try:
        mode = db_file.stat().st_mode
    except OSError:
        return None  # missing (created on first use), or the open will say why
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a pipe or socket"
    )
    target = f" (it links to {os.path.realpath(db_file)})" if db_file.is_symlink() else ""
    return f"{db_file} is {kind}, not a database file{target}"


def integrity_check(conn: sqlite3.Connection, limit: int = 5) -> list[str]:
    """Problems ``PRAGMA integrity_check`` finds (empty when the file is sound), one per
    line: pages, b-trees, and index contents against their tables."""
    rows = conn.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()
    lines = [line for r in rows for line in str(r[0]).splitlines()]
    problems = [line.strip() for line in lines if line.strip() and not line.startswith("***")]
    return [] if problems == ["ok"] else problems


def summary(problems: list[str]) -> str:
    """Problems found by a check, on one line."""
    more = len(problems) - 1
    return problems[0][:200] + (f" and {more} more problem(s)" if more > 0 else "")


def damaged_message(db_file: Path, detail: str) -> str:
    """The one line a user sees for a damaged file."""
    detail = " ".join(detail.split())
    return (
        f"The database {db_file} is damaged ({detail}). Ember stopped using it so that "
        "nothing more is lost: 'ember doctor --repair' rebuilds what SQLite can (after "
        "keeping a copy), or restore a backup, or move the file away to start afresh."
    )


@dataclass(frozen=True)
class FileCheck:
    """What :func:`check_file` found."""

    path: Path
    status: Literal["ok", "missing", "damaged", "not-ember", "unreadable"]
    detail: str


def check_file(db_file: Path, module: ModuleType = sqlite3) -> FileCheck:
    """Check an Ember database read-only (for ``ember doctor``): never creates or writes.

    ``module`` is the sqlite3 DB-API module to open it with (``db.sqlite_module()``).
    """
    if not db_file.exists():
        return FileCheck(db_file, "missing", "no database yet (created on first use)")
    odd = not_a_regular_file(db_file)
    if odd is not None:
        return FileCheck(db_file, "not-ember", odd)
    if not is_sqlite_file(db_file):
        return FileCheck(db_file, "not-ember", "not an SQLite file")
    try:
        conn = module.connect(f"file:{db_file}?mode=ro", uri=True)
    except Exception as exc:
        return FileCheck(db_file, "unreadable", str(exc))
    try:
        problems = integrity_check(conn)
    except Exception as exc:
        detail = str(exc)
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        status: Literal["damaged", "unreadable"] = "damaged" if code in (11, 26) else "unreadable"
        return FileCheck(db_file, status, detail)
    finally:
        conn.close()
    if problems:
        return FileCheck(db_file, "damaged", summary(problems))
    marked = marked_reason(db_file)
    if marked is not None:
        return FileCheck(db_file, "ok", f"passes its check now (it was marked: {marked})")
    return FileCheck(db_file, "ok", "integrity_check ok")
