"""One conversation per agent at a time, across processes.

What Ember promises: several processes may use one database at once (the GUI, ``ember``
commands, scripts): reads, searches, document loads and imports run side by side, and
SQLite serialises their writes. But an agent's *conversation* — its FIFO queue, summary
and evictions — has one writer at a time: a process that runs an agent (``ember chat``,
the GUI showing it) holds that agent's lock, and a second process that tries to run the
same agent gets :class:`AgentInUse` with one clear line instead of interleaving two
conversations into one queue.

The lock is an advisory ``flock`` on ``locks/agent-<id>.lock`` beside the database, held
through an open file: the kernel releases it when the process ends however it ends
(``kill -9`` included), so a crash never leaves an agent locked. The file holds the
holder's pid, for the message.
"""

from __future__ import annotations

import os
from pathlib import Path

from ember.core import db_errors
from ember.core.errors import AgentInUse

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process agent lock
    fcntl = None  # type: ignore[assignment]


def lock_path(db_file: Path, agent_id: int) -> Path:
    """The lock file of one agent of the database ``db_file``."""
    return db_file.parent / "locks" / f"{db_file.name}.agent-{agent_id}.lock"


class AgentLock:
    """Holds the conversation lock of one agent until :meth:`release`."""

    def __init__(self, db_file: Path, agent_id: int, agent_name: str = "") -> None:
        self.agent_id = agent_id
        self._fd: int | None = None
        if fcntl is None:
            return
        path = lock_path(db_file, agent_id)
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise db_errors.translate_os(exc, db_file) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (process {holder})" if holder.isdigit() else ""
            name = f"'{agent_name}'" if agent_name else f"with id {agent_id}"
            raise AgentInUse(
                f"The agent {name} is in a conversation in another Ember window or "
                f"terminal{who}. Close that one first, or chat with another agent."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Let other processes run this agent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AgentLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
