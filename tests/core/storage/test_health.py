"""Damage detection, the damage marker, and SQLite errors as messages (real files)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ember.core.agent import presets
from ember.core.kernel.errors import DatabaseDamaged, StorageFull
from ember.core.storage import health
from ember.core.storage.store import Store


def _filled(path: Path, n: int = 3000) -> None:
    rng = np.random.default_rng(0)
    with Store(path) as store:
        agent = presets.create_agent(store, "Ann")
        with store.transaction():
            for i in range(n):
                m = store.add_message(
                    agent.id, "user", "user_message", {"i": i}, f"hiking note {i}"
                )
                store.set_message_embedding(m, agent.id, rng.standard_normal(384))


def _overwrite_pages(path: Path, first: int, count: int) -> None:
    data = bytearray(path.read_bytes())
    for page in range(first, first + count):
        data[page * 4096 : (page + 1) * 4096] = b"\xaa" * 4096
    path.write_bytes(bytes(data))


def test_overwritten_pages_are_found_at_open_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "ember.sqlite3"
    _filled(path)
    _overwrite_pages(path, path.stat().st_size // 4096 // 2, 20)
    before = path.read_bytes()
    with pytest.raises(DatabaseDamaged, match="is damaged") as info:
        Store(path)
    assert "\n" not in str(info.value)
    assert health.marked_reason(path)
    with pytest.raises(DatabaseDamaged):  # marked: refused again, file untouched
        Store(path)
    assert path.read_bytes() == before
    check = health.check_file(path)
    assert check.status == "damaged"


def test_damage_met_while_reading_a_big_file_marks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ember.sqlite3"
    _filled(path)
    _overwrite_pages(path, path.stat().st_size // 4096 // 2, 20)
    monkeypatch.setattr(health, "ALWAYS_CHECK_BYTES", 0)  # "too big" to check at open
    store = Store(path)
    try:
        with pytest.raises(DatabaseDamaged):
            for i in range(2000):
                store.search_messages_keyword(1, f"note {i}", 5)
                store.get_messages(list(range(i, i + 50)))
                store.search_messages_vector(1, np.ones(384), 5)
    finally:
        store.close()
    assert health.marked_reason(path)
    with pytest.raises(DatabaseDamaged):
        Store(path)  # the marker makes the next open check, and refuse


def test_a_restored_file_loses_its_marker(tmp_path: Path) -> None:
    path = tmp_path / "ember.sqlite3"
    _filled(path, 50)
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(path, backup)
    health.mark_damaged(path, "pretend")
    shutil.copy(backup, path)
    with Store(path) as store:
        assert store.count_messages(1) == 50
    assert health.marked_reason(path) is None
    assert health.check_file(path).status == "ok"


def test_check_file_never_creates_anything(tmp_path: Path) -> None:
    path = tmp_path / "none.sqlite3"
    assert health.check_file(path).status == "missing"
    assert not path.exists()
    path.write_text("notes\n" * 100)
    assert health.check_file(path).status == "not-ember"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_file_left_by_a_killed_process_is_checked_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ember.sqlite3"
    Store(path).close()
    code = (
        "import os, signal, sys\n"
        "from ember.core.storage.store import Store\n"
        "s = Store(sys.argv[1])\n"
        "s.set_setting('k', 1)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=False, timeout=60)
    assert health.unclean(path)
    monkeypatch.setattr(health, "ALWAYS_CHECK_BYTES", 0)
    checks: list[int] = []
    real = health.integrity_check
    monkeypatch.setattr(health, "integrity_check", lambda c: checks.append(1) or real(c))
    with Store(path) as store:
        assert store.get_setting("k") == 1  # the committed write survived the kill
    assert checks == [1]
    with Store(path):  # closed cleanly last time: no check for a big file
        pass
    assert checks == [1]


def test_disk_full_is_one_clear_error_and_keeps_what_was_saved(tmp_path: Path) -> None:
    """SQLite's own page cap stands in for a full disk here (same SQLITE_FULL code); the
    CLI matrix uses a real 2 MB tmpfs when it may mount one."""
    path = tmp_path / "ember.sqlite3"
    with Store(path) as store:
        agent = presets.create_agent(store, "Ann")
        store.add_message(agent.id, "user", "user_message", {}, "kept")
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StorageFull, match="is full") as info, store.transaction():
            for i in range(5000):
                store.add_message(agent.id, "user", "user_message", {}, "x" * 500 + str(i))
        assert "\n" not in str(info.value)
        assert [m.text for m in store.recent_messages(agent.id)] == ["kept"]
        store.add_message(agent.id, "user", "user_message", {}, "small")  # still usable


def test_setting_an_embedding_twice_replaces_it(tmp_path: Path) -> None:
    with Store(tmp_path / "e.sqlite3") as store:
        agent = presets.create_agent(store, "A")
        m = store.add_message(agent.id, "user", "user_message", {}, "x")
        v = np.zeros(384, dtype=np.float32)
        v[1] = 1.0
        store.set_message_embedding(m, agent.id, np.ones(384))
        store.set_message_embedding(m, agent.id, v)
        [(mid, dist)] = store.search_messages_vector(agent.id, v, 5)
        assert mid == m and dist == pytest.approx(0.0, abs=1e-6)


def test_errors_without_a_code_are_read_from_their_message(tmp_path: Path) -> None:
    from ember.core.kernel.errors import StorageBusy, StorageReadOnly
    from ember.core.storage import sqlite_errors

    class OldError(Exception):
        pass

    db = tmp_path / "e.sqlite3"
    assert isinstance(sqlite_errors.translate(OldError("database is locked"), db), StorageBusy)
    err = sqlite_errors.translate(OldError("attempt to write a readonly database"), db)
    assert isinstance(err, StorageReadOnly)
    bug = OldError("no such column: x")
    assert sqlite_errors.translate(bug, db) is bug  # a bug stays a bug
