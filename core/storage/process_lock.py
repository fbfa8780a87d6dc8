"""Locks that a process holds across processes, and that die with it.

An advisory ``flock`` on a file in ``locks/`` beside the database, held through an open
descriptor: the kernel releases it when the process ends however it ends (``kill -9``
included), so a crash never leaves anything locked. The file holds the holder's pid, for
messages; on a full disk the pid is left out and the lock still works.

A ``flock`` belongs to the open file, not to the process: a child made by ``fork`` (a
library's worker pool, ``multiprocessing``) shares the descriptor, and would keep the lock
after its parent died, with the dead parent's pid in the file. So a forked child closes its
copies of the held locks at once (``os.register_at_fork``); the parent still holds them.
``subprocess`` children never get them (the descriptors close on exec).

Used for one conversation per agent (``agent_lock``) and for one load of a document at a
time (``ingest``): a ``loading`` document whose lock is free was left by a process that
died.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path

from ember.core.kernel.errors import Cancelled
from ember.core.storage import sqlite_errors

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process locks
    fcntl = None  # type: ignore[assignment]

WAIT_POLL_SECONDS = 0.2

_held: weakref.WeakSet[ProcessLock] = weakref.WeakSet()  # this process's locks now held


def _drop_inherited() -> None:
    """In a forked child: close the copies of the parent's lock descriptors, so that the
    locks end with the parent."""
    for lock in list(_held):
        if lock._fd is not None:
            try:
                os.close(lock._fd)
            except OSError:
                pass
            lock._fd = None
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited)


def lock_path(db_file: Path, name: str) -> Path:
    """The lock file ``name`` of the database ``db_file``."""
    return db_file.parent / "locks" / f"{db_file.name}.{name}.lock"


class ProcessLock:
    """An exclusive lock on ``locks/<db>.<name>.lock``: :meth:`acquire`, then
    :meth:`release` (or the process ends)."""

    def __init__(self, db_file: Path, name: str) -> None:
        self.db_file = db_file
        self.path = lock_path(db_file, name)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> str | None:
        """Take the lock if it is free: None when taken, else the holder's pid ("" when
        unknown). Raises StoreError subclasses when the folder cannot be written."""
        if fcntl is None or self._fd is not None:
            return None
        try:
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise sqlite_errors.translate_os(exc, self.db_file) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            return holder if holder.isdigit() else ""
        try:  # the pid is for messages only: a full disk must not stop the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        except OSError:
            pass
        self._fd = fd
        _held.add(self)
        return None

    def wait(self, cancel: threading.Event | None = None) -> None:
        """Take the lock, waiting while another process holds it; raises Cancelled when
        ``cancel`` is set meanwhile."""
        while self.acquire() is not None:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            time.sleep(WAIT_POLL_SECONDS)

    def is_free(self) -> bool:
        """Whether no process holds the lock (checked by taking and dropping it)."""
        if self.acquire() is not None:
            return False
        self.release()
        return True

    def release(self) -> None:
        """Let other processes take the lock."""
        if self._fd is not None:
            _held.discard(self)
            os.close(self._fd)
            self._fd = None
