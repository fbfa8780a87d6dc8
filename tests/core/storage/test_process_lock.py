"""A process lock held by a process that is gone is free; one held by a live process is not.

Real processes: a child takes the lock (as a window's agent lock) and is then killed, or
forks a helper first (as a library's worker pool would) and dies while the helper lives on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.core.storage.process_lock import ProcessLock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX processes")

HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from ember.core.storage.process_lock import ProcessLock

    lock = ProcessLock(Path(sys.argv[1]), "agent-1")
    assert lock.acquire() is None
    helper = 0
    if sys.argv[2] == "fork":
        ready, told = os.pipe()
        helper = os.fork()
        if helper == 0:  # a forked helper that outlives its parent
            os.write(told, b"1")  # past fork(): its at-fork handlers have run
            time.sleep(60)
            os._exit(0)
        os.read(ready, 1)  # else the parent could die before the helper let go
    print(os.getpid(), helper, flush=True)
    time.sleep(60)
    """
)


class Holder:
    """A child process holding ``agent-1`` of ``db`` (``fork``: it forked a helper too)."""

    def __init__(self, db: Path, mode: str = "plain") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), mode],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert len(line) == 2, "the holder did not start"
        self.pid, self.helper = int(line[0]), int(line[1])

    def end(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.end(signal.SIGKILL)
        if self.helper:
            try:
                os.kill(self.helper, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def holders(tmp_path: Path) -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.cleanup()


def test_a_live_holder_blocks_and_is_named(tmp_path: Path, holders: list[Holder]) -> None:
    db = tmp_path / "ember.sqlite3"
    holder = Holder(db)
    holders.append(holder)
    assert ProcessLock(db, "agent-1").acquire() == str(holder.pid)
    assert not ProcessLock(db, "agent-1").is_free()
    assert ProcessLock(db, "agent-2").is_free()  # another agent is free


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_holder_leaves_the_lock_free(
    tmp_path: Path, holders: list[Holder], sig: int
) -> None:
    db = tmp_path / "ember.sqlite3"
    holder = Holder(db)
    holders.append(holder)
    holder.end(sig)
    lock = ProcessLock(db, "agent-1")
    assert lock.acquire() is None
    lock.release()


def test_a_forked_helper_does_not_keep_its_dead_parents_lock(
    tmp_path: Path, holders: list[Holder]
) -> None:
    """A fork shares the locked file: the helper, still alive, must not hold the lock of
    its parent, gone (it did: the lock then named the dead parent's pid)."""
    db = tmp_path / "ember.sqlite3"
    holder = Holder(db, "fork")
    holders.append(holder)
    assert ProcessLock(db, "agent-1").acquire() == str(holder.pid)  # the parent holds it
    holder.end(signal.SIGKILL)
    os.kill(holder.helper, 0)  # the helper lives on
    lock = ProcessLock(db, "agent-1")
    assert lock.acquire() is None
    lock.release()


def test_a_child_forked_here_lets_the_lock_go_with_this_process(tmp_path: Path) -> None:
    """The other side of it: after a fork, the parent still holds its lock."""
    db = tmp_path / "ember.sqlite3"
    lock = ProcessLock(db, "agent-1")
    assert lock.acquire() is None
    try:
        child = os.fork()
        if child == 0:  # the child has no lock to release, and cannot take it
            os._exit(0 if not lock.held and ProcessLock(db, "agent-1").acquire() else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lock.held
        assert ProcessLock(db, "agent-1").acquire() == str(os.getpid())
    finally:
        lock.release()
