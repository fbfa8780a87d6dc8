"""Issue 28 item 10, the disk-full cases: a full disk at any point gives one line and exit
1 (or the command succeeds), never a traceback, and loses nothing.

A real small filesystem (a 16 MB tmpfs) when the test may mount one (root), filled to a few
levels of free space; where it may not, those cases are skipped (saying why) and the
injected ``ENOSPC`` cases below still run: they raise it at each write path Ember has
outside SQLite (lock files, exports, the damage marker), whose own full-disk errors are
covered by ``tests/core/storage/test_health.py``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.kernel import paths
from ember.core.kernel.errors import EmberError
from ember.core.storage.store import Store
from ember.core.transfer import export
from tests.cli_helpers import run_ember

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MB file system (tmpfs), mounted for this test (sqlite-vec allocates its
    vectors in chunks of 1.5 MB per agent)."""
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root; the injected ENOSPC tests still run")
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True
    )
    if mount.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as fh:
        try:
            fh.write(b"\0" * max(0, free - leave))
        except OSError:
            pass
    return filler


def _ok_or_full(out: subprocess.CompletedProcess[str], what: str) -> None:
    assert "Traceback" not in out.stderr, (what, out.stderr)
    if out.returncode == 0:
        return
    lines = out.stderr.splitlines()
    assert out.returncode == 1 and len(lines) == 1, (what, out.returncode, out.stderr)
    assert lines[0].startswith("ember: ") and "full" in lines[0], (what, lines[0])


@pytest.mark.parametrize("leave_kb", [0, 4, 8, 16, 32, 64, 128])
def test_every_command_on_a_full_disk_is_one_line_or_works(
    small_disk: Path, tmp_path: Path, leave_kb: int
) -> None:
    home = small_disk / "home"
    db = home / paths.DB_FILENAME
    rng = np.random.default_rng(0)
    with Store(db) as store:
        for name in ("Bob", "Ann"):
            agent = presets.create_agent(store, name)
            with store.transaction():
                for i in range(40):
                    m = store.add_message(agent.id, "user", "user_message", {}, f"note {i}")
                    store.set_message_embedding(m, agent.id, rng.standard_normal(384))
    history = tmp_path / "h.jsonl"
    history.write_text(
        "".join(
            json.dumps({"role": "user", "content": f"n {i} " * 50, "time": "2024-05-01"}) + "\n"
            for i in range(300)
        )
    )
    # Another process (the app) has the file open: SQLite's shared-memory file exists
    # already, so the commands get past the open and meet the full disk where they write.
    app = Store(db)
    filler = _fill(small_disk, leave_kb * 1024)
    commands = [
        ("agents", "list"),
        ("memory", "--agent", "Ann"),
        ("sources", "--agent", "Ann"),
        ("agents", "create", "Eve"),
        ("agents", "export", "Ann", str(small_disk / "ann.json")),
        ("import-history", str(history), "--agent", "Ann"),
        ("agents", "delete", "Bob"),
    ]
    try:
        for args in commands:
            _ok_or_full(run_ember(home, *args), " ".join(args))
    finally:
        app.close()
    filler.unlink()
    with Store(db) as store:  # sound, and Ann's memories all there
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.count_messages(store.get_agent("Ann").id) in (40, 340)
    assert not list(small_disk.glob("*.partial")) and not list(small_disk.glob(".*.partial"))


# -- injected ENOSPC at the writes Ember makes outside SQLite --------------------------------


def _enospc(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_lock_works_when_its_holders_pid_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent_lock.py:62 raised ENOSPC writing the pid: the lock itself needs no space."""
    from ember.core.storage import process_lock

    db = tmp_path / "ember.sqlite3"
    monkeypatch.setattr(process_lock.os, "pwrite", _enospc)
    lock = process_lock.ProcessLock(db, "agent-1")
    assert lock.acquire() is None and lock.held
    other = process_lock.ProcessLock(db, "agent-1")
    assert other.acquire() == ""  # held; the holder unknown
    lock.release()


def test_a_lock_file_that_cannot_be_created_on_a_full_disk_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ember.core.storage import process_lock

    monkeypatch.setattr(process_lock.os, "open", _enospc)
    with pytest.raises(EmberError, match="is full"):
        process_lock.ProcessLock(tmp_path / "ember.sqlite3", "agent-1").acquire()


def test_an_export_on_a_full_disk_is_one_line_and_leaves_no_partial_file(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = presets.create_agent(store, "Ann")
    monkeypatch.setattr(export.os, "fsync", _enospc)
    with pytest.raises(EmberError, match="is full, so the export was not written") as info:
        export.export_agent(store, agent, tmp_path / "ann.json")
    assert "\n" not in str(info.value)
    assert list(tmp_path.glob("*ann*")) == []


def test_sqlite_vec_failing_on_a_nearly_full_disk_says_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite-vec said "Could not fetch vector data" on 'agents delete' with 4 KB free, and
    it reached the user as a traceback."""
    from ember.core.kernel.errors import StorageFull, StorageIOError
    from ember.core.storage import db, sqlite_errors

    error = db.sqlite_module().OperationalError("Could not fetch vector data for id 7")
    error.sqlite_errorcode = 1  # SQLITE_ERROR, as sqlite-vec reports it
    monkeypatch.setattr(sqlite_errors, "_free_bytes", lambda folder: 4096)
    assert isinstance(sqlite_errors.translate(error, tmp_path / "e.sqlite3"), StorageFull)
    monkeypatch.setattr(sqlite_errors, "_free_bytes", lambda folder: 10**10)
    assert isinstance(sqlite_errors.translate(error, tmp_path / "e.sqlite3"), StorageIOError)
