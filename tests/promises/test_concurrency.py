"""What Ember promises about several processes on one database, tested with real ones.

- Many processes may open the same file at once, even a brand-new one (first starts race
  on the migrations); their writes take turns.
- Two processes may embed the same message at once (a chat's backfill and another
  process's turn): the last vector wins, nothing fails.
- One conversation per agent: while a process runs an agent, another process that tries
  to chat with it (or delete it) gets one clear line and exit 1; reading it is fine, other
  agents are free, and the lock dies with its process, even under ``kill -9``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ember.core.agent import presets
from ember.core.kernel import paths
from ember.core.storage.store import Store
from tests.cli_helpers import run_ember as ember_cli

CHILDREN = Path(__file__).with_name("children.py")


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILDREN), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_first_starts_on_an_empty_home_race_safely(tmp_path: Path) -> None:
    for round_ in range(5):
        home = tmp_path / f"home{round_}"
        env = {**os.environ, "EMBER_HOME": str(home)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "ember", "agents", "list"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert (p.returncode, err) == (0, ""), err
            assert "No agents yet" in out
        with Store(home / paths.DB_FILENAME) as store:
            versions = store.conn.execute("SELECT version FROM schema_migrations").fetchall()
            assert len(versions) == len({v[0] for v in versions})  # each ran exactly once


def test_two_processes_embedding_the_same_messages_both_succeed(tmp_path: Path) -> None:
    db = tmp_path / "ember.sqlite3"
    with Store(db) as store:
        agent = presets.create_agent(store, "A")
        assert agent.id == 1
        ids = [
            store.add_message(1, "user", "user_message", {}, f"note {i} about herons")
            for i in range(150)
        ]
    procs = [child("embed", str(db), "4") for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    with Store(db) as store:
        stored = [r[0] for r in store.conn.execute("SELECT message_id FROM message_embedding")]
        assert sorted(stored) == ids  # one vector per message, none lost, none doubled


def test_writers_on_two_agents_take_turns(tmp_path: Path) -> None:
    db = tmp_path / "ember.sqlite3"
    Store(db).close()
    procs = [child("write", str(db), name, "300") for name in ("Ann", "Bob")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with Store(db) as store:
        for name in ("Ann", "Bob"):
            assert store.count_messages(store.get_agent(name).id) == 300
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_one_conversation_per_agent_across_processes(ember_home: Path) -> None:
    db = ember_home / paths.DB_FILENAME
    holder = child("hold", str(db), "Anna")
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    try:
        chat = ember_cli(ember_home, "chat", "--agent", "Anna", stdin="hello\n")
        assert chat.returncode == 1
        [line] = chat.stderr.splitlines()
        assert "'Anna' is in a conversation in another Ember window or terminal" in line
        assert f"(process {holder.pid})" in line
        assert chat.stdout == ""
        delete = ember_cli(ember_home, "agents", "delete", "Anna")
        assert delete.returncode == 1 and "in a conversation" in delete.stderr
        # Reading the agent is fine; another agent is free.
        assert ember_cli(ember_home, "memory", "--agent", "Anna").returncode == 0
        ember_cli(ember_home, "agents", "create", "Bob")
        other = child("claim", str(db), "Bob")
        assert other.communicate(timeout=60)[0].strip() == "claimed"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # The kernel released the lock with the killed process.
    again = child("claim", str(db), "Anna")
    out, err = again.communicate(timeout=60)
    assert (again.returncode, out.strip()) == (0, "claimed"), err
    with Store(db) as store:
        assert store.get_agent("Anna")  # the refused delete deleted nothing


def test_deleting_another_agent_keeps_the_one_in_conversation(ember_home: Path) -> None:
    from tests.promises.children import open_service

    db = ember_home / paths.DB_FILENAME
    ember = open_service(db)
    try:
        anna = ember.agent_for_chat("Anna")
        bob = ember.agent_for_chat("Bob")
        ember.claim_agent(anna.id)
        ember.delete_agent(bob.id)
        other = child("claim", str(db), "Anna")
        _, err = other.communicate(timeout=60)
        assert other.returncode == 1 and "in a conversation" in err  # still held
    finally:
        ember.close()
