"""The kill loop: the engine (scripted backend, real SQLite file) in a child process,
killed with SIGKILL at random points — while starting, checking the file, generating,
running tools, flushing and committing — again and again on the same file.

After every kill: no message the child reported as committed is missing, SQLite's
integrity check passes, the file is not taken for damaged, and the next child resumes
the same agent. ``EMBER_KILL_LOOP_N`` sets the number of kills (default 12).
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ember.core.storage import health
from ember.core.storage.store import Store

CHILDREN = Path(__file__).with_name("children.py")


def _user_messages(store: Store) -> int:
    return store._int("SELECT count(*) FROM messages WHERE kind = 'user_message'")


def _chat(db: Path, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILDREN), "chat", str(db), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines_until(child: subprocess.Popen[str], commits: int, timeout: float = 120) -> list[int]:
    """Wait until the child has reported ``commits`` committed turns; returns the counts."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    counts: list[int] = []
    while len(counts) < commits:
        ready, _, _ = select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "the child stopped making progress"
        line = child.stdout.readline()
        assert line, f"the child ended early: {child.stderr.read() if child.stderr else ''}"
        if line.startswith("committed"):
            counts.append(int(line.split()[1]))
    return counts


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_at_random_points_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "ember.sqlite3"
    rng = random.Random(20261122)
    kills = int(os.environ.get("EMBER_KILL_LOOP_N", "12"))
    committed = 0
    for i in range(kills):
        child = _chat(db, 0)
        # Even rounds: killed anywhere, start-up and the open's integrity_check included.
        # Odd rounds: killed inside a conversation, after 1-3 committed turns.
        reported = _lines_until(child, rng.randint(1, 3)) if i % 2 else []
        time.sleep(rng.uniform(0.0, 0.6) if i % 2 else rng.uniform(0.1, 1.5))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err  # it was running, not failing
        reported += [
            int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")
        ]
        with Store(db) as store:  # opening after a kill runs integrity_check (WAL left over)
            in_db = _user_messages(store)
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert in_db >= max([committed, *reported])  # nothing reported committed is lost
        committed = max([committed, *reported])
        assert health.marked_reason(db) is None  # a kill is not damage
    resume = _chat(db, 2)
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err
    last = int(out.splitlines()[-1].split()[1])
    assert last >= committed + 2
