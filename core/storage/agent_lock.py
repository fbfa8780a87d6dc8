"""One conversation per agent at a time, across processes.

What Ember promises: several processes may use one database at once (the GUI, ``ember``
commands, scripts): reads, searches, document loads and imports run side by side, and
SQLite serialises their writes. But an agent's *conversation* — its FIFO queue, summary
and evictions — has one writer at a time: a process that runs an agent (``ember chat``,
the GUI showing it) holds that agent's lock, and a second process that tries to run the
same agent gets :class:`AgentInUse` with one clear line instead of interleaving two
conversations into one queue.

The lock is a :class:`~ember.core.storage.process_lock.ProcessLock` named after the agent's id
(ids are never reused): it dies with its process, even on ``kill -9``.
"""

from __future__ import annotations

from pathlib import Path

from ember.core.kernel.errors import AgentInUse
from ember.core.storage.agent_names import shown
from ember.core.storage.process_lock import ProcessLock
from ember.core.storage.process_lock import lock_path as _lock_path


def lock_path(db_file: Path, agent_id: int) -> Path:
    """The lock file of one agent of the database ``db_file``."""
    return _lock_path(db_file, f"agent-{agent_id}")


class AgentLock:
    """Holds the conversation lock of one agent until :meth:`release`."""

    def __init__(self, db_file: Path, agent_id: int, agent_name: str = "") -> None:
        self.agent_id = agent_id
        self._lock = ProcessLock(db_file, f"agent-{agent_id}")
        holder = self._lock.acquire()
        if holder is not None:
            who = f" (process {holder})" if holder else ""
            name = shown(agent_name) if agent_name else f"with id {agent_id}"
            raise AgentInUse(
                f"The agent {name} is in a conversation in another Ember window or "
                f"terminal{who}. Close that one first, or chat with another agent."
            )

    def release(self) -> None:
        """Let other processes run this agent."""
        self._lock.release()

    def __enter__(self) -> AgentLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
