"""Issue 28 item 6: damage that ``quick_check`` misses (an index that no longer matches its
table) is found at open and by ``ember doctor``; ``ember doctor --repair`` mends what
SQLite can rebuild, after keeping a copy; a database path that is not a regular file is
refused as such. Real files, damaged byte by byte."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ember.core.agent import presets
from ember.core.kernel.errors import DatabaseDamaged, StorageBusy, StoreError
from ember.core.storage import db, health, repair
from ember.core.storage.store import Store
from tests.core.dbutil import PAGE, damage_index_entry


def _filled(path: Path, n: int = 2000) -> None:
    with Store(path) as store:
        agent = presets.create_agent(store, "Ann")
        with store.transaction():
            for i in range(n):
                when = f"2024-03-{1 + i % 28:02d}T10:00:00.{i:06d}+00:00"
                store.add_message(
                    agent.id, "user", "user_message", {}, f"note {i}", created_at=when
                )


def _quick_check(path: Path) -> list[str]:
    conn = db.sqlite_module().connect(str(path))
    try:
        return [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    finally:
        conn.close()


def _damaged_index(tmp_path: Path) -> Path:
    path = tmp_path / "ember.sqlite3"
    _filled(path)
    damage_index_entry(path, b"2024-03-05T10:00:00.000900+00:00")
    assert _quick_check(path) == ["ok"]  # what Ember used to check: blind to it
    return path


def test_a_damaged_index_is_found_at_open_and_by_the_file_check(tmp_path: Path) -> None:
    path = _damaged_index(tmp_path)
    before = path.read_bytes()
    with pytest.raises(DatabaseDamaged, match="missing from index messages_agent_time") as info:
        Store(path)
    assert "ember doctor --repair" in str(info.value)
    assert path.read_bytes() == before  # nothing written
    found = health.check_file(path, db.sqlite_module())
    assert found.status == "damaged" and "messages_agent_time" in found.detail


def test_repair_rebuilds_the_index_after_keeping_a_copy(tmp_path: Path) -> None:
    path = _damaged_index(tmp_path)
    damaged = path.read_bytes()
    with pytest.raises(DatabaseDamaged):
        Store(path)  # marks it
    done = repair.repair(path)
    assert done.how == "reindex" and "messages_agent_time" in done.detail
    assert done.backup is not None and done.backup.read_bytes() == damaged
    assert stat.S_IMODE(done.backup.stat().st_mode) == 0o600
    assert health.marked_reason(path) is None
    with Store(path) as store:  # opens, checks, and everything is there
        agent = store.get_agent("Ann")
        assert store.count_messages(agent.id) == 2000
        _, total = store.messages_between(agent.id, "2024-03-05", "2024-03-05", 0, 1)
        assert total == len([i for i in range(2000) if i % 28 == 4])
    assert repair.repair(path).how == "nothing"


def test_a_damaged_free_list_is_mended_by_rewriting_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ember.sqlite3"
    _filled(path)
    with Store(path) as store:
        store.conn.execute("DELETE FROM messages WHERE id % 2 = 0")  # pages to the free list
    data = bytearray(path.read_bytes())
    trunk = int.from_bytes(data[32:36], "big")
    assert trunk > 0
    data[(trunk - 1) * PAGE : (trunk - 1) * PAGE + 8] = b"\xff" * 8  # its pointer and count
    path.write_bytes(bytes(data))
    assert health.integrity_check(db.sqlite_module().connect(str(path)))
    done = repair.repair(path)
    assert done.how == "rebuild"
    with Store(path) as store:
        assert store.count_messages(store.get_agent("Ann").id) == 1000
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == db.APPLICATION_ID
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_damage_beyond_repair_replaces_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ember.sqlite3"
    _filled(path)
    data = bytearray(path.read_bytes())
    for page in range(1, len(data) // PAGE):  # every table and index page but the first
        data[page * PAGE : page * PAGE + 16] = b"\xaa" * 16
    path.write_bytes(bytes(data))
    damaged = path.read_bytes()
    with pytest.raises(DatabaseDamaged, match="beyond what SQLite can rebuild"):
        repair.repair(path)
    assert path.read_bytes() == damaged
    assert health.marked_reason(path)


def test_repair_waits_for_the_file_to_be_free(tmp_path: Path) -> None:
    path = _damaged_index(tmp_path)
    other = health.Lease(path)  # another process's open connection
    try:
        with pytest.raises(StorageBusy, match="Close it"):
            repair.repair(path)
    finally:
        other.release()


def test_a_link_to_dev_null_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "ember.sqlite3"
    path.symlink_to("/dev/null")
    with pytest.raises(
        StoreError, match=r"is a device, not a database file \(it links to /dev/null\)"
    ):
        Store(path)
    found = health.check_file(path, db.sqlite_module())
    assert found.status == "not-ember" and "/dev/null" in found.detail
